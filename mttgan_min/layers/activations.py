"""Activations: LeakyReLU (alpha 0.2 in the paper), ReLU, Sigmoid, and softmax for class probabilities."""
from ..backend import get_array_module
from .base import Layer


def leaky_relu_forward(x, alpha=0.2):
    """x (any shape) -> out (same shape), cache: x if x > 0 else alpha * x, i.e. max(x, alpha * x) for 0 <= alpha <= 1."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"LeakyReLU needs 0 <= alpha <= 1, got {alpha}")
    xp = get_array_module(x)
    out = x * alpha
    return xp.maximum(out, x, out=out), (x, alpha)  # in place: one new array, not two


def leaky_relu_backward(dout, cache):
    """dout (any shape) -> dx (same shape): dout * slope, slope 1 where x > 0 and alpha elsewhere.

    The slope is built arithmetically from the mask, in place: on a CPU,
    ``where`` with a random mask is several times slower than a few multiplies.
    """
    x, alpha = cache
    dx = (x > 0).astype(dout.dtype)
    dx *= 1.0 - alpha
    dx += alpha
    dx *= dout
    return dx


def relu_forward(x):
    """x (any shape) -> out (same shape), cache: max(x, 0), a LeakyReLU with alpha 0."""
    return leaky_relu_forward(x, 0.0)


def relu_backward(dout, cache):
    """dout (any shape) -> dx (same shape): dout where x > 0, else 0."""
    return leaky_relu_backward(dout, cache)


def sigmoid(x):
    """x (any shape) -> 1 / (1 + exp(-x)) (same shape), written with tanh so it never overflows.

    The package's one sigmoid: the Sigmoid layer, the loss and D's probabilities use it.
    """
    xp = get_array_module(x)
    return 0.5 * (xp.tanh(0.5 * x) + 1.0)


def softmax(logits, axis=-1):
    """Class probabilities exp(z_k) / sum_j exp(z_j) of logits (..., K), the maximum subtracted first.

    Used only to report a classifier's probabilities: training fuses softmax with the cross-entropy
    (``losses.softmax_cross_entropy_forward``), whose gradient is simpler and stable.
    """
    xp = get_array_module(logits)
    e = xp.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid_forward(x):
    """x (any shape) -> out = sigmoid(x) (same shape), cache (out itself)."""
    out = sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """dout (any shape) -> dx (same shape) = dout * out * (1 - out)."""
    out = cache
    return dout * out * (1.0 - out)


class LeakyReLU(Layer):
    """Keras LeakyReLU(alpha): x for x > 0, alpha * x otherwise (alpha 0.2 in the paper, Sec. IV-A)."""

    def __init__(self, alpha=0.2):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        out, self.cache = leaky_relu_forward(x, self.alpha)
        return out

    def backward(self, dout):
        return leaky_relu_backward(dout, self.cache)


class ReLU(LeakyReLU):
    """max(x, 0): a LeakyReLU with alpha 0."""

    def __init__(self):
        super().__init__(alpha=0.0)


class Sigmoid(Layer):
    """1 / (1 + exp(-x)), element-wise: the generator's output layer (Fig. 5), images in [0, 1]."""

    def forward(self, x):
        out, self.cache = sigmoid_forward(x)
        return out

    def backward(self, dout):
        return sigmoid_backward(dout, self.cache)
