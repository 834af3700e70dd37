"""Soft augmentation (paper Sec. III; docs/design.md, "Crop, then resize"): 0-5% crops per side of the
source-resolution copy, then an antialiased resize; never a flip."""
import numpy as np
import pytest

from mttgan_min.data import crop_and_resize, epoch_real_batches, iterations_per_epoch, random_crop_boxes


def asymmetric(n=4, s=32):
    """Images bright only in the left third (and a diagonal), so a mirror image is easy to tell."""
    img = np.zeros((n, s, s, 1), np.float32)
    img[:, :, : s // 3] = 1.0
    img[:, np.arange(s), np.arange(s)] = 0.5
    return img


def test_iterations_per_epoch_matches_spec():
    assert iterations_per_epoch(5649, 5) == 882
    assert iterations_per_epoch(5656, 5, 32) == 883
    assert iterations_per_epoch(159, 50) == 248


def test_crop_fractions_within_five_percent():
    boxes = random_crop_boxes(10_000, np.random.default_rng(0))
    assert boxes.shape == (10_000, 4) and boxes.min() >= 0 and boxes.max() < 0.05
    assert boxes.max() > 0.049 and abs(boxes.mean() - 0.025) < 1e-3


def test_zero_box_is_identity_and_a_box_crops():
    img = np.random.default_rng(1).random((3, 20, 20, 1), dtype=np.float32)
    np.testing.assert_allclose(crop_and_resize(img, np.zeros((3, 4))), img, atol=1e-6)
    ramp = np.tile(np.arange(20, dtype=np.float32), (1, 20, 1))[..., None]   # value = column index
    out = crop_and_resize(ramp, np.array([[0, 0, 0.05, 0.05]]))              # 1 px off left and right
    np.testing.assert_allclose(out[0, 5, :, 0], 1 + (np.arange(20) + 0.5) * 0.9 - 0.5, atol=1e-5)


def test_batches_never_mirror_and_stay_close_to_originals():
    img = asymmetric()
    batches = list(epoch_real_batches(img, factor=10, batch_size=8, rng=np.random.default_rng(0)))
    assert len(batches) == iterations_per_epoch(4, 10, 8) == 5
    for b in batches:
        assert b.shape == (4, 32, 32, 1) and b.dtype == np.float32
        same = np.abs(b - img[0]).mean(axis=(1, 2, 3))
        mirrored = np.abs(b - img[0, :, ::-1]).mean(axis=(1, 2, 3))
        assert (same < 0.1).all() and (mirrored > 0.3).all()
        assert (b[:, :, :8].mean(axis=(1, 2, 3)) > 0.9).all()                # bright side stays left


def test_fresh_crops_each_epoch_and_factor_one_is_plain():
    img = np.random.default_rng(2).random((8, 16, 16, 1), dtype=np.float32)
    rng = np.random.default_rng(3)
    e1 = np.concatenate(list(epoch_real_batches(img, 4, 4, rng)))
    e2 = np.concatenate(list(epoch_real_batches(img, 4, 4, rng)))
    assert e1.shape == (16, 16, 16, 1) and not np.allclose(e1, e2)
    plain = np.concatenate(list(epoch_real_batches(img, 1, 4, np.random.default_rng(0))))
    assert all(any(np.array_equal(p, i) for i in img) for p in plain)


def test_crops_come_from_the_source_copy_and_are_resized_to_the_target():
    # value = horizontal position as a fraction of the width, on a 40 px source copy
    R, S = 40, 32
    ramp = np.tile(((np.arange(R) + 0.5) / R).astype(np.float32), (2, R, 1))[..., None]
    box = np.array([[0.02, 0.03, 0.04, 0.05], [0.0, 0.0, 0.0, 0.0]])
    out = crop_and_resize(ramp, box, size=S)
    assert out.shape == (2, S, S, 1) and out.dtype == np.float32
    k = np.arange(S)
    want = 0.04 + (k + 0.5) / S * (1 - 0.04 - 0.05)                            # the box's columns, exactly
    # within 0.1 source pixel (a widened triangle sampled on pixels is centred only to that accuracy)
    np.testing.assert_allclose(out[0, 10, 2:-2, 0], want[2:-2], atol=0.0025)   # (edges renormalised)
    np.testing.assert_allclose(out[1, 10, 2:-2, 0], ((k + 0.5) / S)[2:-2], atol=0.0025)


@pytest.mark.parametrize("size, ratio", [(32, 0.75), (16, 0.2)])
def test_shrinking_is_antialiased(size, ratio):
    stripes = np.zeros((1, 40, 40, 1), np.float32)
    stripes[:, :, ::2] = 1.0                                                   # finest possible detail
    out = crop_and_resize(stripes, np.array([[0.0, 0.0, 0.03, 0.04]]), size=size)
    centres = 0.03 * 40 + (np.arange(size) + 0.5) * (0.93 * 40 / size)        # output pixels, in source px
    lookup = np.interp(centres - 0.5, np.arange(40), stripes[0, 0, :, 0])      # bilinear without prefilter
    assert abs(out.mean() - 0.5) < 0.03
    # the mild 1.16x reduction of a crop only damps the aliased stripes; the 2.3x one removes them
    assert out[0, 0, 2:-2, 0].std() < ratio * lookup[2:-2].std()


def test_uint8_source_and_factor_one_give_the_plain_resize():
    from mttgan_min.data import resize
    hires = np.random.default_rng(4).integers(0, 256, (8, 20, 20, 1), dtype=np.uint8)
    plain = resize(hires, 16)
    assert plain.dtype == np.float32 and 0 <= plain.min() and plain.max() <= 1
    batches = np.concatenate(list(epoch_real_batches(hires, 1, 4, np.random.default_rng(0), size=16)))
    assert batches.shape == (4, 16, 16, 1)                                      # half of each batch is real
    assert all(any(np.array_equal(b, p) for p in plain) for b in batches)
    crops = np.concatenate(list(epoch_real_batches(hires, 4, 4, np.random.default_rng(0), size=16)))
    assert crops.shape == (16, 16, 16, 1) and not any(np.array_equal(crops[0], p) for p in plain)
