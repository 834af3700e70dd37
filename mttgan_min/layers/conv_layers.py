"""The convolution layers, Conv2D and Conv2DTranspose (Keras semantics, NHWC).

Two parts, in reading order: the pure forward/backward pairs of the two layers, written with the
primitives of ``conv.py`` as its docstring derives them; and thin classes around the pairs, which
keep the cache and accumulate the gradients of kernel and bias. Pairs and classes take ``tier``,
the object whose primitives they compute with (``reference.py``): by default the reference tier,
``conv.py``; the commands pass the fast tier (the same numbers).
"""
import numpy as np

from ..initializers import glorot_uniform
from .base import Layer
from .im2col import conv_geometry
from .reference import REFERENCE, check_tier


# --- Conv2D: forward and backward ------------------------------------------------

def conv2d_forward(x, w, b, stride=1, padding="same", tier=REFERENCE):
    """x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,) -> out (N, OH, OW, C_out), cache."""
    out = tier.conv(x, w, stride, padding, bias=b)
    return out, (x, w, stride, padding)


def conv2d_backward(dout, cache, param_grads=True, tier=REFERENCE):
    """dout (N, OH, OW, C_out) -> dx (N, H, W, C_in), dw (KH, KW, C_in, C_out), db (C_out,).

    dw and db are None when not ``param_grads`` (a frozen layer).
    """
    x, w, stride, padding = cache
    dx = tier.conv_input_grad(dout, w, x.shape, stride, padding)
    if not param_grads:
        return dx, None, None
    return dx, tier.conv_weight_grad(x, dout, w.shape, stride, padding), tier.channel_sums(dout)


# --- Conv2DTranspose: the adjoint of Conv2D ------------------------------------------

def transpose_output_size(H, K, stride, padding):
    """Spatial size of a transposed convolution's output (Keras): H*stride ('same'), H*stride + max(K - stride, 0) ('valid')."""
    if padding == "same":
        return H * stride
    if padding == "valid":
        return H * stride + max(K - stride, 0)
    raise ValueError(f"a transposed convolution takes padding 'same' or 'valid', got {padding!r}")


def conv2d_transpose_forward(x, w, b, stride=2, padding="same", tier=REFERENCE):
    """x (N, H, W, C_in), w (KH, KW, C_out, C_in), b (C_out,) -> out (N, OH, OW, C_out), cache.

    The input gradient of the convolution with the same w that maps an
    (N, OH, OW, C_out) image onto x; OH = transpose_output_size(H, KH, ...).
    """
    N, H, W, _ = x.shape
    KH, KW, C_out, _ = w.shape
    out_shape = (N, transpose_output_size(H, KH, stride, padding), transpose_output_size(W, KW, stride, padding), C_out)
    out = tier.conv_input_grad(x, w, out_shape, stride, padding, bias=b)
    return out, (x, w, stride, padding)


def conv2d_transpose_backward(dout, cache, param_grads=True, tier=REFERENCE):
    """dout (N, OH, OW, C_out) -> dx (N, H, W, C_in), dw (KH, KW, C_out, C_in), db (C_out,).

    The adjoint of the forward: dx is the convolution of dout, and dw the
    convolution's weight gradient with dout as its input and x as its dy.
    """
    x, w, stride, padding = cache
    if not param_grads:
        return tier.conv(dout, w, stride, padding), None, None
    dx, dw = tier.conv_and_weight_grad(dout, w, x, stride, padding)  # conv(dout, w), conv_weight_grad(dout, x)
    return dx, dw, tier.channel_sums(dout)


# --- the layers ------------------------------------------------------------------

class Conv2D(Layer):
    """Keras Conv2D(filters, kernel_size, strides, padding) on NHWC input.

    (N, H, W, in_channels) -> (N, OH, OW, filters) with OH = ceil(H / stride)
    for 'same' and (H - kernel_size) // stride + 1 for 'valid'. Kernel
    (KH, KW, C_in, C_out), Glorot-uniform; bias (C_out,), zero. ``tier``: the
    primitives it computes with (``reference.py``), chosen once here.
    """

    def __init__(self, in_channels, filters, kernel_size, stride=1, padding="same", rng=None, dtype=np.float32,
                 tier=REFERENCE):
        super().__init__()
        K = kernel_size
        self.stride, self.padding, self.tier = stride, padding, check_tier(tier)
        self.params = {"w": glorot_uniform(rng, (K, K, in_channels, filters), K * K * in_channels, K * K * filters,
                                           dtype),
                       "b": np.zeros(filters, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        out, self.cache = conv2d_forward(x, self.params["w"], self.params["b"], self.stride, self.padding, self.tier)
        return out

    def backward(self, dout):
        dx, dw, db = conv2d_backward(dout, self.cache, self.trainable, self.tier)
        self.accumulate(w=dw, b=db)
        return dx

    def output_shape(self, input_shape):
        H, W, _ = input_shape
        KH, KW, _, C_out = self.params["w"].shape
        OH, OW, _ = conv_geometry(H, W, KH, KW, self.stride, self.padding)
        return (OH, OW, C_out)


class Conv2DTranspose(Layer):
    """Keras Conv2DTranspose(filters, kernel_size, strides, padding): the adjoint of Conv2D.

    The idea: where a convolution gathers a kernel-sized window of its input
    into each output pixel, a transposed convolution scatters each input pixel,
    times the kernel, into a kernel-sized window of its output, the windows
    ``stride`` pixels apart (and overlapping where they meet). It is the
    input gradient of the convolution that maps its output back onto its
    input, which is how it is computed here; at stride 2 it upsamples by 2.

    Shapes: (N, H, W, in_channels) -> (N, OH, OW, filters) with
    OH = H * stride for 'same' and H * stride + max(kernel_size - stride, 0)
    for 'valid' (Keras' rules). Kernel (KH, KW, C_out, C_in), i.e. (KH, KW,
    filters, in_channels) as in Keras: the convolution it is the adjoint of
    maps C_out channels to C_in. Bias (C_out,).

    Padding 'same' crops the full scatter as Keras does: by the convolution
    padding of an OH-sized input, half before and the rest after. So an even
    kernel at stride 1 (the ResBlock's 4x4) is padded 1 row and column before
    and 2 after, and the crop is asymmetric too. Kernel Glorot-uniform, bias
    zero; ``tier`` as for Conv2D.

    >>> import numpy as np
    >>> up = Conv2DTranspose(in_channels=8, filters=4, kernel_size=4, stride=2, rng=np.random.default_rng(0))
    >>> up.params["w"].shape
    (4, 4, 4, 8)
    >>> up.forward(np.ones((2, 5, 5, 8), np.float32)).shape
    (2, 10, 10, 4)
    >>> Conv2DTranspose(8, 4, kernel_size=3, stride=2, padding="valid").output_shape((5, 5, 8))
    (11, 11, 4)
    >>> Conv2DTranspose(8, 4, kernel_size=2, stride=3, padding="valid").output_shape((5, 5, 8))
    (15, 15, 4)
    """

    def __init__(self, in_channels, filters, kernel_size, stride=2, padding="same", rng=None, dtype=np.float32,
                 tier=REFERENCE):
        super().__init__()
        K = kernel_size
        self.stride, self.padding, self.tier = stride, padding, check_tier(tier)
        self.params = {"w": glorot_uniform(rng, (K, K, filters, in_channels), K * K * filters, K * K * in_channels,
                                           dtype),
                       "b": np.zeros(filters, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        out, self.cache = conv2d_transpose_forward(x, self.params["w"], self.params["b"], self.stride, self.padding,
                                                   self.tier)
        return out

    def backward(self, dout):
        dx, dw, db = conv2d_transpose_backward(dout, self.cache, self.trainable, self.tier)
        self.accumulate(w=dw, b=db)
        return dx

    def output_shape(self, input_shape):
        H, W, _ = input_shape
        KH, KW, C_out, _ = self.params["w"].shape
        return (transpose_output_size(H, KH, self.stride, self.padding),
                transpose_output_size(W, KW, self.stride, self.padding), C_out)
