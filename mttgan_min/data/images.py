"""Decode one image file into an 8-bit gray square array (docs/design.md, "Decoding": RGB, RGBA and
16-bit inputs become 8-bit gray first).

Decisions, made once here for every loader:
- Colour (RGB, CMYK, YCbCr, HSV, P palettes): Pillow's ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B.
- Alpha (RGBA, LA, PA, P with transparency): ignored, i.e. dropped, not composited; the colour under a
  transparent pixel is kept.
- 16-bit and 32-bit integer ("I;16*", "I") and float ("F") images: rescaled by their actual range,
  (x - min) / (max - min) * 255, rounded; a constant image becomes 0. (Medical 16-bit PNGs often use
  only 10-12 of the 16 bits, so dividing by the bit depth would leave them nearly black.)
- "1" (bilevel): 0 or 255.
- Resize: straight to R x R, the source-resolution copy (R = 1.25 S, see dataset.source_size; square,
  aspect ratio not kept, as the paper's Keras pipeline and the 224 x 224 Kaggle copies do) with Pillow's
  LANCZOS filter, which antialiases when shrinking. JPEGs are first decoded at a reduced DCT scale
  (``Image.draft``) no smaller than 2 R, which makes full-resolution Kaggle files several times faster to
  decode and does not change the result visibly.
- An image whose shorter side is below S is skipped with a reason naming its size; one between S and R
  is enlarged to R (at most 1.25x; the crop-and-resize then shrinks it again to S).
- Very large images (Pillow's "decompression bomb" warning, above about 89 megapixels) are decoded
  without the warning: a JPEG is read at 1/8 scale by ``draft`` anyway, and dropping a real film would
  lose data; above twice that limit Pillow refuses and the file is skipped with that reason.
"""
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

RESAMPLE = Image.Resampling.LANCZOS


class BadImage(Exception):
    """A file that cannot be used; str(err) is the reason shown in the summary."""


def to_gray8(im):
    """Any Pillow image -> mode "L" image of the same size (see the module docstring for the rules)."""
    mode = im.mode
    if mode == "L":
        return im
    if mode in ("I", "F") or mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        return Image.fromarray(np.round(a).astype(np.uint8), mode="L")
    if mode in ("LA", "La", "1"):
        return im.getchannel(0).convert("L")            # gray channel; alpha dropped
    if mode == "LAB":
        return im.getchannel(0)                         # lightness
    return im.convert("RGB").convert("L")               # P, PA, RGB(A/a/X), CMYK, YCbCr, HSV


def decode_file(path, size, min_side=None):
    """Read ``path`` -> uint8 (size, size) gray array. Raises BadImage with a one-line reason.

    min_side: skip an image whose shorter side is below it (default ``size``).
    """
    min_side = size if min_side is None else min_side
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if min(w, h) < min_side:
                    raise BadImage(f"smaller than the target size: {w}x{h} px, shorter side below "
                                   f"{min_side} px")
                if im.format == "JPEG":
                    im.draft(im.mode if im.mode in ("L", "RGB") else None, (2 * size, 2 * size))
                im.load()
                gray = to_gray8(im).resize((size, size), RESAMPLE)
                return np.asarray(gray, dtype=np.uint8)
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image Pillow can read (empty, non-image or unknown format)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise BadImage(f"unreadable image: {first}") from None
