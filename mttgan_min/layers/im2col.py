"""Patches of an image batch, NHWC: the geometry and the gather/scatter that lower a
convolution (or a pooling window) to a matrix multiply.

``conv_geometry`` gives output size and padding by the TensorFlow/Keras rules, ``window`` is what one
kernel offset (i, j) sees, ``im2col`` stacks those views into the patch array and ``col2im`` adds
them back (its adjoint); ``patch_matrix`` is a padded input's patches as one matrix. Both loops run
over kernel offsets only, never over pixels or samples.
"""
from ..backend import get_array_module


def conv_geometry(H, W, KH, KW, stride, padding):
    """Output size and padding of a convolution, TensorFlow/Keras rules.

    'valid': no padding, OH = (H - KH) // stride + 1.
    'same' : OH = ceil(H / stride); total padding max((OH-1)*stride + KH - H, 0),
             split as total // 2 before and the rest after, so an even kernel pads
             one more row after than before (4x4 stride 1: 1 before, 2 after).
    Explicit ((top, bottom), (left, right)) pads are taken as given.
    Returns (OH, OW, ((top, bottom), (left, right))).
    """
    if padding == "valid":
        pads = ((0, 0), (0, 0))
    elif padding == "same":
        OH, OW = -(-H // stride), -(-W // stride)
        ph = max((OH - 1) * stride + KH - H, 0)
        pw = max((OW - 1) * stride + KW - W, 0)
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    elif not isinstance(padding, str) and len(padding) == 2:
        pads = tuple((int(a), int(b)) for a, b in padding)
    else:
        raise ValueError(f"padding must be 'same', 'valid' or ((top, bottom), (left, right)), got {padding!r}")
    (top, bottom), (left, right) = pads
    OH, OW = (H + top + bottom - KH) // stride + 1, (W + left + right - KW) // stride + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"a {KH}x{KW} kernel does not fit a {H}x{W} input with padding {padding!r}")
    return OH, OW, pads


def window(x_pad, i, j, stride, OH, OW):
    """What kernel offset (i, j) sees at every output position: (N, OH, OW, C) view."""
    return x_pad[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :]


def im2col(x_pad, KH, KW, stride, OH, OW):
    """Patches of a padded input: (N, Hp, Wp, C) -> (N, OH, OW, KH, KW, C).

    One strided slice per kernel offset (i, j): patch[n, oh, ow, i, j, c] =
    x_pad[n, oh*stride + i, ow*stride + j, c].
    """
    xp = get_array_module(x_pad)
    N, _, _, C = x_pad.shape
    col = xp.empty((N, OH, OW, KH, KW, C), dtype=x_pad.dtype)
    for i in range(KH):
        for j in range(KW):
            col[:, :, :, i, j, :] = window(x_pad, i, j, stride, OH, OW)
    return col


def col2im(col, x_pad_shape, stride):
    """Adjoint of im2col: add each offset's slice back, (N,OH,OW,KH,KW,C) -> x_pad_shape."""
    xp = get_array_module(col)
    N, OH, OW, KH, KW, C = col.shape
    x_pad = xp.zeros(x_pad_shape, dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):
            window(x_pad, i, j, stride, OH, OW)[...] += col[:, :, :, i, j, :]
    return x_pad


def patch_matrix(x, KH, KW, stride, padding):
    """im2col of the zero-padded x: (N, H, W, C_in) -> patches (N*OH*OW, KH*KW*C_in)."""
    xp = get_array_module(x)
    N, H, W, C_in = x.shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, stride, padding)
    x_pad = xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    return im2col(x_pad, KH, KW, stride, OH, OW).reshape(N * OH * OW, KH * KW * C_in)
