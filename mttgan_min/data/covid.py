"""Loader for the covid-chestxray-dataset (Cohen et al.; paper Sec. IV-A; docs/design.md, "COVID rows").

Layout: a folder with metadata.csv and images/. Kept rows: ``finding`` contains "COVID-19" (so
"COVID-19, ARDS" counts), ``modality`` is "X-ray", ``view`` is PA, AP or AP Supine (never lateral L).
``patientid`` is the patient key. An image file named by two kept rows is counted once, under the first
row's patient (file order of metadata.csv, so deterministic); the later row is listed as skipped.
A kept row whose image file is missing is listed as skipped too.
"""
import csv
from pathlib import Path

import numpy as np

from .cache import load_images
from .dataset import DataError, Dataset
from .resample import resize

VIEWS = ("PA", "AP", "AP Supine")
COLUMNS = ("patientid", "finding", "view", "modality", "filename")
LAYOUT = "a folder (or its parent holding covid-chestxray-dataset/) with metadata.csv and images/"


def resolve_covid_dir(path):
    """The dataset folder, given it or its parent. Raises DataError naming the expected layout."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"--covid-dir {path} is not a folder; expected {LAYOUT}.")
    for cand in (path, path / "covid-chestxray-dataset"):
        if (cand / "metadata.csv").is_file() and (cand / "images").is_dir():
            return cand
    raise DataError(f"--covid-dir {path} has the wrong layout; expected {LAYOUT}.")


def read_metadata(root):
    """Rows of metadata.csv as dicts. Raises DataError if a needed column is missing or a row is short.

    Read as "utf-8-sig", so a file saved with a byte-order mark (as spreadsheet programs do) reads the same.
    """
    path = root / "metadata.csv"
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path} lacks the column(s) {', '.join(missing)}; "
                            f"expected the covid-chestxray-dataset header with {', '.join(COLUMNS)}.")
        rows = []
        for row in reader:
            if any(row.get(c) is None for c in COLUMNS):
                raise DataError(f"{path}, line {reader.line_num}, has only {sum(v is not None for k, v in row.items() if k is not None)} of "
                                f"the {len(reader.fieldnames)} columns of its header (a cut-off row?).")
            rows.append(row)
        return rows


def select_rows(rows):
    """Apply the row rule above.

    Returns (kept [(relpath, patient, view)], skipped [(file, reason)], stats).
    """
    kept, skipped, first = [], [], {}
    n_rule = 0
    for r in rows:
        if "COVID-19" not in r["finding"] or r["modality"].strip() != "X-ray" or r["view"].strip() not in VIEWS:
            continue
        n_rule += 1
        rel = f"{(r.get('folder') or 'images').strip()}/{r['filename'].strip()}"
        patient = r["patientid"].strip()
        if rel in first:
            skipped.append((rel, f"second metadata row for this file (patient {patient}); "
                                 f"counted once under patient {first[rel]}"))
            continue
        first[rel] = patient
        kept.append((rel, patient, r["view"].strip()))
    return kept, skipped, {"rows": len(rows), "rows_matching": n_rule}


def load_covid(covid_dir, size, cache_dir=None, progress=True):
    """Load the COVID-19 frontal X-rays.

    Returns a Dataset: images float32 (N, S, S, 1) in [0, 1], hires uint8 (N, R, R, 1), labels "covid",
    patients (patientid), files "images/<filename>", meta["view"], skipped rows/files with reasons.
    """
    root = resolve_covid_dir(covid_dir)
    kept, skipped, _ = select_rows(read_metadata(root))
    return rows_to_dataset(root, kept, skipped, size, "covid", {"view": 2}, cache_dir, progress, "COVID images")


def rows_to_dataset(root, kept, skipped, size, label, meta, cache_dir=None, progress=True, desc="images"):
    """Decode the selected metadata rows into a Dataset labelled ``label``.

    kept: [(relpath, patient, ...)] rows; skipped: [(file, reason)] so far (files that are missing or
    cannot be decoded are added with their reason); meta: {name: index into a kept row}.
    """
    present = [k for k in kept if (root / k[0]).is_file()]
    skipped = skipped + [(k[0], "named in metadata.csv but the image file is missing") for k in kept
                         if not (root / k[0]).is_file()]
    dec = load_images(root, [k[0] for k in present], size, cache_dir, progress, desc=desc)
    good = [k for k, ok in zip(present, dec.ok) if ok]
    col = lambda i: np.array([k[i] for k in good], dtype=str)
    hires = dec.images[..., None]               # the cache keeps the source copy; the pool is at size S
    return Dataset(resize(hires, size), np.full(len(good), label), col(1), col(0), skipped + dec.skipped,
                   {name: col(i) for name, i in meta.items()}, hires)
