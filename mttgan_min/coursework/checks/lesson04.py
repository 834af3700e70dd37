"""Lesson 4's exercises: im2col, its adjoint col2im, and a convolution's backward (Sec. IV-C, Figs. 4-5)."""
import numpy as np

from mttgan_min.coursework.checks.lesson03 import check_shapes
from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close, assert_gradients
from mttgan_min.gradcheck import check_function
from mttgan_min.layers.conv import conv, conv_input_grad, conv_weight_grad
from mttgan_min.layers.im2col import col2im, conv_geometry, im2col


def patches_by_formula(x_pad, KH, KW, stride, OH, OW):
    """patches[n, oh, ow, i, j, c] = x_pad[n, oh*stride + i, ow*stride + j, c], with index arrays."""
    n, oh, ow, i, j, c = np.ix_(*(np.arange(k) for k in (x_pad.shape[0], OH, OW, KH, KW, x_pad.shape[3])))
    return x_pad[n, oh * stride + i, ow * stride + j, c]


def padded(rng, N, H, W, C, K, stride, padding):
    """A random array of the padded input's shape for a KxK kernel: (x_pad, OH, OW).

    The padding holds random numbers too, not zeros, so that an entry read from or added to the
    wrong place shows wherever it is.
    """
    OH, OW, ((top, bottom), (left, right)) = conv_geometry(H, W, K, K, stride, padding)
    return rng.standard_normal((N, H + top + bottom, W + left + right, C)), OH, OW


def _geometry(N, H, W, C, K, stride, padding):
    return f"x {(N, H, W, C)}, {K}x{K} kernel, stride {stride}, padding {padding!r}"


# --- im2col ---------------------------------------------------------------------------------

def _im2col_case(fn, rng, N, H, W, C, K, stride, padding):
    x_pad, OH, OW = padded(rng, N, H, W, C, K, stride, padding)
    before = x_pad.copy()
    mine = fn(x_pad, K, K, stride, OH, OW)
    where = f"im2col, {_geometry(N, H, W, C, K, stride, padding)}, patches (N, OH, OW, KH, KW, C)"
    if not np.array_equal(x_pad, before):
        raise ExerciseFailed(f"{where}: your function changed its input x_pad")
    assert_close(where, mine, patches_by_formula(x_pad, K, K, stride, OH, OW))


IM2COL_VISIBLE = [(2, 5, 7, 3, 3, 1, "same"), (2, 7, 6, 3, 3, 2, "same"), (1, 6, 6, 2, 4, 1, "same"),
                  (2, 8, 8, 3, 4, 2, "same"), (1, 9, 7, 2, 3, 2, "valid")]
HIDDEN_GEOMETRIES = [(1, 1, 1, 1, 1, 1, "valid"), (3, 11, 5, 1, 3, 2, "valid"), (2, 9, 10, 4, 4, 2, "same"),
                     (1, 7, 7, 2, 5, 3, "same"), (2, 5, 5, 3, 2, 2, "valid"), (1, 13, 9, 2, 4, 1, "same"),
                     (2, 6, 9, 1, 3, 3, "valid")]


def im2col_cases(fn):
    rng = np.random.default_rng(4)
    for geometry in IM2COL_VISIBLE:
        _im2col_case(fn, rng, *geometry)


def im2col_hidden(fn):
    rng = np.random.default_rng(404)
    for geometry in HIDDEN_GEOMETRIES:
        _im2col_case(fn, rng, *geometry)


# --- col2im ---------------------------------------------------------------------------------

def _col2im_case(fn, rng, N, H, W, C, K, stride, padding):
    x_pad, OH, OW = padded(rng, N, H, W, C, K, stride, padding)
    col = rng.standard_normal((N, OH, OW, K, K, C))
    before = col.copy()
    mine = fn(col, x_pad.shape, stride)
    where = f"col2im, {_geometry(N, H, W, C, K, stride, padding)}, padded image {x_pad.shape}"
    if not np.array_equal(col, before):
        raise ExerciseFailed(f"{where}: your function changed its input col")
    mine = np.asarray(mine, dtype=float)
    if mine.shape != x_pad.shape:
        raise ExerciseFailed(f"{where}: shape {mine.shape}, expected the padded image's {x_pad.shape}")
    left, right = float(np.sum(im2col(x_pad, K, K, stride, OH, OW) * col)), float(np.sum(x_pad * mine))
    if abs(left - right) > 1e-9 * max(1.0, abs(left)):
        expected = col2im(col, x_pad.shape, stride)
        wrong = np.argwhere(~np.isclose(mine, expected, rtol=1e-10, atol=1e-12))
        first = tuple(int(v) for v in wrong[0]) if len(wrong) else None
        raise ExerciseFailed(f"{where}: not the adjoint of im2col: <im2col(x), c> = {left:+.10f} but "
                             f"<x, col2im(c)> = {right:+.10f}"
                             + (f"; {len(wrong)} of {expected.size} pixels wrong, the first at {first}: yours "
                                f"{mine[first]:+.8e}, expected {expected[first]:+.8e}" if first else ""))
    assert_close(where, mine, col2im(col, x_pad.shape, stride))


def col2im_cases(fn):
    rng = np.random.default_rng(5)
    for geometry in IM2COL_VISIBLE:
        _col2im_case(fn, rng, *geometry)


def col2im_hidden(fn):
    rng = np.random.default_rng(505)
    for geometry in HIDDEN_GEOMETRIES:
        _col2im_case(fn, rng, *geometry)


# --- the convolution's backward -------------------------------------------------------------

def conv_forward(x, w, b, stride=1, padding="same"):
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F), cache (x, w, stride, padding)."""
    return conv(x, w, stride, padding, bias=b), (x, w, stride, padding)


def conv_backward(dout, cache):
    """dout (N, OH, OW, F), cache (x, w, stride, padding) -> dx (N, H, W, C), dw (KH, KW, C, F), db (F,)."""
    x, w, stride, padding = cache
    return (conv_input_grad(dout, w, x.shape, stride, padding),
            conv_weight_grad(x, dout, w.shape, stride, padding), dout.sum(axis=(0, 1, 2)))


def _conv_case(fn, rng, N, H, W, C, K, F, stride, padding):
    inputs = {"x": rng.standard_normal((N, H, W, C)), "w": rng.standard_normal((K, K, C, F)),
              "b": rng.standard_normal(F)}
    where = f"conv_backward, {_geometry(N, H, W, C, K, stride, padding)}, {F} filters"

    def forward(x, w, b):
        return conv_forward(x, w, b, stride, padding)

    out, cache = forward(**inputs)
    check_shapes(where, fn(rng.standard_normal(out.shape), cache),
                 {"dx": inputs["x"].shape, "dw": inputs["w"].shape, "db": inputs["b"].shape})
    assert_gradients(check_function(forward, fn, inputs, rng=rng), where)
    dout = rng.standard_normal(forward(**inputs)[0].shape)
    cache = forward(**inputs)[1]
    for name, mine, expected in zip(("dx", "dw", "db"), fn(dout, cache), conv_backward(dout, cache)):
        assert_close(f"{where}: {name}", mine, expected, rtol=1e-9, atol=1e-10)


def conv_cases(fn):
    rng = np.random.default_rng(6)
    for geometry in [(2, 5, 5, 2, 3, 3, 1, "same"), (2, 7, 7, 2, 3, 3, 2, "same"),
                     (1, 6, 6, 2, 4, 3, 1, "same"), (1, 7, 7, 2, 4, 2, 2, "same")]:
        _conv_case(fn, rng, *geometry)


def conv_hidden(fn):
    rng = np.random.default_rng(606)
    for geometry in [(2, 7, 5, 3, 3, 2, 2, "valid"), (1, 6, 9, 2, 4, 3, 2, "same"), (2, 5, 7, 1, 2, 2, 1, "valid"),
                     (1, 8, 8, 2, 5, 2, 3, "same"), (3, 4, 4, 2, 1, 4, 1, "same")]:
        _conv_case(fn, rng, *geometry)


EXERCISES = [
    Exercise("im2col", 4, "im2col, one strided slice per kernel offset", fallback=im2col,
             cases=im2col_cases, hidden=im2col_hidden),
    Exercise("col2im", 4, "col2im, the adjoint of im2col", fallback=col2im,
             cases=col2im_cases, hidden=col2im_hidden),
    Exercise("conv_backward", 4, "a convolution's backward from im2col and col2im", fallback=conv_backward,
             cases=conv_cases, hidden=conv_hidden),
]
