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
#     theta_teacher = alpha * theta_teacher + (1 - alpha) * theta_student.
#
# The teacher never trains and never feeds back into the student; it only averages. Averaging
# the weights of a noisy optimiser over its last steps cancels much of the noise, so the teacher
# G draws more stable images than the student G, and it is the teacher G that produces the
# paper's synthetic films. The project takes alpha = 0.999 (the paper gives none; this is the
# default of the mean-teacher code) and starts the teacher equal to the pretrained student.
#
# The lesson: a toy where the smoothing is visible, what alpha means in steps, how much of the
# pretrained network survives in the teacher, and what to do with batch-norm statistics.
# No data are used in this lesson.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from mttgan_min import gan_step
from mttgan_min.adam import Adam
from mttgan_min.ema import EMATeacher
from mttgan_min.models import build_discriminator, build_generator

START = time.perf_counter()

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
# At alpha = 0.999 the teacher averages over about the last 1,000 steps; at 0.98 (the tiny
# preset's default) over about 50.

# %%
ages = np.arange(5000)
plt.figure(figsize=(6.5, 3.5))
for alpha in (0.9, 0.98, 0.999):
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
print(f"tiny preset (alpha 0.98, 2 epochs of 25 capped iterations): {0.98 ** 50:.2f} left at the end")
assert per_epoch == 248
assert abs(alpha ** 248 - 0.780) < 1e-3 and alpha ** 24_800 < 1e-10

# %% [markdown]
# After the first epoch the teacher is still 78% the pretrained generator, which is why no
# ramp-up of alpha is needed: the teacher starts from a good network, not a random one (the
# mean-teacher paper ramps alpha up because its teacher starts random). After the whole
# fine-tuning nothing of the pretrained weights is left *directly*; they live on through the
# student, which started from them.

# %% [markdown]
# ## Batch-norm statistics: averaged or copied?
#
# G's batch norms also hold running means and variances, which are not trained but estimated
# from the batches the student sees. The teacher runs in inference mode, so it needs them too.
# Two readings: average them with the same EMA as the weights (`buffers="average"`, the project's
# default, as the keras-io GAN-ADA example averages every weight of its generator), or copy them
# from the student after every step (`buffers="copy"`, as StyleGAN2-ADA's G_ema does).
#
# We take twenty real G steps of the tiny G (`mttgan_min.gan_step.generator_step`, lesson 7) and
# follow one running mean in the student and in both teachers (alpha = 0.8 here, so that twenty
# steps show something).

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
# approximate the activations the teacher's own weights produce. Neither reading is a bug; the
# project averages by default and `--ema-buffers copy` tries the other. One way to measure the
# mismatch: run the teacher in training mode (the batch statistics of its own activations) and in
# inference mode (its stored statistics), and compare the two sets of images it draws. Which
# reading fits better depends on alpha and on how fast the student moves; try both in a run.

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
# ### Exercise: the EMA update
#
# Write `ema_update(teacher, student, alpha)`: `teacher` and `student` are dicts of arrays with
# the same keys (a network's `state_dict()`: weights and batch-norm statistics); update every
# teacher array **in place** by Eq. (3), averaging the statistics too. The check follows a real
# student G through ten G steps and compares your teacher with the package's
# `EMATeacher(G, buffers="average")` after every step, to float32 round-off.

# %%
def ema_update(teacher, student, alpha):
    """Eq. (3) on every array, in place: teacher = alpha * teacher + (1 - alpha) * student."""
    for k, t in teacher.items():
        t *= alpha
        t += (1.0 - alpha) * student[k]


# %%
G = build_generator("tiny", rng=np.random.default_rng(5))
opt_G = Adam(G, lr=1e-3)
reference = EMATeacher(G)                              # buffers="average"
mine = {k: v.copy() for k, v in G.state_dict().items()}   # starts equal to the student
rng = np.random.default_rng(6)
for step in range(10):
    gan_step.generator_step(G, D, opt_G, 8, rng)
    reference.update(0.9)
    ema_update(mine, G.state_dict(), 0.9)
    for k, v in reference.network.state_dict().items():
        np.testing.assert_allclose(mine[k], v, rtol=1e-6, atol=1e-7, err_msg=f"{k} after step {step + 1}")
moved = max(float(np.abs(mine[k] - G.state_dict()[k]).max()) for k in mine)
print(f"10 steps: your teacher equals EMATeacher's; it lags the student by up to {moved:.2e}")
assert moved > 1e-5, "the teacher should lag behind the student"

# %% [markdown]
# ## What to try next
#
# * Rerun the toy with alpha = 0.5 and 0.995: when does the teacher smooth too little, and when
#   does it lag too much to be useful?
# * Follow a weight that keeps drifting (a bowl whose minimum moves) and measure the teacher's
#   lag: is it about 1/(1 - alpha) steps?
# * Train the tiny MTT-GAN twice (lesson 10) with `--ema-buffers average` and `--ema-buffers copy`
#   and compare the teacher's samples.
# * The teacher of D is kept too, though the paper's samples need only the teacher G. What could a
#   teacher D be used for?

# %%
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
