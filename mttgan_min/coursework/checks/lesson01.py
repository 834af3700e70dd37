"""Lesson 1's exercise: the held-out test split, made by patient (Sec. III, Sec. IV)."""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed
from mttgan_min.data.split import choose_test


def patient_split(labels, patients, n_test, rng):
    """The package's split (``choose_test`` on each class's patients) with the lesson's signature."""
    labels, patients = np.asarray(labels), np.asarray(patients)
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        _, groups = np.unique(patients[idx], return_inverse=True)
        test[idx] = choose_test(groups, n_test, rng)
    return test


def make_pool(rng, classes, n_patients, most_films):
    """labels, patients (N,) str: each class has n_patients patients with 1..most_films films each."""
    labels, patients = [], []
    for c in classes:
        films = rng.integers(1, most_films + 1, size=n_patients)
        films[rng.choice(n_patients, size=n_patients // 3, replace=False)] = 1   # singles fill the last places
        for p, k in enumerate(films):
            labels += [c] * int(k)
            patients += [f"{c}-p{p:03d}"] * int(k)
    order = rng.permutation(len(labels))
    return np.array(labels)[order], np.array(patients)[order]


def check_mask(fn, labels, patients, n_test, seed):
    """Call fn with a fresh generator seeded ``seed`` and check what it returns; return the mask."""
    test = fn(labels, patients, n_test, np.random.default_rng(seed))
    where = f"(n_test={n_test}, {len(labels)} images, seed {seed})"
    test = np.asarray(test)
    if test.shape != labels.shape or test.dtype != bool:
        raise ExerciseFailed(f"patient_split {where}: returned {test.dtype} of shape {test.shape}, "
                             f"expected a bool mask of shape {labels.shape}")
    for c in np.unique(labels):
        got = int(np.sum(test & (labels == c)))
        if got != n_test:
            raise ExerciseFailed(f"patient_split {where}: class {c!r} has {got} test images, expected exactly "
                                 f"{n_test} (skip a patient who does not fit and go on with the next)")
    for p in np.unique(patients):
        sides = test[patients == p]
        if sides.any() and not sides.all():
            raise ExerciseFailed(f"patient_split {where}: patient {p!r} has {int(sides.sum())} of its "
                                 f"{sides.size} images on the test side and the others in training")
    return test


def _split_case(fn, labels, patients, n_test, seeds):
    masks = [check_mask(fn, labels, patients, n_test, s) for s in seeds]
    again = check_mask(fn, labels, patients, n_test, seeds[0])
    if not np.array_equal(masks[0], again):
        raise ExerciseFailed(f"patient_split: two generators with seed {seeds[0]} gave two different splits; "
                             "draw the order from rng only")
    if all(np.array_equal(masks[0], m) for m in masks[1:]):
        raise ExerciseFailed(f"patient_split: seeds {seeds} all gave the same split; the order of the "
                             "patients must come from rng")


def split_cases(fn):
    rng = np.random.default_rng(1)
    labels, patients = make_pool(rng, ["normal", "covid"], 30, 5)
    _split_case(fn, labels, patients, 12, [0, 1, 2])


def split_hidden(fn):
    rng = np.random.default_rng(101)
    for classes, n_patients, most, n_test in [(["a", "b", "c", "d"], 40, 8, 20), (["x"], 25, 3, 7),
                                              (["bacterial", "normal", "viral"], 60, 2, 33)]:
        labels, patients = make_pool(rng, classes, n_patients, most)
        _split_case(fn, labels, patients, n_test, [3, 4, 5])
    one = np.array(["c"] * 6)                                   # every image its own patient
    check_mask(fn, one, np.array([f"p{i}" for i in range(6)]), 6, 0)


EXERCISES = [
    Exercise("patient_split", 1, "a greedy patient-level test split", fallback=patient_split,
             cases=split_cases, hidden=split_hidden),
]
