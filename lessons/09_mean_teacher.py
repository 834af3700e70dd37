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
# # Lesson 9: the mean teacher (Sec. IV-B, Eq. 3, Fig. 3)
#
# The "MT" of MTT-GAN. During fine-tuning on the few COVID-19 films, each network (the
# *student*) gets a *teacher*: a copy whose weights follow an exponential moving average (EMA) of
# the student's weights after every student step (Eq. 3, Tarvainen and Valpola, 2017):
#
#     theta_teacher <- alpha * theta_teacher + (1 - alpha) * theta_student.
#
# The teacher never trains and never feeds back into the student; it only averages. Averaging
# the weights of a noisy optimiser over its last steps cancels much of the noise, so the teacher
# G is expected to draw more stable images than the student G, and it is the teacher G that
# produces the paper's synthetic films.
#
# The lesson: who does what (a diagram), a toy where the smoothing is visible, what alpha means in
# steps, how much of the pretrained network survives in the teacher, what to do with batch-norm
# statistics, the update itself (your exercise), and what the teacher changes in a real short run.
# No data are used in this lesson.

# %% [markdown]
# > **Aside.** The paper does not give alpha. This code chooses 0.999 at the paper's size, the
# > default of the mean-teacher code, and starts the teacher equal to the pretrained student
# > (docs/design.md, "The mean teacher's decay"); the tiny CPU preset uses 0.99 because its runs
# > are a few hundred steps long.

# %%
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

import mttgan_min
from mttgan_min import gan_step
from mttgan_min.adam import Adam
from mttgan_min.coursework import check
from mttgan_min.ema import EMATeacher
from mttgan_min.models import build_discriminator, build_generator

START = time.perf_counter()

# %% [markdown]
# ## Who trains whom (Fig. 3)
#
# Two pairs of networks during fine-tuning. The students G and D play the GAN game of lesson 7 and
# are trained by Adam (lesson 8). After every step each teacher takes one EMA step towards its
# student. Nothing flows back from a teacher. At the end, the *teacher* G draws the synthetic films.

# %%
def box(ax, xy, text, color):
    ax.add_patch(FancyBboxPatch(xy, 2.4, 1.0, boxstyle="round,pad=0.08", fc=color, ec="k"))
    ax.text(xy[0] + 1.2, xy[1] + 0.5, text, ha="center", va="center", fontsize=9)


def arrow(ax, start, end, text, offset=(0, 0.15), style="-|>", ls="-"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, lw=1.4, ls=ls))
    ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text, ha="center",
            fontsize=8)


fig, ax = plt.subplots(figsize=(10, 4.2))
box(ax, (0.0, 3.0), "COVID films\n(soft-augmented crops)", "#eeeeee")
box(ax, (3.6, 3.0), "student D\n(trained by Adam)", "#cfe2f3")
box(ax, (3.6, 0.8), "student G\n(trained by Adam)", "#cfe2f3")
box(ax, (7.6, 3.0), "teacher D\n(never trained)", "#fce5cd")
box(ax, (7.6, 0.8), "teacher G\n(never trained)", "#fce5cd")
box(ax, (11.2, 0.8), "synthetic films\n(the paper's samples)", "#d9ead3")
arrow(ax, (2.5, 3.5), (3.5, 3.5), "real")
arrow(ax, (4.5, 1.9), (4.5, 2.9), "fake", offset=(-0.35, 0))
arrow(ax, (5.4, 2.9), (5.4, 1.9), "G's gradient\nthrough D (Eq. 2)", offset=(0.9, -0.1))
arrow(ax, (6.1, 3.5), (7.5, 3.5), "EMA (Eq. 3)\nafter every step", offset=(0, 0.2))
arrow(ax, (6.1, 1.3), (7.5, 1.3), "EMA (Eq. 3)\nafter every step", offset=(0, 0.2))
arrow(ax, (10.1, 1.3), (11.1, 1.3), "draws")
ax.text(6.8, 0.2, "no arrow back: the teachers never train the students", ha="center", fontsize=8,
        style="italic")
ax.set_xlim(-0.2, 13.8)
ax.set_ylim(0, 4.3)
ax.set_axis_off()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## A noisy optimiser and its average
#
# Stochastic gradient descent on a bowl, `f(theta) = (theta_1^2 + 4 theta_2^2) / 2`, with a
# noisy gradient (as a minibatch gives). The student reaches the bottom and then jitters around
# it; the teacher, its EMA with alpha = 0.97, follows with a lag but is far calmer.

# %%
def noisy_sgd(steps=400, lr=0.05, noise=2.0, alpha=0.97, seed=0):
    rng = np.random.default_rng(seed)
    student = np.array([3.0, 2.0])
    teacher = student.copy()                 # the teacher starts equal to the student
    s_path, t_path = [student.copy()], [teacher.copy()]
    for _ in range(steps):
        grad = np.array([1.0, 4.0]) * student + noise * rng.standard_normal(2)
        student = student - lr * grad
        teacher = alpha * teacher + (1 - alpha) * student          # Eq. (3)
        s_path.append(student.copy())
        t_path.append(teacher.copy())
    return np.array(s_path), np.array(t_path)


s_path, t_path = noisy_sgd()
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(s_path[:, 0], s_path[:, 1], lw=0.6, label="student (SGD)")
axes[0].plot(t_path[:, 0], t_path[:, 1], lw=1.5, label="teacher (EMA, alpha 0.97)")
axes[0].plot(0, 0, "k*", ms=10)
axes[0].set_aspect("equal")
axes[0].legend()
axes[0].set_title("paths in weight space")
axes[1].plot(s_path[:, 1], lw=0.6, label="student")
axes[1].plot(t_path[:, 1], lw=1.5, label="teacher")
axes[1].set_xlabel("step")
axes[1].set_ylabel("theta_2")
axes[1].legend()
axes[1].set_title("one weight over the steps")
fig.tight_layout()
plt.show()
late = slice(200, None)
spread = {name: float(np.sqrt((p[late] ** 2).sum(axis=1).mean())) for name, p in (("student", s_path), ("teacher", t_path))}
print("RMS distance from the minimum over the last 200 steps:", {k: round(v, 3) for k, v in spread.items()})
assert spread["teacher"] < 0.5 * spread["student"]

# %% [markdown]
# ## What alpha means in steps
#
# Unrolling Eq. (3) over n steps from a teacher that started at `theta_0`:
#
#     theta_teacher(n) = alpha^n * theta_0 + sum_k (1 - alpha) alpha^(n-k) * theta_student(k).
#
# The student of k steps ago carries the weight `(1 - alpha) alpha^k`: a geometric memory whose
# weights sum to 1 and whose mean age is `alpha / (1 - alpha)`, about `1 / (1 - alpha)` steps.
# At alpha = 0.999 the teacher averages over about the last 1,000 steps; at 0.99 (the tiny
# preset's default) over about 100.

# %%
ages = np.arange(5000)
plt.figure(figsize=(6.5, 3.5))
for alpha in (0.9, 0.99, 0.999):
    w = (1 - alpha) * alpha ** ages
    plt.plot(ages, w, label=f"alpha {alpha}: memory 1/(1-alpha) = {1 / (1 - alpha):,.0f} steps")
    assert abs(w.sum() + alpha ** ages.size - 1) < 1e-12      # the weights (and theta_0's share) sum to 1
plt.xscale("log")
plt.yscale("log")
plt.ylim(1e-7, 0.2)
plt.xlabel("age of the student weights (steps ago)")
plt.ylabel("their weight in the teacher")
plt.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## How much of the pretrained network is left?
#
# The teacher starts equal to the pretrained student, and `theta_0` keeps the weight `alpha^n`
# after n steps. With the paper's 159 COVID training films and augmentation factor 50, a
# fine-tuning epoch has `159 * 50 // 32 = 248` iterations, and fine-tuning lasts 100 epochs.

# %%
alpha = 0.999
per_epoch = 159 * 50 // 32
for n in (1, per_epoch, 5 * per_epoch, 10 * per_epoch, 100 * per_epoch):
    print(f"after {n:>6,} steps ({n / per_epoch:6.2f} epochs): pretrained share alpha^n = {alpha ** n:.3g}")
half_life = np.log(0.5) / np.log(alpha)
print(f"half of it is gone after {half_life:.0f} steps, {half_life / per_epoch:.1f} epochs")
print(f"tiny preset (alpha 0.99, 5 fine-tuning epochs of 100 capped iterations): {0.99 ** 500:.3f} left at the end")
assert per_epoch == 248
assert abs(alpha ** 248 - 0.780) < 1e-3 and alpha ** 24_800 < 1e-10

# %% [markdown]
# After the first epoch the teacher is still 78% the pretrained generator: early in fine-tuning
# the teacher stays close to a good network, not a random one. After the whole fine-tuning
# nothing of the pretrained weights is left *directly*; they live on through the student, which
# started from them.

# %% [markdown]
# > **Aside.** The paper does not say whether alpha is ramped up. This code keeps it fixed from
# > the first fine-tuning step because its teacher starts from the pretrained student; the
# > mean-teacher paper ramps alpha up because its teacher starts random.

# %% [markdown]
# ## Batch-norm statistics: averaged or copied?
#
# G's batch norms also hold running means and variances (*buffers*), which are not trained but
# estimated from the batches the student sees. The teacher runs in inference mode, so it needs them
# too. Two readings: average them with the same EMA as the weights (`buffers="average"`), or copy
# them from the student after every step (`buffers="copy"`).
#
# We take twenty real G steps of the tiny G (`mttgan_min.gan_step.generator_step`, lesson 7) and
# follow one running mean in the student and in both teachers (alpha = 0.8 here, so that twenty
# steps show something).

# %% [markdown]
# > **Aside.** The paper does not say what its teacher does with batch-norm statistics. This code
# > averages them by default, as the keras-io GAN-ADA example averages every weight of its
# > generator, because then the teacher is one consistent average of past students; `--ema-buffers
# > copy` tries StyleGAN2-ADA's choice (its G_ema copies them).
# > docs/design.md, "Batch-norm statistics of the teacher".

# %%
G = build_generator("tiny", rng=np.random.default_rng(0))
D = build_discriminator("tiny", rng=np.random.default_rng(1), dropout_rng=np.random.default_rng(2))
opt_G = Adam(G, lr=1e-3)
teachers = {"average": EMATeacher(G, buffers="average"), "copy": EMATeacher(G, buffers="copy")}
KEY = "5.inner.1.running_mean"         # the first batch norm of the first residual block
track = {"student": [], "average": [], "copy": []}
rng = np.random.default_rng(3)
for step in range(20):
    gan_step.generator_step(G, D, opt_G, 8, rng)
    for teacher in teachers.values():
        teacher.update(0.8)
    track["student"].append(G.named_buffers()[KEY][:3].copy())
    for name, teacher in teachers.items():
        track[name].append(teacher.network.named_buffers()[KEY][:3].copy())

plt.figure(figsize=(6.5, 3.5))
for name, style in (("student", "-"), ("average", "--"), ("copy", ":")):
    values = np.array(track[name])
    plt.plot(values[:, 0], style, lw=2 if name == "copy" else 1.2, label=name)
plt.xlabel("G step")
plt.ylabel(f"{KEY}[0]")
plt.legend(title="running mean of")
plt.tight_layout()
plt.show()
for k in G.named_buffers():
    np.testing.assert_array_equal(teachers["copy"].network.named_buffers()[k], G.named_buffers()[k])
assert not np.allclose(teachers["average"].network.named_buffers()[KEY], G.named_buffers()[KEY])

# %% [markdown]
# With "copy" the teacher's statistics are those of the *current* student, while its weights are
# an average of *past* students. With "average" both are averages, but an average of statistics
# is not the statistics of the averaged network either. Either way the statistics only
# approximate the activations the teacher's own weights produce. Neither reading is a bug. One way
# to measure the mismatch: run the teacher in training mode (the batch statistics of its own
# activations) and in inference mode (its stored statistics), and compare the two sets of images
# it draws. Which reading fits better depends on alpha and on how fast the student moves.

# %%
z = np.random.default_rng(4).standard_normal((64, 100), dtype=np.float32)
for name, teacher in teachers.items():
    net = teacher.network
    inference = net.forward(z)
    own_stats = net.set_training(True).forward(z)
    net.set_training(False)
    print(f"teacher with {name:>7} statistics: mean |inference - own batch statistics| = "
          f"{float(np.abs(inference - own_stats).mean()):.4f}")
# (the training-mode forward also moved the teachers' running statistics; we are done with them)

# %% [markdown]
# ### Exercise: the EMA update of a network
#
# Write `ema_update(teacher, student, alpha, buffers="average")`. `teacher` and `student` are two
# networks of the same architecture (the teacher a copy of the student, as `EMATeacher` makes it).
# A network gives its arrays as dicts keyed by layer path, e.g. `"5.inner.1.running_mean"`:
#
# * `net.named_params()`: the trained weights (`w`, `b`, batch-norm `gamma`, `beta`); float32 arrays
#   of many shapes, e.g. `"0.w"` of shape (100, 2048) in the tiny G;
# * `net.named_buffers()`: the batch-norm running statistics, float32 arrays (C,).
#
# The dicts are new on every call, but the arrays in them are the network's own, so writing *into*
# them (`a *= ...`, `a += ...`, `a[...] = ...`) changes the network, while `a = ...` only rebinds a
# name. Move every teacher weight one step of Eq. (3) towards the student's; treat the buffers by
# Eq. (3) too when `buffers == "average"`, and take the student's values when `buffers == "copy"`.
# Change the teacher in place and return nothing; leave the student alone.
#
# The check moves a tiny G the way training steps do (its weights and its statistics), updates your
# teacher and the package's (`EMATeacher.update`) after every step, and compares every array; the
# grader also tries other decays (0.999, 0.5, 0), several steps, and `buffers="copy"`.

# %%
def ema_update(teacher, student, alpha, buffers="average"):
    """One EMA step (Eq. 3) of every teacher array towards the student's, in place; returns None.

    teacher, student: networks of one architecture; alpha: the decay in [0, 1];
    buffers: "average" (running statistics averaged like the weights) or "copy" (taken from the student).
    """
    ### BEGIN SOLUTION
    weights, statistics = student.named_params(), student.named_buffers()
    for name, mine in teacher.named_params().items():
        mine *= alpha
        mine += (1.0 - alpha) * weights[name]
    keep = 0.0 if buffers == "copy" else alpha          # copying is an EMA step with decay 0
    for name, mine in teacher.named_buffers().items():
        mine *= keep
        mine += (1.0 - keep) * statistics[name]
    ### END SOLUTION


# %%
ema_update = check("ema_update", ema_update)

# %% [markdown]
# Your update (or the package's, while the exercise is not done) now follows a real student G
# through ten G steps next to the package's `EMATeacher`:

# %%
G = build_generator("tiny", rng=np.random.default_rng(5))
opt_G = Adam(G, lr=1e-3)
reference = EMATeacher(G)                              # buffers="average"
mine = G.clone().set_training(False)                   # starts equal to the student
rng = np.random.default_rng(6)
for step in range(10):
    gan_step.generator_step(G, D, opt_G, 8, rng)
    reference.update(0.9)
    ema_update(mine, G, 0.9)
    for k, v in reference.network.state_dict().items():
        np.testing.assert_allclose(mine.state_dict()[k], v, rtol=1e-5, atol=1e-7, err_msg=f"{k} after step {step + 1}")
lag = max(float(np.abs(mine.state_dict()[k] - v).max()) for k, v in G.state_dict().items())
print(f"10 steps: the teacher equals EMATeacher's; it lags the student by up to {lag:.2e}")
assert lag > 1e-5, "the teacher should lag behind the student"

# %% [markdown]
# ## What the teacher changes
#
# The paper's claim for the teacher is about its images (Sec. IV-B, Figs. 6-9): steadier than the
# student's. Training a GAN long enough to see that takes minutes, more than a lesson should, so
# the figure below was computed once by `docs/lesson_figures/make_figures.py` (regenerate it with
# `PYTHONPATH=$PWD python docs/lesson_figures/make_figures.py` from the repository root, about
# eight minutes on a 2-core CPU). It trains the tiny MTT-GAN with the project's default CPU schedule
# and compares the teacher G and the student G at the end: the same latents, drawn in inference
# mode, and measures of lesson 12 against the real COVID training images (the two-sample accuracy
# of a pixel-logistic judge, 0.5 when it cannot tell; the spread ratio, 1 when as varied as the
# real films; the layout spread, the same on 4x4 block means; the high-frequency power ratio, 1
# when the fine detail matches). On the left, the spread ratios after every fine-tuning epoch
# (`RUN/diversity.csv`); in the middle, how much the images of the same latents changed over the
# last fine-tuning epoch (100 steps), the student's against the teacher's: the smoothing of the toy
# above, now in image space.

# %%
FIGURES = Path(mttgan_min.__file__).resolve().parent.parent / "docs" / "lesson_figures"
if (FIGURES / "teacher_vs_student.json").is_file():
    result = json.loads((FIGURES / "teacher_vs_student.json").read_text())
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1, 0.6, 1.9]})
    for who, color in (("student", "C0"), ("teacher", "C1")):
        rows = [r for r in result["diversity_per_epoch"] if r["generator"] == who]
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r["spread_ratio"] for r in rows], "o-", color=color, label=f"{who} G: spread")
        axes[0].plot(epochs, [r["layout_spread_ratio"] for r in rows], "s--", color=color,
                     label=f"{who} G: layout spread")
    axes[0].set_xlabel("fine-tuning epoch")
    axes[0].set_ylabel("generated / real")
    axes[0].legend(fontsize=7)
    change = result["last_epoch_change"]
    axes[1].bar(["student G", "teacher G"], [change["student"], change["teacher"]], color=["C0", "C1"])
    axes[1].set_ylabel("mean |change| per pixel")
    axes[1].set_title("images of the same latents:\nchange over the last epoch", fontsize=9)
    axes[2].imshow(plt.imread(FIGURES / "teacher_vs_student.png"))
    axes[2].set_axis_off()
    fig.tight_layout()
    plt.show()
    keys = ("two_sample_accuracy", "spread_ratio", "layout_spread_ratio", "high_frequency_ratio")
    print(f"{'':<38}" + "".join(f"{k:>22}" for k in keys))
    for name, m in result["measures"].items():
        print(f"{name:<38}" + "".join(f"{m[k]:>22.3f}" for k in keys))
else:
    print(f"{FIGURES} holds no teacher_vs_student.json: run docs/lesson_figures/make_figures.py")

# %% [markdown]
# > **Aside.** Measured by `make_figures.py` (seed 0, tiny preset, synthetic phantoms, one run, so
# > one sample of a noisy process). Over the last fine-tuning epoch the student's images of the same
# > latents changed by 0.055 per pixel on average, the teacher's by 0.017: the teacher moves about
# > 69% less. Here its images are also nearer the films by lesson 12's judge, which tells the
# > teacher's images from the real films 79% of the time (exact interval 74-84%) and the student's
# > 98% (96-99%), against 0.64 for held-out real films, at a little less variety (spread ratio 0.83
# > against 0.91, layout spread 0.76 against 0.86) and with less fine detail (0.95 against 1.6
# > times the real films' high-frequency power). Seven hundred iterations of a 32x32 network are
# > far from the paper's 100 fine-tuning epochs at 128x128: the smoothing and a nearer teacher are
# > measured here in miniature, on one seed.

# %% [markdown]
# ## What to try next
#
# * Rerun the toy with alpha = 0.5 and 0.995: when does the teacher smooth too little, and when
#   does it lag too much to be useful?
# * Follow a weight that keeps drifting (a bowl whose minimum moves) and measure the teacher's
#   lag: is it about 1/(1 - alpha) steps?
# * Train the tiny MTT-GAN twice (lesson 10) with `--ema-buffers average` and `--ema-buffers copy`
#   and compare the teacher's samples.
# * Rerun `docs/lesson_figures/make_figures.py --seed 1` and `--seed 2`: is the teacher's edge the
#   same with another seed?
# * The teacher of D is kept too, though the paper's samples need only the teacher G. What could a
#   teacher D be used for?

# %%
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
