"""Everything that exists only for speed, behind one door: ``with mttgan_min.fast.speed(device) as fast:``.

The layers (``mttgan_min.layers``) compute with the reference tier, written to be read, unless they
are given another at construction; they never import this package. The commands open this door
once, build their networks with ``tier=fast.tier`` and run inside the block (docs/design.md,
"Two tiers of convolution"). Inside:

- ``tier.py``: the fast tier, the reference tier's seven primitives lowered for speed: ``conv.py``
  (row patches, space-to-depth, cache-sized chunks, the batch split between threads), ``maxpool.py``
  (max pooling without a patch array) and per-channel sums as one BLAS product;
- ``settings.py``: ``speed``, the BLAS's thread count (threadpoolctl) and malloc's reuse of freed
  memory, chosen for the block and handed back after it.
"""
from .settings import Speed, speed
from .tier import tier

__all__ = ["speed", "Speed", "tier"]
