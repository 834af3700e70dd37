"""Lesson 7's exercises: binary cross-entropy from logits, and the G step through a frozen D (Sec. IV, Eq. (2)).

``bce_with_logits(z, y)`` -> (mean loss, dloss/dz): stable for |z| up to 1e3.
``generator_loss_and_backward(G, D, z)`` -> the non-saturating loss as a float,
with G's gradients accumulated and D's weights and gradients untouched.
"""
import numpy as np
from scipy.special import expit

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close, assert_gradients
from mttgan_min.gradcheck import compare
from mttgan_min.layers import LeakyReLU
from mttgan_min.losses import bce_with_logits_backward, bce_with_logits_forward
from mttgan_min.models import Preset, build_discriminator, build_generator


def package_bce_with_logits(z, y):
    """The package's fused loss (mttgan_min.losses): (mean loss, dloss/dz)."""
    loss, cache = bce_with_logits_forward(z, y)
    return loss, bce_with_logits_backward(cache)


def _reference(z, y):
    """A float64 reference written independently: softplus by np.logaddexp, the sigmoid by scipy's expit."""
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    loss = (np.logaddexp(0.0, z) - z * y).mean()
    return loss, (expit(z) - y) / z.size


def _bce_case(fn, z, y, label, gradcheck=False, rtol=1e-10):
    out = fn(z.copy(), y.copy())
    if not isinstance(out, tuple) or len(out) != 2:
        raise ExerciseFailed(f"bce_with_logits, {label}: return (loss, dz), got {type(out).__name__}")
    loss, dz = out
    try:
        loss = float(loss)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"bce_with_logits, {label}: the loss must be one number, got shape "
                             f"{np.shape(loss)}") from None
    dz = np.asarray(dz)
    if not np.isfinite(loss):
        raise ExerciseFailed(f"bce_with_logits, {label}: the loss is {loss} (an overflow or a log of 0?)")
    if dz.shape == z.shape and not np.all(np.isfinite(dz)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(dz))[0])
        raise ExerciseFailed(f"bce_with_logits, {label}: dz{idx} is {dz[idx]} at logit {z[idx]:g}")
    ref_loss, ref_dz = _reference(z, y)
    # dz is at most 1 / N in size; an error far below that (a sigmoid of -30 off by 1e-18) does not matter
    dz_atol = rtol * 1e-4 / z.size
    assert_close(f"bce_with_logits loss, {label} (float64 reference)", loss, ref_loss, rtol=rtol, atol=1e-300)
    assert_close(f"bce_with_logits dz, {label} (float64 reference)", dz, ref_dz, rtol=rtol, atol=dz_atol)
    pkg_loss, pkg_dz = package_bce_with_logits(z, y)
    assert_close(f"bce_with_logits loss, {label} (the package's losses)", loss, pkg_loss, rtol=max(rtol, 1e-12))
    assert_close(f"bce_with_logits dz, {label} (the package's losses)", dz, pkg_dz, rtol=max(rtol, 1e-12),
                 atol=dz_atol)
    if gradcheck:
        zc = z.astype(np.float64).copy()
        analytic = np.asarray(fn(zc.copy(), y)[1], np.float64)
        assert_gradients([compare("z", analytic, lambda: float(fn(zc, y)[0]), zc)],
                         f"bce_with_logits gradient check, {label}")


def bce_cases(fn):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((6, 1)) * 3
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0], [0.0]])
    _bce_case(fn, z, y, "6 moderate logits", gradcheck=True)
    z = np.array([[-1000.0], [-30.0], [0.0], [30.0], [1000.0]])
    for label_value in (0.0, 1.0):
        _bce_case(fn, z, np.full_like(z, label_value), f"logits -1e3..1e3, label {label_value:g}")


def bce_hidden(fn):
    rng = np.random.default_rng(707)
    extremes = np.array([-1000.0, -745.0, -709.8, -40.0, -1e-8, 0.0, 1e-8, 40.0, 709.8, 745.0, 1000.0])
    for label_value in (0.0, 1.0):
        _bce_case(fn, extremes.reshape(-1, 1), np.full((extremes.size, 1), label_value),
                  f"extreme logits, label {label_value:g}")
    _bce_case(fn, extremes.reshape(-1, 1), rng.integers(0, 2, (extremes.size, 1)).astype(float),
              "extreme logits, mixed labels")
    for shape in [(1, 1), (9,), (3, 4)]:
        z = rng.standard_normal(shape) * 5
        _bce_case(fn, z, rng.integers(0, 2, shape).astype(float), f"shape {shape}", gradcheck=True)
    z32 = np.array([[-1000.0], [-20.0], [0.5], [20.0], [1000.0]], np.float32)
    _bce_case(fn, z32, np.array([[0.0], [1.0], [1.0], [0.0], [1.0]], np.float32), "float32 logits", rtol=1e-5)


def reference_generator_loss_and_backward(G, D, z):
    """The G step of mttgan_min.gan_step.generator_step, without zero_grad and the optimiser."""
    D.set_trainable(False)
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, np.ones((len(z), 1), dtype=logits.dtype))
    G.backward(D.backward(bce_with_logits_backward(cache)))
    D.set_trainable(True)
    return float(loss)


H = 1e-6


def _g_step_case(fn, preset, seeds, n):
    G = build_generator(preset, rng=np.random.default_rng(seeds[0]), dtype=np.float64)
    D = build_discriminator(preset, rng=np.random.default_rng(seeds[1]), dtype=np.float64)
    z = np.random.default_rng(seeds[2]).standard_normal((n, preset.latent_dim))
    label = f"generator_loss_and_backward ({preset.name}, {n} latents)"

    def package_loss():
        D.set_rng(np.random.default_rng(11))          # the same dropout mask on every call
        loss, _ = bce_with_logits_forward(D.forward(G.forward(z)), np.ones((n, 1)))
        return float(loss)

    expected = package_loss()
    kink = min(float(np.abs(layer.cache[0]).min()) for net in (G, D) for layer in net.walk()
               if isinstance(layer, LeakyReLU))
    assert kink > 10 * H, f"{label}: a LeakyReLU input sits within reach of h; the case's seeds must change"
    G.zero_grad()
    D.zero_grad()
    D_params = {k: v.copy() for k, v in D.named_params().items()}
    D.set_rng(np.random.default_rng(11))
    loss = fn(G, D, z)
    try:
        loss = float(loss)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{label}: return the loss as one number, got {type(loss).__name__}") from None
    if abs(loss - expected) > 1e-12 * max(1.0, abs(expected)):
        raise ExerciseFailed(f"{label}: loss {loss:.12g}, expected {expected:.12g} (the mean BCE of D's logits "
                             "against the label 1)")
    if not all(layer.trainable for layer in D.walk()):
        raise ExerciseFailed(f"{label}: D must be trainable again when the function returns")
    for k, g in D.named_grads().items():
        if np.any(g != 0):
            raise ExerciseFailed(f"{label}: D's gradient {k} was accumulated into (max |g| "
                                 f"{float(np.abs(g).max()):.2e}); a frozen D computes only its input gradient")
    for k, v in D.named_params().items():
        if not np.array_equal(v, D_params[k]):
            raise ExerciseFailed(f"{label}: D's weight {k} changed")
    analytic = {k: g.copy() for k, g in G.named_grads().items()}
    rng = np.random.default_rng(0)
    results = [compare(k, analytic[k], package_loss, p, h=H, max_entries=3, rng=rng, floor=1e-2)
               for k, p in G.named_params().items() if np.abs(analytic[k]).max() > 1e-12]
    if len(results) < len(analytic) - 6:              # only the 6 biases right before batch norm are zero
        zero = [k for k in analytic if np.abs(analytic[k]).max() <= 1e-12]
        raise ExerciseFailed(f"{label}: G's gradients are zero for {zero}; was G's backward run?")
    assert_gradients(results, f"{label}: G's gradients against centred differences of the loss")


MICRO = Preset("micro", image_size=16, g_width=8, d_widths=(4, 8, 8), g_start=2, latent_dim=10)
MICRO_B = Preset("micro-b", image_size=8, g_width=5, d_widths=(3, 4, 6), g_start=1, latent_dim=6)


def g_step_cases(fn):
    _g_step_case(fn, MICRO, (3, 4, 25), 4)


def g_step_hidden(fn):
    _g_step_case(fn, MICRO, (3, 4, 30), 2)
    _g_step_case(fn, MICRO_B, (3, 4, 30), 3)


EXERCISES = [
    Exercise("bce_with_logits", 7, "binary cross-entropy from logits, forward and backward",
             fallback=package_bce_with_logits, cases=bce_cases, hidden=bce_hidden),
    Exercise("generator_loss_and_backward", 7, "the G step through a frozen D",
             fallback=reference_generator_loss_and_backward, cases=g_step_cases, hidden=g_step_hidden),
]
