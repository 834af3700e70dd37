"""Loader for the Kaggle "Chest X-Ray Images (Pneumonia)" set (Kermany et al.; paper Sec. IV-A).

Layout: chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/<file>.jpeg. The class comes from the folder and,
for PNEUMONIA, from the file name (personN_bacteria_M.jpeg / personN_virus_M.jpeg). The three published
splits are pooled, because the paper draws its own test set, but each image remembers its split in
``meta["published_split"]``.

Patient keys (docs/design.md, "Kaggle patient keys"): the file-name prefix IM-xxxx or
NORMAL2-IM-xxxx for normal images, and personN together with the subtype ("person12_virus") for
pneumonia images, because the number N alone is reused across subtypes and splits.
"""
import re
from pathlib import Path

import numpy as np

from .cache import load_images
from .dataset import DataError, Dataset
from .resample import resize

SPLITS = ("train", "test", "val")
FOLDERS = ("NORMAL", "PNEUMONIA")
LAYOUT = ("a folder chest_xray/ (or the folder that contains it) holding train/, test/ and val/, "
          "each with NORMAL/ and PNEUMONIA/ subfolders")
NORMAL_RE = re.compile(r"^((?:NORMAL2-)?IM-\d+)-")
PNEUMONIA_RE = re.compile(r"^(person\d+)_(bacteria|virus)_")


def resolve_kaggle_dir(path):
    """The chest_xray/ folder, given it or its parent. Raises DataError naming the expected layout."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"--kaggle-dir {path} is not a folder; expected {LAYOUT}.")
    for cand in (path, path / "chest_xray"):
        if any((cand / s / f).is_dir() for s in SPLITS for f in FOLDERS):
            return cand
    raise DataError(f"--kaggle-dir {path} has the wrong layout; expected {LAYOUT}.")


def classify(folder, name):
    """(class, patient key) of one file, or (None, reason) when the name does not say."""
    if folder == "NORMAL":
        m = NORMAL_RE.match(name)
        return ("normal", m.group(1)) if m else (None, "file name does not start with IM-xxxx or NORMAL2-IM-xxxx")
    m = PNEUMONIA_RE.match(name)
    if not m:
        return None, "file name says neither personN_bacteria_ nor personN_virus_"
    kind = {"bacteria": "bacterial", "virus": "viral"}[m.group(2)]
    return kind, f"{m.group(1)}_{m.group(2)}"


def scan_kaggle(root):
    """List (relpath, class, patient, published split) of every file; plus skipped [(relpath, reason)]."""
    rows, skipped = [], []
    for split in SPLITS:
        for folder in FOLDERS:
            d = root / split / folder
            if not d.is_dir():
                continue
            for p in sorted(d.iterdir()):
                rel = f"{split}/{folder}/{p.name}"
                if not p.is_file():
                    skipped.append((rel, "not a file"))
                    continue
                label, key = classify(folder, p.name)
                if label is None:
                    skipped.append((rel, key))
                else:
                    rows.append((rel, label, key, split))
    return rows, skipped


def load_kaggle(kaggle_dir, size, cache_dir=None, progress=True):
    """Load every usable image of the Kaggle set.

    kaggle_dir: chest_xray/ or its parent.  size: S.  cache_dir: folder or None.
    Returns a Dataset: images float32 (N, S, S, 1) in [0, 1], hires uint8 (N, R, R, 1), labels normal/bacterial/viral, patients,
    files "train/NORMAL/IM-0115-0001.jpeg" ..., meta["published_split"], skipped files with reasons.
    """
    root = resolve_kaggle_dir(kaggle_dir)
    rows, skipped = scan_kaggle(root)
    files = [r[0] for r in rows]
    dec = load_images(root, files, size, cache_dir, progress, desc="Kaggle images")
    keep = [r for r, k in zip(rows, dec.ok) if k]
    col = lambda i: np.array([r[i] for r in keep], dtype=str)
    hires = dec.images[..., None]
    return Dataset(resize(hires, size), col(1), col(2), col(0), skipped + dec.skipped,
                   {"published_split": col(3)}, hires)
