"""prepare_data: load both pools, draw the held-out test split, hand the training job its data.

SPEC "Data": the Kaggle pool (normal/bacterial/viral) pretrains, the COVID pool fine-tunes, and n_test
images per class are held out, by patient, before any training function sees the data. A pool whose
directory is None is the synthetic phantom pool (synthetic.py).
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import resolve_cache_dir
from .covid import load_covid, resolve_covid_dir
from .dataset import CLASSES, Dataset, concat
from .kaggle import load_kaggle, resolve_kaggle_dir
from .split import cap_train, split_test
from .synthetic import make_synthetic

SYNTHETIC_SEED = 0   # the synthetic pools are one fixed data set; the run seed only changes the split


@dataclass
class PreparedData:
    """kaggle_train: Dataset (3 classes) or None; covid_train: Dataset; test: Dataset with n_test images
    per class; manifest: JSON-serialisable dict (seed, file names per side); source: {pool: "real" or
    "synthetic"}."""
    kaggle_train: Dataset
    covid_train: Dataset
    test: Dataset
    manifest: dict
    source: dict


def _synthetic_cached(pool, size, cache_dir):
    """make_synthetic(pool, size), stored in the cache folder keyed by the generator's source code."""
    if cache_dir is None:
        return make_synthetic(pool, size, SYNTHETIC_SEED)
    code = hashlib.sha256(Path(__file__).with_name("synthetic.py").read_bytes()).hexdigest()[:12]
    path = Path(cache_dir) / f"synthetic-{pool}-{size}px-seed{SYNTHETIC_SEED}-{code}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return Dataset(z["images"], z["labels"], z["patients"], z["files"])
    except (OSError, KeyError, ValueError):
        pass
    ds = make_synthetic(pool, size, SYNTHETIC_SEED)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, images=ds.images, labels=ds.labels, patients=ds.patients, files=ds.files)
    except OSError:
        pass
    return ds


def check_dirs(kaggle_dir=None, covid_dir=None):
    """Raise DataError for a missing or wrongly laid-out folder, before any slow loading starts."""
    if kaggle_dir is not None:
        resolve_kaggle_dir(kaggle_dir)
    if covid_dir is not None:
        resolve_covid_dir(covid_dir)


def load_pool(pool, directory, size, cache_dir="auto", progress=True):
    """One pool as a Dataset: real from ``directory``, or synthetic when it is None. Raises DataError."""
    cache_dir = resolve_cache_dir(cache_dir)
    if directory is None:
        return _synthetic_cached(pool, size, cache_dir)
    loader = load_kaggle if pool == "kaggle" else load_covid
    return loader(directory, size, cache_dir, progress)


def prepare_data(kaggle_dir=None, covid_dir=None, size=32, seed=0, *, need_kaggle=True,
                 covid_train_cap=None, n_test=68, cache_dir="auto", progress=True):
    """Load the pools, split off the test set, return a PreparedData.

    kaggle_dir / covid_dir: data folders, or None for the synthetic pool.  size: S of (N, S, S, 1).
    seed: the split seed (each pool's split depends only on that pool and the seed).
    need_kaggle: False skips the Kaggle pool (baseline GAN); kaggle_train is then None.
    covid_train_cap: keep at most this many COVID training images (159 reproduces the paper).
    cache_dir: "auto" (~/.cache/mttgan_min or $XDG_CACHE_HOME/mttgan_min), a folder, or None (no cache).
    Raises DataError (one sentence) for a missing or wrongly laid-out folder.
    """
    dirs = {"kaggle": kaggle_dir if need_kaggle else None, "covid": covid_dir}
    check_dirs(**{f"{k}_dir": v for k, v in dirs.items()})
    pools = {name: load_pool(name, dirs[name], size, cache_dir, progress)
             for name in (("kaggle", "covid") if need_kaggle else ("covid",))}
    train, tests = {}, []
    for name, ds in pools.items():
        test = split_test(ds, n_test, seed)
        tests.append(ds.subset(test))
        train[name] = ds.subset(~test)
    train["covid"] = train["covid"].subset(cap_train(train["covid"], covid_train_cap, seed))
    test = concat(tests)
    source = {name: "synthetic" if dirs[name] is None else "real" for name in pools}
    manifest = {
        "seed": int(seed), "size": int(size), "n_test": int(n_test), "covid_train_cap": covid_train_cap,
        "source": source,
        "dirs": {name: None if dirs[name] is None else str(Path(dirs[name]).resolve()) for name in pools},
        "test": {c: test.files[test.labels == c].tolist() for c in CLASSES if np.any(test.labels == c)},
        "train": {name: ds.files.tolist() for name, ds in train.items()},
        "counts": {"test": test.counts(), "train": {name: ds.counts() for name, ds in train.items()}},
    }
    return PreparedData(train.get("kaggle"), train["covid"], test, manifest, source)
