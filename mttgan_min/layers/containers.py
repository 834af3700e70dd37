"""Containers: Sequential (a chain of layers) and Residual (x + f(x))."""
from .base import Layer


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse (the chain rule)."""

    def __init__(self, layers, name="sequential", input_shape=None):
        super().__init__()
        self.layers = list(layers)
        self.name = name
        self.input_shape = tuple(input_shape) if input_shape is not None else None

    def children(self):
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def output_shape(self, input_shape):
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return input_shape


class Residual(Layer):
    """out = x + inner(x); backward: dx = dout + inner.backward(dout) (two paths add)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def children(self):
        return [("inner", self.inner)]

    def forward(self, x):
        return x + self.inner.forward(x)

    def backward(self, dout):
        return dout + self.inner.backward(dout)

    def output_shape(self, input_shape):
        return input_shape
