"""2-D convolution and transposed convolution, NHWC, lowered to matrix multiplies.

Layout: x (N, H, W, C), weights (KH, KW, C_in, C_out) as in Keras. With
channels last a convolution is ONE matrix multiply with no transposes:

    patches (N*OH*OW, KH*KW*C_in)  @  weights (KH*KW*C_in, C_out)

``im2col`` builds that patch matrix with a loop over the KH*KW kernel offsets,
copying one strided slice of the padded input each time; ``col2im`` adds the
slices back with ``+=``. The patch matrix is KH*KW times the input (16 times
for a 4x4 kernel: 4.3 GB per layer at the paper's size), so the kernels below
never build it whole. They split the same product into its KH*KW blocks,

    patches @ weights = sum over offsets (i, j) of  window(i, j) @ w[i, j],

where window(i, j) (N*OH*OW, C_in) is the slice im2col would have copied for
that offset: the same arithmetic, the same loop over kernel offsets and memory
the size of the input. On a CPU the kernels also take the batch a few
samples at a time (``batch_chunks``), so that a window, its product and the
accumulator stay in cache: a small matrix multiply (K = C_in = 32 at the
tiny preset) runs about twice as fast on cached data. A GPU takes the whole
batch at once.
(In PyTorch's NCHW a weight is (C_out, C_in, KH, KW); ours is its
``transpose(2, 3, 1, 0)``.)

Three primitives do all the work, and the transposed convolution is their
adjoint (Sec. IV-A, Fig. 5 "deconvolution"):

    conv forward     y  = conv(x, w)              = conv_transpose backward dx
    conv input grad  dx = conv_input_grad(dy, w)  = conv_transpose forward
    conv weight grad dw = conv_weight_grad(x, dy)   (x and dy swapped for the transpose)

Backward keeps only the layer's input, never patches.
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
    Returns (OH, OW, ((top, bottom), (left, right))).
    """
    if padding == "valid":
        OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
        pads = ((0, 0), (0, 0))
    elif padding == "same":
        OH, OW = -(-H // stride), -(-W // stride)
        ph = max((OH - 1) * stride + KH - H, 0)
        pw = max((OW - 1) * stride + KW - W, 0)
        pads = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
    else:
        raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
    if OH < 1 or OW < 1:
        raise ValueError(f"a {KH}x{KW} kernel does not fit a {H}x{W} input with padding {padding!r}")
    return OH, OW, pads


def _pad(x, pads):
    xp = get_array_module(x)
    if pads == ((0, 0), (0, 0)):
        return x
    return xp.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def _unpad(x_pad, pads, H, W):
    (top, _), (left, _) = pads
    return x_pad[:, top:top + H, left:left + W, :]


def window(x_pad, i, j, stride, OH, OW):
    """What kernel offset (i, j) sees at every output position: (N, OH, OW, C) view."""
    return x_pad[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :]


CPU_CHUNK_BYTES = 2**19  # about half a CPU's L2 cache


def batch_chunks(x):
    """Slices of the batch axis: a few samples (about CPU_CHUNK_BYTES of x) each on a CPU, one on a GPU."""
    N = x.shape[0]
    n = max(1, CPU_CHUNK_BYTES // max(x[0].nbytes, 1)) if get_array_module(x) is np else N
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


def conv(x, w, stride, padding, dy=None):
    """y = conv(x, w) without bias: (N, H, W, C_in) -> (N, OH, OW, C_out).

    With ``dy`` (N, OH, OW, C') it also returns ``dw = patches(x)^T @ dy``
    (shape (KH, KW, C_in, C')) from the same windows: the transposed
    convolution's backward needs both.
    """
    xp = get_array_module(x)
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, stride, padding)
    x_pad = _pad(x, pads)
    y = xp.zeros((N, OH, OW, F), dtype=x.dtype)
    if dy is not None:
        dw = xp.zeros((KH, KW, C, dy.shape[-1]), dtype=x.dtype)
    for s in batch_chunks(x_pad):
        y_s = y[s].reshape(-1, F)  # a view: += writes into y
        dy_s = None if dy is None else dy[s].reshape(-1, dy.shape[-1])
        for i in range(KH):
            for j in range(KW):
                patch = window(x_pad[s], i, j, stride, OH, OW).reshape(-1, C)  # one block of im2col
                y_s += patch @ w[i, j]
                if dy is not None:
                    dw[i, j] += patch.T @ dy_s
    return y if dy is None else (y, dw)


def conv_input_grad(dy, w, x_shape, stride, padding):
    """dx of y = conv(x, w): (N, OH, OW, C_out) -> x_shape = (N, H, W, C_in).

    Each offset's block of the patch gradient, dy @ w[i, j]^T, is added back
    where that offset's window came from (col2im, one block at a time).
    """
    xp = get_array_module(dy)
    N, H, W, C = x_shape
    KH, KW, _, F = w.shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, stride, padding)
    dx_pad = xp.zeros((N, H + sum(pads[0]), W + sum(pads[1]), C), dtype=dy.dtype)
    for s in batch_chunks(dx_pad):
        dx_s, dy_s = dx_pad[s], dy[s].reshape(-1, F)  # dx_s is a view into dx_pad
        for i in range(KH):
            for j in range(KW):
                window(dx_s, i, j, stride, OH, OW)[...] += (dy_s @ w[i, j].T).reshape(len(dx_s), OH, OW, C)
    return _unpad(dx_pad, pads, H, W)


def conv_weight_grad(x, dy, w_shape, stride, padding):
    """dw of y = conv(x, w): dw[i, j] = window(i, j)^T @ dy, summed over the batch -> w_shape."""
    xp = get_array_module(x)
    N, H, W, C = x.shape
    KH, KW, _, F = w_shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, stride, padding)
    x_pad = _pad(x, pads)
    dw = xp.zeros(w_shape, dtype=x.dtype)
    for s in batch_chunks(x_pad):
        dy_s = dy[s].reshape(-1, F)
        for i in range(KH):
            for j in range(KW):
                dw[i, j] += window(x_pad[s], i, j, stride, OH, OW).reshape(-1, C).T @ dy_s
    return dw


# --- Conv2D ---------------------------------------------------------------

def conv2d_forward(x, w, b, stride=1, padding="same"):
    """x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,) -> out (N, OH, OW, C_out)."""
    out = conv(x, w, stride, padding) + b
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
    out = conv_input_grad(x, w, out_shape, stride, padding) + b
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
