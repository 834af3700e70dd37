"""Soft augmentation (SPEC "Data", paper Sec. III): random crops of 0-5% per side, resized back to S.

Each crop removes an independent U(0, max_frac) fraction of the height from the top and from the bottom
and of the width from the left and from the right, then resamples the box bilinearly to S x S. There is
never a horizontal flip: the heart would change sides.

SPEC decision: crops are drawn afresh each epoch; an epoch is ``factor x N`` crops, of which
``iterations_per_epoch`` batches of ``batch_size // 2`` real crops are used (the other half of each GAN
minibatch is generated). Paper: 5,649 Kaggle training images x 5 // 32 = 882-883 iterations per epoch.
"""
import numpy as np

from ..backend import get_array_module


def random_crop_boxes(n, rng, max_frac=0.05):
    """Crop fractions, float64 (n, 4): (top, bottom, left, right), each U(0, max_frac), from ``rng``."""
    return rng.uniform(0.0, max_frac, size=(n, 4))


def crop_and_resize(images, boxes):
    """Cut box i out of image i and resample it bilinearly to the image's size.

    images: (N, H, W, C) float array (NumPy or CuPy).  boxes: (N, 4) fractions (top, bottom, left, right).
    Returns float32 (N, H, W, C). A zero box returns the image unchanged. Pixel centres are aligned: output
    pixel k samples the box at (k + 0.5) / H of its height. One gather per corner, no loop over images.
    """
    xp = get_array_module(images)
    N, H, W, _ = images.shape
    b = xp.asarray(boxes, dtype=xp.float32)
    top, bottom, left, right = (b[:, i:i + 1] for i in range(4))               # each (N, 1)
    ky = (xp.arange(H, dtype=xp.float32) + 0.5) / H                             # (H,)
    kx = (xp.arange(W, dtype=xp.float32) + 0.5) / W
    y = (top + ky * (1 - top - bottom)) * H - 0.5                               # (N, H) source rows
    x = (left + kx * (1 - left - right)) * W - 0.5                              # (N, W) source columns
    y0, x0 = xp.floor(y), xp.floor(x)
    wy, wx = (y - y0)[:, :, None, None], (x - x0)[:, None, :, None]
    y0, x0 = y0.astype(xp.int64), x0.astype(xp.int64)
    ya, yb = xp.clip(y0, 0, H - 1)[:, :, None], xp.clip(y0 + 1, 0, H - 1)[:, :, None]   # (N, H, 1)
    xa, xb = xp.clip(x0, 0, W - 1)[:, None, :], xp.clip(x0 + 1, 0, W - 1)[:, None, :]   # (N, 1, W)
    n = xp.arange(N)[:, None, None]
    img = images.astype(xp.float32, copy=False)
    out = ((1 - wy) * ((1 - wx) * img[n, ya, xa] + wx * img[n, ya, xb])
           + wy * ((1 - wx) * img[n, yb, xa] + wx * img[n, yb, xb]))
    return out.astype(xp.float32, copy=False)


def iterations_per_epoch(n_images, factor, batch_size=32):
    """Minibatches per epoch: (n_images * factor) // batch_size (SPEC "Scale": 883 per Kaggle epoch)."""
    return (int(n_images) * int(factor)) // int(batch_size)


def epoch_real_batches(images, factor, batch_size, rng, max_frac=0.05):
    """Yield the real halves of one epoch's minibatches.

    images: (N, S, S, 1) float32 (NumPy or CuPy).  factor: crops per image per epoch (1 = no crop).
    rng: numpy Generator; each call draws fresh crops. Yields iterations_per_epoch(N, factor, batch_size)
    arrays of shape (batch_size // 2, S, S, 1), float32, drawn without replacement from the epoch's
    factor x N crops.
    """
    xp = get_array_module(images)
    n, half = len(images), batch_size // 2
    source = np.repeat(np.arange(n), factor)                 # factor x N crops: image of each crop
    order = rng.permutation(len(source))
    boxes = random_crop_boxes(len(source), rng, max_frac) if factor > 1 else None
    for i in range(iterations_per_epoch(n, factor, batch_size)):
        pick = order[i * half:(i + 1) * half]
        batch = images[xp.asarray(source[pick])]
        yield crop_and_resize(batch, boxes[pick]) if boxes is not None else batch.astype(xp.float32)
