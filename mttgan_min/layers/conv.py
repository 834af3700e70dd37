"""2-D convolution and transposed convolution, NHWC, lowered to matrix multiplies.

Layout: x (N, H, W, C), weights (KH, KW, C_in, C_out) as in Keras. With
channels last a convolution is ONE matrix multiply with no transposes:

    patches (N*OH*OW, KH*KW*C_in)  @  weights (KH*KW*C_in, C_out)

``im2col`` builds that patch matrix with a loop over the KH*KW kernel offsets,
copying one strided slice of the padded input each time; ``col2im`` adds the
slices back with ``+=``. The patch matrix is KH*KW times the input (16 times
for a 4x4 kernel: 4.3 GB per layer at the paper's size), so the kernels below
build only a KH-th of it, the *row patches*: im2col along the width alone,

    P[n, r, ow] = x_pad[n, r, ow*s + j, c]  for all j < KW, c < C_in    (KW copies)

The patch-matrix block of kernel row i is, for output row oh, P[n, oh*s + i].
Flatten (n, r) into one axis and, at stride 1, these are consecutive rows of
P: a shifted slice, which is that block with nothing copied. So

    y = sum over kernel rows i of  P[i : i + R] @ w[i]        (KH matrix multiplies)

with w[i] (KW*C_in, C_out). A slice that runs past a sample's last output row
into the next sample computes rows that are thrown away (KH - 1 of every
H + KH - 1: 3 of 35 at the tiny preset). At stride s the rows i, i+s, ... are
a strided slice, which the matrix multiply copies. The weight gradient is the
same loop with P[i : i + R]^T @ dy.

The transposed convolution is the adjoint (Sec. IV-A, Fig. 5 "deconvolution"):

    conv forward     y  = conv(x, w)              = conv_transpose backward dx
    conv input grad  dx = conv_input_grad(dy, w)  = conv_transpose forward
    conv weight grad dw = conv_weight_grad(x, dy)   (x and dy swapped for the transpose)

At stride 1 the input gradient is itself a convolution, with the kernel turned
by 180 degrees and its channel axes swapped (Dumoulin & Visin, "A guide to
convolution arithmetic", 2016). At larger strides it scatters: each kernel
offset's product dy @ w[i, j]^T is added back where that offset's window came
from (col2im, one offset at a time).

On a CPU the kernels take the batch a few samples at a time
(``batch_chunks``), so that the row patches and their products stay in cache;
a GPU takes the whole batch at once. Backward keeps only the layer's input.
(In PyTorch's NCHW a weight is (C_out, C_in, KH, KW); ours is its
``transpose(2, 3, 1, 0)``.)
"""
import numpy as np

from ..backend import get_array_module
from .base import Layer
from ..init import glorot_uniform

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


def _unpad(x_pad, pads, H, W):
    (top, _), (left, _) = pads
    return x_pad[:, top:top + H, left:left + W, :]


def window(x_pad, i, j, stride, OH, OW):
    """What kernel offset (i, j) sees at every output position: (N, OH, OW, C) view."""
    return x_pad[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :]


CPU_CHUNK_BYTES = 2**19  # about half a CPU's L2 cache
GPU_CHUNK_BYTES = 2**31  # the whole batch at the paper's size (row patches 1.1 GB)


def batch_chunks(N, sample_bytes, xp):
    """Slices of the batch axis holding about CPU_CHUNK_BYTES (GPU_CHUNK_BYTES) of work each."""
    budget = CPU_CHUNK_BYTES if xp is np else GPU_CHUNK_BYTES
    n = max(1, budget // max(sample_bytes, 1))
    return [slice(s, s + n) for s in range(0, N, n)]


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


def row_patches(x, KW, stride, OW, pads, out):
    """im2col along the width of the zero-padded x, written into ``out``.

    x (n, H, W, C) -> out (n, Hp, OW, KW, C) with out[k, r, ow, j] =
    x_pad[k, r, ow*stride + j]: one strided copy per kernel column j. Only
    the positions that see x are written; the padding positions of ``out``
    must hold zeros, so one buffer from ``zeros`` serves chunk after chunk.
    Returns out as P (n*Hp, OW, KW*C).
    """
    n, H, W, C = x.shape
    (top, _), (left, _) = pads
    for j in range(KW):
        lo = max(0, -(-(left - j) // stride))          # first output column inside x
        hi = min(OW, (W - 1 + left - j) // stride + 1)  # one past the last
        if hi > lo:
            first = lo * stride + j - left
            out[:, top:top + H, lo:hi, j, :] = x[:, :, first:first + stride * (hi - lo - 1) + 1:stride, :]
    return out.reshape(n * out.shape[1], OW, KW * C)


def kernel_row_block(P, i, stride, R):
    """Block of the patch matrix for kernel row i: rows i, i+stride, ... of P, (R*OW, KW*C).

    A view at stride 1; the reshape copies at larger strides.
    """
    rows = P[i:i + stride * (R - 1) + 1:stride]
    return rows.reshape(-1, P.shape[-1])


def _row_conv(x, KH, KW, stride, padding, w=None, dy=None, bias=None):
    """The loop shared by conv (w given: y, plus bias) and conv_weight_grad (dy given: dw).

    Each sample gets Hp // stride flat output rows (Hp padded to a whole
    number of strides), of which the first OH are real; the rest straddle two
    samples and are dropped (y) or meet zeros in dy (dw).
    """
    xp = get_array_module(x)
    N, H, W, C = x.shape
    OH, OW, ((top, bottom), side) = conv_geometry(H, W, KH, KW, stride, padding)
    bottom += -(H + top + bottom) % stride
    Hp = H + top + bottom
    rows_per_sample = Hp // stride
    chunks = batch_chunks(N, Hp * OW * KW * C * x.itemsize, xp)
    n = chunks[0].stop - chunks[0].start
    patches = xp.zeros((min(n, N), Hp, OW, KW, C), dtype=x.dtype)
    if w is not None:
        F = w.shape[-1]
        y = xp.empty((N, OH, OW, F), dtype=x.dtype)
        y_rows = xp.empty((len(patches) * rows_per_sample, OW, F), dtype=x.dtype)
    if dy is not None:
        G = dy.shape[-1]
        dw = xp.zeros((KH, KW * C, G), dtype=x.dtype)
        dy_rows = xp.zeros((len(patches), rows_per_sample, OW, G), dtype=x.dtype)
    for s in chunks:
        n = len(x[s])
        P = row_patches(x[s], KW, stride, OW, ((top, bottom), side), patches[:n])
        R = min(n * rows_per_sample, (n * Hp - KH) // stride + 1)  # rows whose kernel fits in P
        if dy is not None:
            dy_rows[:n, :OH] = dy[s]
            dy_flat = dy_rows[:n].reshape(-1, G)[:R * OW]
        if w is not None:
            y_flat = y_rows[:R].reshape(R * OW, F)  # a view: writes go to y_rows
        for i in range(KH):
            block = kernel_row_block(P, i, stride, R)
            if w is not None:
                if i == 0:
                    xp.matmul(block, w[i].reshape(KW * C, F), out=y_flat)
                else:
                    y_flat += block @ w[i].reshape(KW * C, F)
            if dy is not None:
                dw[i] += block.T @ dy_flat
        if w is not None:
            real_rows = y_rows[:n * rows_per_sample].reshape(n, rows_per_sample, OW, F)[:, :OH]
            if bias is None:
                y[s] = real_rows
            else:
                xp.add(real_rows, bias, out=y[s])
    return (y if w is not None else None), (dw.reshape(KH, KW, C, G) if dy is not None else None)


def conv(x, w, stride, padding, dy=None, bias=None):
    """y = conv(x, w) (+ bias): (N, H, W, C_in) -> (N, OH, OW, C_out).

    With ``dy`` (N, OH, OW, C') it also returns ``dw = patches(x)^T @ dy``
    (shape (KH, KW, C_in, C')) from the same row patches: the transposed
    convolution's backward needs both.
    """
    KH, KW = w.shape[:2]
    y, dw = _row_conv(x, KH, KW, stride, padding, w=w, dy=dy, bias=bias)
    return y if dy is None else (y, dw)


def conv_weight_grad(x, dy, w_shape, stride, padding):
    """dw of y = conv(x, w): dw[i] = P[i : i + R]^T @ dy, summed over the batch -> w_shape."""
    return _row_conv(x, w_shape[0], w_shape[1], stride, padding, dy=dy)[1]


def conv_input_grad(dy, w, x_shape, stride, padding, bias=None):
    """dx of y = conv(x, w): (N, OH, OW, C_out) -> x_shape = (N, H, W, C_in).

    (Plus ``bias`` (C_in,), when it serves as the transposed convolution.)

    Stride 1: the convolution of dy with w turned by 180 degrees and its
    channel axes swapped, padded by KH-1-top above and KH-1-bottom below (so
    the output has x's size). Larger strides: each offset's block of the patch
    gradient, dy @ w[i, j]^T, is added back where that offset's window came
    from (col2im, one block at a time).
    """
    xp = get_array_module(dy)
    N, H, W, C = x_shape
    KH, KW, _, F = w.shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, stride, padding)
    if stride == 1:
        (top, bottom), (left, right) = pads
        w_turned = xp.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
        return conv(dy, w_turned, 1, ((KH - 1 - top, KH - 1 - bottom), (KW - 1 - left, KW - 1 - right)),
                    bias=bias)
    Hp, Wp = H + sum(pads[0]), W + sum(pads[1])
    dx_pad = xp.zeros((N, Hp, Wp, C), dtype=dy.dtype)
    for s in batch_chunks(N, Hp * Wp * C * dy.itemsize, xp):
        dx_s, dy_s = dx_pad[s], dy[s].reshape(-1, F)  # dx_s is a view into dx_pad
        for i in range(KH):
            for j in range(KW):
                window(dx_s, i, j, stride, OH, OW)[...] += (dy_s @ w[i, j].T).reshape(len(dx_s), OH, OW, C)
    dx = _unpad(dx_pad, pads, H, W)
    return dx if bias is None else dx + bias


# --- Conv2D ---------------------------------------------------------------

def conv2d_forward(x, w, b, stride=1, padding="same"):
    """x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,) -> out (N, OH, OW, C_out)."""
    out = conv(x, w, stride, padding, bias=b)
    return out, (x, w, stride, padding)


def conv2d_backward(dout, cache, param_grads=True):
    """-> dx (N, H, W, C_in), dw (KH, KW, C_in, C_out), db (C_out,); dw, db None if not param_grads."""
    x, w, stride, padding = cache
    dx = conv_input_grad(dout, w, x.shape, stride, padding)
    if not param_grads:
        return dx, None, None
    dw = conv_weight_grad(x, dout, w.shape, stride, padding)
    return dx, dw, dout.sum(axis=(0, 1, 2))


# --- Conv2DTranspose: the adjoint of Conv2D --------------------------------

def transpose_output_size(H, K, stride, padding):
    """Spatial size produced by a transposed convolution (Keras rules)."""
    return H * stride if padding == "same" else (H - 1) * stride + K


def conv2d_transpose_forward(x, w, b, stride=2, padding="same"):
    """x (N, H, W, C_in), w (KH, KW, C_out, C_in) [Keras layout], b (C_out,).

    Output (N, H*stride, W*stride, C_out) for 'same'. It is the input-gradient
    of the convolution with the same w that maps the output back onto x.
    """
    N, H, W, _ = x.shape
    KH, KW, F, _ = w.shape
    out_shape = (N, transpose_output_size(H, KH, stride, padding),
                 transpose_output_size(W, KW, stride, padding), F)
    out = conv_input_grad(x, w, out_shape, stride, padding, bias=b)
    return out, (x, w, stride, padding)


def conv2d_transpose_backward(dout, cache, param_grads=True):
    """-> dx (N, H, W, C_in), dw (KH, KW, C_out, C_in), db (C_out,)."""
    x, w, stride, padding = cache
    if not param_grads:
        return conv(dout, w, stride, padding), None, None
    dx, dw = conv(dout, w, stride, padding, dy=x)
    return dx, dw, dout.sum(axis=(0, 1, 2))


class _ConvBase(Layer):
    """Shared by Conv2D and Conv2DTranspose: Glorot-uniform kernel, zero bias."""
    forward_fn = backward_fn = None

    def __init__(self, w_shape, filters, stride, padding, rng, dtype):
        super().__init__()
        KH, KW, a, b = w_shape
        self.stride, self.padding = stride, padding
        self.params = {"w": glorot_uniform(rng, w_shape, KH * KW * a, KH * KW * b, dtype),
                       "b": np.zeros(filters, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        out, self.cache = type(self).forward_fn(x, self.params["w"], self.params["b"], self.stride, self.padding)
        return out

    def backward(self, dout):
        dx, dw, db = type(self).backward_fn(dout, self.cache, self.trainable)
        self.accumulate(w=dw, b=db)
        return dx


class Conv2D(_ConvBase):
    """Keras Conv2D(filters, kernel_size, strides, padding) on NHWC input."""
    forward_fn, backward_fn = conv2d_forward, conv2d_backward

    def __init__(self, in_channels, filters, kernel_size, stride=1, padding="same", rng=None, dtype=np.float32):
        super().__init__((kernel_size, kernel_size, in_channels, filters), filters, stride, padding, rng, dtype)

    def output_shape(self, input_shape):
        H, W, _ = input_shape
        KH, KW, _, F = self.params["w"].shape
        OH, OW, _ = conv_geometry(H, W, KH, KW, self.stride, self.padding)
        return (OH, OW, F)


class Conv2DTranspose(_ConvBase):
    """Keras Conv2DTranspose(filters, kernel_size, strides, padding): the adjoint of Conv2D."""
    forward_fn, backward_fn = conv2d_transpose_forward, conv2d_transpose_backward

    def __init__(self, in_channels, filters, kernel_size, stride=2, padding="same", rng=None, dtype=np.float32):
        super().__init__((kernel_size, kernel_size, filters, in_channels), filters, stride, padding, rng, dtype)

    def output_shape(self, input_shape):
        H, W, _ = input_shape
        KH, KW, F, _ = self.params["w"].shape
        return (transpose_output_size(H, KH, self.stride, self.padding),
                transpose_output_size(W, KW, self.stride, self.padding), F)
