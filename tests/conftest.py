"""Shared fixtures for the engine tests (float64 NumPy, seeded generators)."""
import numpy as np
import pytest

from mttgan_min.gradcheck import random_dout, report
from mttgan_min.gradcheck import roundoff_floor as gradcheck_roundoff_floor


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
    """make_dout(rng, shape): the gradient-check recipe's upstream gradient, ``gradcheck.random_dout``."""
    return random_dout


@pytest.fixture
def roundoff_floor():
    """roundoff_floor(out, dout, h=1e-5): the recipe's round-off floor, ``gradcheck.roundoff_floor``."""
    return gradcheck_roundoff_floor
