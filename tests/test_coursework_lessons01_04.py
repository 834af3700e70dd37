"""The exercises of lessons 1-4 (mttgan_min/coursework/checks/lesson01.py .. lesson04.py) can fail.

Planted wrong answers, the slips students make, raise ExerciseFailed with a message that names the
wrong array or entry (that every fallback passes its own cases and a stub is "not attempted" is
tested for all exercises at once in test_coursework.py).
"""
import re
from pathlib import Path

import numpy as np
import pytest
from coursework_planted import fails

from mttgan_min.coursework import ExerciseFailed, check, get, lesson_exercises
from mttgan_min.coursework.checks import lesson01, lesson02, lesson04
from mttgan_min.layers.dense import dense_backward
from mttgan_min.layers.im2col import col2im, conv_geometry, im2col

REPO = Path(__file__).resolve().parents[1]
NAMES = {1: ["patient_split"], 2: ["epoch_plan", "crop_box_to_pixels"], 3: ["dense_backward"],
         4: ["im2col", "col2im", "conv_backward"]}
ALL = [name for names in NAMES.values() for name in names]





@pytest.mark.parametrize("lesson", sorted(NAMES))
def test_each_exercise_is_checked_in_its_lesson(lesson):
    """The registry holds the lesson's exercises, and the lesson calls check() on each, after its markers."""
    assert sorted(e.name for e in lesson_exercises(lesson)) == sorted(NAMES[lesson])
    path = next((REPO / "lessons").glob(f"{lesson:02d}_*.py"))
    text = path.read_text()
    assert text.count("### BEGIN SOLUTION") == text.count("### END SOLUTION") == len(NAMES[lesson])
    called = re.findall(r'= check\("(\w+)", ', text)
    assert sorted(called) == sorted(NAMES[lesson]), called



# --- lesson 1 -------------------------------------------------------------------------------

def image_level_split(labels, patients, n_test, rng):
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        test[rng.choice(np.flatnonzero(labels == c), size=n_test, replace=False)] = True
    return test


def split_stopping_at_first_misfit(labels, patients, n_test, rng):
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keys, group, sizes = np.unique(patients[idx], return_inverse=True, return_counts=True)
        taken, total = np.zeros(len(keys), bool), 0
        for g in rng.permutation(len(keys)):
            if total + sizes[g] > n_test:
                break                                    # bug: stops instead of skipping
            taken[g], total = True, total + sizes[g]
        test[idx] = taken[group]
    return test


def split_ignoring_rng(labels, patients, n_test, rng):
    return lesson01.patient_split(labels, patients, n_test, np.random.default_rng(0))


def test_patient_split_bugs():
    fails("patient_split", image_level_split, "patient", "on the test side and the others in training")
    fails("patient_split", split_stopping_at_first_misfit, "test images, expected exactly")
    fails("patient_split", split_ignoring_rng, "the same split")


# --- lesson 2 -------------------------------------------------------------------------------

def test_crop_box_bugs():
    def rows_from_width(box, H, W):
        return lesson02.crop_box_to_pixels(box, W, H)

    def bottom_not_from_the_end(box, H, W):
        r0, r1, c0, c1 = lesson02.crop_box_to_pixels(box, H, W)
        return r0, H - r1, c0, c1

    def truncated(box, H, W):
        top, bottom, left, right = box
        return int(top * H), H - int(bottom * H), int(left * W), W - int(right * W)

    fails("crop_box_to_pixels", rows_from_width, "row1 is 200, expected 160")
    fails("crop_box_to_pixels", bottom_not_from_the_end, "row1 is")
    fails("crop_box_to_pixels", truncated, "crop_box_to_pixels(box=", "expected")


def test_epoch_plan_bugs():
    def all_real(n_images, factor, batch_size=32):
        iterations = n_images * factor // batch_size
        return iterations, iterations * batch_size

    def rounded_up(n_images, factor, batch_size=32):
        iterations = -(-n_images * factor // batch_size)
        return iterations, iterations * (batch_size // 2)

    fails("epoch_plan", all_real, "real crops is 28256, expected 14128")
    fails("epoch_plan", rounded_up, "iterations is 884, expected 883")


# --- lesson 3 -------------------------------------------------------------------------------

def test_dense_backward_bugs():
    def bias_averaged(dout, cache):
        dx, dw, db = dense_backward(dout, cache)
        return dx, dw, db / len(dout)

    def weight_gradient_transposed(dout, cache):
        dx, dw, db = dense_backward(dout, cache)
        return dx, dw.T, db

    def no_sum_over_samples(dout, cache):
        x, w = cache
        dx, dw, db = dense_backward(dout, cache)
        return dx, x[:1].T @ dout[:1], db

    message = fails("dense_backward", bias_averaged, "FAIL  b ")
    assert "PASS  x " in message and "PASS  w " in message
    fails("dense_backward", weight_gradient_transposed, "dw has shape (3, 4), expected (4, 3)")
    fails("dense_backward", no_sum_over_samples, "FAIL  w ")


# --- lesson 4 -------------------------------------------------------------------------------

def test_im2col_bugs():
    def no_stride(x_pad, KH, KW, stride, OH, OW):
        return im2col(x_pad, KH, KW, 1, OH, OW)

    def offsets_swapped(x_pad, KH, KW, stride, OH, OW):
        return im2col(x_pad, KH, KW, stride, OH, OW).swapaxes(3, 4)

    fails("im2col", no_stride, "im2col, x (2, 7, 6, 3), 3x3 kernel, stride 2", "entries wrong; worst at")
    fails("im2col", offsets_swapped, "im2col", "worst at (")


def test_col2im_bugs():
    def written_over(col, x_pad_shape, stride):
        N, OH, OW, KH, KW, C = col.shape
        image = np.zeros(x_pad_shape)
        for i in range(KH):
            for j in range(KW):
                image[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :] = col[:, :, :, i, j, :]
        return image

    def one_pixel_off(col, x_pad_shape, stride):
        image = np.zeros(x_pad_shape)
        image[:, 1:, 1:] = col2im(col, x_pad_shape, stride)[:, :-1, :-1]     # bug: one pixel down and right
        return image

    def cropped(col, x_pad_shape, stride):
        return col2im(col, x_pad_shape, stride)[:, 1:-1, 1:-1]

    fails("col2im", written_over, "not the adjoint of im2col", "<x, col2im(c)>")
    fails("col2im", one_pixel_off, "not the adjoint of im2col")
    fails("col2im", cropped, "shape", "expected the padded image's")


def test_conv_backward_bugs():
    def kernel_rows_and_columns_swapped(dout, cache):
        dx, dw, db = lesson04.conv_backward(dout, cache)
        return dx, dw.transpose(1, 0, 2, 3), db

    def channels_swapped(dout, cache):
        dx, dw, db = lesson04.conv_backward(dout, cache)
        return dx, dw.swapaxes(2, 3), db

    def padding_cropped_at_the_wrong_side(dout, cache):
        x, w, stride, padding = cache
        N, H, W, C = x.shape
        KH, KW, _, F = w.shape
        OH, OW, ((top, bottom), (left, right)) = conv_geometry(H, W, KH, KW, stride, padding)
        dP = (dout.reshape(-1, F) @ w.reshape(-1, F).T).reshape(N, OH, OW, KH, KW, C)
        dx_pad = col2im(dP, (N, H + top + bottom, W + left + right, C), stride)
        dx = dx_pad[:, bottom:bottom + H, right:right + W]             # bug: lopsided pads swapped
        return (dx,) + lesson04.conv_backward(dout, cache)[1:]

    def bias_of_one_image(dout, cache):
        dx, dw, db = lesson04.conv_backward(dout, cache)
        return dx, dw, dout[0].sum(axis=(0, 1))

    fails("conv_backward", kernel_rows_and_columns_swapped, "FAIL  w ")
    fails("conv_backward", channels_swapped, "dw has shape (3, 3, 3, 2), expected (3, 3, 2, 3)")
    fails("conv_backward", padding_cropped_at_the_wrong_side, "4x4 kernel", "FAIL  x ")
    fails("conv_backward", bias_of_one_image, "FAIL  b ")


def test_hidden_cases_catch_a_bug_the_visible_ones_miss():
    """A backward that crops dx to the input's height in both directions passes the (square) visible cases."""
    def square_only(dout, cache):
        dx, dw, db = lesson04.conv_backward(dout, cache)
        return dx[:, :, :dx.shape[1]], dw, db

    get("conv_backward").cases(square_only)
    fails("conv_backward", square_only, "dx has shape (1, 6, 6, 2), expected (1, 6, 9, 2)", hidden=True)


def test_check_returns_the_fallback_for_a_stub_and_raises_for_a_bug(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("exercise col2im: not done")

    assert check("col2im", stub) is col2im
    assert "not done" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="col2im"):
        check("col2im", lambda col, shape, stride: np.zeros(shape))
