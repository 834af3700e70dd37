"""Kernel initialisers: Glorot-uniform, Keras' default (docs/design.md, "Initialisation"); He-uniform (classifiers)."""
import numpy as np


def glorot_uniform(rng, shape, fan_in, fan_out, dtype=np.float32):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010).

    ``rng`` is a NumPy Generator; weights are drawn on the host so that the
    same seed gives the same network on every device. None means seed 0.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_uniform(rng, shape, fan_in, dtype=np.float32):
    """U(-limit, limit) with limit = sqrt(6 / fan_in) (He et al., 2015), for layers followed by ReLU.

    Drawn with ``rng`` (a NumPy Generator) on the host, like ``glorot_uniform``.
    """
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)
