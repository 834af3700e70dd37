"""The reference tier: the primitives the layers compute with unless they are given another tier.

A *tier* is one object with seven primitives, each a plain function (docs/design.md,
"Two tiers of convolution"):

- ``conv``, ``conv_weight_grad``, ``conv_input_grad``, ``conv_and_weight_grad``: the convolution
  and its gradients (``conv.py``), used by Conv2D and Conv2DTranspose;
- ``maxpool_forward``, ``maxpool_backward``: max pooling (``maxpool.py``), used by MaxPool2D;
- ``channel_sums``: per-channel sums over N, H, W, the bias and batch-norm gradients.

``REFERENCE`` is the tier written to be read, and every layer's default. The commands (train,
sample, bench, evaluate) build their networks with the fast tier instead (``mttgan_min.fast``), an
object with the same seven names that a float64 test holds to the same numbers. A layer takes its
tier once, at construction (``Conv2D(..., tier=...)``), and keeps it.
"""
from types import SimpleNamespace

from . import conv, maxpool

PRIMITIVES = ("conv", "conv_weight_grad", "conv_input_grad", "conv_and_weight_grad",
              "maxpool_forward", "maxpool_backward", "channel_sums")


def channel_sums(a, b=None):
    """Per-channel sums over every axis but the last of a, or of a * b: (N, H, W, C) or (N, C) -> (C,)."""
    values = a if b is None else a * b
    return values.sum(axis=tuple(range(values.ndim - 1)))


REFERENCE = SimpleNamespace(name="reference", conv=conv.conv, conv_weight_grad=conv.conv_weight_grad,
                            conv_input_grad=conv.conv_input_grad, conv_and_weight_grad=conv.conv_and_weight_grad,
                            maxpool_forward=maxpool.maxpool_forward, maxpool_backward=maxpool.maxpool_backward,
                            channel_sums=channel_sums)


def check_tier(tier):
    """``tier`` itself if it has the seven primitives; a TypeError naming what is missing otherwise."""
    missing = [name for name in PRIMITIVES if not callable(getattr(tier, name, None))]
    if missing:
        raise TypeError(f"tier must be an object with the primitives {', '.join(PRIMITIVES)} (such as "
                        f"layers.reference.REFERENCE), got {tier!r}, which lacks {', '.join(missing)}")
    return tier
