"""Soft augmentation (SPEC "Data", paper Sec. III): 0-5% crops per side, never a flip."""
import numpy as np

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
