"""The layer protocol shared by every layer and container.

A layer wraps a pure ``*_forward`` / ``*_backward`` pair (CS231n style). It
keeps the forward ``cache`` on ``self`` and exposes

- ``params``: trainable arrays, ``grads``: their gradients (same keys),
  accumulated by ``backward`` and cleared by ``zero_grad``;
- ``buffers``: non-trainable state (batch-norm running statistics);
- ``training``: batch statistics and dropout on (True) or off (False);
- ``trainable``: False freezes the layer (Keras ``trainable=False``):
  backward still returns ``dx`` but computes no parameter gradients.

Containers (Sequential, Residual) list their sub-layers in ``children()``;
the recursive helpers below then work on whole networks.
"""
import copy
import re

import numpy as np

from ..backend import get_array_module, to_device, to_numpy


def state_dict_problems(expected, got, source="the given state", limit=5):
    """Compare two {name: array} dicts by names and shapes; a list of short strings, empty if they match.

    The one check behind every state-dict load (networks, Adam, checkpoints), e.g.
    ``["missing 3.w", "0.w has shape (100, 512) in the checkpoint, (100, 2048) here"]``.
    """
    def names(keys):
        keys = sorted(keys)
        return ", ".join(keys[:limit]) + (" ..." if len(keys) > limit else "")

    problems = []
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing:
        problems.append(f"missing {names(missing)}")
    if extra:
        problems.append(f"unexpected {names(extra)}")
    wrong = [k for k in expected if k in got and tuple(expected[k].shape) != tuple(got[k].shape)]
    problems += [f"{k} has shape {tuple(got[k].shape)} in {source}, {tuple(expected[k].shape)} here"
                 for k in wrong[:limit]]
    if len(wrong) > limit:
        problems.append(f"{len(wrong) - limit} more shape mismatches")
    return problems


class Layer:
    """The base of every layer and container: the attributes and recursive helpers described above."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.training = True
        self.trainable = True
        self.cache = None

    # --- what each layer implements -------------------------------------
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def output_shape(self, input_shape):
        """Output shape for one sample (no batch axis); default: unchanged."""
        return input_shape

    def children(self):
        """Sub-layers as (name, layer) pairs; empty for a leaf layer."""
        return []

    # --- helpers --------------------------------------------------------
    def accumulate(self, **grads):
        """Add parameter gradients (skipped when None, i.e. the layer is frozen)."""
        for k, g in grads.items():
            if g is not None:
                self.grads[k] += g

    @property
    def kind(self):
        """Keras-like layer type name: Conv2DTranspose -> conv2d_transpose."""
        return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type(self).__name__).lower()

    def walk(self):
        """This layer and every layer below it, depth first."""
        yield self
        for _, child in self.children():
            yield from child.walk()

    def _named(self, attr, prefix=""):
        out = {prefix + k: v for k, v in getattr(self, attr).items()}
        for name, child in self.children():
            out.update(child._named(attr, f"{prefix}{name}."))
        return out

    def named_params(self):
        """Trainable arrays of the whole (sub)network, keyed '3.inner.0.w'."""
        return self._named("params")

    def named_grads(self):
        return self._named("grads")

    def named_buffers(self):
        return self._named("buffers")

    def state_dict(self):
        """Parameters and buffers (device arrays, not copies)."""
        return {**self.named_params(), **self.named_buffers()}

    def load_state_dict(self, state):
        """Copy arrays into this network in place; check names and shapes first (ValueError)."""
        own = self.state_dict()
        problems = state_dict_problems(own, state)
        if problems:
            raise ValueError("state does not match the network: " + "; ".join(problems))
        for k, v in own.items():
            v[...] = to_device(state[k], get_array_module(v))

    def num_params(self):
        return sum(int(v.size) for v in self.named_params().values())

    def zero_grad(self):
        for layer in self.walk():
            for g in layer.grads.values():
                g[...] = 0

    def set_training(self, flag):
        for layer in self.walk():
            layer.training = bool(flag)
        return self

    def set_trainable(self, flag):
        for layer in self.walk():
            layer.trainable = bool(flag)
        return self

    def set_rng(self, rng):
        """Give every random layer (Dropout) the generator ``rng``."""
        for layer in self.walk():
            if hasattr(layer, "rng"):
                layer.rng = rng
        return self

    def clear_cache(self):
        for layer in self.walk():
            layer.cache = None

    def to(self, xp):
        """Move every array to array module ``xp`` (numpy or cupy), in place."""
        for layer in self.walk():
            layer.cache = None
            for attr in ("params", "grads", "buffers"):
                d = getattr(layer, attr)
                for k in d:
                    d[k] = to_device(d[k], xp)
        return self

    def clone(self):
        """A deep copy with its own arrays; random generators are shared, not copied."""
        self.clear_cache()
        rngs = {id(layer.rng): layer.rng for layer in self.walk() if getattr(layer, "rng", None) is not None}
        return copy.deepcopy(self, rngs)


def infer(net, x, xp, batch=64):
    """net.forward in inference mode, ``batch`` rows at a time: x (N, ...) NumPy -> NumPy (N, ...).

    Each batch goes to the array module ``xp`` and back; batch norm uses its running statistics and
    dropout is off. Every layer's training flag is restored afterwards and the caches are cleared.
    """
    was = [layer.training for layer in net.walk()]
    net.set_training(False)
    try:
        out = [to_numpy(net.forward(to_device(x[i:i + batch], xp))) for i in range(0, len(x), batch)]
    finally:
        for layer, flag in zip(net.walk(), was):
            layer.training = flag
        net.clear_cache()
    return np.concatenate(out) if out else np.zeros((0,) + tuple(net.output_shape(net.input_shape)), np.float32)
