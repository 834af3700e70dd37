"""The fast tier: an object with the reference tier's seven primitives (``layers/reference.py``), lowered for speed.

``tier(workers)`` gathers the row-patch convolutions (``conv.py``), the copy-free max pooling
(``maxpool.py``) and the BLAS per-channel sums below, with the convolutions' thread count bound in.
Layers take it at construction, e.g. ``Conv2D(..., tier=tier(4))``; a float64 test holds it to the
reference tier's numbers.
"""
from functools import partial
from types import SimpleNamespace

from ..backend import get_array_module
from . import conv, maxpool


def channel_sums(a, b=None):
    """Per-channel sums over N, H, W of a, or of a * b: (N, H, W, C) -> (C,): bias and batch-norm gradients.

    A product with a vector of ones: the BLAS does it on every core and sums in blocks, several
    times more accurately in float32 than a running sum.
    """
    xp = get_array_module(a)
    values = a if b is None else a * b
    values = values.reshape(-1, values.shape[-1])
    return xp.ones(values.shape[0], dtype=values.dtype) @ values


def tier(workers=1):
    """The fast tier, its convolutions splitting each batch between ``workers`` threads on a CPU (one on a GPU)."""
    workers = max(1, int(workers))
    return SimpleNamespace(name="fast", workers=workers,
                           conv=partial(conv.conv, workers=workers),
                           conv_weight_grad=partial(conv.conv_weight_grad, workers=workers),
                           conv_input_grad=partial(conv.conv_input_grad, workers=workers),
                           conv_and_weight_grad=partial(conv.conv_and_weight_grad, workers=workers),
                           maxpool_forward=maxpool.maxpool_forward, maxpool_backward=maxpool.maxpool_backward,
                           channel_sums=channel_sums)
