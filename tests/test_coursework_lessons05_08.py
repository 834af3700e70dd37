"""The checks of lessons 5 to 8 accept the right answers and catch wrong ones.

Planted bugs raise ExerciseFailed with a message that names the wrong array or entry (fallbacks and
stubs are tested for every exercise in test_coursework.py).
"""
import numpy as np
import pytest
from coursework_planted import fails

from mttgan_min.coursework import get
from mttgan_min.coursework.checks.lesson05 import planted_batchnorm_backward, reference_hiding_dout
from mttgan_min.coursework.checks.lesson07 import package_bce_with_logits
from mttgan_min.coursework.checks.lesson08 import package_adam_step
from mttgan_min.layers.activations import sigmoid
from mttgan_min.losses import bce_with_logits_backward, bce_with_logits_forward

NAMES = ["batchnorm_backward", "hiding_dout", "count_generator", "count_discriminator", "bce_with_logits",
         "generator_loss_and_backward", "adam_step"]





# lesson 5 ---------------------------------------------------------------------------------------

def bn_without_one_over_n(dout, cache):
    centred, gamma, inv_std, _ = cache
    axes = tuple(range(dout.ndim - 1))
    x_hat = centred * inv_std
    dbeta, dgamma = dout.sum(axis=axes), (dout * x_hat).sum(axis=axes)
    return gamma * inv_std * (dout - dbeta - x_hat * dgamma), dgamma, dbeta


def bn_nhwc_only(dout, cache):
    centred, gamma, inv_std, _ = cache
    x_hat = centred * inv_std
    m = dout.size // dout.shape[-1]
    dbeta, dgamma = dout.sum(axis=(0, 1, 2)), (dout * x_hat).sum(axis=(0, 1, 2))
    return gamma * inv_std * (dout - (dbeta + x_hat * dgamma) / m), dgamma, dbeta


def test_batchnorm_backward_bugs():
    message = fails("batchnorm_backward", planted_batchnorm_backward, "FAIL  x")
    assert "gamma" in message                      # the report lists every array, x the failing one
    fails("batchnorm_backward", bn_without_one_over_n, "FAIL  x")
    fails("batchnorm_backward", lambda d, c: (lambda dx, dg, db: (dx, dg, -db))(*bn_nhwc_only(d, c)),
          "FAIL  beta")
    with pytest.raises(Exception):                 # the (N, D) case of the hidden set
        get("batchnorm_backward").hidden(bn_nhwc_only)


def test_hiding_dout_bugs():
    fails("hiding_dout", lambda cache, rng: np.ones(cache[0].shape), "constant within channel")
    fails("hiding_dout", lambda cache, rng: rng.standard_normal(cache[0].shape), "planted backward's dx",
          "entries wrong")
    fails("hiding_dout", lambda cache, rng: reference_hiding_dout(cache, np.random.default_rng(0)), "same dout")


# lesson 6 ---------------------------------------------------------------------------------------

def test_count_bugs():
    count_g, count_d = get("count_generator").fallback, get("count_discriminator").fallback
    fails("count_generator", lambda p: count_g(p) - 2 * 6 * p.g_width, "count_generator(tiny", "off by")
    fails("count_discriminator", lambda p: count_d(p) - 1, "count_discriminator(tiny", "off by -1")
    # halving by floor instead of 'same' rounding up: right on the presets, wrong on the odd hidden one
    def floor_halving(p):
        total, c_in, side = 0, 1, p.image_size
        for width in p.d_widths:
            total += 9 * c_in * width + width + 2 * (9 * width * width + width)
            c_in, side = width, side // 2
        return total + side * side * c_in + 1
    get("count_discriminator").cases(floor_halving)
    fails("count_discriminator", floor_halving, "hidden-odd", hidden=True)
    fails("count_generator", lambda p: float(count_g(p)) + 0.5, "whole number")


# lesson 7 ---------------------------------------------------------------------------------------

def bce_naive(z, y):
    p = sigmoid(z)
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return loss.mean(), (p - y) / z.size


def test_bce_bugs():
    with np.errstate(all="ignore"):
        fails("bce_with_logits", bce_naive, "the loss is")
    fails("bce_with_logits", lambda z, y: (lambda loss, dz: (loss, -dz))(*package_bce_with_logits(z, y)),
          "bce_with_logits dz", "entries wrong")
    fails("bce_with_logits", lambda z, y: (lambda loss, dz: (loss, dz * z.size))(*package_bce_with_logits(z, y)),
          "bce_with_logits dz")
    fails("bce_with_logits", lambda z, y: (lambda loss, dz: (loss * z.size, dz))(*package_bce_with_logits(z, y)),
          "bce_with_logits loss")


def g_step_without_freezing(G, D, z):
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, np.ones((len(z), 1), dtype=logits.dtype))
    G.backward(D.backward(bce_with_logits_backward(cache)))
    return float(loss)


def g_step_saturating(G, D, z):
    D.set_trainable(False)
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, np.zeros((len(z), 1), dtype=logits.dtype))
    G.backward(-D.backward(bce_with_logits_backward(cache)))
    D.set_trainable(True)
    return -float(loss)


def g_step_stays_frozen(G, D, z):
    D.set_trainable(False)
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, np.ones((len(z), 1), dtype=logits.dtype))
    G.backward(D.backward(bce_with_logits_backward(cache)))
    return float(loss)


def g_step_half_gradient(G, D, z):
    D.set_trainable(False)
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, np.ones((len(z), 1), dtype=logits.dtype))
    G.backward(0.5 * D.backward(bce_with_logits_backward(cache)))
    D.set_trainable(True)
    return float(loss)


def test_generator_step_bugs():
    fails("generator_loss_and_backward", g_step_without_freezing, "D's gradient")
    fails("generator_loss_and_backward", g_step_saturating, "loss")
    fails("generator_loss_and_backward", g_step_stays_frozen, "trainable again")
    fails("generator_loss_and_backward", g_step_half_gradient, "FAIL")


# lesson 8 ---------------------------------------------------------------------------------------

def adam_uncorrected(p, g, m, v, t, lr=1e-5, beta1=0.5, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * m / (np.sqrt(v) + eps), m, v


def adam_algorithm1(p, g, m, v, t, lr=1e-5, beta1=0.5, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v


def adam_in_place(p, g, m, v, t, lr=1e-5, beta1=0.5, beta2=0.999, eps=1e-7):
    new_p, new_m, new_v = package_adam_step(p, g, m, v, t, lr, beta1, beta2, eps)
    m[...] = new_m
    return new_p, new_m, new_v


def test_adam_bugs():
    fails("adam_step", adam_uncorrected, "adam_step: p of", "after step 1")
    fails("adam_step", adam_algorithm1, "adam_step: p of w after step 1")   # epsilon in Algorithm 1's place
    fails("adam_step", adam_in_place, "changed its input m")
    fails("adam_step", lambda p, g, m, v, t, **kw: package_adam_step(p, g, m, v, t + 1, **kw), "adam_step: p of")
