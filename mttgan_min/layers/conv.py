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
dy swapped. The layers' pure forward/backward pairs (``conv_layers.py``)
are written exactly so.

These four functions are the reference tier's convolution primitives
(``reference.py``; docs/design.md, "Two tiers of convolution"), what every
layer computes with by default. The commands use a fast tier with the same
signatures, outside this folder, which a float64 test holds to the same
numbers. In PyTorch's NCHW a weight is (C_out, C_in, KH, KW); ours is its
``transpose(2, 3, 1, 0)``.
"""
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

    (A fast tier can build its patches once for the two.)
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
