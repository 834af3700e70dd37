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
# it produced, has you write what happens at the boundary between the two stages, and ends with
# what pretraining changes in the generator's images.
#
# Data: the synthetic phantoms by default. When the environment variable `MTTGAN_DATA` points at
# a folder holding `chest_xray/` (the Kaggle pneumonia set) and `covid-chestxray-dataset/`, the
# run uses the real films instead (`--kaggle-dir` and `--covid-dir`); the first run then decodes
# and caches the images, which takes a few minutes more.

# %%
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import mttgan_min
from mttgan_min import gan_step, train
from mttgan_min.adam import Adam
from mttgan_min.coursework import check
from mttgan_min.data import epoch_real_batches, iterations_per_epoch, load_pool
from mttgan_min.ema import EMATeacher
from mttgan_min.models import build_generator, preset_of
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
# training films after 68 per class are held out for testing, and 159 COVID films), the length
# of each schedule, checked stage by stage against the training loop's own `iterations_of`:

# %%
def schedule_iterations(stages, pool_sizes, batch=32):
    """Total iterations of a list of stages: sum over stages of epochs * (N * factor) // batch."""
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
# The baseline without augmentation sees each COVID film about 40 times (400 iterations of 16
# real images is 6,400 views of 159 films); the other three see 248 iterations per epoch, and
# Transfer and MTT-GAN add 88,300 iterations of pretraining on other people's lungs before they
# see a single COVID film.
#
# ## A short MTT-GAN run
#
# The tiny preset (32x32) on the CPU, with the project's own command,
# `python -m mttgan_min.train`, called as a function. Its defaults for `tiny` are 2 + 5 epochs
# capped at 100 iterations each, learning rates 5e-5 for G and 2e-3 for D (D without Adam's
# momentum), EMA decay 0.99, z of 8 and a generator that starts smooth
# (`python -m mttgan_min.train --help` says how); here
# we cap every epoch at 4 iterations so that the lesson stays short, and lower the EMA decay to 0.8
# so that the teacher (memory about 5 steps) moves visibly in 8 fine-tuning steps. Expect blurry
# blobs, not chest films: the run directory is what we look at.

# %% [markdown]
# > **Aside.** The default tiny schedule takes about five minutes on a 2-core CPU; this capped run
# > takes about 10 s of the lesson's time (more on a busy machine).

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
# and teachers at the end, and both record the size of z. We load each G into a fresh tiny
# generator of that size and draw the fixed latent
# batch of the run (`fixed_latent.npy`) with batch norm in inference mode, as the teacher always
# runs.

# %%
def load_generator(path, group):
    groups, meta = load_checkpoint(path)
    G = build_generator(preset_of(meta))  # the preset and the size of z the checkpoint records
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
# `pretrained.npz`, then sets up the next stage. Three things are decided there:
#
# * **which weights carry over**: the students G and D go on from their pretrained weights and
#   batch-norm statistics (that is the transfer);
# * **the optimiser state**: Adam's moments `m`, `v` and its step count `t` (lesson 8) summarise
#   the pretraining gradients; the fine-tuning stage starts its own Adam;
# * **the teachers** (MTT-GAN only): each starts as an inference-mode copy of its pretrained
#   student (lesson 9).

# %% [markdown]
# > **Aside.** The paper does not say what happens to Adam's state at the boundary; this code
# > chooses fresh moments because the moments and Adam's step count would otherwise carry the
# > Kaggle gradients' scale into the first COVID steps. The paper does not say how the teachers
# > start either; this code starts them from the pretrained students because then the teacher is
# > a good network from the first fine-tuning step and needs no ramp-up of alpha (lesson 9).

# %% [markdown]
# ### Exercise: the stage boundary
#
# Write `begin_fine_tuning(state, lr, d_lr, with_teachers, buffers="average")`. `state` is a dict
# that holds what a run has in memory when pretraining ends: `"G"` and `"D"` (the students),
# `"opt_G"` and `"opt_D"` (the `Adam` of each, with the pretraining's moments and `t`), and
# `"teachers"` (None during pretraining). Set it up for fine-tuning, in place (return nothing),
# by the three points above: the optimisers with learning rate `lr` for G and `d_lr` for D, and
# `state["teachers"]` either a pair (teacher of G, teacher of D) made with lesson 9's
# `EMATeacher(network, buffers)` when `with_teachers` (MTT-GAN), or None (a Transfer GAN). The
# tools: `Adam(net, lr=...)` and `EMATeacher(net, buffers)`, imported above. (The package also
# gives D the preset's Adam beta1, `--d-beta1`: 0 on the tiny preset, the paper's 0.5 on the
# others; the exercise leaves both networks at the paper's.)
#
# The check pretrains a tiny G and D for three Adam steps, calls your function, and compares with
# the package's behaviour: G and D unchanged, each optimiser at `t = 0` with zero moments and the
# right rate, its first step equal to a fresh Adam's, the teachers equal to the students, in
# inference mode, and following the package's EMA. The grader also tries a Transfer GAN
# (no teachers), other learning rates and `buffers="copy"`.

# %%
def begin_fine_tuning(state, lr, d_lr, with_teachers, buffers="average"):
    """Turn the end of pretraining into the start of fine-tuning, in place.

    state: {"G", "D", "opt_G", "opt_D", "teachers"}; lr, d_lr: Adam rates of G and D;
    with_teachers: MTT-GAN (True) or Transfer GAN (False); buffers: the teachers' batch-norm mode.
    """
    ### BEGIN SOLUTION
    students = state["G"], state["D"]
    state["opt_G"] = Adam(students[0], lr=lr)
    state["opt_D"] = Adam(students[1], lr=d_lr)
    state["teachers"] = tuple(EMATeacher(net, buffers) for net in students) if with_teachers else None
    ### END SOLUTION


# %%
begin_fine_tuning = check("begin_fine_tuning", begin_fine_tuning)

# %% [markdown]
# Now the package's own boundary on a real training state: three pretraining iterations of the
# tiny MTT-GAN, then `finish_stage`, with your function applied to a copy of the same state next
# to it.

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
mine = {"G": state.G.clone(), "D": state.D.clone(), "opt_G": state.opt_G, "opt_D": state.opt_D, "teachers": None}
begin_fine_tuning(mine, cfg["lr"], cfg["d_lr"], stages[1]["teachers"], cfg["ema_buffers"])

boundary_dir = WORK / "boundary"
boundary_dir.mkdir()
finish_stage(cfg, boundary_dir, state, stages)
print("after the boundary: stage", stages[state.stage]["name"], "| Adam t:", state.opt_G.t, state.opt_D.t,
      "| teachers:", state.teachers is not None)

# fresh Adam moments
for opt in (state.opt_G, state.opt_D, mine["opt_G"], mine["opt_D"]):
    assert opt is not old_opt_G and opt.t == 0
    assert not any(v.any() for v in opt.m.values()) and not any(v.any() for v in opt.v.values())
# teachers equal to the pretrained students (and to what pretrained.npz holds), in inference mode
saved, _ = load_checkpoint(boundary_dir / "pretrained.npz")
for teacher, my_teacher, student, group in zip(state.teachers, mine["teachers"], (state.G, state.D), ("G", "D")):
    assert teacher.network is not student
    assert not any(layer.training for layer in teacher.network.walk())
    for k, v in teacher.network.state_dict().items():
        np.testing.assert_array_equal(v, student.state_dict()[k], err_msg=k)
        np.testing.assert_array_equal(v, saved[group][k], err_msg=k)
        np.testing.assert_array_equal(v, my_teacher.network.state_dict()[k], err_msg=k)
print("fresh Adam moments; teachers equal the pretrained students, pretrained.npz and yours")

# %% [markdown]
# ## What pretraining changes
#
# The paper's claim for transfer learning (Sec. IV-A, Figs. 6-9, Tables I-II) is that a GAN
# fine-tuned from a pretrained one draws better COVID films than one trained from scratch on the
# few COVID films alone. A lesson-sized run cannot show that, so the figure below was computed
# once by `docs/lesson_figures/make_figures.py` (regenerate it with
# `PYTHONPATH=$PWD python docs/lesson_figures/make_figures.py` from the repository root, about
# eight minutes on a 2-core CPU). Two runs of the tiny preset with the same seed, learning rates
# and fine-tuning schedule (5 epochs of 100 iterations on the COVID pool, augmentation factor 50):
# the default MTT-GAN run, whose *student* G is what a Transfer GAN ends with (the teacher never
# feeds back), and `--mode baseline --augment-factor 50`, the same fine-tuning from scratch.
# On the left the spread ratio and the layout spread of lesson 12 after every epoch
# (`RUN/diversity.csv`, each stage against its own real pool); on the right the same latents
# through the pretrained G, the fine-tuned G and the from-scratch G; below, the measures of
# lesson 12 at the end against the real COVID training images.

# %%
FIGURES = Path(mttgan_min.__file__).resolve().parent.parent / "docs" / "lesson_figures"
if (FIGURES / "pretrained_vs_scratch.json").is_file():
    result = json.loads((FIGURES / "pretrained_vs_scratch.json").read_text())
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.6]})
    for (name, rows), color in zip(result["diversity_per_epoch"].items(), ("C0", "C3")):
        step = np.arange(1, len(rows) + 1)
        axes[0].plot(step, [r["spread_ratio"] for r in rows], "o-", color=color, label=f"{name}: spread")
        axes[0].plot(step, [r["layout_spread_ratio"] for r in rows], "s--", color=color, label=f"{name}: layout")
        pre = sum(r["stage"] == "pretrain" for r in rows)
        if pre:
            axes[0].axvline(pre + 0.5, color="k", ls=":", lw=1)
    axes[0].set_xlabel("epoch (transfer: 2 pretraining epochs, then fine-tuning)")
    axes[0].set_ylabel("generated / real")
    axes[0].legend(fontsize=7)
    axes[1].imshow(plt.imread(FIGURES / "pretrained_vs_scratch.png"))
    axes[1].set_axis_off()
    fig.tight_layout()
    plt.show()
    keys = ("two_sample_accuracy", "spread_ratio", "layout_spread_ratio", "high_frequency_ratio")
    print(f"{'':<38}" + "".join(f"{k:>22}" for k in keys))
    for name, m in result["measures"].items():
        print(f"{name:<38}" + "".join(f"{m[k]:>22.3f}" for k in keys))
else:
    print(f"{FIGURES} holds no pretrained_vs_scratch.json: run docs/lesson_figures/make_figures.py")

# %% [markdown]
# > **Aside.** Measured by `make_figures.py` (seed 0, tiny preset, synthetic phantoms, one run
# > each). After the same 5 fine-tuning epochs (500 iterations) the judge of lesson 12 tells both
# > generators from the real films nearly every time (two-sample accuracy 0.98 and 1.00, against
# > 0.64 for held-out real films). The pretrained, then fine-tuned G is the more varied (spread
# > ratio 0.91 against 0.83 from scratch, layout spread 0.86 against 0.74) and a little nearer in
# > intensity (distance 0.017 against 0.023), with a little more fine detail (1.6 against 1.2 times
# > the real films' high-frequency power). The pretrained G itself, after 200 iterations on the
# > "Kaggle" pool, is less varied (spread 0.77), grainier (2.5 times the high-frequency power) and
# > the furthest in intensity (0.025). The synthetic "Kaggle" and "COVID" pools come from one
# > program, and 200 pretraining iterations at 32x32 are far from the paper's 88,300 at 128x128
# > on real films: the paper's claim is not tested at this scale.

# %% [markdown]
# ## What to try next
#
# * Run the whole default schedule, `python -m mttgan_min.train`, and open `RUN/samples/`: the
#   student and teacher columns of the fine-tuning epochs.
# * Train a Transfer GAN from the same pretraining, `python -m mttgan_min.train --mode transfer
#   --pretrained RUN`, and compare its final student with the MTT-GAN teacher.
# * Keep Adam's moments across the boundary (change your `begin_fine_tuning`, then the same line
#   in the training state's `begin_stage`) and compare the first fine-tuning iterations' losses.
# * Rerun `docs/lesson_figures/make_figures.py --seed 1`: does pretraining help with another seed?
# * On a GPU, `python -m mttgan_min.train --device gpu` runs the paper's schedule at 128x128.

# %%
shutil.rmtree(WORK)   # the lesson's run directories; comment this out to keep them
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
