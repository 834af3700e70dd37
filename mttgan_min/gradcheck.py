"""Gradient checking: compare backprop with centred finite differences.

Recipe (CS231n ``gradient_check.py``): work in float64; pick a random,
non-uniform upstream gradient ``dout`` and check the scalar
``L = sum(out * dout)``, whose gradient with respect to an input is exactly
what ``backward(dout)`` returns (an all-ones ``dout`` hides batch-norm bugs).
For each entry, the numeric gradient is

    (L(x + h) - L(x - h)) / (2 h),   h = 1e-5,

and the relative error |a - n| / max(|a| + |n|, floor) should stay below
1e-7. On failure the report shows the worst entry, analytic against numeric
(Karpathy's ``cmp`` in the makemore backprop lecture).

The defaults are the recipe the project's own tests use: ``dout`` from
``random_dout`` (random signs, no entry near zero) and ``floor`` from
``roundoff_floor`` (the size below which round-off, not a bug, dominates).

Typical use, on a layer::

    layer = Conv2D(3, 4, 3, stride=2, dtype=np.float64)
    results = check_layer(layer, x)          # prints a report, returns results
    assert all(r.passed for r in results)
"""
from dataclasses import dataclass

import numpy as np

TOLERANCE = 1e-7


def random_dout(rng, shape):
    """A random upstream gradient (shape): |dout| in [0.5, 1.5], random signs.

    Random and non-uniform, as the recipe asks, but no entry is near 0: for
    element-wise layers an entry's gradient is proportional to its dout, and
    a tiny gradient's relative error is dominated by the round-off of
    L = sum(out * dout) (about eps * |L| / h ~ 1e-11), not by a bug.
    """
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)


def roundoff_floor(out, dout, h=1e-5, tol=TOLERANCE):
    """The relative-error ``floor`` that round-off justifies, for out and dout of the same shape (a float).

    The numeric gradient (L(x+h) - L(x-h)) / 2h carries an error of about
    eps * sum|out * dout| / h. A gradient smaller than that error divided by
    the tolerance cannot be resolved to ``tol`` relative, so it is compared
    absolutely: |analytic - numeric| < tol * floor (~1e-9 for small layers).
    Never below 1e-8.
    """
    out, dout = np.asarray(out, float), np.asarray(dout, float)
    return max(1e-8, float(np.finfo(np.float64).eps * np.sum(np.abs(out * dout)) / (h * tol)))


def relative_error(analytic, numeric, floor=1e-8):
    """Element-wise |a - n| / max(|a| + |n|, floor) (an array)."""
    analytic, numeric = np.asarray(analytic, float), np.asarray(numeric, float)
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


def numeric_gradient(f, x, h=1e-5, indices=None):
    """Centred-difference gradient of the scalar function ``f()`` w.r.t. array ``x``.

    ``x`` is perturbed in place (and restored), so ``f`` must read it. With
    ``indices`` (a list of index tuples) only those entries are computed and a
    1-D array in that order is returned; otherwise an array shaped like ``x``.
    """
    entries = list(np.ndindex(x.shape)) if indices is None else [tuple(i) for i in indices]
    grad = np.zeros(len(entries))
    for k, idx in enumerate(entries):
        old = x[idx]
        x[idx] = old + h
        plus = float(f())
        x[idx] = old - h
        minus = float(f())
        x[idx] = old
        grad[k] = (plus - minus) / (2 * h)
    return grad.reshape(x.shape) if indices is None else grad


@dataclass
class GradCheckResult:
    """The comparison for one array: its worst entry and whether it passed."""
    name: str
    max_rel_error: float
    worst_index: tuple
    analytic: float
    numeric: float
    checked: int
    passed: bool

    def __str__(self):
        verdict = "PASS" if self.passed else "FAIL"
        return (f"{verdict}  {self.name:<12} max rel. error {self.max_rel_error:.2e} over "
                f"{self.checked} entries; worst at {self.worst_index}: "
                f"analytic {self.analytic:+.8e}, numeric {self.numeric:+.8e}")


def _sample_indices(shape, max_entries, rng):
    size = int(np.prod(shape))
    if max_entries is None or size <= max_entries:
        return None
    flat = rng.choice(size, size=max_entries, replace=False)
    return [np.unravel_index(i, shape) for i in np.sort(flat)]


def compare(name, analytic, f, x, h=1e-5, tol=TOLERANCE, max_entries=None, rng=None, floor=1e-8):
    """Check one array: ``analytic`` gradient of f() w.r.t. ``x`` against the numeric one.

    ``floor`` bounds the denominator of the relative error: raise it (e.g. to
    1e-6) where a true gradient is exactly zero, such as a bias right before
    batch norm, so that round-off (~1e-9) is not counted as an error.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    analytic = np.asarray(analytic, float)
    if analytic.shape != np.shape(x):
        raise ValueError(f"the gradient of {name} has shape {analytic.shape}, expected {np.shape(x)} like {name}")
    indices = _sample_indices(x.shape, max_entries, rng)
    numeric = numeric_gradient(f, x, h, indices)
    if indices is not None:
        analytic = np.array([analytic[i] for i in indices])
        errors = relative_error(analytic, numeric, floor)
        k = int(errors.argmax())
        worst = tuple(int(v) for v in indices[k])
    else:
        errors = relative_error(analytic, numeric, floor)
        k = int(errors.argmax())
        worst = tuple(int(v) for v in np.unravel_index(k, x.shape))
    err = float(errors.reshape(-1)[k])
    return GradCheckResult(name, err, worst, float(analytic.reshape(-1)[k]),
                           float(numeric.reshape(-1)[k]), int(errors.size), err < tol)


def check_function(forward, backward, inputs, dout=None, rng=None, h=1e-5, tol=TOLERANCE,
                   max_entries=None, floor=None, verbose=False):
    """Check a pure forward/backward pair.

    forward(**inputs) -> (out, cache); backward(dout, cache) -> a tuple of
    gradients in the order of ``inputs`` (None for an input not checked).
    ``dout`` defaults to ``random_dout(rng, out.shape)``, ``floor`` to
    ``roundoff_floor(out, dout, h, tol)``. Returns one GradCheckResult per
    checked input.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    out, cache = forward(**inputs)
    dout = random_dout(rng, np.shape(out)) if dout is None else dout
    floor = roundoff_floor(out, dout, h, tol) if floor is None else floor
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)

    def loss():
        return np.sum(forward(**inputs)[0] * dout)

    results = [compare(name, g, loss, inputs[name], h, tol, max_entries, rng, floor)
               for name, g in zip(inputs, grads) if g is not None]
    if verbose:
        print(report(results))
    return results


def check_layer(layer, x, dout=None, rng=None, h=1e-5, tol=TOLERANCE, max_entries=None, floor=None,
                verbose=True):
    """Check a layer (or a whole network): dx and the gradient of every parameter.

    The layer must be deterministic between calls (dropout off or its mask
    fixed) and in float64. Its gradients are zeroed first; ``dout`` and
    ``floor`` default as in ``check_function``; the report is printed when
    ``verbose`` and the results are returned.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    out = layer.forward(x)
    dout = random_dout(rng, out.shape) if dout is None else dout
    floor = roundoff_floor(out, dout, h, tol) if floor is None else floor
    layer.zero_grad()
    dx = layer.backward(dout)
    grads = {k: g.copy() for k, g in layer.named_grads().items()}

    def loss():
        return np.sum(layer.forward(x) * dout)

    results = [compare("x", dx, loss, x, h, tol, max_entries, rng, floor)]
    params = layer.named_params()
    results += [compare(k, grads[k], loss, params[k], h, tol, max_entries, rng, floor) for k in params]
    if verbose:
        print(report(results, title=f"gradient check of {getattr(layer, 'name', layer.kind)}"))
    return results


def report(results, title="gradient check"):
    """A learner-friendly multi-line report of check results."""
    ok = all(r.passed for r in results)
    lines = [f"{title}: {'all passed' if ok else 'FAILED'}"]
    lines += [f"  {r}" for r in results]
    return "\n".join(lines)
