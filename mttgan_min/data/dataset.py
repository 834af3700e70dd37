"""The container every loader returns, and the one error type of the data layer.

A ``Dataset`` holds N images of one pool together with one label, one patient key and one file id per
image. Images are float32, NHWC, (N, S, S, 1), intensities in [0, 1]; beside them the same images at the
source resolution R = source_size(S), from which the augmentation crops (docs/design.md, "Crop, then
resize").
"""
import math

from dataclasses import dataclass, field

import numpy as np

CLASSES = ("normal", "bacterial", "viral", "covid")
KAGGLE_CLASSES = ("normal", "bacterial", "viral")


def source_size(size):
    """R, the side of the source-resolution copy kept for the crops: ceil(1.25 S) (160 for 128, 40 for 32).

    A crop keeps at least 90% of each side, so a box of R px is still >= 1.125 S px: the final resize
    always shrinks (antialiased), never enlarges.
    """
    return int(math.ceil(1.25 * size))


def plural(n, word):
    """'1 image', '2 images'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class DataError(ValueError):
    """A data directory is missing or laid out wrongly; the message is one sentence for the user."""


@dataclass
class Dataset:
    """N images of one pool.

    images:   float32 (N, S, S, 1) NumPy array in [0, 1]
    labels:   str (N,) class names from CLASSES
    patients: str (N,) patient keys; a split never puts one key on both sides
    files:    str (N,) path relative to the data root, or "synthetic/<class>/<patient>-<k>"
    skipped:  [(file, reason), ...] files that were not loaded, each with why
    meta:     extra per-image str arrays (N,), e.g. {"published_split": ...} or {"view": ...}
    hires:    uint8 (N, R, R, 1), the source-resolution copy the augmentation crops from; if not given,
              the images themselves (crops are then resized back to S from S)
    """
    images: np.ndarray
    labels: np.ndarray
    patients: np.ndarray
    files: np.ndarray
    skipped: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    hires: np.ndarray = None

    def __post_init__(self):
        if self.hires is None:
            self.hires = self.images

    def __len__(self):
        return len(self.files)

    def subset(self, index):
        """A new Dataset of the images at ``index`` (int array or bool mask); skipped is kept."""
        index = np.asarray(index)
        hires = None if self.hires is self.images else self.hires[index]
        return Dataset(self.images[index], self.labels[index], self.patients[index], self.files[index],
                       list(self.skipped), {k: v[index] for k, v in self.meta.items()}, hires)

    def counts(self):
        """{class: number of images}, in CLASSES order, for the classes present."""
        return {c: int(np.sum(self.labels == c)) for c in CLASSES if np.any(self.labels == c)}


def concat(datasets):
    """One Dataset holding the images of all ``datasets`` (same S); skipped lists are joined; the hires
    copies are joined when every dataset has one."""
    datasets = list(datasets)
    keys = set.intersection(*(set(d.meta) for d in datasets)) if datasets else set()
    return Dataset(np.concatenate([d.images for d in datasets]),
                   np.concatenate([d.labels for d in datasets]),
                   np.concatenate([d.patients for d in datasets]),
                   np.concatenate([d.files for d in datasets]),
                   [s for d in datasets for s in d.skipped],
                   {k: np.concatenate([d.meta[k] for d in datasets]) for k in sorted(keys)},
                   None if any(d.hires is d.images for d in datasets)
                   else np.concatenate([d.hires for d in datasets]))
