"""2-D convolution and its adjoint, the transposed convolution, NHWC: the reference tier.

Layout: x (N, H, W, C_in), weights (KH, KW, C_in, C_out) as in Keras. With
channels last a convolution is ONE matrix multiply with no transposes:

    patches (N*OH*OW, KH*KW*C_in)  @  weights (KH*KW*C_in, C_out)  =  y (N*OH*OW, C_out)

Its two gradients are the two other products of the same matrices:

    weight gradient  dw = patches^T @ dy
    input gradient   dx = col2im(dy @ weights^T)      (col2im is im2col's adjoint)

The transposed convolution (Sec. IV-A, Fig. 5 "deconvolution") is the
adjoint of the convolution: its forward is the convolution's input gradient,
and its backward is the convolution's forward and weight gradient with x and
dy swapped. The pure pairs below are written exactly so.

Two tiers compute these primitives (docs/design.md, "Two tiers of
convolution"): this file, and ``conv_fast.py`` (row patches, space-to-depth,
cache-sized chunks), which a float64 test holds to the same numbers. The pure
pairs and the layers (``conv_layers.py``) take ``tier="fast"`` (the default)
or ``tier="reference"``. In PyTorch's NCHW a weight is (C_out, C_in, KH, KW);
ours is its ``transpose(2, 3, 1, 0)``.
"""
from collections import namedtuple

from . import conv_fast
from .base import channel_sums
from .im2col import col2im, conv_geometry, patch_matrix


def conv(x, w, stride, padding, bias=None):
    """y = patches @ w (+ bias): x (N, H, W, C_in), w (KH, KW, C_in, C_out) -> y (N, OH, OW, C_out).

    ``bias`` (C_out,), when given, is added to every output pixel.
    """
    N, H, W, _ = x.shape
    KH, KW, _, C_out = w.shape
    OH, OW, _ = conv_geometry(H, W, KH, KW, stride, padding)
    y = (patch_matrix(x, KH, KW, stride, padding) @ w.reshape(-1, C_out)).reshape(N, OH, OW, C_out)
    return y if bias is None else y + bias


def conv_weight_grad(x, dy, w_shape, stride, padding):
    """dw = patches^T @ dy: x (N, H, W, C_in), dy (N, OH, OW, C_out) -> dw w_shape (KH, KW, C_in, C_out)."""
    KH, KW, _, C_out = w_shape
    return (patch_matrix(x, KH, KW, stride, padding).T @ dy.reshape(-1, C_out)).reshape(w_shape)


def conv_and_weight_grad(x, w, dy, stride, padding):
    """Both conv(x, w) and conv_weight_grad(x, dy, w.shape): the pair the transposed convolution's backward needs.

    (The fast tier builds its patches once for the two.)
    """
    return conv(x, w, stride, padding), conv_weight_grad(x, dy, w.shape, stride, padding)


def conv_input_grad(dy, w, x_shape, stride, padding, bias=None):
    """dx = col2im(dy @ w^T): dy (N, OH, OW, C_out), w (KH, KW, C_in, C_out) -> dx x_shape (N, H, W, C_in).

    The gradient reaches the padded input; the padding is cropped. ``bias``
    (C_in,), when given, is added to every pixel (the transposed
    convolution's bias). Input pixels that no window covers get zero.
    """
    N, H, W, C_in = x_shape
    KH, KW, _, C_out = w.shape
    OH, OW, ((top, bottom), (left, right)) = conv_geometry(H, W, KH, KW, stride, padding)
    dpatches = (dy.reshape(-1, C_out) @ w.reshape(-1, C_out).T).reshape(N, OH, OW, KH, KW, C_in)
    dx_pad = col2im(dpatches, (N, H + top + bottom, W + left + right, C_in), stride)
    dx = dx_pad[:, top:top + H, left:left + W]
    return dx if bias is None else dx + bias


# --- the choice of tier -------------------------------------------------------

Tier = namedtuple("Tier", "conv conv_weight_grad conv_input_grad conv_and_weight_grad")
TIERS = {"reference": Tier(conv, conv_weight_grad, conv_input_grad, conv_and_weight_grad),
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
