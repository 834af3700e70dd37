"""The held-out test split (paper Sec. IV-A; docs/design.md, "The held-out split and the COVID cap"): n_test images per
class, drawn once, seeded, by patient.

For each class separately: the class's patient groups are put in a seeded random order and taken greedily
while they fit; a group that would overshoot n_test is skipped and the walk goes on, so the test side gets
exactly n_test images whenever single-image groups allow it. No patient is on both sides.

Duplicates across patient ids (duplicates.py: the known list, identical pixels, near-duplicate
thumbnails) merge their patients' groups, so no test image reaches training under another patient key.

The random order of a class depends only on (seed, class name) and on that class's images, so each pool's
split depends only on that pool and the seed.
"""
import hashlib

import numpy as np

from .dataset import DataError, plural
from .duplicates import find_duplicates


def class_rng(seed, name):
    """A numpy Generator that depends only on ``seed`` and the string ``name``."""
    tag = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    return np.random.default_rng([int(seed), tag])


def patient_groups(patients, links=()):
    """Group ids (N,) int: images of one patient, and images linked by a pair in ``links``, share a group.

    patients: str (N,).  links: iterable of (i, j) index pairs (duplicates across patient ids).
    """
    parent = {p: p for p in patients}

    def find(p):
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for i, j in links:
        parent[find(patients[i])] = find(patients[j])
    roots = np.array([find(p) for p in patients], dtype=str)
    _, ids = np.unique(roots, return_inverse=True)
    return ids


def choose_test(groups, n_test, rng):
    """Bool mask (N,) of the test side: whole groups in random order, greedily, up to n_test (fewer only
    when no combination of the remaining groups fills it; prepare_data reports such a shortfall)."""
    sizes = np.bincount(groups)
    taken, total = np.zeros(len(sizes), bool), 0
    for g in rng.permutation(len(sizes)):
        if total + sizes[g] <= n_test:
            taken[g], total = True, total + sizes[g]
            if total == n_test:
                break
    return taken[groups]


def check_split(ds, n_test):
    """Raise DataError (one sentence) when some class of ``ds`` cannot give n_test test images and keep
    at least one for training."""
    small = [(str(c), int(np.sum(ds.labels == c))) for c in np.unique(ds.labels)]
    small = [f"{c} has {plural(n, 'image')}" for c, n in small if n <= n_test]
    if small:
        listed = ", ".join(small[:-1]) + (" and " if len(small) > 1 else "") + small[-1]
        raise DataError(f"class {listed}, but the held-out test split takes {plural(n_test, 'image')} "
                        "per class and training needs at least one more.")


def split_test(ds, n_test, seed, duplicates=None):
    """Bool mask (N,) of ``ds`` images on the test side, n_test per class (see module docstring).

    duplicates: find_duplicates(ds) if already computed. Raises DataError when a class is too small.
    """
    check_split(ds, n_test)
    if duplicates is None:
        duplicates = find_duplicates(ds)
    test = np.zeros(len(ds), bool)
    for name in np.unique(ds.labels):
        idx = np.flatnonzero(ds.labels == name)
        where = {int(k): n for n, k in enumerate(idx)}
        links = [(where[i], where[j]) for i, j in (d["index"] for d in duplicates)
                 if i in where and j in where]
        groups = patient_groups(ds.patients[idx], links)
        test[idx] = choose_test(groups, n_test, class_rng(seed, str(name)))
    return test


def cap_train(ds, cap, seed):
    """Int index of a seeded random subset of at most ``cap`` images of ``ds``, kept in file order."""
    if cap is None or len(ds) <= cap:
        return np.arange(len(ds))
    return np.sort(class_rng(seed, "train-cap").choice(len(ds), size=cap, replace=False))
