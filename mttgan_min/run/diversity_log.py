"""How varied and how realistic the samples are after every epoch: ``RUN/diversity.csv``, ``RUN/realism.csv``
and their pictures.

At the end of every epoch, N_SAMPLES images of each generator (the student G, and the teacher G
during MTT-GAN fine-tuning), drawn in inference mode from a fixed latent set, are compared with the
real images:

- diversity (``mttgan_min.evaluation.diversity``), against up to N_REAL images of the stage's pool: the
  spread ratio (mean pairwise distance, generated / real; about 1 for samples as varied as the data,
  near 0 when the generator collapses) and the near-duplicate rate (fraction of generated pairs closer
  than the closest 1% of real pairs; about 0.01 for varied samples, near 1 when collapsed);
- realism (``mttgan_min.evaluation.realism``), against the held-out films of the stage's pool, which no
  training step sees: the two-sample accuracy (about 0.5 when a linear model cannot tell samples from
  films), the high-frequency power ratio (about 1; above for grain, below for blur) and the
  nearest-neighbour distance ratio (about 1; above for samples off the data, near 0 for copies).

    RUN/diversity.csv   stage, epoch, generator (student/teacher), spread_ratio, near_duplicate_rate,
                        layout_spread_ratio, layout_near_duplicate_rate (the same on 4 x 4 block
                        means, which average per-pixel grain away), seconds (time taken to measure);
                        one row per generator and epoch
    RUN/realism.csv     stage, epoch, generator, two_sample_accuracy, high_frequency_ratio,
                        nn_distance_ratio, seconds
    RUN/diversity.png, RUN/realism.png   the numbers against the epoch, redrawn after every epoch

Each file is rewritten atomically with the new rows replacing any earlier rows of the same stage, epoch
and generator, so an epoch repeated after an interruption is not counted twice. Measuring draws
nothing from the run's generators, so it leaves the training unchanged.
"""
import csv
import io
import time
from pathlib import Path

import numpy as np

from ..evaluation import realism
from ..evaluation.diversity import diversity
from ..fileio import atomic_write
from ..models import sample_latent

N_SAMPLES = 256      # generated images per generator and epoch
N_REAL = 256         # at most this many images of the real pool
LATENT_SEED = 20200925  # the fixed latents (and real subset) do not depend on the run's generators
MEASURES = ("spread_ratio", "near_duplicate_rate", "layout_spread_ratio", "layout_near_duplicate_rate")
REALISM = realism.MEASURES
# (file stem, measures, panels of its picture: (measure, title, the value of samples like the data, dashed twin))
LOGS = {
    "diversity": (MEASURES, (("spread_ratio", "spread ratio (generated / real)", 1.0, "layout_spread_ratio"),
                             ("near_duplicate_rate", "near-duplicate rate", 0.01, "layout_near_duplicate_rate"))),
    "realism": (REALISM, (("two_sample_accuracy", "two-sample accuracy (0.5: not told apart)", 0.5, None),
                          ("high_frequency_ratio", "high-frequency power (generated / real)", 1.0, None),
                          ("nn_distance_ratio", "nearest-neighbour distance ratio", 1.0, None))),
}


def fixed_inputs(real_pool, latent_dim, latent="normal"):
    """The measurement's fixed latents (N_SAMPLES, latent_dim) and real subset (<= N_REAL, S, S, 1)."""
    rng = np.random.default_rng(LATENT_SEED)
    z = sample_latent(rng, N_SAMPLES, latent_dim, latent, np.float32)
    pick = np.sort(rng.choice(len(real_pool), size=min(N_REAL, len(real_pool)), replace=False))
    return z, np.asarray(real_pool[pick])


def measure(generators, real_pool, generate, latent="normal", unseen=None, unseen_groups=None):
    """{name: diversity dict + seconds} for each (name, G) of ``generators``, and with ``unseen`` (held-out
    real films (M, S, S, 1), patient keys ``unseen_groups`` (M,)) the realism measures too, under
    "realism" (a dict + its seconds).

    generate(G, z) -> images (N, S, S, 1) NumPy in [0, 1], G in inference mode.
    """
    out = {}
    z, real = fixed_inputs(real_pool, generators[0][1].input_shape[0], latent)  # the same for every G
    for name, G in generators:
        t0 = time.perf_counter()
        images = generate(G, z)
        out[name] = dict(diversity(images, real), seconds=time.perf_counter() - t0)
        if unseen is not None:
            t0 = time.perf_counter()
            out[name]["realism"] = dict(realism.realism(images, unseen, real_pool, unseen_groups),
                                        seconds=time.perf_counter() - t0)
    return out


def read_rows(path, measures=MEASURES):
    """diversity.csv (or realism.csv with ``measures=REALISM``) -> list of dicts (numbers as floats,
    epoch as int); [] when absent."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["epoch"] = int(r["epoch"])
        for k in measures + ("seconds",):
            r[k] = float(r[k])
    return rows


def _write_log(run, stem, stage, epoch, results):
    """Add {generator: measures + seconds} to RUN/<stem>.csv, replacing the same (stage, epoch,
    generator); redraw RUN/<stem>.png; return every row."""
    measures, panels = LOGS[stem]
    new = [dict({k: m[k] for k in measures}, stage=stage, epoch=epoch, generator=name, seconds=m["seconds"])
           for name, m in results.items()]
    keys = {(r["stage"], r["epoch"], r["generator"]) for r in new}
    rows = [r for r in read_rows(run / f"{stem}.csv", measures)
            if (r["stage"], r["epoch"], r["generator"]) not in keys]
    rows += new
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=("stage", "epoch", "generator") + measures + ("seconds",),
                            lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(dict(r, **{k: f"{r[k]:.4f}" for k in measures}, seconds=f"{r['seconds']:.2f}"))
    atomic_write(run / f"{stem}.csv", lambda f: f.write(text.getvalue().encode()))
    plot(rows, run / f"{stem}.png", panels)
    return rows


def record(run, stage, epoch, results):
    """Add this epoch's ``results`` (from ``measure``) to RUN/diversity.csv and, where measured,
    RUN/realism.csv, and redraw the pictures; returns the diversity rows."""
    run = Path(run)
    rows = _write_log(run, "diversity", stage, epoch, results)
    real = {name: m["realism"] for name, m in results.items() if "realism" in m}
    if real:
        _write_log(run, "realism", stage, epoch, real)
    return rows


def plot(rows, png_path, panels=LOGS["diversity"][1]):
    """Each panel's measure against the epoch (all stages in order), one colour per generator; its
    dashed twin (the layout figure) dashed, and a grey line at the value of samples like the data."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = list(dict.fromkeys((r["stage"], r["epoch"]) for r in rows))   # in order of appearance
    x_of = {e: i + 1 for i, e in enumerate(epochs)}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    axes = axes[0]
    for ax, (key, label, good, twin) in zip(axes, panels):
        for colour, name in enumerate(dict.fromkeys(r["generator"] for r in rows)):
            mine = [r for r in rows if r["generator"] == name]
            x = [x_of[(r["stage"], r["epoch"])] for r in mine]
            ax.plot(x, [r[key] for r in mine], "o-", ms=3, color=f"C{colour}", label=name)
            if twin:
                ax.plot(x, [r[twin] for r in mine], "o--", ms=3, color=f"C{colour}", label=f"{name}, layout")
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


def final_lines(run):
    """The last epoch's diversity and realism of each generator, from RUN/diversity.csv and RUN/realism.csv
    (a list of lines; [] before the first epoch)."""
    run = Path(run)
    lines = []
    for stem, (measures, _) in LOGS.items():
        rows = read_rows(run / f"{stem}.csv", measures)
        if not rows:
            continue
        last = (rows[-1]["stage"], rows[-1]["epoch"])
        for r in rows:
            if (r["stage"], r["epoch"]) == last:
                lines.append(f"{stem}, {r['stage']} epoch {r['epoch']}, {r['generator']}: "
                             + ", ".join(f"{k} {r[k]:.3f}" for k in measures))
    return lines


def summary(results):
    """Console lines: each generator's spread ratio and near-duplicate rate, and its realism where measured."""
    lines = "  diversity: " + "; ".join(
        f"{name} spread {m['spread_ratio']:.2f} (layout {m['layout_spread_ratio']:.2f}), near-duplicates "
        f"{100 * m['near_duplicate_rate']:.1f}% (layout {100 * m['layout_near_duplicate_rate']:.1f}%)"
        for name, m in results.items())
    real = {name: m["realism"] for name, m in results.items() if "realism" in m}
    if real:
        lines += "\n  realism: " + "; ".join(
            f"{name} two-sample {r['two_sample_accuracy']:.2f}, high-frequency x{r['high_frequency_ratio']:.1f}, "
            f"nearest-neighbour x{r['nn_distance_ratio']:.2f}" for name, r in real.items())
    return lines
