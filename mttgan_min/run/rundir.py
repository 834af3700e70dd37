"""The run directory: what a training run leaves on disk, and how it is written.

    RUN/config.json          every setting needed to repeat the run (+ version, git commit)
    RUN/manifest.json        the data split (which files trained, which are held out)
    RUN/metrics.csv          one row per iteration: stage (pretrain/finetune, or train for the
                             baseline), epoch (1-based), iteration (1-based count within the stage),
                             d_loss, g_loss, d_real (mean D(real)), d_fake (mean D(fake)),
                             seconds (wall time of that iteration)
    RUN/loss_curves.png      the losses and D outputs against iterations (matplotlib Agg)
    RUN/diversity.csv, .png  spread ratio and near-duplicate rate of the samples after every epoch
                             (mttgan_min.run.diversity_log)
    RUN/samples/<stage>_e<epoch>.png   the fixed latent batch through G after every epoch
                             (student | teacher side by side during MTT fine-tuning)
    RUN/fixed_latent.npy     the fixed latent batch of the sample grids (also in every checkpoint)
    RUN/checkpoint.npz       the latest checkpoint (mttgan_min.run.checkpoint), rewritten atomically
                             at the end of every epoch and when the run is stopped
    RUN/pretrained.npz       G and D after the pretraining stage (for --pretrained)
    RUN/generator.npz        the final generator (teacher G for mtt, else the student)
"""
import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..fileio import atomic_write

METRIC_FIELDS = ("stage", "epoch", "iteration", "d_loss", "g_loss", "d_real", "d_fake", "seconds")


class RunDirError(Exception):
    """The run directory cannot be used; the message is one sentence."""


def git_commit():
    """The commit of the source tree this package runs from, or None when unknown."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    if out.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def prepare_run_dir(path, needed_bytes):
    """Create ``path`` and prove it is writable and has room; raise RunDirError otherwise.

    ``needed_bytes``: a generous estimate of what the run will write (mostly
    checkpoints, which exist twice while one is being replaced).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"0" * 4096)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as err:
        raise RunDirError(f"cannot write to {path}: {err.strerror or err}.")
    free = shutil.disk_usage(path).free
    if free < needed_bytes:
        raise RunDirError(f"{path} has {free / 2**20:.0f} MiB free but this run needs about "
                          f"{needed_bytes / 2**20:.0f} MiB for its checkpoints and samples.")
    return path


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path):
    with open(path) as f:
        return json.load(f)


class MetricsLog:
    """Append-only ``metrics.csv`` that survives interruption.

    ``keep_rows``: on resume, the number of data rows the checkpoint knows
    about; rows written after that checkpoint (by an iteration that is going to
    be repeated) are dropped so the file matches an uninterrupted run.
    """

    def __init__(self, path, keep_rows=0):
        self.path = Path(path)
        rows = []
        if keep_rows and self.path.exists():
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))[:keep_rows]
        self.rows = len(rows)
        self.file = open(self.path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=METRIC_FIELDS)
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def append(self, stage, epoch, iteration, metrics, seconds):
        row = {"stage": stage, "epoch": epoch, "iteration": iteration, "seconds": f"{seconds:.4f}"}
        row.update({k: f"{metrics[k]:.6g}" for k in ("d_loss", "g_loss", "d_real", "d_fake")})
        self.writer.writerow(row)
        self.file.flush()
        self.rows += 1

    def close(self):
        self.file.close()


def read_metrics(path):
    """metrics.csv -> dict of columns (NumPy arrays; 'stage' as str)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {k: np.array([r[k] for r in rows]) for k in METRIC_FIELDS}
    for k in METRIC_FIELDS[1:]:
        cols[k] = cols[k].astype(float)
    return cols


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


def image_grid(images, ncols):
    """(N, S, S, 1) floats in [0, 1] -> (rows*(S+1)+1, ncols*(S+1)+1) uint8 grid with 1-px borders."""
    images = np.clip(np.asarray(images, dtype=np.float32)[..., 0], 0.0, 1.0)
    n, s = images.shape[0], images.shape[1]
    nrows = -(-n // ncols)
    grid = np.full((nrows * (s + 1) + 1, ncols * (s + 1) + 1), 255, dtype=np.uint8)
    for idx in range(n):  # a loop over tiles (at most a few dozen), not pixels
        r, c = divmod(idx, ncols)
        grid[1 + r * (s + 1):1 + r * (s + 1) + s, 1 + c * (s + 1):1 + c * (s + 1) + s] = \
            np.round(images[idx] * 255).astype(np.uint8)
    return grid


def save_sample_grid(path, panels, ncols=6, min_width=256):
    """Save one PNG with labelled panels side by side.

    ``panels``: list of (label, images (N, S, S, 1) in [0, 1]); each panel is a
    grid of ``ncols`` columns, upscaled (nearest) to at least ``min_width`` px.
    """
    from PIL import Image, ImageDraw

    grids = [image_grid(images, ncols) for _, images in panels]
    scale = max(1, -(-min_width // grids[0].shape[1]))
    grids = [np.kron(g, np.ones((scale, scale), dtype=np.uint8)) for g in grids]
    header, gap = 14, 8
    h = max(g.shape[0] for g in grids) + header
    w = sum(g.shape[1] for g in grids) + gap * (len(grids) - 1)
    canvas = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(canvas)
    x = 0
    for (label, _), g in zip(panels, grids):
        canvas.paste(Image.fromarray(g), (x, header))
        draw.text((x + 2, 1), label, fill=0)
        x += g.shape[1] + gap
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
