"""Max pooling's forward and backward, NHWC: the reference tier (used by the evaluation's VGG-19 and AlexNet).

The windows are gathered with ``im2col`` (pool*pool copies of the input), the maximum and its
``argmax`` taken over them, and backward sends each output gradient to that offset, the *first*
maximum of its window (ties are common: ReLU outputs make all-zero windows), adding the windows back
with ``col2im`` (overlapping windows add up). The fast tier (``mttgan_min.fast.maxpool``) gives the
same numbers, ties included, without the copies.
"""
import numpy as np

from ..backend import get_array_module
from .im2col import col2im, conv_geometry, im2col


def pad_for_max(x, pads):
    """Pad H and W with -inf (a padded cell never wins a max); no copy without padding."""
    if pads == ((0, 0), (0, 0)):
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=-np.inf)


def maxpool_forward(x, pool=2, stride=None, padding="valid"):
    """x (N, H, W, C) -> out (N, OH, OW, C), cache; ``stride`` defaults to ``pool``."""
    stride = stride or pool
    N, H, W, C = x.shape
    OH, OW, pads = conv_geometry(H, W, pool, pool, stride, padding)
    x_pad = pad_for_max(x, pads)
    windows = im2col(x_pad, pool, pool, stride, OH, OW).reshape(N, OH, OW, pool * pool, C)
    arg = windows.argmax(axis=3)
    out = windows.max(axis=3)
    return out, (arg, x.shape, x_pad.shape, pads, pool, stride)


def maxpool_backward(dout, cache):
    """dout (N, OH, OW, C) -> dx (N, H, W, C): each gradient to its window's first maximum."""
    arg, x_shape, x_pad_shape, pads, pool, stride = cache
    xp = get_array_module(dout)
    N, OH, OW, C = dout.shape
    onehot = arg[:, :, :, None, :] == xp.arange(pool * pool).reshape(1, 1, 1, -1, 1)
    dcol = (onehot * dout[:, :, :, None, :]).reshape(N, OH, OW, pool, pool, C)
    dx_pad = col2im(dcol.astype(dout.dtype), x_pad_shape, stride)
    (top, _), (left, _) = pads
    return dx_pad[:, top:top + x_shape[1], left:left + x_shape[2], :]
