"""Batch normalisation per channel, NHWC, with Keras semantics (docs/design.md, "Batch normalisation").

Statistics are taken over (N, H, W) for each channel. Training uses the batch
mean and (biased) variance; inference uses the running statistics, updated as

    running = momentum * running + (1 - momentum) * batch      (momentum 0.8)

The running variance takes the unbiased batch variance (M / (M - 1), with
M = N*H*W values per channel), as TensorFlow's fused batch norm, which Keras
uses for 4-D inputs, does.
"""
import numpy as np

from ..backend import get_array_module
from .base import Layer
from .reference import REFERENCE, check_tier


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training,
                      momentum=0.8, eps=1e-3, tier=REFERENCE):
    """x (N, H, W, C); gamma, beta, running_* (C,).

    Returns (out, cache, new_running_mean, new_running_var); the running
    statistics are unchanged in inference mode. Nothing is modified in place.
    The per-channel sums are ``tier.channel_sums`` (``reference.py``).
    """
    xp = get_array_module(x)
    if training:
        m = x.size // x.shape[-1]
        mean = tier.channel_sums(x) / m
        centred = x - mean
        var = tier.channel_sums(centred, centred) / m
        unbiased = var * (m / max(m - 1, 1))
        new_mean = momentum * running_mean + (1.0 - momentum) * mean
        new_var = momentum * running_var + (1.0 - momentum) * unbiased
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
        centred = x - mean
    inv_std = 1.0 / xp.sqrt(var + eps)
    out = centred * (gamma * inv_std)  # gamma * x_hat, with x_hat = centred * inv_std never stored
    out += beta
    return out, (centred, gamma, inv_std, training), new_mean, new_var


def batchnorm_backward(dout, cache, param_grads=True, tier=REFERENCE):
    """dout (N, H, W, C) -> dx, dgamma (C,), dbeta (C,).

    Training mode (the mean and variance depend on x), with dx_hat = dout * gamma:
        dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
           = gamma * inv_std * (dout - sum(dout) / M - x_hat * sum(dout * x_hat) / M)
    where the sums run over the M = N*H*W values of a channel; they are also
    dbeta and dgamma. Inference mode: dx = dout * gamma * inv_std.
    """
    centred, gamma, inv_std, training = cache  # x_hat = centred * inv_std
    scale = gamma * inv_std
    dx = dout * scale
    if training or param_grads:
        dbeta, dgamma = tier.channel_sums(dout), tier.channel_sums(dout, centred) * inv_std
    if training:
        m = dout.size // dout.shape[-1]
        dx -= centred * (scale * inv_std * dgamma / m)
        dx -= scale * dbeta / m
    if not param_grads:
        return dx, None, None
    return dx, dgamma, dbeta


class BatchNorm2D(Layer):
    """Keras BatchNormalization(momentum, epsilon) on NHWC input, per channel: (N, H, W, C) -> same shape.

    Parameters gamma (ones), beta (zeros); buffers running_mean (zeros) and
    running_var (ones), updated in training mode only. ``tier``: whose
    ``channel_sums`` it computes with (``reference.py``), chosen once here.
    """

    def __init__(self, channels, momentum=0.8, eps=1e-3, dtype=np.float32, tier=REFERENCE):
        super().__init__()
        self.momentum, self.eps, self.tier = float(momentum), float(eps), check_tier(tier)
        self.params = {"gamma": np.ones(channels, dtype), "beta": np.zeros(channels, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(channels, dtype), "running_var": np.ones(channels, dtype)}

    def forward(self, x):
        out, self.cache, mean, var = batchnorm_forward(
            x, self.params["gamma"], self.params["beta"], self.buffers["running_mean"],
            self.buffers["running_var"], self.training, self.momentum, self.eps, self.tier)
        if self.training:
            self.buffers["running_mean"][...] = mean
            self.buffers["running_var"][...] = var
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout, self.cache, self.trainable, self.tier)
        self.accumulate(gamma=dgamma, beta=dbeta)
        return dx
