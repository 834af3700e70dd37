"""How varied a generator's samples are, against the real images it learned from.

Two numbers catch mode collapse (a generator that draws one image for every latent):

- the *spread ratio*: mean pairwise L2 distance among N generated images divided by the same among
  N real images (1 for samples as varied as the data, near 0 for a collapsed generator);
- the *near-duplicate rate*: the fraction of generated pairs closer than the 1st percentile of real
  pairs (about 0.01 for samples like the data, near 1 when every sample is the same image).

Both are also taken on a coarse copy of every image, the means of its 4 x 4 pixel blocks (8 x 8 at
32 px): the *layout* figures. Per-pixel grain alone, one picture drawn again and again with fresh
noise, scores a high spread and few near-duplicates at full resolution, since noise makes every pair
distant; the block means average the grain away and leave the one picture. A generator is varied when
both the pixel and the layout figures say so (docs/design.md, "Diversity after every epoch").

Images are compared as flat vectors of pixels in [0, 1]; inputs are NumPy arrays (N, H, W, C).
"""
import numpy as np

BLOCK = 4  # pixels per side of the blocks averaged for the layout figures


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


def block_means(images, block=BLOCK):
    """(N, H, W, C) -> (N, H // block, W // block, C): the mean of every block x block tile.

    Rows and columns past the last whole block are left out.
    """
    images = np.asarray(images, dtype=np.float64)
    N, H, W, C = images.shape
    h, w = H // block, W // block
    return images[:, :h * block, :w * block].reshape(N, h, block, w, block, C).mean(axis=(2, 4))


def _spread_and_near(generated, real, near_percentile):
    gen_pairs, real_pairs = _pairs(generated), _pairs(real)
    threshold = float(np.percentile(real_pairs, near_percentile))
    real_mean = float(real_pairs.mean())
    spread = float(gen_pairs.mean() / real_mean) if real_mean > 0 else float("nan")
    return spread, float((gen_pairs < threshold).mean()), float(gen_pairs.mean()), real_mean, threshold


def diversity(generated, real, near_percentile=1.0, block=BLOCK):
    """Spread ratio and near-duplicate rate of ``generated`` (N, H, W, C) against ``real`` (M, H, W, C).

    Returns a dict of floats: spread_ratio, near_duplicate_rate, generated_mean_distance,
    real_mean_distance, near_threshold (the real pairs' ``near_percentile``-th percentile), and the
    first two again on ``block_means`` of both sets: layout_spread_ratio, layout_near_duplicate_rate.
    """
    if len(generated) < 2 or len(real) < 2:
        raise ValueError("diversity needs at least 2 generated and 2 real images")
    spread, near, gen_mean, real_mean, threshold = _spread_and_near(generated, real, near_percentile)
    layout_spread, layout_near = _spread_and_near(block_means(generated, block), block_means(real, block),
                                                  near_percentile)[:2]
    return {
        "spread_ratio": spread,
        "near_duplicate_rate": near,
        "generated_mean_distance": gen_mean,
        "real_mean_distance": real_mean,
        "near_threshold": threshold,
        "layout_spread_ratio": layout_spread,
        "layout_near_duplicate_rate": layout_near,
    }
