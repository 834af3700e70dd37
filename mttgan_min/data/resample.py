"""Antialiased resampling of a box of each image to S x S, as two matrix multiplies per image.

The one resampler of the data layer: the soft-augmentation crops (augment.py), the plain resize of the
source-resolution copy to the training size, and the thumbnails of the duplicate check all use it.
See docs/design.md, "Crop, then resize".

Filter: the triangle ("bilinear") kernel, widened by the reduction factor when the box is larger than
the output (as Pillow's BILINEAR and ``tf.image.resize(antialias=True)`` do), so that shrinking averages
every source pixel instead of skipping some. Along one axis, output pixel k of a box [a, b) of the
source (in source pixels) is centred at c_k = a + (k + 0.5) (b - a) / S and weighs source pixel j by
max(0, 1 - |j + 0.5 - c_k| / f), f = max((b - a) / S, 1); each row of weights is normalised to sum 1.
Rows and columns are separable, so an image is  Wy @ image @ Wx^T.
"""
from ..backend import get_array_module


def resample_weights(start, stop, n_in, n_out, xp):
    """Weights (N, n_out, n_in) float32 that resample the spans [start, stop) (each (N,), in source
    pixels) of an axis of length n_in to n_out pixels. Rows sum to 1."""
    start = xp.asarray(start, dtype=xp.float32)[:, None, None]
    stop = xp.asarray(stop, dtype=xp.float32)[:, None, None]
    scale = (stop - start) / n_out                                           # (N, 1, 1)
    centre = start + (xp.arange(n_out, dtype=xp.float32)[None, :, None] + 0.5) * scale
    support = xp.maximum(scale, 1.0)
    pixel = xp.arange(n_in, dtype=xp.float32)[None, None, :] + 0.5
    w = xp.maximum(0.0, 1.0 - xp.abs(pixel - centre) / support)              # (N, n_out, n_in)
    return w / w.sum(axis=2, keepdims=True)


def resize_boxes(images, boxes, size):
    """Cut box i out of image i and resample it to size x size with the antialiased triangle filter.

    images: (N, H, W, 1) float or uint8 array (NumPy or CuPy); uint8 is read as value / 255.
    boxes:  (N, 4) fractions of the image cut from (top, bottom, left, right), or (1, 4) for all.
    Returns float32 (N, size, size, 1). With zero boxes and size == H == W it returns the images.
    """
    xp = get_array_module(images)
    N, H, W, _ = images.shape
    img = images[..., 0].astype(xp.float32)
    if images.dtype == xp.uint8:
        img *= xp.float32(1.0 / 255.0)
    b = xp.asarray(boxes, dtype=xp.float32)
    wy = resample_weights(b[:, 0] * H, (1 - b[:, 1]) * H, H, size, xp)      # (N, size, H)
    wx = resample_weights(b[:, 2] * W, (1 - b[:, 3]) * W, W, size, xp)      # (N, size, W)
    out = xp.matmul(xp.matmul(wy, img), wx.transpose(0, 2, 1))               # (N, size, size)
    return out[..., None]


def resize(images, size, chunk=512):
    """Every image resized whole to size x size (float32 (N, size, size, 1)), in chunks of images."""
    xp = get_array_module(images)
    out = xp.empty((len(images), size, size, 1), dtype=xp.float32)
    for i in range(0, len(images), chunk):
        part = images[i:i + chunk]
        out[i:i + chunk] = resize_boxes(part, xp.zeros((1, 4), dtype=xp.float32), size)
    return out
