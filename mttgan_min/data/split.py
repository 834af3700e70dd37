"""The held-out test split (SPEC "Data"): n_test images per class, drawn once, seeded, by patient.

For each class separately: the class's patient groups are put in a seeded random order and taken greedily
while they fit; a group that would overshoot n_test is skipped and the walk goes on, so the test side gets
exactly n_test images whenever single-image groups allow it. No patient is on both sides.

Exact duplicates: images whose resized pixels are identical are merged into one group even when their
patient keys differ (the Kaggle copy has one such pair, NORMAL2-IM-0095/0096), so no test image reaches
training byte-for-byte.

The random order of a class depends only on (seed, class name) and on that class's images, so each pool's
split depends only on that pool and the seed.
"""
import hashlib
import json
import warnings

import numpy as np

from .dataset import DataError


def class_rng(seed, name):
    """A numpy Generator that depends only on ``seed`` and the string ``name``."""
    tag = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    return np.random.default_rng([int(seed), tag])


def patient_groups(patients, images=None):
    """Group ids (N,) int: images of one patient, and byte-identical images, share a group.

    patients: str (N,).  images: optional (N, ...) array used to merge exact duplicates.
    """
    parent = {p: p for p in patients}

    def find(p):
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    if images is not None:
        first = {}
        for p, img in zip(patients, images):
            h = hashlib.sha1(np.ascontiguousarray(img).tobytes()).hexdigest()
            parent[find(p)] = find(first.setdefault(h, p))
    roots = np.array([find(p) for p in patients], dtype=str)
    _, ids = np.unique(roots, return_inverse=True)
    return ids


def choose_test(groups, n_test, rng):
    """Bool mask (N,) of the test side: whole groups in random order, greedily, up to exactly n_test."""
    sizes = np.bincount(groups)
    taken, total = np.zeros(len(sizes), bool), 0
    for g in rng.permutation(len(sizes)):
        if total + sizes[g] <= n_test:
            taken[g], total = True, total + sizes[g]
            if total == n_test:
                break
    if total < n_test:
        warnings.warn(f"test split has {total} images, not {n_test}: no patient groups add up exactly")
    return taken[groups]


def split_test(ds, n_test, seed):
    """Bool mask (N,) of ``ds`` images on the test side, n_test per class (see module docstring)."""
    test = np.zeros(len(ds), bool)
    for name in np.unique(ds.labels):
        idx = np.flatnonzero(ds.labels == name)
        if len(idx) <= n_test:
            raise DataError(f"class {name} has {len(idx)} images, but the test split alone needs {n_test}.")
        groups = patient_groups(ds.patients[idx], ds.images[idx])
        test[idx] = choose_test(groups, n_test, class_rng(seed, str(name)))
    return test


def cap_train(ds, cap, seed):
    """Int index of a seeded random subset of at most ``cap`` images of ``ds``, kept in file order."""
    if cap is None or len(ds) <= cap:
        return np.arange(len(ds))
    return np.sort(class_rng(seed, "train-cap").choice(len(ds), size=cap, replace=False))


def save_manifest(manifest, path):
    """Write the manifest (a JSON-serialisable dict) to ``path``, e.g. <run dir>/data_split.json."""
    with open(path, "w") as fh:
        json.dump(manifest, fh, indent=1)


def load_manifest(path):
    with open(path) as fh:
        return json.load(fh)
