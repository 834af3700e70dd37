"""Inverted dropout (Fig. 4: the discriminator's Dropout(0.4) after layers 3, 6, 9).

At training time each unit is kept with probability 1 - rate and scaled by
1 / (1 - rate), so inference needs no change (the identity).
"""
from .base import Layer


def dropout_forward(x, rate, rng=None, training=True, mask=None):
    """x (any shape) -> out (same shape), cache.

    ``mask`` (bool, x's shape) fixes which units are kept (for gradient checks);
    otherwise it is drawn from the generator ``rng``.
    """
    if not training or rate == 0.0:
        return x, None
    if mask is None:
        if rng is None:
            raise ValueError("dropout in training mode needs a random generator: call net.set_rng(rng)")
        mask = rng.random(x.shape, dtype=x.dtype) >= rate
    scale = mask * (1.0 / (1.0 - rate))
    scale = scale.astype(x.dtype)
    return x * scale, scale


def dropout_backward(dout, cache):
    """dout (any shape) -> dx (same shape): dout times the forward's kept-and-scaled mask (dout itself when off)."""
    scale = cache
    return dout if scale is None else dout * scale


class Dropout(Layer):
    """Keras Dropout(rate), inverted: in training mode a unit is zeroed with probability ``rate`` and the rest
    scaled by 1 / (1 - rate); in inference mode the identity. The mask comes from ``rng`` (set with
    ``net.set_rng``)."""

    def __init__(self, rate, rng=None):
        super().__init__()
        self.rate = float(rate)
        self.rng = rng

    def forward(self, x):
        out, self.cache = dropout_forward(x, self.rate, self.rng, self.training)
        return out

    def backward(self, dout):
        return dropout_backward(dout, self.cache)
