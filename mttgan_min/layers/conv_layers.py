"""The convolution layers, Conv2D and Conv2DTranspose (Keras semantics, NHWC).

Thin classes around the pure pairs of ``conv.py``: the layer keeps the cache
and accumulates the gradients of its kernel and bias. Each layer computes with
the tier it is given, ``tier="fast"`` (``conv_fast.py``, the default) or
``tier="reference"`` (``conv.py``); both give the same numbers.
"""
import numpy as np

from ..initializers import glorot_uniform
from .base import Layer
from .conv import (conv2d_backward, conv2d_forward, conv2d_transpose_backward, conv2d_transpose_forward,
                   get_tier, transpose_output_size)
from .im2col import conv_geometry


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
