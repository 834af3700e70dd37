"""Shape-only layers: Flatten (N, H, W, C) -> (N, H*W*C) and Reshape."""
from .base import Layer


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (batch axis kept)."""

    def __init__(self, target_shape):
        super().__init__()
        self.target_shape = tuple(target_shape)

    def forward(self, x):
        self.cache = x.shape
        return x.reshape((x.shape[0],) + self.target_shape)

    def backward(self, dout):
        return dout.reshape(self.cache)

    def output_shape(self, input_shape):
        return self.target_shape


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C), in NHWC order (as Keras' Flatten on channels-last input)."""

    def forward(self, x):
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.cache)

    def output_shape(self, input_shape):
        size = 1
        for d in input_shape:
            size *= d
        return (size,)
