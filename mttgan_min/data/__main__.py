"""python -m mttgan_min.data: summarise the data the training job would see (issue 3, item 6).

With no directory it summarises the synthetic phantom pools. A missing or wrongly laid-out folder ends
with one sentence on stderr and exit code 2.
"""
import argparse
import json
import sys
import time
from collections import Counter

import numpy as np

from .dataset import CLASSES, KAGGLE_CLASSES, DataError
from .prepare import check_dirs, load_pool
from .split import split_test


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m mttgan_min.data",
        description="Load, check and summarise the chest X-ray data (SPEC 'Data'). A pool whose folder "
                    "is not given is the synthetic phantom pool.")
    ap.add_argument("--kaggle-dir", help="Kaggle 'Chest X-Ray Images (Pneumonia)': the chest_xray/ "
                    "folder or the folder containing it (default: synthetic Kaggle-like pool)")
    ap.add_argument("--covid-dir", help="covid-chestxray-dataset: the folder with metadata.csv and "
                    "images/, or its parent (default: synthetic COVID-like pool)")
    ap.add_argument("--size", type=int, default=128, help="side S of the S x S images (default 128)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the held-out test split (default 0)")
    ap.add_argument("--n-test", type=int, default=68, help="test images per class (default 68)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    ap.add_argument("--grid", metavar="OUT.png", help="also save a PNG grid of a few images per class")
    ap.add_argument("--no-cache", action="store_true", help="decode every file, neither read nor write "
                    "the cache of decoded images")
    ap.add_argument("--cache-dir", default="auto", help="cache folder (default $XDG_CACHE_HOME/mttgan_min "
                    "or ~/.cache/mttgan_min)")
    return ap.parse_args(argv)


def summarise(pools, dirs, seed, n_test):
    """The summary as a JSON-serialisable dict."""
    out = {}
    for name, ds in pools.items():
        s = {"source": "synthetic" if dirs[name] is None else "real", "dir": dirs[name],
             "images": len(ds), "patients": len(set(ds.patients.tolist()))}
        if name == "kaggle":
            s.update({c: int(np.sum(ds.labels == c)) for c in KAGGLE_CLASSES})
            if "published_split" in ds.meta:
                s["by_split"] = {sp: {c: int(np.sum((ds.meta["published_split"] == sp) & (ds.labels == c)))
                                      for c in KAGGLE_CLASSES} for sp in ("train", "test", "val")}
        else:
            s["by_view"] = dict(sorted(Counter(ds.meta.get("view", np.array([])).tolist()).items()))
        s["skipped"] = [{"file": f, "reason": r} for f, r in ds.skipped]
        test = split_test(ds, n_test, seed)
        s["split"] = {"seed": seed, "test": ds.subset(test).counts(), "train": ds.subset(~test).counts()}
        out[name] = s
    return out


def print_summary(summary, size, seconds):
    for name, s in summary.items():
        where = s["dir"] or "generated, seeded"
        print(f"{name} pool ({s['source']}, {where}): {s['images']} images of {s['patients']} patients "
              f"at {size}x{size}")
        if name == "kaggle":
            print("  " + ", ".join(f"{c} {s[c]}" for c in KAGGLE_CLASSES))
            for sp, counts in s.get("by_split", {}).items():
                print(f"  published {sp:5s}: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
        elif s["by_view"]:
            print("  by view: " + ", ".join(f"{v} {n}" for v, n in s["by_view"].items()))
        sp = s["split"]
        print(f"  held-out test (seed {sp['seed']}): {sp['test']}; training: {sp['train']}")
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


def main(argv=None):
    args = parse_args(argv)
    dirs = {"kaggle": args.kaggle_dir, "covid": args.covid_dir}
    cache_dir = None if args.no_cache else args.cache_dir
    start = time.perf_counter()
    try:
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
        save_grid(pools, args.grid, args.seed)
        if not args.json:
            print(f"grid saved to {args.grid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
