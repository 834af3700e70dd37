"""How varied a generator's samples are, against the real images it learned from.

Two numbers catch mode collapse (a generator that draws one image for every latent):

- the *spread ratio*: mean pairwise L2 distance among N generated images divided by the same among
  N real images (1 for samples as varied as the data, near 0 for a collapsed generator);
- the *near-duplicate rate*: the fraction of generated pairs closer than the 1st percentile of real
  pairs (about 0.01 for samples like the data, near 1 when every sample is the same image).

Images are compared as flat vectors of pixels in [0, 1]; inputs are NumPy arrays (N, H, W, C).
"""
import numpy as np


def pairwise_distances(a, b=None):
    """L2 distances between images. a (N, ...), b (M, ...) or None -> (N, M) (or (N, N) for a with a)."""
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = a if b is None else np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0))


def _pairs(images):
    """The N(N-1)/2 distances between distinct images of one set, (N, ...) -> (N(N-1)/2,)."""
    d = pairwise_distances(images)
    return d[np.triu_indices(len(images), k=1)]


def diversity(generated, real, near_percentile=1.0):
    """Spread ratio and near-duplicate rate of ``generated`` (N, H, W, C) against ``real`` (M, H, W, C).

    Returns a dict of floats: spread_ratio, near_duplicate_rate, generated_mean_distance,
    real_mean_distance and near_threshold (the real pairs' ``near_percentile``-th percentile).
    """
    if len(generated) < 2 or len(real) < 2:
        raise ValueError("diversity needs at least 2 generated and 2 real images")
    gen_pairs, real_pairs = _pairs(generated), _pairs(real)
    threshold = float(np.percentile(real_pairs, near_percentile))
    real_mean = float(real_pairs.mean())
    return {
        "spread_ratio": float(gen_pairs.mean() / real_mean) if real_mean > 0 else float("nan"),
        "near_duplicate_rate": float((gen_pairs < threshold).mean()),
        "generated_mean_distance": float(gen_pairs.mean()),
        "real_mean_distance": real_mean,
        "near_threshold": threshold,
    }
