"""The fast tier of convolution: the same primitives as ``layers/conv.py``, lowered for speed.

Read ``layers/conv.py`` first: it is the definition (im2col, one matrix multiply,
col2im). This module computes the same numbers (a float64 test checks that
the two tiers agree to 1e-12) with less memory traffic. Layout as there:
x (N, H, W, C_in), weights (KH, KW, C_in, C_out).

Row patches. The full patch matrix is KH*KW times the input (16 times for a
4x4 kernel: 4.3 GB per layer at the paper's size), so the kernels below build
only a KH-th of it, the *row patches*: im2col along the width alone,

    P[n, r, ow] = x_pad[n, r, ow : ow + KW]      (KW*C_in consecutive values)

one copy of a sliding-window view of the padded input (``width_windows``).

The patch-matrix block of kernel row i is, for output row oh, P[n, oh + i].
Flatten (n, r) into one axis and these are consecutive rows of P: a shifted
slice, which is that block with nothing copied. So

    y = sum over kernel rows i of  P[i : i + R] @ w[i]        (KH matrix multiplies)

with w[i] (KW*C_in, C_out). A slice that runs past a sample's last output row
into the next sample computes rows that are thrown away (KH - 1 of every
H + KH - 1: 3 of 35 at the tiny preset). The weight gradient is the same loop
with P[i : i + R]^T @ dy.

Strides. A stride-s convolution is a stride-1 convolution of the
*space-to-depth* input, every s x s block of pixels stacked into one pixel
with s*s*C_in channels, with the kernel regrouped the same way
(``strided_kernel``). No product is wasted when s divides the kernel size
(the generator's 4x4 stride-2 layers); a 3x3 kernel is padded to 4x4 with zeros.

Input gradient. That of a stride-1 convolution is itself a convolution, with
the kernel turned by 180 degrees and its channel axes swapped (Dumoulin &
Visin, "A guide to convolution arithmetic", 2016); at stride s it is that of
the space-to-depth convolution, moved back by depth-to-space.

Narrow layers. Row patches pay KW copies of the input for products only
KW*C_in deep and C_out wide. Where one side has very few channels (the
generator's last layer maps 32 channels to 1, and its input gradient starts
from that one channel) a product with the full patch matrix of the narrow
side is faster, so ``_lowering`` picks it and calls the reference tier
(layers/conv.py): its im2col product for few input channels; for few output
channels the converse of the identity above, the convolution as the input
gradient (layers/conv.py's col2im) of the convolution with the turned kernel.

Chunks. On a CPU the kernels take the batch a few samples at a time
(``batch_chunks``), so that the row patches and their products stay in cache;
a GPU takes the whole batch at once.

Threads. On a CPU with several cores the batch can be split evenly between
``workers`` threads (an argument of every primitive), the calling thread and a
pool, each working through its own chunks with its own buffers (NumPy lets go
of Python's lock in copies and matrix multiplies, so the threads run at once);
the weight gradient is the sum of the threads' parts. One thread by default;
the commands take one per core while the BLAS runs one thread
(``mttgan_min.fast.settings``; docs/design.md, "BLAS threads").
"""
import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..backend import get_array_module
from ..layers import conv as reference
from ..layers.im2col import conv_geometry

CPU_CHUNK_BYTES = 2**19  # about half a CPU's L2 cache
GPU_CHUNK_BYTES = 2**31  # the whole batch at the paper's size (row patches 1.1 GB)
WORKER_MIN_BYTES = 2**20  # row patches per thread below which a convolution stays in one thread
FULL_PATCH_DEPTH = 9  # full patch matrices up to this deep (a 3x3 kernel on one channel) beat row patches (_lowering)


def batch_chunks(N, sample_bytes, xp):
    """Slices of the batch axis holding about CPU_CHUNK_BYTES (GPU_CHUNK_BYTES) of work each."""
    budget = CPU_CHUNK_BYTES if xp is np else GPU_CHUNK_BYTES
    n = max(1, budget // max(sample_bytes, 1))
    return [slice(s, s + n) for s in range(0, N, n)]


def width_windows(x_pad, KW, OW):
    """The sliding-window view of a zero-padded x, nothing copied: (n, Hp, Wp, C_in) -> (n, Hp, OW, KW, C_in).

    windows[k, r, ow, j] = x_pad[k, r, ow + j]: the view steps one pixel along both ow and j, so
    windows[k, r, ow] is the KW*C_in consecutive values of x_pad[k, r, ow : ow + KW].
    """
    xp = get_array_module(x_pad)
    n, Hp, _, C_in = x_pad.shape
    return xp.lib.stride_tricks.as_strided(x_pad, shape=(n, Hp, OW, KW, C_in),
                                           strides=x_pad.strides[:3] + x_pad.strides[2:])


def _row_patch_chunks(x, group, KW, OW, pads):
    """Yield (batch slice, its row patches P (n*Hp, OW, KW*C_in)) for the slices of ``group``, from reused buffers.

    Row patches are im2col along the width: P[k, r, ow] = x_pad[k, r, ow : ow + KW], i.e. a copy of
    ``width_windows``. Hp = H + top + bottom flat rows per sample; the group's largest chunk comes
    first. Each chunk is copied into the middle of a zeroed padding buffer, whose border stays zero.
    """
    xp = get_array_module(x)
    (top, bottom), (left, right) = pads
    n, H, W, C_in = len(x[group[0]]), *x.shape[1:]
    x_pad = xp.zeros((n, H + top + bottom, W + left + right, C_in), dtype=x.dtype)
    windows = width_windows(x_pad, KW, OW)
    P = xp.empty(windows.shape, dtype=x.dtype)
    for s in group:
        k = len(x[s])
        x_pad[:k, top:top + H, left:left + W] = x[s]
        P[:k] = windows[:k]
        yield s, P[:k].reshape(k * P.shape[1], OW, KW * C_in)


def _chunk_groups(x, KW, OW, pads, workers=1):
    """Lists of batch slices, one list per thread: the batch split evenly, each share cut by ``batch_chunks``.

    One thread on a GPU; on a CPU at most ``workers``, each with at least WORKER_MIN_BYTES of row patches.
    """
    xp = get_array_module(x)
    N = len(x)
    sample_bytes = (x.shape[1] + sum(pads[0])) * OW * KW * x.shape[-1] * x.itemsize
    workers = max(1, min(workers, N, N * sample_bytes // WORKER_MIN_BYTES)) if xp is np else 1
    bounds = [N * k // workers for k in range(workers + 1)]
    return [[slice(a + s.start, min(a + s.stop, b)) for s in batch_chunks(b - a, sample_bytes, xp)]
            for a, b in zip(bounds[:-1], bounds[1:])]


def _map_groups(work, groups):
    """[work(group) for group in groups], each group in its own thread: the first in the calling thread, the others in a pool."""
    others = [_thread_pool(len(groups) - 1).submit(work, group) for group in groups[1:]]
    return [work(groups[0])] + [future.result() for future in others]


@functools.lru_cache(maxsize=None)
def _thread_pool(workers):
    """One pool of ``workers`` threads, started on first use and kept for the process (idle threads sleep)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conv_fast")


def _row_geometry(x, KH, KW, pads):
    """(OH, OW, pads, Hp) of the stride-1 convolution of x: Hp = H + top + bottom flat rows per sample."""
    H, W = x.shape[1:3]
    OH, OW, pads = conv_geometry(H, W, KH, KW, 1, pads)
    return OH, OW, pads, H + sum(pads[0])


def _conv_chunk(P, kernel_rows, R, y_flat):
    """y_flat (R*OW, C_out) = sum over kernel rows i of P[i : i + R] @ w[i], written in place."""
    for i, w_i in enumerate(kernel_rows):
        block = P[i:i + R].reshape(y_flat.shape[0], -1)  # kernel row i's block of the patch matrix
        if i == 0:
            get_array_module(P).matmul(block, w_i, out=y_flat)
        else:
            y_flat += block @ w_i


def _weight_grad_chunk(P, dy_flat, R, dw):
    """dw[i] (KW*C_in, C_out) += P[i : i + R]^T @ dy_flat for every kernel row i, in place."""
    for i in range(len(dw)):
        dw[i] += P[i:i + R].reshape(dy_flat.shape[0], -1).T @ dy_flat


def _row_conv(x, w, pads, bias=None, workers=1):
    """Stride-1 convolution on row patches: x (N, H, W, C_in), w (KH, KW, C_in, C_out) -> y (N, OH, OW, C_out).

    Plus ``bias`` (C_out,) when given. Each sample has Hp flat rows, of which
    the first OH are outputs; the rest straddle two samples and are dropped.
    """
    return _row_pass(x, w.shape, w, None, pads, bias, workers)[0]


def _row_weight_grad(x, dy, w_shape, pads, workers=1):
    """Weight gradient of a stride-1 convolution on row patches: x (N, H, W, C_in), dy (N, OH, OW, C_out) -> w_shape.

    dy is laid out on the Hp flat rows of each sample, zero on the rows that straddle two samples.
    """
    return _row_pass(x, w_shape, None, dy, pads, None, workers)[1]


def _row_pass(x, w_shape, w, dy, pads, bias=None, workers=1):
    """y = conv(x, w) (+ bias) if ``w`` is given, the weight gradient for x and dy if ``dy`` is: one set of row patches.

    x (N, H, W, C_in), w_shape (KH, KW, C_in, C_out), w of that shape or None, dy (N, OH, OW, C_dy)
    or None -> (y (N, OH, OW, C_out) or None, dw (KH, KW, C_in, C_dy) or None). The transposed
    convolution's backward needs both (its dx and dw); one pass builds the row patches once for them.
    """
    xp = get_array_module(x)
    C_in = x.shape[-1]
    KH, KW, _, C_out = w_shape
    OH, OW, pads, Hp = _row_geometry(x, KH, KW, pads)
    kernel_rows = None if w is None else [w[i].reshape(KW * C_in, C_out) for i in range(KH)]
    y = None if w is None else xp.empty((len(x), OH, OW, C_out), dtype=x.dtype)

    def work(group):
        y_rows = dy_rows = dw = None
        if dy is not None:
            dw = xp.zeros((KH, KW * C_in, dy.shape[-1]), dtype=x.dtype)
        for s, P in _row_patch_chunks(x, group, KW, OW, pads):
            n = len(P) // Hp
            R = n * Hp - KH + 1  # flat rows whose kernel fits in P
            if w is not None:
                if y_rows is None:  # the largest chunk comes first
                    y_rows = xp.empty((n * Hp, OW, C_out), dtype=x.dtype)
                _conv_chunk(P, kernel_rows, R, y_rows[:R].reshape(R * OW, C_out))  # a view: writes go to y_rows
                outputs = y_rows[:n * Hp].reshape(n, Hp, OW, C_out)[:, :OH]
                if bias is None:
                    y[s] = outputs
                else:
                    xp.add(outputs, bias, out=y[s])
            if dy is not None:
                if dy_rows is None:  # the largest chunk comes first
                    dy_rows = xp.zeros((n, Hp, OW, dy.shape[-1]), dtype=x.dtype)
                dy_rows[:n, :OH] = dy[s]
                _weight_grad_chunk(P, dy_rows[:n].reshape(-1, dy.shape[-1])[:R * OW], R, dw)
        return dw

    dws = _map_groups(work, _chunk_groups(x, KW, OW, pads, workers))
    return y, (None if dy is None else sum(dws).reshape(KH, KW, C_in, -1))


# --- strides through space-to-depth -----------------------------------------

def space_to_depth(x, s):
    """(N, H, W, C) -> (N, H/s, W/s, s*s*C): each s x s block becomes one pixel, channels (p, q, c)."""
    N, H, W, C = x.shape
    return x.reshape(N, H // s, s, W // s, s, C).transpose(0, 1, 3, 2, 4, 5).reshape(N, H // s, W // s, s * s * C)


def depth_to_space(x, s):
    """Inverse of space_to_depth: (N, h, w, s*s*C) -> (N, h*s, w*s, C)."""
    N, h, w, D = x.shape
    return x.reshape(N, h, w, s, s, D // (s * s)).transpose(0, 1, 3, 2, 4, 5).reshape(N, h * s, w * s, D // (s * s))


def strided_kernel(w, s):
    """(KH, KW, C_in, C_out) -> (ceil(KH/s), ceil(KW/s), s*s*C_in, C_out) for the space-to-depth input.

    Tap (t, u) at block position (p, q) is w[t*s + p, u*s + q], zero past the
    kernel. At s = 1 it is w itself.
    """
    xp = get_array_module(w)
    KH, KW, C_in, C_out = w.shape
    th, tw = -(-KH // s), -(-KW // s)
    w_pad = xp.zeros((th * s, tw * s, C_in, C_out), dtype=w.dtype)
    w_pad[:KH, :KW] = w
    return w_pad.reshape(th, s, tw, s, C_in, C_out).transpose(0, 2, 1, 3, 4, 5).reshape(th, tw, s * s * C_in, C_out)


def unstrided_kernel(w2, s, KH, KW):
    """Inverse of strided_kernel (for gradients): (th, tw, s*s*C_in, C_out) -> (KH, KW, C_in, C_out).

    The taps past the kernel are dropped.
    """
    th, tw, D, C_out = w2.shape
    C_in = D // (s * s)
    w_pad = w2.reshape(th, tw, s, s, C_in, C_out).transpose(0, 2, 1, 3, 4, 5).reshape(th * s, tw * s, C_in, C_out)
    return w_pad[:KH, :KW]


def _strided_geometry(H, W, KH, KW, stride, padding):
    """Padding of the input for the space-to-depth form: whole blocks, enough rows for OH outputs.

    Returns (top, left) and the padded size (Hp, Wp), multiples of the
    stride; input rows/columns past Hp - top (Wp - left) meet no output.
    """
    OH, OW, ((top, _), (left, _)) = conv_geometry(H, W, KH, KW, stride, padding)
    Hp = stride * (OH - 1 + -(-KH // stride))
    Wp = stride * (OW - 1 + -(-KW // stride))
    return (top, left), (Hp, Wp)


def _to_blocks(x, stride, corner, size):
    """Zero-pad x to ``size`` with ``corner`` = (top, left), then space_to_depth."""
    xp = get_array_module(x)
    N, H, W, C_in = x.shape
    (top, left), (Hp, Wp) = corner, size
    h, w = min(H, Hp - top), min(W, Wp - left)
    x_pad = xp.zeros((N, Hp, Wp, C_in), dtype=x.dtype)
    x_pad[:, top:top + h, left:left + w] = x[:, :h, :w]
    return space_to_depth(x_pad, stride)


def _stride_one_input(x, KH, KW, stride, padding):
    """The input and padding of the stride-1 convolution equal to this one.

    Stride 1: x and ``padding`` as they are. Stride s: x padded to whole
    blocks and moved to depth, with no further padding; its kernel is
    ``strided_kernel(w, s)``, ceil(KH/s) x ceil(KW/s).
    """
    if stride == 1:
        return x, padding
    corner, size = _strided_geometry(x.shape[1], x.shape[2], KH, KW, stride, padding)
    return _to_blocks(x, stride, corner, size), "valid"


# --- narrow layers: the reference tier's one product ----------------------------

def turned(w):
    """The kernel turned by 180 degrees, channel axes swapped: (KH, KW, C_in, C_out) -> (KH, KW, C_out, C_in)."""
    return get_array_module(w).ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))


def turned_pads(H, W, KH, KW, padding):
    """Padding of the stride-1 convolution with the turned kernel that maps this one's output back onto x.

    KH-1-top above, KH-1-bottom below (the same across); an entry is negative where x is padded by
    more than the kernel.
    """
    (top, bottom), (left, right) = conv_geometry(H, W, KH, KW, 1, padding)[2]
    return (KH - 1 - top, KH - 1 - bottom), (KW - 1 - left, KW - 1 - right)


def _lowering(x_shape, w_shape, padding):
    """How the fast tier lowers a stride-1 convolution of x_shape with w_shape (KH, KW, C_in, C_out).

    'patches': the full patch matrix of x, when it is at most FULL_PATCH_DEPTH deep (KH*KW*C_in:
    few input channels); 'turned': the input gradient of the turned convolution, whose patches are
    those of the output side, when that is at most FULL_PATCH_DEPTH deep (KH*KW*C_out: few output
    channels) and its padding is not negative; otherwise 'rows', the row patches.
    """
    KH, KW, C_in, C_out = w_shape
    if KH * KW * C_in <= FULL_PATCH_DEPTH:
        return "patches"
    (a, b), (c, d) = turned_pads(*x_shape[1:3], KH, KW, padding)
    if KH * KW * C_out <= FULL_PATCH_DEPTH and min(a, b, c, d) >= 0:
        return "turned"
    return "rows"


def _stride_one_conv(x, w, pads, bias=None, workers=1):
    """A stride-1 convolution (+ bias), lowered by ``_lowering``."""
    lowering = _lowering(x.shape, w.shape, pads)
    if lowering == "rows":
        return _row_conv(x, w, pads, bias, workers)
    if lowering == "patches":  # conv.py's product
        return reference.conv(x, w, 1, pads, bias)
    # the input gradient of the turned convolution as conv.py computes it, x in the role of its dy
    N, H, W, _ = x.shape
    KH, KW, _, C_out = w.shape
    OH, OW, _ = conv_geometry(H, W, KH, KW, 1, pads)
    y = reference.conv_input_grad(x, turned(w), (N, OH, OW, C_out), 1, turned_pads(H, W, KH, KW, pads), bias)
    return get_array_module(y).ascontiguousarray(y)


def _stride_one_weight_grad(x, dy, w_shape, pads, workers=1):
    """The weight gradient (KH, KW, C_in, C_out) of a stride-1 convolution, lowered by ``_lowering``."""
    KH, KW, C_in, C_out = w_shape
    lowering = _lowering(x.shape, w_shape, pads)
    if lowering == "rows":
        return _row_weight_grad(x, dy, w_shape, pads, workers)
    if lowering == "patches":  # conv.py's product
        return reference.conv_weight_grad(x, dy, w_shape, 1, pads)
    # that of the turned convolution, dy in the role of its input, turned back
    pads_back = turned_pads(*x.shape[1:3], KH, KW, pads)
    return turned(reference.conv_weight_grad(dy, x, (KH, KW, C_out, C_in), 1, pads_back))


# --- the primitives (signatures as in layers/conv.py, plus the thread count) --------

def conv(x, w, stride, padding, bias=None, workers=1):
    """y = conv(x, w) (+ bias): x (N, H, W, C_in), w (KH, KW, C_in, C_out) -> y (N, OH, OW, C_out).

    ``bias`` (C_out,) is added inside the chunk loop when given.
    """
    KH, KW = w.shape[:2]
    x1, pads = _stride_one_input(x, KH, KW, stride, padding)
    return _stride_one_conv(x1, strided_kernel(w, stride), pads, bias, workers)


def conv_weight_grad(x, dy, w_shape, stride, padding, workers=1):
    """dw of y = conv(x, w): x (N, H, W, C_in), dy (N, OH, OW, C_out) -> w_shape (KH, KW, C_in, C_out).

    dw[i] = P[i : i + R]^T @ dy, summed over the batch, for the stride-1 form.
    """
    KH, KW, _, C_out = w_shape
    x1, pads = _stride_one_input(x, KH, KW, stride, padding)
    dw = _stride_one_weight_grad(x1, dy, (-(-KH // stride), -(-KW // stride), x1.shape[-1], C_out), pads, workers)
    return unstrided_kernel(dw, stride, KH, KW)


def conv_and_weight_grad(x, w, dy, stride, padding, workers=1):
    """(conv(x, w), conv_weight_grad(x, dy, w.shape)) from one set of row patches: the transposed convolution's backward.

    x (N, H, W, C_in), w (KH, KW, C_in, C_out), dy (N, OH, OW, C_out)
    -> y (N, OH, OW, C_out), dw (KH, KW, C_in, C_out).
    """
    KH, KW = w.shape[:2]
    x1, pads = _stride_one_input(x, KH, KW, stride, padding)
    w1 = strided_kernel(w, stride)
    if _lowering(x1.shape, w1.shape, pads) == "rows":
        y, dw = _row_pass(x1, w1.shape, w1, dy, pads, None, workers)
    else:  # no row patches to share
        y, dw = _stride_one_conv(x1, w1, pads, None, workers), _stride_one_weight_grad(x1, dy, w1.shape, pads, workers)
    return y, unstrided_kernel(dw, stride, KH, KW)


def conv_input_grad(dy, w, x_shape, stride, padding, bias=None, workers=1):
    """dx of y = conv(x, w): dy (N, OH, OW, C_out), w (KH, KW, C_in, C_out) -> dx x_shape (N, H, W, C_in).

    Plus ``bias`` (C_in,) when given (the transposed convolution's bias).
    Stride 1: the convolution of dy with w turned by 180 degrees and its
    channel axes swapped, padded by KH-1-top above and KH-1-bottom below (so
    the output has x's size). Stride s: the same for the space-to-depth
    convolution, then depth_to_space and the padding cropped.
    """
    xp = get_array_module(dy)
    N, H, W, C_in = x_shape
    KH, KW = w.shape[:2]
    if stride == 1:
        pads_back = turned_pads(H, W, KH, KW, padding)
        dx = conv(dy, turned(w), 1, tuple((max(a, 0), max(b, 0)) for a, b in pads_back), bias, workers)
        if dx.shape[1:3] == (H, W):
            return dx
        # x padded by more than the kernel: the turned pads would be negative, so crop instead
        t, l = max(-pads_back[0][0], 0), max(-pads_back[1][0], 0)
        return xp.ascontiguousarray(dx[:, t:t + H, l:l + W])
    (top, left), (Hp, Wp) = _strided_geometry(H, W, KH, KW, stride, padding)
    blocks_shape = (N, Hp // stride, Wp // stride, stride * stride * C_in)
    dx_pad = depth_to_space(conv_input_grad(dy, strided_kernel(w, stride), blocks_shape, 1, "valid", None, workers),
                            stride)
    h, w_ = min(H, Hp - top), min(W, Wp - left)
    if (h, w_) == (H, W):
        inside = dx_pad[:, top:top + H, left:left + W]
        return xp.ascontiguousarray(inside) if bias is None else inside + bias
    dx = xp.zeros(x_shape, dtype=dy.dtype)  # input rows/columns that meet no output
    dx[:, :h, :w_] = dx_pad[:, top:top + h, left:left + w_]
    return dx if bias is None else dx + bias
