"""Pictures of a run: 8-bit images, labelled sample grids and the loss curves (Pillow, matplotlib).

Every file is written with ``fileio.atomic_write``, so a full disk never leaves a 0-byte or half
PNG behind.
"""
import io
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from .rundir import read_metrics


def to_uint8(images):
    """Floats in [0, 1] (any shape) -> uint8 in [0, 255] (rounded, clipped); the package's one conversion."""
    return np.round(np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0) * 255).astype(np.uint8)


def save_png(path, image, title=None):
    """Write an 8-bit grayscale (H, W) or (H, W, 1) image as a PNG, atomically; ``title`` goes into
    the PNG's "Title" text field."""
    from PIL import Image, PngImagePlugin

    if not isinstance(image, Image.Image):
        image = np.asarray(image)
        image = Image.fromarray(image[..., 0] if image.ndim == 3 else image)
    info = PngImagePlugin.PngInfo()
    if title:
        info.add_text("Title", title)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def image_grid(images, ncols):
    """(N, S, S, 1) floats in [0, 1] -> (rows*(S+1)+1, ncols*(S+1)+1) uint8 grid with 1-px borders."""
    tiles = to_uint8(np.asarray(images)[..., 0])
    n, s = tiles.shape[0], tiles.shape[1]
    nrows = -(-n // ncols)
    grid = np.full((nrows * (s + 1) + 1, ncols * (s + 1) + 1), 255, dtype=np.uint8)
    for idx in range(n):  # a loop over tiles (at most a few dozen), not pixels
        r, c = divmod(idx, ncols)
        grid[1 + r * (s + 1):1 + r * (s + 1) + s, 1 + c * (s + 1):1 + c * (s + 1) + s] = tiles[idx]
    return grid


def save_sample_grid(path, panels, title=None, ncols=6, min_width=256):
    """Save one PNG with labelled panels side by side, under an optional title line.

    ``panels``: list of (label, images (N, S, S, 1) in [0, 1]); each panel is a grid of ``ncols``
    columns, upscaled (nearest) to at least ``min_width`` px. ``title`` (e.g. "finetune, epoch 2 of
    2") is drawn above the panels and stored in the PNG's "Title" field.
    """
    from PIL import Image, ImageDraw

    grids = [image_grid(images, ncols) for _, images in panels]
    scale = max(1, -(-min_width // grids[0].shape[1]))
    grids = [np.kron(g, np.ones((scale, scale), dtype=np.uint8)) for g in grids]
    line, gap = 14, 8
    header = line * (2 if title else 1)
    h = max(g.shape[0] for g in grids) + header
    w = sum(g.shape[1] for g in grids) + gap * (len(grids) - 1)
    canvas = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((2, 1), title, fill=0)
    x = 0
    for (label, _), g in zip(panels, grids):
        canvas.paste(Image.fromarray(g), (x, header))
        draw.text((x + 2, header - line + 1), label, fill=0)
        x += g.shape[1] + gap
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_png(path, canvas, title)


def plot_losses(metrics_csv, png_path):
    """Draw losses and mean D outputs against the iteration count, one colour band per stage."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = read_metrics(metrics_csv)
    if len(cols["stage"]) == 0:
        return
    x = np.arange(1, len(cols["stage"]) + 1)
    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    window = max(1, len(x) // 100)
    kernel = np.ones(window) / window
    for ax, keys, ylabel in ((axes[0], ("d_loss", "g_loss"), "loss (BCE)"),
                             (axes[1], ("d_real", "d_fake"), "mean D output")):
        for k in keys:
            ax.plot(x, cols[k], alpha=0.25, lw=0.8)
            if len(x) >= window:
                smooth = np.convolve(cols[k], kernel, mode="valid")
                ax.plot(x[window - 1:], smooth, lw=1.5, label=k, color=ax.lines[-1].get_color())
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        start = 0
        for stage in dict.fromkeys(cols["stage"]):  # stage names in order of appearance
            n = int(np.sum(cols["stage"] == stage))
            ax.axvspan(start + 0.5, start + n + 0.5, alpha=0.06, color="C2" if stage == "pretrain" else "C3")
            if ax is axes[0]:
                ax.text(start + 1, ax.get_ylim()[1], stage, va="top", fontsize=8)
            start += n
    axes[1].set_xlabel("iteration (all stages)")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=90)
    plt.close(fig)
    atomic_write(png_path, lambda f: f.write(out.getvalue()))
