"""Batch normalisation per channel, NHWC, with Keras semantics (SPEC "Generator").

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


def batchnorm_forward(x, gamma, beta, running_mean, running_var, training,
                      momentum=0.8, eps=1e-3):
    """x (N, H, W, C); gamma, beta, running_* (C,).

    Returns (out, cache, new_running_mean, new_running_var); the running
    statistics are unchanged in inference mode. Nothing is modified in place.
    """
    xp = get_array_module(x)
    axes = (0, 1, 2)
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = x.size // x.shape[-1]
        unbiased = var * (m / max(m - 1, 1))
        new_mean = momentum * running_mean + (1.0 - momentum) * mean
        new_var = momentum * running_var + (1.0 - momentum) * unbiased
    else:
        mean, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    inv_std = 1.0 / xp.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    return out, (x_hat, gamma, inv_std, training), new_mean, new_var


def batchnorm_backward(dout, cache, param_grads=True):
    """dout (N, H, W, C) -> dx, dgamma (C,), dbeta (C,).

    Training mode (the mean and variance depend on x):
        dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    Inference mode: dx = dx_hat * inv_std.
    """
    x_hat, gamma, inv_std, training = cache
    axes = (0, 1, 2)
    dx_hat = dout * gamma
    if training:
        dx = inv_std * (dx_hat - dx_hat.mean(axis=axes) - x_hat * (dx_hat * x_hat).mean(axis=axes))
    else:
        dx = dx_hat * inv_std
    if not param_grads:
        return dx, None, None
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


class BatchNorm2D(Layer):
    def __init__(self, channels, momentum=0.8, eps=1e-3, dtype=np.float32):
        super().__init__()
        self.momentum, self.eps = float(momentum), float(eps)
        self.params = {"gamma": np.ones(channels, dtype), "beta": np.zeros(channels, dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.buffers = {"running_mean": np.zeros(channels, dtype), "running_var": np.ones(channels, dtype)}

    def forward(self, x):
        out, self.cache, mean, var = batchnorm_forward(
            x, self.params["gamma"], self.params["beta"], self.buffers["running_mean"],
            self.buffers["running_var"], self.training, self.momentum, self.eps)
        if self.training:
            self.buffers["running_mean"][...] = mean
            self.buffers["running_var"][...] = var
        return out

    def backward(self, dout):
        dx, dgamma, dbeta = batchnorm_backward(dout, self.cache, self.trainable)
        self.accumulate(gamma=dgamma, beta=dbeta)
        return dx
