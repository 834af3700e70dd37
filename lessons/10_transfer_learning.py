# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 10: transfer learning and the three GANs (Secs. IV-A and V)
#
# The paper compares three ways to train a GAN on the 159 COVID-19 training films:
#
# * **baseline GAN**: from scratch on the COVID films only (once without augmentation, once with
#   soft augmentation);
# * **Transfer GAN** (Sec. IV-A): first *pretrain* on the three classes of the Kaggle pneumonia
#   set (normal, bacterial, viral; thousands of films, augmentation factor 5), then *fine-tune*
#   the same networks on the COVID films (factor 50);
# * **MTT-GAN**: Transfer GAN with the mean teachers of lesson 9 during fine-tuning; the teacher G
#   is the result.
#
# This lesson lays the three schedules side by side, runs a short MTT-GAN on the synthetic data
# with the project's training command, looks at its loss curves and at the student and teacher
# it produced, and checks what happens at the boundary between the two stages: fresh Adam
# moments, and teachers that start equal to the pretrained students.
#
# Data: the synthetic phantoms by default. When the environment variable `MTTGAN_DATA` points at
# a folder holding `chest_xray/` (the Kaggle pneumonia set) and `covid-chestxray-dataset/`, the
# run uses the real films instead (`--kaggle-dir` and `--covid-dir`); the first run then decodes
# and caches the images, which takes a few minutes more.

# %%
import os
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from mttgan_min import gan_step, train
from mttgan_min.data import epoch_real_batches, iterations_per_epoch, load_pool
from mttgan_min.models import build_generator
from mttgan_min.run.checkpoint import load_checkpoint
from mttgan_min.run.loop import finish_stage, iterations_of, plan_stages
from mttgan_min.run.rundir import read_metrics
from mttgan_min.run.state import TrainState

START = time.perf_counter()
WORK = Path(tempfile.mkdtemp(prefix="mttgan-lesson10-"))   # everything this lesson writes goes here
DATA = os.environ.get("MTTGAN_DATA")
DATA_OPTIONS = ["--kaggle-dir", DATA, "--covid-dir", DATA] if DATA else []
print("data:", f"real, from {DATA}" if DATA else "synthetic phantoms", "| run directories under", WORK)

# %% [markdown]
# ## The three schedules
#
# `python -m mttgan_min.train --mode {baseline,transfer,mtt}` turns its options into a settings
# dict (`train.resolve_options`), and `mttgan_min.run.loop.plan_stages` turns the settings into
# the list of stages the training loop walks. At the paper's size:

# %%
def settings(*options):
    """The settings python -m mttgan_min.train would use with these options."""
    return train.resolve_options(train.build_parser().parse_args(list(options) + ["--out", str(WORK / "unused")]))


plans = {}
for mode in ("baseline", "transfer", "mtt"):
    cfg = settings("--mode", mode, "--preset", "paper")
    plans[mode] = plan_stages(cfg)
    print(f"{mode}:")
    for st in plans[mode]:
        print(f"    stage {st['name']:<9} pool {st['pool']:<7} augmentation factor {st['factor']:>2}, "
              f"{st['epochs']} epochs, EMA teachers: {st['teachers']}")
plans["baseline x50"] = plan_stages(settings("--mode", "baseline", "--preset", "paper", "--augment-factor", "50"))

# %% [markdown]
# An epoch is `factor x N` soft-augmented crops (lesson 2), in minibatches whose real half is 16
# of them, so `(N * factor) // 32` iterations. With the paper's image counts (5,652 Kaggle
# training films after 68 per class are held out for testing, and 159 COVID films):
#
# ### Exercise: the length of each schedule
#
# Write `schedule_iterations(stages, pool_sizes)`: the total number of iterations of a list of
# stages (as `plan_stages` returns them), given the number of training images in each pool.
# The asserts check the paper's totals and compare every stage with the training loop's own
# `iterations_of`.

# %%
def schedule_iterations(stages, pool_sizes, batch=32):
    """Total iterations: sum over stages of epochs * (N * factor) // batch."""
    return sum(st["epochs"] * ((pool_sizes[st["pool"]] * st["factor"]) // batch) for st in stages)


# %%
PAPER_POOLS = {"kaggle": 5652, "covid": 159}
totals = {mode: schedule_iterations(stages, PAPER_POOLS) for mode, stages in plans.items()}
print({mode: f"{n:,}" for mode, n in totals.items()})
assert totals == {"baseline": 400, "transfer": 113_100, "mtt": 113_100, "baseline x50": 24_800}
for stages in plans.values():
    for st in stages:
        n = PAPER_POOLS[st["pool"]]
        assert schedule_iterations([st], PAPER_POOLS) == st["epochs"] * iterations_of(st, n, 0), st
assert iterations_per_epoch(5652, 5) == 883 and iterations_per_epoch(159, 50) == 248

# %% [markdown]
# The baseline without augmentation sees each COVID film 100 times in 400 iterations; the other
# three see 248 iterations per epoch, and Transfer and MTT-GAN add 88,300 iterations of
# pretraining on other people's lungs before they see a single COVID film.
#
# ## A short MTT-GAN run
#
# The tiny preset (32x32) on the CPU, with the project's own command,
# `python -m mttgan_min.train`, called as a function. Its defaults for `tiny` (2 + 4 epochs capped
# at 50 iterations each, learning rates 2e-5 for G and 1e-3 for D, EMA decay 0.98) take about two
# minutes on two cores; here we cap
# every epoch at 4 iterations so that the lesson runs in well under a minute, and lower the EMA
# decay to 0.8 so that the teacher (memory about 5 steps) moves visibly in 8 fine-tuning steps.
# Expect blurry blobs, not chest films: the run directory is what we look at.

# %%
run = WORK / "mtt-tiny"
t0 = time.perf_counter()
code = train.main(["--mode", "mtt", "--preset", "tiny", "--pretrain-epochs", "2", "--finetune-epochs", "2",
                   "--max-iters-per-epoch", "4", "--ema-decay", "0.8", "--seed", "0", "--out", str(run)]
                  + DATA_OPTIONS)
assert code == 0, f"training failed with exit code {code}"
print(f"trained in {time.perf_counter() - t0:.1f} s; the run directory holds:")
for path in sorted(run.rglob("*")):
    if path.is_file():
        print(f"    {path.relative_to(run)}  ({path.stat().st_size:,} bytes)")

# %% [markdown]
# ### Loss curves
#
# `metrics.csv` has one row per iteration. Both losses start near `log 2 = 0.69`, the BCE of a D
# that outputs 1/2 for everything, and both D outputs near 0.5. Look at the stage boundary: the
# fine-tuning films are different, and Adam restarts.

# %%
m = read_metrics(run / "metrics.csv")
x = np.arange(1, len(m["stage"]) + 1)
boundary = int(np.sum(m["stage"] == "pretrain"))
assert boundary == 8 and len(x) == 16
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, keys, label in ((axes[0], ("d_loss", "g_loss"), "loss (BCE)"), (axes[1], ("d_real", "d_fake"), "mean D output")):
    for k in keys:
        ax.plot(x, m[k], ".-", label=k)
    ax.axvline(boundary + 0.5, color="k", ls="--", lw=1)
    ax.text(boundary + 1, ax.get_ylim()[1], "fine-tuning", va="top", fontsize=8)
    ax.set_xlabel("iteration")
    ax.set_ylabel(label)
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Pretrained, student and teacher generators
#
# `pretrained.npz` holds G and D at the end of pretraining; `checkpoint.npz` holds the students
# and teachers at the end. We load each G into a fresh tiny generator and draw the fixed latent
# batch of the run (`fixed_latent.npy`) with batch norm in inference mode, as the teacher always
# runs.

# %%
def load_generator(path, group):
    G = build_generator("tiny")
    groups, meta = load_checkpoint(path)
    G.load_state_dict(groups[group])
    return G.set_training(False)


z = np.load(run / "fixed_latent.npy")[:12]
nets = {"pretrained G": load_generator(run / "pretrained.npz", "G"),
        "student G (end)": load_generator(run / "checkpoint.npz", "G"),
        "teacher G (end)": load_generator(run / "checkpoint.npz", "G_teacher")}
fig, axes = plt.subplots(3, 12, figsize=(12, 3.4))
for row, (name, G) in zip(axes, nets.items()):
    images = G.forward(z)
    for ax, img in zip(row, images):
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    row[0].set_title(name, fontsize=9, loc="left")
fig.tight_layout()
plt.show()

# %% [markdown]
# The teacher is an average over the last few students, started from the pretrained G, so its
# weights lie between the two (in the sense of lesson 9's geometric weights): closer to the
# pretrained weights than the student is.

# %%
def distance(a, b):
    pa, pb = a.named_params(), b.named_params()
    return float(np.sqrt(sum(np.sum((pa[k].astype(np.float64) - pb[k]) ** 2) for k in pa)))


d_student = distance(nets["student G (end)"], nets["pretrained G"])
d_teacher = distance(nets["teacher G (end)"], nets["pretrained G"])
print(f"distance from the pretrained weights: student {d_student:.3f}, teacher {d_teacher:.3f}")
assert 0 < d_teacher < d_student

# %% [markdown]
# ## What happens at the stage boundary
#
# When pretraining ends, the loop calls `mttgan_min.run.loop.finish_stage`: it saves
# `pretrained.npz`, then starts the next stage with **fresh Adam moments** (the moments of the
# pretraining gradients, and Adam's step count, would carry the old data's statistics into the
# new stage) and, for MTT-GAN, **teachers that start equal to the pretrained students** (lesson 9:
# no ramp-up needed). We drive the same pieces by hand: a training state, three pretraining
# iterations, then the boundary, and check both promises.

# %%
cfg = settings("--mode", "mtt", "--preset", "tiny", "--seed", "1")
stages = plan_stages(cfg)
state = TrainState(cfg, np)
state.begin_stage(stages[0]["teachers"])               # pretraining: no teachers
kaggle = load_pool("kaggle", DATA, 32, progress=False)
batches = epoch_real_batches(kaggle.images, stages[0]["factor"], 32, np.random.default_rng(0))
for _ in range(3):
    gan_step.mtt_gan_step(state.G, state.D, state.opt_G, state.opt_D, next(batches), state.noise_rng)
old_opt_G = state.opt_G
assert state.teachers is None and old_opt_G.t == 3
assert any(v.any() for v in old_opt_G.m.values()), "the pretraining Adam has moments"

boundary_dir = WORK / "boundary"
boundary_dir.mkdir()
finish_stage(cfg, boundary_dir, state, stages)
print("after the boundary: stage", stages[state.stage]["name"], "| Adam t:", state.opt_G.t, state.opt_D.t,
      "| teachers:", state.teachers is not None)

# fresh Adam moments
for opt in (state.opt_G, state.opt_D):
    assert opt is not old_opt_G and opt.t == 0
    assert not any(v.any() for v in opt.m.values()) and not any(v.any() for v in opt.v.values())
# teachers equal to the pretrained students (and to what pretrained.npz holds), in inference mode
saved, _ = load_checkpoint(boundary_dir / "pretrained.npz")
for teacher, student, group in zip(state.teachers, (state.G, state.D), ("G", "D")):
    assert teacher.network is not student
    assert not any(layer.training for layer in teacher.network.walk())
    for k, v in teacher.network.state_dict().items():
        np.testing.assert_array_equal(v, student.state_dict()[k], err_msg=k)
        np.testing.assert_array_equal(v, saved[group][k], err_msg=k)
print("fresh Adam moments; teachers equal the pretrained students and pretrained.npz")

# %% [markdown]
# ## What to try next
#
# * Run the whole default schedule, `python -m mttgan_min.train` (about two minutes on a
#   2-core CPU), and open `RUN/samples/`: the student and teacher columns of the fine-tuning epochs.
# * Train a Transfer GAN from the same pretraining, `python -m mttgan_min.train --mode transfer
#   --pretrained RUN`, and compare its final student with the MTT-GAN teacher.
# * Keep Adam's moments across the boundary (a one-line change in `finish_stage`) and compare
#   the first fine-tuning iterations' losses.
# * On a GPU, `python -m mttgan_min.train --device gpu` runs the paper's schedule at 128x128.

# %%
shutil.rmtree(WORK)   # the lesson's run directories; comment this out to keep them
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
