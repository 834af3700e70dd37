"""Precompute the measured figures of lessons 9 and 10 (docs/lesson_figures/*.json and *.png).

Two short CPU runs of the tiny preset (32x32, synthetic phantoms), with the project's own command:

- ``mtt``: the default schedule, ``python -m mttgan_min.train --mode mtt --preset tiny`` (2 pretraining
  epochs, then 5 fine-tuning epochs with EMA teachers, every epoch capped at 100 iterations);
- ``scratch``: ``--mode baseline --augment-factor 50`` with the same 5 capped fine-tuning epochs, the
  same learning rates, generator start and seed, but no pretraining.

Then 256 images of each generator at the end (the MTT-GAN teacher G, its student G - which is what a
Transfer GAN trained with the same seed ends with, since the teacher never feeds back -, the
pretrained G, and the from-scratch G) are compared with the real COVID training images by the
measures of lesson 12 (``mttgan_min.evaluation.quality`` and ``diversity``), and their per-epoch
diversity logs (``RUN/diversity.csv``) are copied. For lesson 9 also: how much the student's and the
teacher's images (same latents) change over the last fine-tuning epoch (100 steps). Writes, next to this file:

    teacher_vs_student.json / .png   lesson 9: what the teacher changes
    pretrained_vs_scratch.json / .png lesson 10: what pretraining changes

Run from the repository root (about 8 minutes on a 2-core CPU):

    PYTHONPATH=$PWD python docs/lesson_figures/make_figures.py [--seed 0] [--keep DIR]
"""
import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_IMAGES = 256
LATENT_SEED = 12  # the latents every generator draws its measured images from


def train(out, *options):
    cmd = [sys.executable, "-m", "mttgan_min.train", "--preset", "tiny", "--out", str(out), *options]
    print("running:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def load_g(path, group):
    from mttgan_min.models import build_generator, preset_of
    from mttgan_min.run.checkpoint import load_checkpoint
    groups, meta = load_checkpoint(path)
    G = build_generator(preset_of(meta))  # the preset and the size of z the checkpoint records
    G.load_state_dict(groups[group])
    return G.set_training(False)


def last_epoch_change(run, z):
    """Mean |G(z) now - G(z) one epoch earlier| per pixel, student and teacher (checkpoint.prev.npz holds
    the previous epoch end when no timed checkpoint came in between)."""
    from mttgan_min.run.checkpoint import load_checkpoint
    _, meta = load_checkpoint(run / "checkpoint.prev.npz")
    out = {"from": f"stage {meta['stage']} epoch {meta['epoch']} iteration {meta['iteration']}"}
    for who, group in (("student", "G"), ("teacher", "G_teacher")):
        now, before = load_g(run / "checkpoint.npz", group).forward(z), load_g(run / "checkpoint.prev.npz", group).forward(z)
        out[who] = float(np.abs(now - before).mean())
    return out


def diversity_rows(run):
    with open(run / "diversity.csv", newline="") as f:
        return [{k: (float(v) if k not in ("stage", "generator") else v) for k, v in row.items()}
                for row in csv.DictReader(f)]


def measure(images, real, real_groups):
    from mttgan_min.evaluation import quality
    from mttgan_min.evaluation.diversity import diversity
    two = quality.two_sample_test(images, real, real_groups=real_groups)
    div = diversity(images, real)
    spec = quality.spectrum_distance(images, real)
    return {"two_sample_accuracy": two["accuracy"], "two_sample_low": two["low"], "two_sample_high": two["high"],
            "spread_ratio": div["spread_ratio"], "layout_spread_ratio": div["layout_spread_ratio"],
            "near_duplicate_rate": div["near_duplicate_rate"],
            "high_frequency_ratio": spec["high_frequency_ratio"], "spectrum_log_distance": spec["log_distance"],
            "intensity_wasserstein": quality.intensity_wasserstein(images, real)}


def sample_sheet(path, rows, title):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 1.25 * len(rows) + 0.35))
    axes = fig.subplots(len(rows), 8, squeeze=False)
    for ax_row, (name, images) in zip(axes, rows.items()):
        for ax, img in zip(ax_row, images[:8]):
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
        ax_row[0].set_title(name, loc="left", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.5 / fig.get_figheight(), wspace=0.05,
                        hspace=0.3)
    fig.savefig(path, dpi=72)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", metavar="DIR", help="write the run directories here and keep them; runs already "
                   "finished there (holding generator.npz) are measured again, not retrained")
    args = p.parse_args(argv)
    from mttgan_min.data import prepare_data
    from mttgan_min.models import sample_latent

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mttgan-figures-"))
    mtt, scratch = work / "mtt", work / "scratch"
    seed = ["--seed", str(args.seed)]
    if not (mtt / "generator.npz").is_file():
        train(mtt, "--mode", "mtt", *seed)
    if not (scratch / "generator.npz").is_file():
        train(scratch, "--mode", "baseline", "--augment-factor", "50", *seed)

    from mttgan_min.run.rundir import read_options
    finetune_epochs = read_options(mtt / "config.json")["finetune_epochs"]  # of the runs measured, kept ones too
    data = prepare_data(None, None, size=32, seed=args.seed, need_kaggle=False, progress=False)
    real, groups = data.covid_train.images, data.covid_train.patients
    gens = {"teacher G (MTT-GAN)": load_g(mtt / "checkpoint.npz", "G_teacher"),
            "student G (MTT-GAN = Transfer GAN)": load_g(mtt / "checkpoint.npz", "G"),
            "pretrained G (start of fine-tuning)": load_g(mtt / "pretrained.npz", "G"),
            "from scratch G (baseline x50)": load_g(scratch / "checkpoint.npz", "G")}
    z = sample_latent(np.random.default_rng(LATENT_SEED), N_IMAGES, gens["teacher G (MTT-GAN)"].input_shape[0],
                      "normal", np.float32)
    images = {name: G.forward(z) for name, G in gens.items()}
    measures = {name: measure(imgs, real, groups) for name, imgs in images.items()}
    measures["real COVID (reference)"] = measure(data.test.subset(data.test.labels == "covid").images, real, groups)
    for name, m in measures.items():
        print(f"{name:<38}" + "  ".join(f"{k} {v:.3f}" for k, v in m.items()), flush=True)

    common = {"command": "PYTHONPATH=$PWD python docs/lesson_figures/make_figures.py", "seed": args.seed,
              "preset": "tiny", "n_images": N_IMAGES, "real": f"{len(real)} synthetic COVID training images",
              "measures_against": "the real COVID training images (two-sample test with patients kept whole)"}
    names09 = ["teacher G (MTT-GAN)", "student G (MTT-GAN = Transfer GAN)", "real COVID (reference)"]
    names10 = ["student G (MTT-GAN = Transfer GAN)", "from scratch G (baseline x50)",
               "pretrained G (start of fine-tuning)", "real COVID (reference)"]
    change = last_epoch_change(mtt, z)
    print("mean |change| of the images over the last fine-tuning epoch:", change, flush=True)
    fig09 = dict(common, measures={k: measures[k] for k in names09}, last_epoch_change=change,
                 diversity_per_epoch=[r for r in diversity_rows(mtt) if r["stage"] == "finetune"])
    fig10 = dict(common, measures={k: measures[k] for k in names10},
                 diversity_per_epoch={"transfer (MTT-GAN student)": [r for r in diversity_rows(mtt)
                                                                     if r["generator"] == "student"],
                                      "from scratch": diversity_rows(scratch)})
    (HERE / "teacher_vs_student.json").write_text(json.dumps(fig09, indent=1) + "\n")
    (HERE / "pretrained_vs_scratch.json").write_text(json.dumps(fig10, indent=1) + "\n")
    sample_sheet(HERE / "teacher_vs_student.png", {k: images[k] for k in names09[:2]},
                 "the same 8 latents, end of the tiny MTT-GAN run")
    sample_sheet(HERE / "pretrained_vs_scratch.png", {k: images[k] for k in names10[:3]},
                 f"the same 8 latents, after {finetune_epochs} fine-tuning epochs (or at their start)")
    print("wrote", *sorted(p.name for p in HERE.glob("*.json")), *sorted(p.name for p in HERE.glob("*.png")))


if __name__ == "__main__":
    main()
