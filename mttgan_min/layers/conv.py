"""2-D convolution and transposed convolution, NHWC, lowered to matrix multiplies.

Layout: x (N, H, W, C), weights (KH, KW, C_in, C_out) as in Keras. With
channels last a convolution is ONE matrix multiply with no transposes:

    patches (N*OH*OW, KH*KW*C_in)  @  weights (KH*KW*C_in, C_out)

``im2col`` builds that patch matrix with a loop over the KH*KW kernel offsets,
copying one strided slice of the padded input each time; ``col2im`` adds the
slices back with ``+=``. The patch matrix is KH*KW times the input (16 times
for a 4x4 kernel: 4.3 GB per layer at the paper's size), so the kernels below
build only a KH-th of it, the *row patches*: im2col along the width alone,

    P[n, r, ow] = x_pad[n, r, ow + j, c]  for all j < KW, c < C_in      (KW copies)

The patch-matrix block of kernel row i is, for output row oh, P[n, oh + i].
Flatten (n, r) into one axis and these are consecutive rows of P: a shifted
slice, which is that block with nothing copied. So

    y = sum over kernel rows i of  P[i : i + R] @ w[i]        (KH matrix multiplies)

with w[i] (KW*C_in, C_out). A slice that runs past a sample's last output row
into the next sample computes rows that are thrown away (KH - 1 of every
H + KH - 1: 3 of 35 at the tiny preset). The weight gradient is the same loop
with P[i : i + R]^T @ dy.

Strides: a stride-s convolution is a stride-1 convolution of the
*space-to-depth* input, every s x s block of pixels stacked into one pixel
with s*s*C_in channels, with the kernel regrouped the same way
(``strided_kernel``). No product is wasted when s divides the kernel size
(the generator's 4x4 stride-2 layers); a 3x3 kernel is padded to 4x4 with zeros.

The transposed convolution is the adjoint (Sec. IV-A, Fig. 5 "deconvolution"):

    conv forward     y  = conv(x, w)              = conv_transpose backward dx
    conv input grad  dx = conv_input_grad(dy, w)  = conv_transpose forward
    conv weight grad dw = conv_weight_grad(x, dy)   (x and dy swapped for the transpose)

and the input gradient of a stride-1 convolution is itself a convolution,
with the kernel turned by 180 degrees and its channel axes swapped
(Dumoulin & Visin, "A guide to convolution arithmetic", 2016); at stride s it
is that of the space-to-depth convolution, moved back by depth-to-space.

On a CPU the kernels take the batch a few samples at a time
(``batch_chunks``), so that the row patches and their products stay in cache;
a GPU takes the whole batch at once. Backward keeps only the layer's input.
(In PyTorch's NCHW a weight is (C_out, C_in, KH, KW); ours is its
``transpose(2, 3, 1, 0)``.)
"""
import numpy as np

from ..backend import get_array_module
from ..initializers import glorot_uniform
from .base import Layer
from .im2col import conv_geometry


CPU_CHUNK_BYTES = 2**19  # about half a CPU's L2 cache
GPU_CHUNK_BYTES = 2**31  # the whole batch at the paper's size (row patches 1.1 GB)


def batch_chunks(N, sample_bytes, xp):
    """Slices of the batch axis holding about CPU_CHUNK_BYTES (GPU_CHUNK_BYTES) of work each."""
    budget = CPU_CHUNK_BYTES if xp is np else GPU_CHUNK_BYTES
    n = max(1, budget // max(sample_bytes, 1))
    return [slice(s, s + n) for s in range(0, N, n)]


def row_patches(x, KW, OW, pads, out):
    """im2col along the width of the zero-padded x, written into ``out``.

    x (n, H, W, C) -> out (n, Hp, OW, KW, C) with out[k, r, ow, j] =
    x_pad[k, r, ow + j]: one copy per kernel column j. Only the positions that
    see x are written; the padding positions of ``out`` must hold zeros, so
    one buffer from ``zeros`` serves chunk after chunk. Returns out as
    P (n*Hp, OW, KW*C).
    """
    n, H, W, C = x.shape
    (top, _), (left, _) = pads
    for j in range(KW):
        lo, hi = max(0, left - j), min(OW, W + left - j)  # output columns that see x
        if hi > lo:
            out[:, top:top + H, lo:hi, j, :] = x[:, :, lo + j - left:hi + j - left, :]
    return out.reshape(n * out.shape[1], OW, KW * out.shape[-1])


def _row_conv(x, KH, KW, pads, w=None, dy=None, bias=None):
    """Stride-1 convolution on row patches: y = conv(x, w) + bias if w is given, dw if dy is given.

    Each sample has Hp = H + top + bottom flat rows, of which the first OH
    are outputs; the rest straddle two samples and are dropped (y) or meet
    zeros in dy (dw).
    """
    xp = get_array_module(x)
    N, H, W, C = x.shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, 1, pads)
    Hp = H + sum(pads[0])
    chunks = batch_chunks(N, Hp * OW * KW * C * x.itemsize, xp)
    most = min(chunks[0].stop, N)  # samples in the largest chunk: the buffers' size
    patches = xp.zeros((most, Hp, OW, KW, C), dtype=x.dtype)
    if w is not None:
        F = w.shape[-1]
        y = xp.empty((N, OH, OW, F), dtype=x.dtype)
        y_rows = xp.empty((most * Hp, OW, F), dtype=x.dtype)
    if dy is not None:
        G = dy.shape[-1]
        dw = xp.zeros((KH, KW * C, G), dtype=x.dtype)
        dy_rows = xp.zeros((most, Hp, OW, G), dtype=x.dtype)
    for s in chunks:
        n = len(x[s])
        P = row_patches(x[s], KW, OW, pads, patches[:n])
        R = n * Hp - KH + 1  # flat rows whose kernel fits in P
        if w is not None:
            y_flat = y_rows[:R].reshape(R * OW, F)  # a view: writes go to y_rows
        if dy is not None:
            dy_rows[:n, :OH] = dy[s]
            dy_flat = dy_rows[:n].reshape(-1, G)[:R * OW]
        for i in range(KH):
            block = P[i:i + R].reshape(R * OW, KW * C)  # kernel row i's block of the patch matrix
            if w is not None:
                if i == 0:
                    xp.matmul(block, w[i].reshape(KW * C, F), out=y_flat)
                else:
                    y_flat += block @ w[i].reshape(KW * C, F)
            if dy is not None:
                dw[i] += block.T @ dy_flat
        if w is not None:
            outputs = y_rows[:n * Hp].reshape(n, Hp, OW, F)[:, :OH]
            if bias is None:
                y[s] = outputs
            else:
                xp.add(outputs, bias, out=y[s])
    return (y if w is not None else None), (dw.reshape(KH, KW, C, G) if dy is not None else None)


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
    """(KH, KW, C, F) -> (ceil(KH/s), ceil(KW/s), s*s*C, F) for the space-to-depth input.

    Tap (t, u) at block position (p, q) is w[t*s + p, u*s + q], zero past the
    kernel. At s = 1 it is w itself.
    """
    xp = get_array_module(w)
    KH, KW, C, F = w.shape
    th, tw = -(-KH // s), -(-KW // s)
    w_pad = xp.zeros((th * s, tw * s, C, F), dtype=w.dtype)
    w_pad[:KH, :KW] = w
    return w_pad.reshape(th, s, tw, s, C, F).transpose(0, 2, 1, 3, 4, 5).reshape(th, tw, s * s * C, F)


def unstrided_kernel(w2, s, KH, KW):
    """Inverse of strided_kernel (used for gradients): the taps past the kernel are dropped."""
    th, tw, D, F = w2.shape
    C = D // (s * s)
    w_pad = w2.reshape(th, tw, s, s, C, F).transpose(0, 2, 1, 3, 4, 5).reshape(th * s, tw * s, C, F)
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
    N, H, W, C = x.shape
    (top, left), (Hp, Wp) = corner, size
    h, w = min(H, Hp - top), min(W, Wp - left)
    x_pad = xp.zeros((N, Hp, Wp, C), dtype=x.dtype)
    x_pad[:, top:top + h, left:left + w] = x[:, :h, :w]
    return space_to_depth(x_pad, stride)


def _stride_one_form(x, KH, KW, stride, padding):
    """The stride-1 convolution equal to this one: (its input, kernel height, width, padding).

    Stride 1: x as it is. Stride s: x padded to whole blocks and moved to
    depth, a ceil(KH/s) x ceil(KW/s) kernel, no further padding.
    """
    if stride == 1:
        return x, KH, KW, padding
    corner, size = _strided_geometry(x.shape[1], x.shape[2], KH, KW, stride, padding)
    return _to_blocks(x, stride, corner, size), -(-KH // stride), -(-KW // stride), "valid"


# --- the three primitives ---------------------------------------------------

def conv(x, w, stride, padding, dy=None, bias=None):
    """y = conv(x, w) (+ bias): (N, H, W, C_in) -> (N, OH, OW, C_out).

    With ``dy`` (N, OH, OW, C') it also returns ``dw = patches(x)^T @ dy``
    (shape (KH, KW, C_in, C')) from the same row patches: the transposed
    convolution's backward needs both.
    """
    KH, KW = w.shape[:2]
    y, dw = _row_conv(*_stride_one_form(x, KH, KW, stride, padding), w=strided_kernel(w, stride), dy=dy, bias=bias)
    return y if dy is None else (y, unstrided_kernel(dw, stride, KH, KW))


def conv_weight_grad(x, dy, w_shape, stride, padding):
    """dw of y = conv(x, w): dw[i] = P[i : i + R]^T @ dy, summed over the batch -> w_shape."""
    KH, KW = w_shape[:2]
    dw = _row_conv(*_stride_one_form(x, KH, KW, stride, padding), dy=dy)[1]
    return unstrided_kernel(dw, stride, KH, KW)


def conv_input_grad(dy, w, x_shape, stride, padding, bias=None):
    """dx of y = conv(x, w): (N, OH, OW, C_out) -> x_shape = (N, H, W, C_in).

    (Plus ``bias`` (C_in,), when it serves as the transposed convolution.)
    Stride 1: the convolution of dy with w turned by 180 degrees and its
    channel axes swapped, padded by KH-1-top above and KH-1-bottom below (so
    the output has x's size). Stride s: the same for the space-to-depth
    convolution, then depth_to_space and the padding cropped.
    """
    xp = get_array_module(dy)
    N, H, W, C = x_shape
    KH, KW = w.shape[:2]
    if stride == 1:
        (top, bottom), (left, right) = conv_geometry(H, W, KH, KW, 1, padding)[2]
        w_turned = xp.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
        return conv(dy, w_turned, 1, ((KH - 1 - top, KH - 1 - bottom), (KW - 1 - left, KW - 1 - right)),
                    bias=bias)
    (top, left), (Hp, Wp) = _strided_geometry(H, W, KH, KW, stride, padding)
    blocks_shape = (N, Hp // stride, Wp // stride, stride * stride * C)
    dx_pad = depth_to_space(conv_input_grad(dy, strided_kernel(w, stride), blocks_shape, 1, "valid"), stride)
    h, w_ = min(H, Hp - top), min(W, Wp - left)
    if (h, w_) == (H, W):
        inside = dx_pad[:, top:top + H, left:left + W]
        return xp.ascontiguousarray(inside) if bias is None else inside + bias
    dx = xp.zeros(x_shape, dtype=dy.dtype)  # input rows/columns that meet no output
    dx[:, :h, :w_] = dx_pad[:, top:top + h, left:left + w_]
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
