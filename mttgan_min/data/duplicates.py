"""Images that must stay on one side of the held-out split although their patient keys differ.

Three kinds, each found per class and returned as pairs with a reason (docs/design.md, "Duplicates
across patient ids"):
- known: an explicit list of the COVID set's cross-id duplicates below;
- identical: byte-identical pixels after decoding and resizing;
- near: thumbnails whose structure correlates above NEAR_DUPLICATE_R (the same film, re-exported
  with another crop, contrast or compression).
The split (split.py) merges the patient groups of every pair before it draws the test side.
"""
import hashlib

import numpy as np
from scipy.ndimage import gaussian_filter

from .resample import resize

# Images that appear twice under different file names and patient ids, matched by file name.
# Source: the data set's own documentation (which 16660_* file matches which ards-* file was found by
# the check below).
DOCUMENTED_DUPLICATE_FILES = (
    ("16660_2_1.jpg", "covid-19-rapidly-progressive-acute-respiratory-distress-syndrome-ards-admission.jpg"),
    ("16660_3_1.jpg", "covid-19-rapidly-progressive-acute-respiratory-distress-syndrome-ards-day-1.jpg"),
    ("16660_4_1.jpg", "covid-19-rapidly-progressive-acute-respiratory-distress-syndrome-ards-day-2.jpg"),
    ("16660_5_1.jpg", "covid-19-rapidly-progressive-acute-respiratory-distress-syndrome-ards-day-3.jpg"),
    ("353889E0-A1E8-4F9E-A0B8-F24F36BCFBFB.jpeg", "case_72_RX-TORACE1.jpg"),
    ("A7E260CE-8A00-4C5F-A7F5-27336527A981.jpeg", "case_76_1-3.png"),
)
# Source: found by the check below (one film of one patient under two case ids).
FOUND_DUPLICATE_FILES = (("AR-1.jpg", "extubation-1.jpg"), ("AR-2.jpg", "extubation-1.jpg"))
KNOWN_DUPLICATE_FILES = DOCUMENTED_DUPLICATE_FILES + FOUND_DUPLICATE_FILES
# Pairs of patient ids that are one patient: 285/339 and 287/340 share image files in metadata.csv
# (the data set's own documentation); 321/322 were found by the check below: one article's figure 4,
# panels A-C, shows one 75-year-old patient on days 0, 4 and 6 (the same clinical notes), filed under
# two ids.
KNOWN_SAME_PATIENTS = (("285", "339"), ("287", "340"), ("321", "322"))

THUMB = 32                # thumbnail side, pixels
MIN_SIDE = 16             # images smaller than this carry too little structure for the near check
THUMB_BLUR = 2.0          # the structure kept is thumbnail - gaussian_filter(thumbnail, THUMB_BLUR)
NEAR_DUPLICATE_R = 0.85   # measured on the real data: docs/design.md, "Duplicates across patient ids"


def thumbnails(images):
    """Unit-norm structure vectors (N, THUMB**2) float32 of images (N, H, W, 1) float or uint8.

    The image is resized to THUMB x THUMB, its blurred copy subtracted (what every chest film shares,
    the bright mediastinum and dark lungs, is mostly low-frequency), the mean removed, the norm set to 1.
    """
    t = resize(images, THUMB)[..., 0]
    t = t - gaussian_filter(t, sigma=(0, THUMB_BLUR, THUMB_BLUR), mode="nearest")
    t = t.reshape(len(t), -1)
    t -= t.mean(axis=1, keepdims=True)
    return (t / (np.linalg.norm(t, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def near_pairs(thumbs, patients, threshold=NEAR_DUPLICATE_R, chunk=1024):
    """[(i, j, r)] with i < j, different patients, correlation r >= threshold. thumbs (N, D) unit rows."""
    out = []
    for a in range(0, len(thumbs), chunk):
        r = thumbs[a:a + chunk] @ thumbs.T                                   # (chunk, N)
        i, j = np.nonzero(r >= threshold)
        i = i + a
        keep = (i < j) & (patients[i] != patients[j])
        out += [(int(p), int(q), float(r[p - a, q])) for p, q in zip(i[keep], j[keep])]
    return out


def _by_files(ds):
    return lambda item: (ds.files[item[0][0]], ds.files[item[0][1]])


def find_duplicates(ds, near=True):
    """Cross-patient duplicate pairs of a Dataset, within each class.

    near: also look for near-duplicates (off for the synthetic pools: their patients are drawn
    independently, so they have none, and phantoms share one anatomy template, so their thumbnails
    correlate far above real films').

    Returns a list of dicts {"files": [a, b], "patients": [pa, pb], "reason": str, "index": (i, j)},
    sorted by file names; "index" holds positions in ``ds`` (not JSON-written by callers).
    """
    pairs = {}

    def add(i, j, reason):
        i, j = sorted((int(i), int(j)))
        if ds.patients[i] != ds.patients[j] and ds.labels[i] == ds.labels[j]:
            pairs.setdefault((i, j), reason)

    names = {}
    for k, f in enumerate(ds.files):
        names.setdefault(str(f).rsplit("/", 1)[-1], []).append(k)
    for listed, source in ((DOCUMENTED_DUPLICATE_FILES, "the data set's documentation"),
                           (FOUND_DUPLICATE_FILES, "found by the near-duplicate check")):
        for a, b in listed:
            for i in names.get(a, []):
                for j in names.get(b, []):
                    add(i, j, f"known duplicate ({source})")
    for a, b in KNOWN_SAME_PATIENTS:
        ia, ib = np.flatnonzero(ds.patients == a), np.flatnonzero(ds.patients == b)
        if len(ia) and len(ib):
            add(ia[0], ib[0], f"patient ids {a} and {b} are listed as one patient")
    for c in np.unique(ds.labels):
        idx = np.flatnonzero(ds.labels == c)
        first = {}
        for k in idx:
            h = hashlib.sha1(np.ascontiguousarray(ds.images[k]).tobytes()).hexdigest()
            if h in first:
                add(first[h], k, "identical pixels")
            first.setdefault(h, k)
        if near and min(ds.images.shape[1:3]) >= MIN_SIDE:
            for i, j, r in near_pairs(thumbnails(ds.hires[idx]), ds.patients[idx]):
                add(idx[i], idx[j], f"near-duplicate, thumbnail correlation {r:.3f}")
    return [{"files": [str(ds.files[i]), str(ds.files[j])],
             "patients": [str(ds.patients[i]), str(ds.patients[j])], "reason": reason, "index": (i, j)}
            for (i, j), reason in sorted(pairs.items(), key=_by_files(ds))]
