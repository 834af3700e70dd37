"""Fully connected layer: out = x @ w + b."""
import numpy as np

from ..initializers import glorot_uniform
from .base import Layer


def dense_forward(x, w, b):
    """x (N, D), w (D, M), b (M,) -> out (N, M)."""
    return x @ w + b, (x, w)


def dense_backward(dout, cache, param_grads=True):
    """dout (N, M) -> dx (N, D), dw (D, M), db (M,); dw, db None if not param_grads."""
    x, w = cache
    dx = dout @ w.T
    if not param_grads:
        return dx, None, None
    return dx, x.T @ dout, dout.sum(axis=0)


class Dense(Layer):
    """Keras Dense(units): (N, in_features) -> (N, out_features); kernel (in, out) Glorot-uniform, bias zero."""

    def __init__(self, in_features, out_features, rng=None, dtype=np.float32):
        super().__init__()
        self.params = {"w": glorot_uniform(rng, (in_features, out_features), in_features, out_features, dtype),
                       "b": np.zeros(out_features, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x):
        out, self.cache = dense_forward(x, self.params["w"], self.params["b"])
        return out

    def backward(self, dout):
        dx, dw, db = dense_backward(dout, self.cache, self.trainable)
        self.accumulate(w=dw, b=db)
        return dx

    def output_shape(self, input_shape):
        return (self.params["w"].shape[1],)
