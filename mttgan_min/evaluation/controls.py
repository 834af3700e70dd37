"""Controls a careful reader of Tables I and II asks for (docs/design.md, "Evaluation controls").

- **Pixel shortcut**: a multinomial logistic regression on the 4x4 or 8x8 mean-pooled image (16 or 64
  numbers). If it scores as high as VGG-19 on the test set, the task can be solved without looking
  at the lungs: the Kaggle films are paediatric, the COVID films mostly adult, and their size,
  exposure and framing differ. Loss and gradient are written here; SciPy's L-BFGS minimises them.
- **Adult non-COVID probe**: the frontal X-rays of the covid-chestxray-dataset whose finding is not
  COVID-19 (SARS, streptococcus, "No Finding", ...). A binary classifier that learned "adult film"
  instead of "COVID" calls most of them COVID; ``covid_call_rate`` gives that fraction with its interval.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize

from ..data.covid import VIEWS, read_metadata, resolve_covid_dir, rows_to_dataset, select_rows
from ..losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from . import stats
from .diversity import block_means


def pool_pixels(images, grid):
    """The pixel model's features: the means of grid x grid blocks of every image (``block_means``),
    (N, S, S, C) -> (N, grid*grid*C) float64. S must be a multiple of ``grid`` (32, 64, 128 px: 4 or 8)."""
    N, H, W, C = np.shape(images)
    if H % grid or W != H:
        raise ValueError(f"cannot pool {H}x{W} images into a {grid}x{grid} grid of equal square blocks")
    return block_means(images, H // grid).reshape(N, -1)


def softmax_cross_entropy(theta, x, y, n_classes, l2):
    """Mean softmax cross-entropy of a linear model (``losses.softmax_cross_entropy_forward``) plus
    (l2 / 2) ||W||^2, and its gradient: the objective L-BFGS minimises.

    theta: flat (D*K + K,) = W (D, K) then b (K,); x (N, D); y int (N,). Returns (loss, dtheta).
    """
    D = x.shape[1]
    W, b = theta[:D * n_classes].reshape(D, n_classes), theta[D * n_classes:]
    loss, cache = softmax_cross_entropy_forward(x @ W + b, y)
    dz = softmax_cross_entropy_backward(cache)
    return loss + 0.5 * l2 * np.sum(W * W), np.concatenate([(x.T @ dz + l2 * W).ravel(), dz.sum(axis=0)])


@dataclass
class PixelLogistic:
    """A fitted pixel-logistic model: standardised pooled pixels -> K class scores."""
    W: np.ndarray      # (D, K)
    b: np.ndarray      # (K,)
    mean: np.ndarray   # (D,) feature means of the training set
    std: np.ndarray    # (D,) feature standard deviations (1 where a feature is constant)
    grid: int

    def scores(self, images):
        """Logits (N, K)."""
        return ((pool_pixels(images, self.grid) - self.mean) / self.std) @ self.W + self.b

    def predict_proba(self, images):
        """Class probabilities (N, K)."""
        z = self.scores(images)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, images):
        """Most likely class (N,) int."""
        return np.argmax(self.scores(images), axis=1)


def fit_pixel_logistic(images, labels, n_classes=None, grid=4, l2=1e-3, max_iter=500):
    """Fit the pixel-logistic model on images (N, S, S, C) and int labels (N,) with L-BFGS.

    n_classes defaults to labels.max() + 1 (two classes give the ordinary logistic regression,
    written as a two-way softmax). l2 is the weight penalty on the standardised features.
    """
    y = np.asarray(labels, dtype=int)
    K = int(y.max()) + 1 if n_classes is None else int(n_classes)
    x = pool_pixels(images, grid)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x = (x - mean) / std
    D = x.shape[1]
    res = optimize.minimize(softmax_cross_entropy, np.zeros(D * K + K), args=(x, y, K, l2), jac=True,
                            method="L-BFGS-B", options={"maxiter": max_iter})
    return PixelLogistic(res.x[:D * K].reshape(D, K), res.x[D * K:], mean, std, grid)


def pixel_shortcut(train_x, train_y, test_x, pool, n_classes=None, l2=1e-3):
    """Train the pixel-logistic model on (train_x, train_y) with ``pool`` x ``pool`` pooling; test_x -> y_pred (n,)."""
    return fit_pixel_logistic(train_x, train_y, n_classes, grid=pool, l2=l2).predict(test_x)


def select_probe_rows(rows, exclude_files=()):
    """The probe's rows of metadata.csv: X-ray, frontal (PA, AP, AP Supine), finding without "COVID-19".

    A file that any COVID-19 row names, a file in ``exclude_files`` (paths like "images/<name>") and a
    second row for one file are left out. Returns (kept [(relpath, patient, view, finding, age)], skipped).
    """
    covid_kept, covid_skipped, _ = select_rows(rows)
    taken = {k[0] for k in covid_kept} | {s[0] for s in covid_skipped} | set(map(str, exclude_files))
    kept, skipped, seen = [], [], set()
    for r in rows:
        if "COVID-19" in r["finding"] or r["modality"].strip() != "X-ray" or r["view"].strip() not in VIEWS:
            continue
        rel = f"{(r.get('folder') or 'images').strip()}/{r['filename'].strip()}"
        if rel in taken or rel in seen:
            skipped.append((rel, "in a training set or a COVID-19 row" if rel in taken else
                            "second metadata row for this file"))
            continue
        seen.add(rel)
        kept.append((rel, r["patientid"].strip(), r["view"].strip(), r["finding"].strip(),
                     (r.get("age") or "").strip()))
    return kept, skipped


def load_adult_probe_dataset(covid_dir, size, exclude_files=(), cache_dir=None, progress=True):
    """The probe images as a Dataset: float32 (M, S, S, 1) in [0, 1], labels "not_covid",
    meta["view"], meta["finding"], meta["age"] (as printed in metadata.csv, "" when unknown)."""
    root = resolve_covid_dir(covid_dir)
    kept, skipped = select_probe_rows(read_metadata(root), exclude_files)
    return rows_to_dataset(root, kept, skipped, size, "not_covid", {"view": 2, "finding": 3, "age": 4},
                           cache_dir, progress, "non-COVID probe")


def load_adult_probe(covid_dir, size, exclude_files=(), cache_dir=None, progress=True):
    """Probe images (M, S, S, 1) float32, or None when ``covid_dir`` is None (synthetic data has no
    adult non-COVID films)."""
    if covid_dir is None:
        return None
    return load_adult_probe_dataset(Path(covid_dir), size, exclude_files, cache_dir, progress).images


def covid_call_rate(y_pred, covid_index):
    """Fraction of probe images called COVID: {"k", "n", "value", "low", "high"} (exact interval)."""
    y_pred = np.asarray(y_pred, dtype=int)
    return stats.proportion(int(np.sum(y_pred == covid_index)), len(y_pred))
