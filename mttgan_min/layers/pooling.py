"""Max pooling, NHWC (used by the evaluation's VGG-19 and AlexNet classifiers).

The windows are gathered with ``im2col`` (a loop over kernel offsets); backward
sends each output gradient to the first maximum of its window and adds the
windows back with ``col2im``, so overlapping windows (stride < pool) work.
"""
from ..backend import get_array_module
from .base import Layer
from .im2col import col2im, conv_geometry, im2col


def maxpool_forward(x, pool=2, stride=None, padding="valid"):
    """x (N, H, W, C) -> out (N, OH, OW, C)."""
    xp = get_array_module(x)
    stride = stride or pool
    N, H, W, C = x.shape
    OH, OW, pads = conv_geometry(H, W, pool, pool, stride, padding)
    x_pad = xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=-xp.inf) \
        if padding == "same" else x
    windows = im2col(x_pad, pool, pool, stride, OH, OW).reshape(N, OH, OW, pool * pool, C)
    arg = windows.argmax(axis=3)
    out = windows.max(axis=3)
    return out, (arg, x.shape, x_pad.shape, pads, pool, stride)


def maxpool_backward(dout, cache):
    """dout (N, OH, OW, C) -> dx (N, H, W, C)."""
    arg, x_shape, x_pad_shape, pads, pool, stride = cache
    xp = get_array_module(dout)
    N, OH, OW, C = dout.shape
    onehot = arg[:, :, :, None, :] == xp.arange(pool * pool).reshape(1, 1, 1, -1, 1)
    dcol = (onehot * dout[:, :, :, None, :]).reshape(N, OH, OW, pool, pool, C)
    dx_pad = col2im(dcol.astype(dout.dtype), x_pad_shape, stride)
    (top, _), (left, _) = pads
    return dx_pad[:, top:top + x_shape[1], left:left + x_shape[2], :]


class MaxPool2D(Layer):
    def __init__(self, pool=2, stride=None, padding="valid"):
        super().__init__()
        self.pool, self.stride, self.padding = pool, stride or pool, padding

    def forward(self, x):
        out, self.cache = maxpool_forward(x, self.pool, self.stride, self.padding)
        return out

    def backward(self, dout):
        return maxpool_backward(dout, self.cache)

    def output_shape(self, input_shape):
        H, W, C = input_shape
        OH, OW, _ = conv_geometry(H, W, self.pool, self.pool, self.stride, self.padding)
        return (OH, OW, C)
