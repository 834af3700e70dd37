"""Lesson 12's exercises: the memorisation check and the patient-grouped folds of the two-sample test."""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close
from mttgan_min.evaluation import quality


def memorisation_fractions(generated, train, heldout):
    """The package's (``quality.nearest_neighbours``): (fraction below p1, fraction below p5)."""
    nn = quality.nearest_neighbours(generated, train, heldout)
    return nn["fraction_below_p1"], nn["fraction_below_p5"]


def _images(rng, n, size=8):
    """Smooth random 'films' (N, size, size, 1) in [0, 1]."""
    base = rng.random((n, size // 2, size // 2, 1))
    return np.clip(base.repeat(2, axis=1).repeat(2, axis=2) + 0.05 * rng.standard_normal((n, size, size, 1)), 0, 1)


def _memorisation_case(fn, generated, train, heldout, label):
    expected = memorisation_fractions(generated, train, heldout)
    got = fn(generated.copy(), train.copy(), heldout.copy())
    try:
        p1, p5 = (float(v) for v in got)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"memorisation_fractions ({label}) should return two fractions, got {got!r}") from None
    for what, mine, exp in (("fraction below the 1st percentile", p1, expected[0]),
                            ("fraction below the 5th percentile", p5, expected[1])):
        assert_close(f"memorisation_fractions ({label}): {what}", mine, exp, rtol=1e-12, atol=1e-12)


def memorisation_cases(fn):
    rng = np.random.default_rng(1201)
    train, heldout = _images(rng, 120), _images(rng, 60)
    copies = np.clip(train[rng.integers(0, 120, 40)] + 0.01 * rng.standard_normal((40, 8, 8, 1)), 0, 1)
    mixed = np.concatenate([copies[:10], _images(rng, 30)])
    _memorisation_case(fn, copies, train, heldout, "40 noisy copies of training images")
    _memorisation_case(fn, mixed, train, heldout, "10 copies among 40 images")


def memorisation_hidden(fn):
    rng = np.random.default_rng(1202)
    for n_gen, n_train, n_held, n_copies, size in [(50, 80, 40, 0, 8), (33, 200, 101, 7, 8), (64, 64, 64, 30, 16),
                                                   (5, 30, 20, 2, 4)]:
        train, heldout = _images(rng, n_train, size), _images(rng, n_held, size)
        noise = 0.005 * rng.standard_normal((n_copies, size, size, 1))
        gen = np.concatenate([np.clip(train[rng.integers(0, n_train, n_copies)] + noise, 0, 1),
                              _images(rng, n_gen - n_copies, size)])
        _memorisation_case(fn, gen, train, heldout, f"{n_copies} copies among {n_gen} images of {size}x{size}")


def grouped_folds(groups, folds, rng):
    """The package's fold assignment of the two-sample test (``quality._folds``)."""
    return quality._folds(rng, groups, folds)


def _folds_case(fn, groups, folds, seed, label):
    groups = np.asarray(groups)
    got = fn(groups.copy(), folds, np.random.default_rng(seed))
    fold = np.asarray(got)
    if fold.shape != groups.shape:
        raise ExerciseFailed(f"grouped_folds ({label}): shape {fold.shape}, expected {groups.shape} (one fold per image)")
    if fold.dtype.kind not in "iu" or fold.min() < 0 or fold.max() >= folds:
        raise ExerciseFailed(f"grouped_folds ({label}): folds must be integers 0..{folds - 1}, got values "
                             f"{np.unique(fold)[:8].tolist()} ({fold.dtype})")
    keys = np.unique(groups)
    per_fold = np.zeros(folds, int)
    for key in keys:
        seen = np.unique(fold[groups == key])
        if len(seen) > 1:
            raise ExerciseFailed(f"grouped_folds ({label}): the images of group {key!r} sit in folds "
                                 f"{seen.tolist()}; a group must stay in one fold")
        per_fold[seen[0]] += 1
    if per_fold.max() - per_fold.min() > 1:
        raise ExerciseFailed(f"grouped_folds ({label}): groups per fold {per_fold.tolist()}; deal the "
                             f"{len(keys)} groups out so that the folds differ by at most one group")
    again = np.asarray(fn(groups.copy(), folds, np.random.default_rng(seed)))
    if not np.array_equal(again, fold):
        raise ExerciseFailed(f"grouped_folds ({label}): two calls with equally seeded generators gave different "
                             "folds; draw every random number from rng")
    return fold


def folds_cases(fn):
    groups = np.repeat([f"patient{i}" for i in range(23)], [1, 2, 3] * 7 + [2, 2])
    _folds_case(fn, groups, 5, 0, "23 patients of 1-3 images, 5 folds")


def folds_hidden(fn):
    rng = np.random.default_rng(1203)
    for n_groups, folds in [(40, 5), (7, 3), (100, 10), (5, 5), (3, 5)]:
        groups = rng.permutation(np.repeat(np.arange(n_groups), rng.integers(1, 5, n_groups)))
        _folds_case(fn, groups, folds, int(rng.integers(1000)), f"{n_groups} shuffled integer groups, {folds} folds")
    groups = np.repeat(np.arange(60), 2)
    one = _folds_case(fn, groups, 5, 1, "60 groups, seed 1")
    other = _folds_case(fn, groups, 5, 2, "60 groups, seed 2")
    if np.array_equal(one, other):
        raise ExerciseFailed("grouped_folds: seeds 1 and 2 gave the same folds for 60 groups; the folds "
                             "should be a seeded random deal, not a fixed pattern")


EXERCISES = [
    Exercise("memorisation_fractions", 12, "nearest-neighbour memorisation: fractions below the held-out "
             "percentiles", fallback=memorisation_fractions, cases=memorisation_cases, hidden=memorisation_hidden),
    Exercise("grouped_folds", 12, "cross-validation folds that keep each patient whole",
             fallback=grouped_folds, cases=folds_cases, hidden=folds_hidden),
]
