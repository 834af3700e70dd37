"""Max pooling, NHWC, the fast tier: the same numbers as ``layers/maxpool.py`` without its patch array.

- non-overlapping windows (pool == stride, sizes divisible, no padding; VGG-19's 2x2/2): the input is
  reshaped to (N, OH, p, OW, p, C) and the maximum taken over the two window axes;
- any other window (AlexNet's overlapping 3x3/2): the running maximum over the pool x pool strided
  views ``window(x, i, j, ...)`` (a loop over kernel offsets, no patch array).

Both remember, per output, the offset of the *first* maximum of its window (as a small integer
array), and backward sends each output gradient to that offset only: to one reshaped slot, or by
adding it into the strided view of that offset (overlapping windows add up). A test checks that both
tiers agree exactly, ties included.
"""
from ..backend import get_array_module
from ..layers.im2col import conv_geometry, window
from ..layers.maxpool import pad_for_max


def _first_max_offset(views, out):
    """Index k of the first view equal to ``out`` (uint8, out's shape): the window's first maximum."""
    xp = get_array_module(out)
    arg = xp.zeros(out.shape, dtype=xp.uint8)
    for k in range(len(views) - 1, 0, -1):      # last to first, so the first maximum is written last
        # a masked element-wise copy, not boolean-mask indexing (arg[mask] = k), which gathers the
        # mask's nonzero entries first: on a GPU that needs their count on the host, a wait per offset
        xp.copyto(arg, xp.uint8(k), where=views[k] == out)
    return xp.where(views[0] == out, xp.uint8(0), arg)


def maxpool_forward(x, pool=2, stride=None, padding="valid"):
    """x (N, H, W, C) -> out (N, OH, OW, C), cache: the same numbers as the reference tier."""
    xp = get_array_module(x)
    stride = stride or pool
    N, H, W, C = x.shape
    OH, OW, pads = conv_geometry(H, W, pool, pool, stride, padding)
    x_pad = pad_for_max(x, pads)
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
    """dout (N, OH, OW, C) -> dx (N, H, W, C): each gradient to its window's first maximum."""
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
