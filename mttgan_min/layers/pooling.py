"""Max pooling, NHWC (used by the evaluation's VGG-19 and AlexNet classifiers), in two tiers.

Fast tier (the default):

- non-overlapping windows (pool == stride, sizes divisible, no padding; VGG-19's 2x2/2): the input is
  reshaped to (N, OH, p, OW, p, C) and the maximum taken over the two window axes;
- any other window (AlexNet's overlapping 3x3/2): the running maximum over the pool x pool strided
  views ``window(x, i, j, ...)`` (a loop over kernel offsets, no patch array).

Both remember, per output, the offset of the *first* maximum of its window (as a small integer
array), and backward sends each output gradient to that offset only: to one reshaped slot, or by
adding it into the strided view of that offset (overlapping windows add up).

Reference tier (``method="im2col"``): the windows gathered with ``im2col``, ``argmax`` over them,
``col2im`` back. Slower and larger (pool*pool copies of the input), but short; the tests check that
both tiers agree exactly, ties included (ReLU outputs make all-zero windows common).
"""
import numpy as np

from ..backend import get_array_module
from .base import Layer
from .im2col import col2im, conv_geometry, im2col, window

METHODS = ("auto", "im2col")


def _pad(x, pads):
    """Pad H and W with -inf (a padded cell never wins a max); no copy without padding."""
    if pads == ((0, 0), (0, 0)):
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=-np.inf)


def maxpool_forward_im2col(x, pool=2, stride=None, padding="valid"):
    """Reference tier. x (N, H, W, C) -> out (N, OH, OW, C)."""
    stride = stride or pool
    N, H, W, C = x.shape
    OH, OW, pads = conv_geometry(H, W, pool, pool, stride, padding)
    x_pad = _pad(x, pads)
    windows = im2col(x_pad, pool, pool, stride, OH, OW).reshape(N, OH, OW, pool * pool, C)
    arg = windows.argmax(axis=3)
    out = windows.max(axis=3)
    return out, (arg, x.shape, x_pad.shape, pads, pool, stride)


def maxpool_backward_im2col(dout, cache):
    """Reference tier. dout (N, OH, OW, C) -> dx (N, H, W, C)."""
    arg, x_shape, x_pad_shape, pads, pool, stride = cache
    xp = get_array_module(dout)
    N, OH, OW, C = dout.shape
    onehot = arg[:, :, :, None, :] == xp.arange(pool * pool).reshape(1, 1, 1, -1, 1)
    dcol = (onehot * dout[:, :, :, None, :]).reshape(N, OH, OW, pool, pool, C)
    dx_pad = col2im(dcol.astype(dout.dtype), x_pad_shape, stride)
    (top, _), (left, _) = pads
    return dx_pad[:, top:top + x_shape[1], left:left + x_shape[2], :]


def _first_max_offset(views, out):
    """Index k of the first view equal to ``out`` (uint8, out's shape): the window's first maximum."""
    xp = get_array_module(out)
    arg = xp.zeros(out.shape, dtype=xp.uint8)
    for k in range(len(views) - 1, 0, -1):      # last to first, so the first maximum is written last
        arg[views[k] == out] = k
    arg[views[0] == out] = 0
    return arg


def maxpool_forward(x, pool=2, stride=None, padding="valid"):
    """Fast tier. x (N, H, W, C) -> out (N, OH, OW, C), the same numbers as the reference tier."""
    xp = get_array_module(x)
    stride = stride or pool
    N, H, W, C = x.shape
    OH, OW, pads = conv_geometry(H, W, pool, pool, stride, padding)
    x_pad = _pad(x, pads)
    if pool == stride and x_pad.shape[1] == OH * pool and x_pad.shape[2] == OW * pool:
        blocks = x_pad.reshape(N, OH, pool, OW, pool, C)
        out = blocks.max(axis=(2, 4))
        views = [blocks[:, :, i, :, j, :] for i in range(pool) for j in range(pool)]
        kind = "reshape"
    else:
        views = [window(x_pad, i, j, stride, OH, OW) for i in range(pool) for j in range(pool)]
        out = views[0].copy()
        for v in views[1:]:
            xp.maximum(out, v, out=out)
        kind = "views"
    arg = _first_max_offset(views, out)
    return out, (kind, arg, x.shape, x_pad.shape, pads, pool, stride)


def maxpool_backward(dout, cache):
    """Fast tier. dout (N, OH, OW, C) -> dx (N, H, W, C): each gradient to its window's first maximum."""
    kind, arg, x_shape, x_pad_shape, pads, pool, stride = cache
    xp = get_array_module(dout)
    N, OH, OW, C = dout.shape
    zero = xp.zeros((), dtype=dout.dtype)
    if kind == "reshape":
        blocks = xp.empty((N, OH, pool, OW, pool, C), dtype=dout.dtype)
        for k in range(pool * pool):
            i, j = divmod(k, pool)
            blocks[:, :, i, :, j, :] = xp.where(arg == k, dout, zero)
        dx_pad = blocks.reshape(x_pad_shape)
    else:
        dx_pad = xp.zeros(x_pad_shape, dtype=dout.dtype)
        for k in range(pool * pool):
            i, j = divmod(k, pool)
            window(dx_pad, i, j, stride, OH, OW)[...] += xp.where(arg == k, dout, zero)
    (top, _), (left, _) = pads
    return dx_pad[:, top:top + x_shape[1], left:left + x_shape[2], :]


class MaxPool2D(Layer):
    """Keras MaxPooling2D(pool, strides, padding). ``method``: "auto" (fast tier) or "im2col" (reference)."""

    def __init__(self, pool=2, stride=None, padding="valid", method="auto"):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.pool, self.stride, self.padding, self.method = pool, stride or pool, padding, method

    def forward(self, x):
        fwd = maxpool_forward_im2col if self.method == "im2col" else maxpool_forward
        out, self.cache = fwd(x, self.pool, self.stride, self.padding)
        return out

    def backward(self, dout):
        bwd = maxpool_backward_im2col if self.method == "im2col" else maxpool_backward
        return bwd(dout, self.cache)

    def output_shape(self, input_shape):
        H, W, C = input_shape
        OH, OW, _ = conv_geometry(H, W, self.pool, self.pool, self.stride, self.padding)
        return (OH, OW, C)
