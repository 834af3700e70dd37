"""The max-pooling layer, MaxPool2D (Keras semantics, NHWC): a thin class around ``maxpool.py``'s pair."""
from .base import Layer
from .im2col import conv_geometry
from .reference import REFERENCE, check_tier


class MaxPool2D(Layer):
    """Keras MaxPooling2D(pool, strides, padding): (N, H, W, C) -> (N, OH, OW, C).

    ``tier``: the primitives it computes with (``layers.reference.REFERENCE``, or the fast tier the
    commands pass; the same numbers).
    """

    def __init__(self, pool=2, stride=None, padding="valid", tier=REFERENCE):
        super().__init__()
        self.pool, self.stride, self.padding, self.tier = pool, stride or pool, padding, check_tier(tier)

    def forward(self, x):
        out, self.cache = self.tier.maxpool_forward(x, self.pool, self.stride, self.padding)
        return out

    def backward(self, dout):
        return self.tier.maxpool_backward(dout, self.cache)

    def output_shape(self, input_shape):
        H, W, C = input_shape
        OH, OW, _ = conv_geometry(H, W, self.pool, self.pool, self.stride, self.padding)
        return (OH, OW, C)
