"""prepare_data: load both pools, draw the held-out test split, hand the training job its data.

Paper Sec. IV-A: the Kaggle pool (normal/bacterial/viral) pretrains, the COVID pool fine-tunes, and
n_test images per class are held out, by patient, before any training function sees the data. A pool
whose directory is None is the synthetic phantom pool (synthetic.py). Everything that was substituted,
skipped, merged or fell short is recorded in ``PreparedData.notes`` and reported by ``summary_lines``
and ``report`` (docs/design.md, "What the data summary reports").
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import read_npz, resolve_cache_dir, write_npz
from .covid import load_covid, resolve_covid_dir
from .dataset import CLASSES, DataError, Dataset, concat, plural, source_size
from .duplicates import find_duplicates
from .kaggle import load_kaggle, resolve_kaggle_dir
from .resample import resize
from .split import cap_train, split_test
from .synthetic import make_synthetic

SYNTHETIC_SEED = 0   # the synthetic pools are one fixed data set; the run seed only changes the split
PAPER_COVID_TRAIN = 159   # the paper's COVID training images after its held-out test set
POOL_NAMES = {"kaggle": "Kaggle pool (pretraining)", "covid": "COVID pool (fine-tuning)"}
OPTION = {"kaggle": "--kaggle-dir", "covid": "--covid-dir"}


@dataclass
class PreparedData:
    """kaggle_train: Dataset (3 classes) or None; covid_train: Dataset; test: Dataset with n_test images
    per class; manifest: JSON-serialisable dict (seed, file names per side, merged duplicates); source:
    {pool: "real" or "synthetic"}; pools: {pool: {"images", "patients", "counts", "skipped"}} of the whole
    pool before the split (skipped: [(file, reason)]); notes: {pool: [sentences]} about substitutions and
    shortfalls."""
    kaggle_train: Dataset
    covid_train: Dataset
    test: Dataset
    manifest: dict
    source: dict
    pools: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)

    def summary_lines(self):
        """Human sentences: per pool its source, counts per class, skipped files, merged duplicates,
        shortfalls; then the held-out test set."""
        lines = []
        for name, ds in self.pools.items():
            where = (f"real data from {self.manifest['dirs'][name]}" if self.source[name] == "real" else
                     f"synthetic phantoms (no {OPTION[name]} given)")
            lines.append(f"{POOL_NAMES[name]}: {where}; {plural(ds['images'], 'image')} of "
                         f"{plural(ds['patients'], 'patient')} ({_counts(ds['counts'])}).")
            train = self.kaggle_train if name == "kaggle" else self.covid_train
            lines.append(f"  training on {plural(len(train), 'image')} ({_counts(train.counts())}); "
                         f"{plural(len(ds['skipped']), 'file')} skipped, "
                         f"{plural(len(self.manifest['duplicates'][name]), 'duplicate pair')} merged "
                         "across patient ids.")
            lines += [f"  {note}" for note in self.notes.get(name, [])]
        lines.append(f"Held-out test set (seed {self.manifest['seed']}): {_counts(self.test.counts())}.")
        return lines

    def report(self):
        """JSON-serialisable dict: the summary's facts plus every skipped file with its reason and every
        merged duplicate pair."""
        pools = {}
        for name, ds in self.pools.items():
            train = self.kaggle_train if name == "kaggle" else self.covid_train
            pools[name] = {
                "source": self.source[name], "dir": self.manifest["dirs"][name], "images": ds["images"],
                "patients": ds["patients"], "counts": ds["counts"],
                "train_counts": train.counts(), "notes": list(self.notes.get(name, [])),
                "skipped": [{"file": f, "reason": r} for f, r in ds["skipped"]],
                "duplicates": self.manifest["duplicates"][name]}
        return {"seed": self.manifest["seed"], "size": self.manifest["size"], "pools": pools,
                "test_counts": self.test.counts(), "summary": self.summary_lines()}


def _counts(counts):
    return ", ".join(f"{c} {n}" for c, n in counts.items()) or "no images"


def _synthetic_cached(pool, size, cache_dir):
    """make_synthetic(pool, size), stored in the cache folder keyed by the generator's source code."""
    if cache_dir is None:
        return make_synthetic(pool, size, SYNTHETIC_SEED)
    here = Path(__file__).parent
    code = hashlib.sha256(b"".join((here / f).read_bytes() for f in ("synthetic.py", "resample.py")))
    path = Path(cache_dir) / f"synthetic-{pool}-{size}px-seed{SYNTHETIC_SEED}-{code.hexdigest()[:12]}.npz"
    z = read_npz(path)
    if z is not None and {"hires", "labels", "patients", "files"} <= set(z) \
            and z["hires"].shape[1:] == (source_size(size),) * 2 + (1,):
        return Dataset(resize(z["hires"], size), z["labels"], z["patients"], z["files"], hires=z["hires"])
    ds = make_synthetic(pool, size, SYNTHETIC_SEED)
    write_npz(path, hires=ds.hires, labels=ds.labels, patients=ds.patients, files=ds.files)
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


def check_not_empty(name, ds, directory):
    """Raise DataError (one sentence) when a pool read from ``directory`` holds no usable image."""
    if len(ds) == 0:
        why = f"; {plural(len(ds.skipped), 'file')} skipped, e.g. {ds.skipped[0][0]}: {ds.skipped[0][1]}" \
            if ds.skipped else ""
        raise DataError(f"{OPTION[name]} {directory} holds no usable image{why}.")


def prepare_data(kaggle_dir=None, covid_dir=None, size=32, seed=0, *, need_kaggle=True,
                 covid_train_cap=None, n_test=68, cache_dir="auto", progress=True):
    """Load the pools, split off the test set, return a PreparedData.

    kaggle_dir / covid_dir: data folders, or None for the synthetic pool.  size: S of (N, S, S, 1).
    seed: the split seed (each pool's split depends only on that pool and the seed).
    need_kaggle: False skips the Kaggle pool (baseline GAN); kaggle_train is then None.
    covid_train_cap: keep at most this many COVID training images (159 reproduces the paper).
    cache_dir: "auto" (~/.cache/mttgan_min or $XDG_CACHE_HOME/mttgan_min), a folder, or None (no cache).
    Raises DataError (one sentence) for a missing or wrongly laid-out folder, an empty pool, or a class
    too small for the held-out split.
    """
    dirs = {"kaggle": kaggle_dir if need_kaggle else None, "covid": covid_dir}
    check_dirs(**{f"{k}_dir": v for k, v in dirs.items()})
    names = ("kaggle", "covid") if need_kaggle else ("covid",)
    pools = {name: load_pool(name, dirs[name], size, cache_dir, progress) for name in names}
    train, tests, dups, notes = {}, [], {}, {name: [] for name in names}
    for name, ds in pools.items():
        if dirs[name] is not None:
            check_not_empty(name, ds, dirs[name])
        dups[name] = find_duplicates(ds, near=dirs[name] is not None)
        test = split_test(ds, n_test, seed, dups[name])
        tests.append(ds.subset(test))
        train[name] = ds.subset(~test)
        for c, n in ds.subset(test).counts().items():
            if n < n_test:
                notes[name].append(f"the held-out test set has only {n} {c} images, not {n_test}: no "
                                   "combination of whole patient groups adds up to it.")
    if covid_train_cap is not None and len(train["covid"]) < min(covid_train_cap, PAPER_COVID_TRAIN):
        n = len(train["covid"])
        why = (f"{plural(len(pools['covid'].skipped), 'file')} of the folder were skipped (listed in the "
               "data report) and" if pools["covid"].skipped else "the pool holds only "
               f"{plural(len(pools['covid']), 'image')}, and")
        notes["covid"].append(f"fine-tuning uses {n} COVID training images, fewer than the paper's "
                              f"{PAPER_COVID_TRAIN}, because {why} {n_test} are held out for the test set.")
    train["covid"] = train["covid"].subset(cap_train(train["covid"], covid_train_cap, seed))
    test = concat(tests)
    source = {name: "synthetic" if dirs[name] is None else "real" for name in pools}
    if need_kaggle and source["kaggle"] == "synthetic" and source["covid"] == "real":
        notes["kaggle"].append("pretraining uses synthetic phantoms, because only --covid-dir was given.")
    manifest = {
        "seed": int(seed), "size": int(size), "n_test": int(n_test), "covid_train_cap": covid_train_cap,
        "source": source,
        "dirs": {name: None if dirs[name] is None else str(Path(dirs[name]).resolve()) for name in pools},
        "test": {c: test.files[test.labels == c].tolist() for c in CLASSES if np.any(test.labels == c)},
        "train": {name: ds.files.tolist() for name, ds in train.items()},
        "counts": {"test": test.counts(), "train": {name: ds.counts() for name, ds in train.items()}},
        "duplicates": {name: [{k: d[k] for k in ("files", "patients", "reason")} for d in dups[name]]
                       for name in pools},
    }
    info = {name: {"images": len(ds), "patients": len(set(ds.patients.tolist())), "counts": ds.counts(),
                   "skipped": list(ds.skipped)} for name, ds in pools.items()}
    return PreparedData(train.get("kaggle"), train["covid"], test, manifest, source, info, notes)
