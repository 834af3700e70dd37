"""python -m mttgan_min.data: summarise the data the training job would see.

With no directory it summarises the synthetic phantom pools. For any folder it can read it reports the
counts, every skipped file with its reason, the duplicates merged across patient ids and the held-out
split, or why that split is impossible (docs/design.md, "What the data summary reports"). A missing or
wrongly laid-out folder, or a bad option, ends with one sentence on stderr and exit code 2.
"""
import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..cli import HelpFormatter, non_negative_int, positive_int
from .dataset import CLASSES, KAGGLE_CLASSES, DataError, plural
from .duplicates import find_duplicates
from .prepare import check_dirs, load_pool
from .split import split_test


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m mttgan_min.data", formatter_class=HelpFormatter,
        description="Load, check and summarise the chest X-ray data (paper Sec. IV-A).\n"
                    "A pool whose folder is not given is the synthetic phantom pool.")
    ap.add_argument("--kaggle-dir", metavar="DIR", help="Kaggle 'Chest X-Ray Images (Pneumonia)': the "
                    "chest_xray/ folder or the folder containing it (none: the synthetic Kaggle-like pool)")
    ap.add_argument("--covid-dir", metavar="DIR", help="covid-chestxray-dataset: the folder with "
                    "metadata.csv and images/, or its parent (none: the synthetic COVID-like pool)")
    ap.add_argument("--size", type=positive_int, default=128, help="side S of the S x S images")
    ap.add_argument("--seed", type=non_negative_int, default=0, help="seed of the held-out test split")
    ap.add_argument("--n-test", type=non_negative_int, default=68, help="test images per class")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ap.add_argument("--grid", metavar="OUT.png", help="also save a PNG grid of a few images per class")
    ap.add_argument("--no-cache", action="store_true", help="decode every file, neither read nor write "
                    "the cache of decoded images")
    ap.add_argument("--cache-dir", default="auto", help="cache folder ('auto': $XDG_CACHE_HOME/mttgan_min "
                    "or ~/.cache/mttgan_min)")
    return ap.parse_args(argv)


def summarise(pools, dirs, seed, n_test):
    """The summary as a JSON-serialisable dict; a held-out split that cannot be drawn is reported, not
    raised."""
    out = {}
    for name, ds in pools.items():
        s = {"source": "synthetic" if dirs[name] is None else "real", "dir": dirs[name],
             "images": len(ds), "patients": len(set(ds.patients.tolist()))}
        if name == "kaggle":
            s["counts"] = {c: int(np.sum(ds.labels == c)) for c in KAGGLE_CLASSES}
            if "published_split" in ds.meta:
                s["by_split"] = {sp: {c: int(np.sum((ds.meta["published_split"] == sp) & (ds.labels == c)))
                                      for c in KAGGLE_CLASSES} for sp in ("train", "test", "val")}
        else:
            s["counts"] = ds.counts()
            s["by_view"] = dict(sorted(Counter(ds.meta.get("view", np.array([])).tolist()).items()))
        s["skipped"] = [{"file": f, "reason": r} for f, r in ds.skipped]
        dups = find_duplicates(ds, near=dirs[name] is not None)
        s["duplicates"] = [{k: d[k] for k in ("files", "patients", "reason")} for d in dups]
        try:
            if len(ds) == 0:
                raise DataError("the pool holds no usable image.")
            test = split_test(ds, n_test, seed, dups)
            s["split"] = {"possible": True, "seed": seed, "test": ds.subset(test).counts(),
                          "train": ds.subset(~test).counts()}
        except DataError as err:
            s["split"] = {"possible": False, "seed": seed, "reason": str(err)}
        out[name] = s
    return out


def _counts(counts):
    return ", ".join(f"{c} {n}" for c, n in counts.items()) or "no images"


def print_summary(summary, size, seconds):
    for name, s in summary.items():
        where = s["dir"] or "generated, seeded"
        print(f"{name} pool ({s['source']}, {where}): {plural(s['images'], 'image')} of "
              f"{plural(s['patients'], 'patient')} at {size}x{size}")
        print(f"  {_counts(s['counts'])}")
        for sp, counts in s.get("by_split", {}).items():
            print(f"  published {sp:5s}: {_counts(counts)}")
        if s.get("by_view"):
            print(f"  by view: {_counts(s['by_view'])}")
        sp = s["split"]
        if sp["possible"]:
            print(f"  held-out test (seed {sp['seed']}): {_counts(sp['test'])}; "
                  f"training: {_counts(sp['train'])}")
        else:
            print(f"  held-out test split impossible: {sp['reason']}")
        print(f"  duplicates merged across patient ids: {len(s['duplicates'])}")
        for d in s["duplicates"]:
            print(f"    {d['files'][0]} (patient {d['patients'][0]}) = {d['files'][1]} "
                  f"(patient {d['patients'][1]}): {d['reason']}")
        print(f"  skipped: {len(s['skipped'])}")
        for e in s["skipped"]:
            print(f"    {e['file']}: {e['reason']}")
    print(f"({seconds:.1f} s)")


def save_grid(pools, path, seed, per_class=6):
    """A PNG with one row per class and ``per_class`` random images in each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(seed)
    rows = [(c, ds) for ds in pools.values() for c in CLASSES if np.any(ds.labels == c)]
    if not rows:
        return False
    fig, axes = plt.subplots(len(rows), per_class, figsize=(1.6 * per_class, 1.7 * len(rows)), squeeze=False)
    for (c, ds), ax_row in zip(rows, axes):
        idx = rng.permutation(np.flatnonzero(ds.labels == c))[:per_class]
        for j, ax in enumerate(ax_row):
            ax.axis("off")
            if j < len(idx):
                ax.imshow(ds.images[idx[j], ..., 0], cmap="gray", vmin=0, vmax=1)
        ax_row[0].set_title(c, loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None):
    args = parse_args(argv)
    dirs = {"kaggle": args.kaggle_dir, "covid": args.covid_dir}
    cache_dir = None if args.no_cache else args.cache_dir
    start = time.perf_counter()
    try:
        if args.grid and not Path(args.grid).expanduser().resolve().parent.is_dir():
            raise DataError(f"--grid {args.grid}: the folder {Path(args.grid).parent} does not exist.")
        check_dirs(args.kaggle_dir, args.covid_dir)
        pools = {name: load_pool(name, dirs[name], args.size, cache_dir, progress=not args.json)
                 for name in ("kaggle", "covid")}
        summary = summarise(pools, dirs, args.seed, args.n_test)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - start
    if args.json:
        print(json.dumps({"size": args.size, **summary, "seconds": round(seconds, 2)}))
    else:
        print_summary(summary, args.size, seconds)
    if args.grid:
        saved = save_grid(pools, args.grid, args.seed)
        if not args.json:
            print(f"grid saved to {args.grid}" if saved else "no images, so no grid was saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
