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
# # Lesson 1: the data, its four classes, and a test split that does not leak
#
# *Paper: Sec. III (data sets) and Sec. IV (the held-out test set).*
#
# MTT-GAN learns from two pools of chest X-rays. The **Kaggle pool** (Kermany et al.) has three
# classes, *normal*, *bacterial* and *viral* pneumonia, and is used to pretrain the GAN. The
# **COVID pool** (Cohen et al.) has one class, *covid*, and only a few hundred images; the GAN is
# fine-tuned on it. Before any of that, 68 images of every class are put aside as the test set on
# which the classifiers are finally judged.
#
# In this lesson you look at the four classes, count them, and then build the test split
# yourself. The point to take away: **the split must be made by patient, not by image**.
#
# **Which data?** By default the lesson uses the project's synthetic chest phantoms (drawn by
# `mttgan_min.data.make_synthetic`; nothing is downloaded). To use the real images, set the
# environment variable `MTTGAN_DATA` to the folder that holds `chest_xray/` (the Kaggle layout)
# and `covid-chestxray-dataset/` before you start Jupyter or run the script:
#
# ```bash
# MTTGAN_DATA=/path/to/data python lessons/01_data_and_split.py
# ```
#
# > **Aside.** The first load of the real images decodes a few thousand files (about a minute on
# > a laptop); they are cached in `~/.cache/mttgan_min` afterwards.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from mttgan_min.coursework import check
from mttgan_min.data import CLASSES, concat, load_pool, prepare_data

DATA = os.environ.get("MTTGAN_DATA")     # None: synthetic phantoms
SIZE = 64                                # image side for this lesson (the paper trains at 128)
N_TEST = 68                              # test images per class (Sec. IV)

kaggle = load_pool("kaggle", DATA, SIZE, progress=False)
covid = load_pool("covid", DATA, SIZE, progress=False)
data = concat([kaggle, covid])
print("source:", "real images from " + DATA if DATA else "synthetic phantoms")
print("images:", data.images.shape, data.images.dtype,
      f"intensities in [{data.images.min():.2f}, {data.images.max():.2f}]")

# %% [markdown]
# A `Dataset` carries, for every image, its pixels (`images`, NHWC, float32 in [0, 1]), its class
# (`labels`), the patient it comes from (`patients`) and where it came from (`files`).
#
# ## The four classes side by side
#
# Look for the differences the GAN has to learn: a dense patch in one lobe (bacterial), a fine
# diffuse pattern around the hila (viral), hazy patches low and at the edges of both lungs (covid).
# The heart sits on the image's right, which is the patient's left: we come back to this in
# lesson 2.

# %%
rng = np.random.default_rng(0)
fig, axes = plt.subplots(3, 4, figsize=(8, 6.4))
for col, name in enumerate(CLASSES):
    pick = rng.choice(np.flatnonzero(data.labels == name), size=3, replace=False)
    for row, i in enumerate(pick):
        ax = axes[row, col]
        ax.imshow(data.images[i, :, :, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        if row == 0:
            ax.set_title(name)
fig.suptitle("three images of each class")
plt.show()

# %% [markdown]
# ## How many images, how many patients?
#
# Count images and patients per class. A patient can have several films (taken on different days,
# or in different positions), and the COVID pool has many more films per patient than the Kaggle
# pool.

# %%
counts = data.counts()
patients = {c: len(np.unique(data.patients[data.labels == c])) for c in CLASSES}
print(f"{'class':<10} {'images':>7} {'patients':>9} {'images/patient':>15}")
for c in CLASSES:
    print(f"{c:<10} {counts[c]:>7} {patients[c]:>9} {counts[c] / patients[c]:>15.2f}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
ax1.bar(CLASSES, [counts[c] for c in CLASSES], color="tab:blue", label="images")
ax1.bar(CLASSES, [patients[c] for c in CLASSES], color="tab:orange", width=0.5, label="patients")
ax1.axhline(N_TEST, color="k", ls="--", lw=1, label=f"test images per class ({N_TEST})")
ax1.legend(fontsize=8)
ax1.set_title("images and patients per class")
for c in CLASSES:
    _, per_patient = np.unique(data.patients[data.labels == c], return_counts=True)
    ax2.plot(*np.unique(per_patient, return_counts=True), "o-", label=c)
ax2.set_xlabel("images of one patient"), ax2.set_ylabel("patients"), ax2.set_yscale("log")
ax2.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
ax2.legend(fontsize=8)
ax2.set_title("films per patient")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Why the split is made by patient
#
# Two films of the same patient look much more alike than two films of different patients with
# the same disease: same body, same heart, same ribs, often the same exposure. Measure it with the
# mean absolute pixel difference.

# %%
def mean_abs_diff(i, j):
    return float(np.mean(np.abs(data.images[i] - data.images[j])))


same, other = [], []
for c in CLASSES:
    idx = np.flatnonzero(data.labels == c)
    keys, first, n = np.unique(data.patients[idx], return_index=True, return_counts=True)
    for key in keys[n > 1][:40]:                       # pairs of films of one patient
        a, b = idx[data.patients[idx] == key][:2]
        same.append(mean_abs_diff(a, b))
    for a, b in rng.choice(idx[first], size=(40, 2)):  # pairs of films of two patients
        if data.patients[a] != data.patients[b]:
            other.append(mean_abs_diff(a, b))
print(f"mean |difference|, same patient:      {np.mean(same):.4f}  ({len(same)} pairs)")
print(f"mean |difference|, different patients: {np.mean(other):.4f}  ({len(other)} pairs)")

# %% [markdown]
# If one film of a patient is in the training set and another in the test set, a classifier (or a
# GAN that copies its training images) is tested on an image it has almost seen. Its test accuracy
# then measures memory, not diagnosis. The paper does not say how its test set was drawn; this
# code draws it by patient, because that is the only split under which a test image is truly unseen
# (see `docs/design.md`, "The held-out split and the COVID cap").
#
# ### What an image-level split would leak
#
# Draw 68 images per class at random, as an image-level split does, and count the test images
# whose patient also has films on the training side.

# %%
def image_level_split(labels, n_test, rng):
    """Bool mask (N,): n_test random images of each class on the test side, ignoring patients."""
    chosen = [rng.choice(np.flatnonzero(labels == name), size=n_test, replace=False) for name in CLASSES]
    return np.isin(np.arange(len(labels)), np.concatenate(chosen))


def leaked(test, labels, patients):
    """{class: number of test images whose patient also has a training image}."""
    train_patients = set(patients[~test])
    return {c: int(sum(p in train_patients for p in patients[test & (labels == c)]))
            for c in np.unique(labels)}


naive = image_level_split(data.labels, N_TEST, np.random.default_rng(1))
leak = leaked(naive, data.labels, data.patients)
print("test images whose patient is also in training (image-level split):")
for c in CLASSES:
    print(f"  {c:<10} {leak[c]:>3} of {N_TEST}  ({100 * leak[c] / N_TEST:.0f}%)")
print("  total     ", sum(leak.values()), "of", N_TEST * len(CLASSES))

# %% [markdown]
# Which class leaks most depends on how many films its patients have. The package's own split
# (`split_test`, which `prepare_data` applies to each pool before any training function sees the
# data) is made by patient, and it also merges films that are duplicates of each other but filed
# under two patient keys: nothing leaks.

# %%
prepared = prepare_data(DATA, DATA, size=SIZE, seed=0, n_test=N_TEST, progress=False)
train = concat([prepared.kaggle_train, prepared.covid_train])
shared = set(prepared.test.patients) & set(train.patients)
print("package split, test side:", prepared.test.counts(), "; patients on both sides:", len(shared))
assert not shared and all(n == N_TEST for n in prepared.test.counts().values())

# %% [markdown]
# ## Exercise: a greedy patient-level split with exactly N per class
#
# Write `patient_split(labels, patients, n_test, rng)`. For each class separately:
#
# 1. list the class's patients and how many images each has;
# 2. walk through the patients in a random order (from `rng`);
# 3. put a patient's images on the test side if they still fit (total stays at most `n_test`),
#    otherwise skip that patient and go on;
# 4. stop when the test side holds exactly `n_test` images.
#
# Skipping, instead of stopping at the first patient that does not fit, is what makes the count
# exact: patients with a single film fill the last places. Return a boolean mask of shape (N,),
# `True` for test. `labels` and `patients` are string arrays of shape (N,); draw every random choice
# from `rng` (a NumPy `Generator`), so that the same seed gives the same split.
#
# Useful NumPy: `np.unique(values, return_inverse=True, return_counts=True)` gives the distinct
# values, for every entry the index of its value among them, and how often each value occurs;
# `rng.permutation(n)` is a random order of `range(n)`.
#
# Write the body between the markers, then run the next cell: `check` tests your function on small
# made-up pools (exact counts, whole patients, the split changes with the seed).

# %%
def patient_split(labels, patients, n_test, rng):
    """Bool mask (N,) of the test side: whole patients, greedily, exactly n_test images per class."""
    ### BEGIN SOLUTION
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        keys, group, sizes = np.unique(patients[idx], return_inverse=True, return_counts=True)
        taken, total = np.zeros(len(keys), bool), 0
        for g in rng.permutation(len(keys)):
            if total + sizes[g] <= n_test:
                taken[g], total = True, total + sizes[g]
                if total == n_test:
                    break
        test[idx] = taken[group]
    return test
    ### END SOLUTION


# %%
patient_split = check("patient_split", patient_split)

# %% [markdown]
# Now on the lesson's data. The same two properties, written out: exactly `n_test` per class and
# no patient on both sides; a different seed gives a different split, and the test must catch the
# image-level split above.

# %%
def check_split(mask, labels, patients, n_test):
    """Raise AssertionError unless ``mask`` has n_test images per class and leaks no patient."""
    for name in CLASSES:
        got = int(np.sum(mask & (labels == name)))
        assert got == n_test, f"class {name}: {got} test images, expected {n_test}"
    shared = set(patients[mask]) & set(patients[~mask])
    assert not shared, f"{len(shared)} patients on both sides, e.g. {[str(p) for p in sorted(shared)[:3]]}"


mine = patient_split(data.labels, data.patients, N_TEST, np.random.default_rng(0))
check_split(mine, data.labels, data.patients, N_TEST)
other_seed = patient_split(data.labels, data.patients, N_TEST, np.random.default_rng(1))
check_split(other_seed, data.labels, data.patients, N_TEST)
assert np.any(mine != other_seed), "the split does not depend on the generator"
try:
    check_split(naive, data.labels, data.patients, N_TEST)
    raise RuntimeError("check_split accepted the leaking image-level split")
except AssertionError as err:
    print("image-level split rejected as it should be:", err)
print("patient_split: exactly", N_TEST, "per class, no patient on both sides")

# %% [markdown]
# The test side in pictures: how many patients each class's 68 test images come from.

# %%
fig, ax = plt.subplots(figsize=(5, 2.6))
n_pat = [len(np.unique(data.patients[mine & (data.labels == c)])) for c in CLASSES]
ax.bar(CLASSES, n_pat)
ax.axhline(N_TEST, color="k", ls="--", lw=1)
ax.set_ylabel("patients on the test side")
ax.set_title(f"{N_TEST} test images per class come from this many patients")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What to try next
#
# - Run the leak count for ten seeds: how much does it vary? How does it grow with `N_TEST`?
# - Set `MTTGAN_DATA` and look at the real COVID pool: how many films does its busiest patient
#   have? The real set also has the same film under two patient keys; `split_test` merges such
#   duplicates before it splits (`mttgan_min/data/split.py`). Can your split leak one?
# - The paper keeps 159 COVID images for training (227 - 68). Lesson 2 turns these counts into the
#   length of a training epoch.
