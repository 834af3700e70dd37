"""Lesson 5's exercises: batch normalisation's backward (Fig. 5, "BatchNormalization, momentum 0.8").

``batchnorm_backward(dout, cache)``: training mode, from the package's cache
``(centred, gamma, inv_std, training)``; NHWC or (N, D), statistics over every
axis but the last. ``hiding_dout(cache, rng)``: a random upstream gradient,
not constant within a channel, for which the lesson's planted backward (the
variance path left out) still gives the right ``dx``.
"""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close, assert_gradients
from mttgan_min.gradcheck import check_function
from mttgan_min.layers.batchnorm import batchnorm_backward, batchnorm_forward


def bn_forward(x, gamma, beta, eps=1e-3):
    """Training-mode batch norm with fresh running statistics: (out, cache)."""
    c = x.shape[-1]
    out, cache, _, _ = batchnorm_forward(x, gamma, beta, np.zeros(c), np.ones(c), training=True, eps=eps)
    return out, cache


def _inputs(rng, shape):
    c = shape[-1]
    return {"x": rng.standard_normal(shape) * 2 + 1, "gamma": rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c),
            "beta": rng.standard_normal(c)}


def _backward_case(fn, rng, shape, eps=1e-3):
    inputs = _inputs(rng, shape)
    label = f"batchnorm_backward, x {shape}, eps {eps:g}"

    def forward(x, gamma, beta):
        return bn_forward(x, gamma, beta, eps)

    def backward(dout, cache):
        return tuple(fn(dout, cache))

    assert_gradients(check_function(forward, backward, inputs, rng=rng), label)
    cache = forward(**inputs)[1]
    dout = rng.standard_normal(inputs["x"].shape)
    mine = tuple(fn(dout, cache))
    if len(mine) != 3:
        raise ExerciseFailed(f"{label}: return (dx, dgamma, dbeta), got {len(mine)} values")
    for what, a, b in zip(("dx", "dgamma", "dbeta"), mine, batchnorm_backward(dout, cache)):
        assert_close(f"{what} for {label}", a, b, rtol=1e-9, atol=1e-12)


def backward_cases(fn):
    _backward_case(fn, np.random.default_rng(5), (4, 3, 3, 2))


def backward_hidden(fn):
    rng = np.random.default_rng(505)
    _backward_case(fn, rng, (8, 5))                   # (N, D), as after a Dense layer
    _backward_case(fn, rng, (3, 5, 2, 4), eps=1e-5)
    _backward_case(fn, rng, (2, 6), eps=0.1)          # a batch of 2: every x_hat is about +-1
    _backward_case(fn, rng, (2, 1, 1, 3))
    _backward_case(fn, rng, (1, 4, 4, 1), eps=1e-2)   # one image, one channel


def planted_batchnorm_backward(dout, cache):
    """The lesson's planted backward: dx without the variance path (dgamma and dbeta are right)."""
    centred, gamma, inv_std, _ = cache
    axes = tuple(range(dout.ndim - 1))
    x_hat = centred * inv_std
    dx_hat = dout * gamma
    dx = inv_std * (dx_hat - dx_hat.mean(axis=axes))
    return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def reference_hiding_dout(cache, rng):
    """Random normal values with, in every channel, their component along x_hat removed."""
    centred, _, inv_std, _ = cache
    axes = tuple(range(centred.ndim - 1))
    x_hat = centred * inv_std
    g = rng.standard_normal(x_hat.shape)
    return g - x_hat * (g * x_hat).sum(axis=axes) / (x_hat * x_hat).sum(axis=axes)


def _hiding_case(fn, seed, shape, eps=1e-3):
    rng = np.random.default_rng(seed)
    inputs = _inputs(rng, shape)
    cache = bn_forward(**inputs, eps=eps)[1]
    label = f"hiding_dout, x {shape}"
    douts = [np.asarray(fn(cache, np.random.default_rng(s))) for s in (seed + 1, seed + 2)]
    for dout in douts:
        if dout.shape != shape:
            raise ExerciseFailed(f"{label}: dout has shape {dout.shape}, expected {shape}")
        if not np.all(np.isfinite(dout)):
            raise ExerciseFailed(f"{label}: dout has non-finite entries")
        axes = tuple(range(len(shape) - 1))
        spread = dout.std(axis=axes) / np.maximum(np.abs(dout).mean(axis=axes), 1e-300)
        if np.any(spread < 0.1):
            c = int(np.argmin(spread))
            raise ExerciseFailed(f"{label}: dout is (nearly) constant within channel {c} (std / mean |dout| = "
                                 f"{spread[c]:.2e}); a constant per channel is the easy case, "
                                 "the exercise asks for values that vary within every channel")
        assert_close(f"{label}: the planted backward's dx on your dout (it should equal the true dx)",
                     planted_batchnorm_backward(dout, cache)[0], batchnorm_backward(dout, cache)[0],
                     rtol=1e-7, atol=1e-9 * float(np.abs(dout).max()))
    if np.allclose(douts[0], douts[1]):
        raise ExerciseFailed(f"{label}: two different generators gave the same dout; draw it from rng")


def hiding_cases(fn):
    _hiding_case(fn, 50, (4, 3, 3, 2))


def hiding_hidden(fn):
    _hiding_case(fn, 550, (16, 3))
    _hiding_case(fn, 551, (2, 5, 4, 6), eps=1e-5)
    _hiding_case(fn, 552, (6, 7))


EXERCISES = [
    Exercise("batchnorm_backward", 5, "batch norm's backward in training mode", fallback=batchnorm_backward,
             cases=backward_cases, hidden=backward_hidden),
    Exercise("hiding_dout", 5, "a dout that hides the planted bug", fallback=reference_hiding_dout,
             cases=hiding_cases, hidden=hiding_hidden),
]
