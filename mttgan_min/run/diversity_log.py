"""How varied the samples are after every epoch: ``RUN/diversity.csv`` and ``RUN/diversity.png``.

At the end of every epoch, N_SAMPLES images of each generator (the student G, and the teacher G
during MTT-GAN fine-tuning), drawn in inference mode from a fixed latent set, are compared with up to
N_REAL images of the stage's real pool (``mttgan_min.evaluation.diversity``): the spread ratio (mean
pairwise distance, generated / real; about 1 for samples as varied as the data, near 0 when the
generator collapses) and the near-duplicate rate (fraction of generated pairs closer than the closest
1% of real pairs; about 0.01 for varied samples, near 1 when collapsed).

    RUN/diversity.csv   stage, epoch, generator (student/teacher), spread_ratio, near_duplicate_rate,
                        layout_spread_ratio, layout_near_duplicate_rate (the same on 4 x 4 block
                        means, which average per-pixel grain away), seconds (time taken to measure);
                        one row per generator and epoch
    RUN/diversity.png   the numbers against the epoch (layout dashed), redrawn after every epoch

The file is rewritten atomically with the new rows replacing any earlier rows of the same stage, epoch
and generator, so an epoch repeated after an interruption is not counted twice.
"""
import csv
import io
import time
from pathlib import Path

import numpy as np

from ..evaluation.diversity import diversity
from ..fileio import atomic_write
from ..models import sample_latent

N_SAMPLES = 256      # generated images per generator and epoch
N_REAL = 256         # at most this many images of the real pool
LATENT_SEED = 20200925  # the fixed latents (and real subset) do not depend on the run's generators
MEASURES = ("spread_ratio", "near_duplicate_rate", "layout_spread_ratio", "layout_near_duplicate_rate")
FIELDS = ("stage", "epoch", "generator") + MEASURES + ("seconds",)


def fixed_inputs(real_pool, latent_dim, latent="normal"):
    """The measurement's fixed latents (N_SAMPLES, latent_dim) and real subset (<= N_REAL, S, S, 1)."""
    rng = np.random.default_rng(LATENT_SEED)
    z = sample_latent(rng, N_SAMPLES, latent_dim, latent, np.float32)
    pick = np.sort(rng.choice(len(real_pool), size=min(N_REAL, len(real_pool)), replace=False))
    return z, np.asarray(real_pool[pick])


def measure(generators, real_pool, generate, latent="normal"):
    """{name: diversity dict + seconds} for each (name, G) of ``generators``.

    generate(G, z) -> images (N, S, S, 1) NumPy in [0, 1], G in inference mode.
    """
    out = {}
    z, real = fixed_inputs(real_pool, generators[0][1].input_shape[0], latent)  # the same for every G
    for name, G in generators:
        t0 = time.perf_counter()
        out[name] = dict(diversity(generate(G, z), real), seconds=time.perf_counter() - t0)
    return out


def read_rows(path):
    """diversity.csv -> list of dicts (numbers as floats, epoch as int); [] when absent."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["epoch"] = int(r["epoch"])
        for k in MEASURES + ("seconds",):
            r[k] = float(r[k])
    return rows


def record(run, stage, epoch, results):
    """Add this epoch's ``results`` ({generator: measure dict}) to RUN/diversity.csv and redraw the plot."""
    run = Path(run)
    new = [dict({k: m[k] for k in MEASURES}, stage=stage, epoch=epoch, generator=name, seconds=m["seconds"])
           for name, m in results.items()]
    keys = {(r["stage"], r["epoch"], r["generator"]) for r in new}
    rows = [r for r in read_rows(run / "diversity.csv") if (r["stage"], r["epoch"], r["generator"]) not in keys]
    rows += new
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(dict(r, **{k: f"{r[k]:.4f}" for k in MEASURES}, seconds=f"{r['seconds']:.2f}"))
    atomic_write(run / "diversity.csv", lambda f: f.write(text.getvalue().encode()))
    plot(rows, run / "diversity.png")
    return rows


def plot(rows, png_path):
    """Spread ratio and near-duplicate rate against the epoch (all stages in order), one colour per generator;
    solid at full resolution, dashed on the block means (layout)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = list(dict.fromkeys((r["stage"], r["epoch"]) for r in rows))   # in order of appearance
    x_of = {e: i + 1 for i, e in enumerate(epochs)}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, key, label, good in ((axes[0], "spread_ratio", "spread ratio (generated / real)", 1.0),
                                 (axes[1], "near_duplicate_rate", "near-duplicate rate", 0.01)):
        for colour, name in enumerate(dict.fromkeys(r["generator"] for r in rows)):
            mine = [r for r in rows if r["generator"] == name]
            x = [x_of[(r["stage"], r["epoch"])] for r in mine]
            ax.plot(x, [r[key] for r in mine], "o-", ms=3, color=f"C{colour}", label=name)
            ax.plot(x, [r["layout_" + key] for r in mine], "o--", ms=3, color=f"C{colour}", label=f"{name}, layout")
        ax.axhline(good, color="0.5", lw=0.8, ls="--")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch (all stages)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    start = 0
    for stage in dict.fromkeys(s for s, _ in epochs):   # shade the stages
        n = sum(1 for s, _ in epochs if s == stage)
        for ax in axes:
            ax.axvspan(start + 0.5, start + n + 0.5, alpha=0.06, color="C2" if stage == "pretrain" else "C3")
        start += n
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic_write(png_path, lambda f: f.write(buf.getvalue()))


def summary(results):
    """One line for the console: each generator's spread ratio and near-duplicate rate."""
    return "  diversity: " + "; ".join(
        f"{name} spread {m['spread_ratio']:.2f} (layout {m['layout_spread_ratio']:.2f}), near-duplicates "
        f"{100 * m['near_duplicate_rate']:.1f}% (layout {100 * m['layout_near_duplicate_rate']:.1f}%)"
        for name, m in results.items())
