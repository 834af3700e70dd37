"""Shared fixtures for the engine tests (float64 NumPy, seeded generators)."""
import numpy as np
import pytest

from mttgan_min.gradcheck import report


@pytest.fixture
def rng():
    """A fresh seeded NumPy generator per test, so tests do not depend on order."""
    return np.random.default_rng(1234)


@pytest.fixture
def assert_all_passed():
    """assert_all_passed(results): fail with the learner-friendly gradcheck report."""
    def check(results, title="gradient check"):
        assert results, "no gradient was checked"
        assert all(r.passed for r in results), "\n" + report(results, title)
    return check


@pytest.fixture
def make_dout():
    """make_dout(rng, shape): a random upstream gradient with |dout| in [0.5, 1.5] and random signs.

    Still random and non-uniform (as the recipe asks), but no entry is near 0:
    for element-wise layers an entry's gradient is proportional to its dout,
    and a tiny gradient's relative error is dominated by the round-off of
    L = sum(out * dout) (about eps * |L| / h ~ 1e-11), not by a bug.
    """
    def make(rng, shape):
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)
    return make


@pytest.fixture
def roundoff_floor():
    """roundoff_floor(out, dout, h=1e-5): the ``floor`` that round-off justifies.

    The numeric gradient (L(x+h) - L(x-h)) / 2h carries an error of about
    eps * sum|out * dout| / h. A gradient smaller than that error divided by
    the tolerance cannot be resolved to 1e-7 relative, so it is compared
    absolutely: |analytic - numeric| < 1e-7 * floor (~1e-9 for these sizes).
    """
    def floor(out, dout, h=1e-5, tol=1e-7):
        return max(1e-8, float(np.finfo(np.float64).eps * np.sum(np.abs(out * dout)) / (h * tol)))
    return floor
