"""Soft augmentation (paper Sec. III): random crops of 0-5% per side, then a resize to S x S.

Each crop removes an independent U(0, max_frac) fraction of the height from the top and from the bottom
and of the width from the left and from the right of the image at its source resolution (a copy kept at
R = 1.25 S, see ``dataset.source_size``), then resizes the box to S x S with the antialiased filter of
resample.py (docs/design.md, "Crop, then resize"). There is never a horizontal flip: the heart would
change sides.

Crops are drawn afresh each epoch; an epoch is ``factor x N`` crops, of which ``iterations_per_epoch``
batches of ``batch_size // 2`` real crops are used (the other half of each GAN minibatch is generated).
Paper: 5,652 Kaggle training images x 5 // 32 = 883 iterations per epoch (docs/design.md, "Epoch length
and soft augmentation").
"""
import numpy as np

from ..backend import get_array_module
from .resample import resize_boxes


def random_crop_boxes(n, rng, max_frac=0.05):
    """Crop fractions, float64 (n, 4): (top, bottom, left, right), each U(0, max_frac), from ``rng``."""
    return rng.uniform(0.0, max_frac, size=(n, 4))


def crop_and_resize(images, boxes, size=None):
    """Cut box i out of image i and resize it to size x size (default: the images' own size).

    images: (N, H, W, 1) float in [0, 1] or uint8 (NumPy or CuPy).  boxes: (N, 4) fractions (top, bottom,
    left, right). Returns float32 (N, size, size, 1). Antialiased (triangle filter widened by the
    reduction); two batched matrix multiplies, no loop over images.
    """
    return resize_boxes(images, boxes, images.shape[1] if size is None else int(size))


def iterations_per_epoch(n_images, factor, batch_size=32):
    """Minibatches per epoch: (n_images * factor) // batch_size (883 per paper Kaggle epoch)."""
    return (int(n_images) * int(factor)) // int(batch_size)


def epoch_real_batches(images, factor, batch_size, rng, max_frac=0.05, size=None):
    """Yield the real halves of one epoch's minibatches.

    images: (N, R, R, 1) the crop source, float32 in [0, 1] or uint8 (NumPy or CuPy), e.g. Dataset.hires.
    factor: crops per image per epoch (1 = no crop: each image resized whole).  size: S of the output
    (default R).  rng: numpy Generator; each call draws fresh crops. Yields iterations_per_epoch(N, factor,
    batch_size) arrays of shape (batch_size // 2, S, S, 1), float32, drawn without replacement from the
    epoch's factor x N crops.
    """
    xp = get_array_module(images)
    n, half = len(images), batch_size // 2
    size = images.shape[1] if size is None else int(size)
    source = np.repeat(np.arange(n), factor)                 # factor x N crops: image of each crop
    order = rng.permutation(len(source))
    boxes = random_crop_boxes(len(source), rng, max_frac) if factor > 1 else None
    for i in range(iterations_per_epoch(n, factor, batch_size)):
        pick = order[i * half:(i + 1) * half]
        batch = images[xp.asarray(source[pick])]
        yield crop_and_resize(batch, boxes[pick] if boxes is not None else np.zeros((1, 4)), size)
