"""The convolution layers, Conv2D and Conv2DTranspose (Keras semantics, NHWC).

Three parts, in reading order: the choice of tier (``TIERS``: the primitives
of ``conv.py``, the reference, or of ``conv_fast.py``, the fast tier; both
give the same numbers); the pure forward/backward pairs of the two layers,
written with those primitives as ``conv.py``'s docstring derives them; and
thin classes around the pairs, which keep the cache and accumulate the
gradients of kernel and bias. Pairs and classes take ``tier="fast"`` (the
default) or ``tier="reference"``.
"""
from collections import namedtuple

import numpy as np

from ..initializers import glorot_uniform
from . import conv, conv_fast
from .base import Layer, channel_sums
from .im2col import conv_geometry


# --- the choice of tier -------------------------------------------------------

Tier = namedtuple("Tier", "conv conv_weight_grad conv_input_grad conv_and_weight_grad")
TIERS = {"reference": Tier(conv.conv, conv.conv_weight_grad, conv.conv_input_grad, conv.conv_and_weight_grad),
         "fast": Tier(conv_fast.conv, conv_fast.conv_weight_grad, conv_fast.conv_input_grad,
                      conv_fast.conv_and_weight_grad)}


def get_tier(tier):
    """The primitives of ``tier`` ('fast' or 'reference')."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(TIERS)}, got {tier!r}")
    return TIERS[tier]


# --- Conv2D: forward and backward ------------------------------------------------

def conv2d_forward(x, w, b, stride=1, padding="same", tier="fast"):
    """x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,) -> out (N, OH, OW, C_out), cache."""
    out = get_tier(tier).conv(x, w, stride, padding, bias=b)
    return out, (x, w, stride, padding, tier)


def conv2d_backward(dout, cache, param_grads=True):
    """dout (N, OH, OW, C_out) -> dx (N, H, W, C_in), dw (KH, KW, C_in, C_out), db (C_out,).

    dw and db are None when not ``param_grads`` (a frozen layer).
    """
    x, w, stride, padding, tier = cache
    ops = get_tier(tier)
    dx = ops.conv_input_grad(dout, w, x.shape, stride, padding)
    if not param_grads:
        return dx, None, None
    return dx, ops.conv_weight_grad(x, dout, w.shape, stride, padding), channel_sums(dout)


# --- Conv2DTranspose: the adjoint of Conv2D ------------------------------------------

def transpose_output_size(H, K, stride, padding):
    """Spatial size of a transposed convolution's output (Keras): H*stride ('same'), H*stride + max(K - stride, 0) ('valid')."""
    if padding == "same":
        return H * stride
    if padding == "valid":
        return H * stride + max(K - stride, 0)
    raise ValueError(f"a transposed convolution takes padding 'same' or 'valid', got {padding!r}")


def conv2d_transpose_forward(x, w, b, stride=2, padding="same", tier="fast"):
    """x (N, H, W, C_in), w (KH, KW, C_out, C_in), b (C_out,) -> out (N, OH, OW, C_out), cache.

    The input gradient of the convolution with the same w that maps an
    (N, OH, OW, C_out) image onto x; OH = transpose_output_size(H, KH, ...).
    """
    N, H, W, _ = x.shape
    KH, KW, C_out, _ = w.shape
    out_shape = (N, transpose_output_size(H, KH, stride, padding), transpose_output_size(W, KW, stride, padding), C_out)
    out = get_tier(tier).conv_input_grad(x, w, out_shape, stride, padding, bias=b)
    return out, (x, w, stride, padding, tier)


def conv2d_transpose_backward(dout, cache, param_grads=True):
    """dout (N, OH, OW, C_out) -> dx (N, H, W, C_in), dw (KH, KW, C_out, C_in), db (C_out,).

    The adjoint of the forward: dx is the convolution of dout, and dw the
    convolution's weight gradient with dout as its input and x as its dy.
    """
    x, w, stride, padding, tier = cache
    ops = get_tier(tier)
    if not param_grads:
        return ops.conv(dout, w, stride, padding), None, None
    dx, dw = ops.conv_and_weight_grad(dout, w, x, stride, padding)  # conv(dout, w), conv_weight_grad(dout, x)
    return dx, dw, channel_sums(dout)


# --- the layers ------------------------------------------------------------------

class _ConvBase(Layer):
    """Shared by Conv2D and Conv2DTranspose: Glorot-uniform kernel, zero bias, a tier."""
    forward_fn = backward_fn = None

    def __init__(self, w_shape, filters, stride, padding, rng, dtype, tier):
        super().__init__()
        get_tier(tier)  # fail now, not at the first forward
        KH, KW, a, b = w_shape
        self.stride, self.padding, self.tier = stride, padding, tier
        self.params = {"w": glorot_uniform(rng, w_shape, KH * KW * a, KH * KW * b, dtype),
                       "b": np.zeros(filters, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        w, b = self.params["w"], self.params["b"]
        out, self.cache = type(self).forward_fn(x, w, b, self.stride, self.padding, self.tier)
        return out

    def backward(self, dout):
        dx, dw, db = type(self).backward_fn(dout, self.cache, self.trainable)
        self.accumulate(w=dw, b=db)
        return dx


class Conv2D(_ConvBase):
    """Keras Conv2D(filters, kernel_size, strides, padding) on NHWC input.

    (N, H, W, in_channels) -> (N, OH, OW, filters) with OH = ceil(H / stride)
    for 'same' and (H - kernel_size) // stride + 1 for 'valid'. Kernel
    (KH, KW, C_in, C_out), bias (C_out,). ``tier``: 'fast' or 'reference'
    (the same numbers; see ``conv.py``).
    """
    forward_fn, backward_fn = conv2d_forward, conv2d_backward

    def __init__(self, in_channels, filters, kernel_size, stride=1, padding="same", rng=None, dtype=np.float32,
                 tier="fast"):
        super().__init__((kernel_size, kernel_size, in_channels, filters), filters, stride, padding, rng, dtype, tier)

    def output_shape(self, input_shape):
        H, W, _ = input_shape
        KH, KW, _, C_out = self.params["w"].shape
        OH, OW, _ = conv_geometry(H, W, KH, KW, self.stride, self.padding)
        return (OH, OW, C_out)


class Conv2DTranspose(_ConvBase):
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
    and 2 after, and the crop is asymmetric too. ``tier``: 'fast' or
    'reference'.

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
    forward_fn, backward_fn = conv2d_transpose_forward, conv2d_transpose_backward

    def __init__(self, in_channels, filters, kernel_size, stride=2, padding="same", rng=None, dtype=np.float32,
                 tier="fast"):
        super().__init__((kernel_size, kernel_size, filters, in_channels), filters, stride, padding, rng, dtype, tier)

    def output_shape(self, input_shape):
        H, W, _ = input_shape
        KH, KW, C_out, _ = self.params["w"].shape
        return (transpose_output_size(H, KH, self.stride, self.padding),
                transpose_output_size(W, KW, self.stride, self.padding), C_out)
