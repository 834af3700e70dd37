"""Lesson 11's exercises: exact intervals and the paired test behind Tables I and II (Sec. VI)."""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close
from mttgan_min.evaluation import stats


def clopper_pearson(k, n, alpha=0.05):
    """The package's exact interval (``stats.clopper_pearson``, SciPy's binomtest) at level 1 - alpha."""
    return stats.clopper_pearson(k, n, confidence=1.0 - alpha)


def _interval_case(fn, k, n, alpha):
    expected = clopper_pearson(k, n, alpha)
    got = fn(k, n, alpha)
    try:
        low, high = (float(v) for v in got)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"clopper_pearson({k}, {n}, alpha={alpha}) should return (low, high), got {got!r}") \
            from None
    for what, mine, exp in (("low", low, expected[0]), ("high", high, expected[1])):
        assert_close(f"clopper_pearson({k}, {n}, alpha={alpha}): {what} end", mine, exp, rtol=1e-9, atol=1e-12)


def interval_cases(fn):
    for k, n in [(101, 136), (5, 10), (0, 20), (20, 20), (136, 136)]:
        _interval_case(fn, k, n, 0.05)


def interval_hidden(fn):
    rng = np.random.default_rng(1111)
    for alpha in (0.01, 0.1, 0.3173):
        for n in (1, 2, 7, 68, 272, 1000):
            for k in sorted({0, n, int(rng.integers(0, n + 1)), int(rng.integers(0, n + 1))}):
                _interval_case(fn, k, n, alpha)
    for _ in range(30):
        n = int(rng.integers(1, 500))
        _interval_case(fn, int(rng.integers(0, n + 1)), n, float(rng.uniform(0.001, 0.5)))


def mcnemar(right_a, right_b):
    """The package's exact McNemar test (``stats.mcnemar_exact``) as (b, c, p)."""
    m = stats.mcnemar_exact(right_a, right_b)
    return m["b"], m["c"], m["p"]


def _mcnemar_case(fn, right_a, right_b, label):
    b, c, p = mcnemar(right_a, right_b)
    got = fn(right_a.copy(), right_b.copy())
    try:
        mb, mc, mp = got
    except (TypeError, ValueError):
        raise ExerciseFailed(f"mcnemar ({label}) should return (b, c, p), got {got!r}") from None
    if (int(mb), int(mc)) != (b, c):
        raise ExerciseFailed(f"mcnemar ({label}): discordant counts (b, c) = ({mb}, {mc}), expected ({b}, {c}) "
                             "(b: only A right, c: only B right)")
    assert_close(f"mcnemar ({label}): p-value with b = {b}, c = {c}", float(mp), p, rtol=1e-9, atol=1e-14)


def mcnemar_cases(fn):
    right_a, right_b = np.ones(136, bool), np.ones(136, bool)
    right_a[:14] = right_b[:14] = False
    right_b[20:29] = False
    right_a[40] = False
    _mcnemar_case(fn, right_a, right_b, "the lesson's two classifiers")


def mcnemar_hidden(fn):
    rng = np.random.default_rng(1112)
    same = rng.random(50) < 0.7
    _mcnemar_case(fn, same, same.copy(), "identical predictions, b + c = 0")
    for n, pa, pb in [(136, 0.9, 0.8), (272, 0.7, 0.72), (20, 0.5, 0.5), (1000, 0.95, 0.9)]:
        _mcnemar_case(fn, rng.random(n) < pa, rng.random(n) < pb, f"{n} random images")
    a, b = np.ones(30, bool), np.ones(30, bool)
    a[:4], b[4:8] = False, False
    _mcnemar_case(fn, a, b, "b = c = 4")


EXERCISES = [
    Exercise("clopper_pearson", 11, "the exact (Clopper-Pearson) interval from Beta quantiles",
             fallback=clopper_pearson, cases=interval_cases, hidden=interval_hidden),
    Exercise("mcnemar", 11, "the exact McNemar test by hand", fallback=mcnemar, cases=mcnemar_cases,
             hidden=mcnemar_hidden),
]
