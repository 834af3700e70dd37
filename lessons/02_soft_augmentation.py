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
# # Lesson 2: soft augmentation without flips
#
# *Paper: Sec. III (data augmentation).*
#
# 159 COVID films are far too few to train a GAN. The paper multiplies them with a *soft*
# augmentation: from every film it cuts several slightly smaller boxes, removing between 0% and 5%
# of the height at the top and at the bottom and of the width at the left and at the right, each
# amount drawn on its own, and scales each box back to the full size. Five crops per Kaggle image,
# fifty per COVID image. There are no flips and no large rotations.
#
# This lesson shows what such crops look like, why a horizontal flip would be wrong, and how the
# number of crops sets the length of an epoch and of the whole training schedule.
#
# **Which data?** Synthetic phantoms by default; set `MTTGAN_DATA` to the folder holding
# `chest_xray/` and `covid-chestxray-dataset/` to use the real images (see lesson 1).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage

from mttgan_min.coursework import check
from mttgan_min.data import (crop_and_resize, epoch_real_batches, iterations_per_epoch, prepare_data,
                             random_crop_boxes)

DATA = os.environ.get("MTTGAN_DATA")     # None: synthetic phantoms
SIZE = 64
BATCH = 32                               # GAN minibatch: 16 real + 16 generated images

data = prepare_data(DATA, DATA, size=SIZE, seed=0, n_test=68, covid_train_cap=159, progress=False)
kaggle, covid = data.kaggle_train, data.covid_train
print("source:", data.source)
print("training images: Kaggle", kaggle.counts(), "COVID", covid.counts())

# %% [markdown]
# ## Crops of one film
#
# `random_crop_boxes(n, rng)` draws `n` boxes, each four fractions (top, bottom, left, right),
# uniform in [0, 0.05]. `crop_and_resize(images, boxes, size)` cuts box *i* out of image *i* and
# resizes it to `size` with an antialiasing filter. The differences are small and sit at the
# edges: the anatomy moves by a pixel or two and is magnified by at most 11% (1 / 0.9). That is the
# point of a *soft* augmentation: every crop is still a plausible chest film.
#
# > **Aside.** The paper says crop, then resize, but not from which copy of the film. This code
# > crops each pool's *source copy* (`Dataset.hires`, kept at 1.25 times the training size), because
# > then even the largest crop (90% of a side, 1.125 times the training size) is still shrunk, never
# > blown up.

# %%
rng = np.random.default_rng(0)
film = covid.images[:1]                                   # (1, S, S, 1)
boxes = random_crop_boxes(4, rng)
source_film = covid.hires[:1]                             # (1, R, R, 1) uint8, R = 1.25 S
print("source copy", source_film.shape, "-> training size", film.shape)
crops = crop_and_resize(np.repeat(source_film, 4, axis=0), boxes, SIZE)

fig, axes = plt.subplots(2, 5, figsize=(11, 4.6))
axes[0, 0].imshow(film[0, :, :, 0], cmap="gray", vmin=0, vmax=1)
axes[0, 0].set_title("original")
axes[1, 0].axis("off")
for k in range(4):
    t, b, l, r = boxes[k]
    axes[0, k + 1].imshow(crops[k, :, :, 0], cmap="gray", vmin=0, vmax=1)
    axes[0, k + 1].set_title(f"t{t:.2f} b{b:.2f}\nl{l:.2f} r{r:.2f}", fontsize=8)
    diff = crops[k, :, :, 0] - film[0, :, :, 0]
    im = axes[1, k + 1].imshow(diff, cmap="coolwarm", vmin=-0.5, vmax=0.5)
    axes[1, k + 1].set_title(f"crop - original\nmean |d| {np.abs(diff).mean():.3f}", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([]), ax.set_yticks([])
fig.colorbar(im, ax=axes[1, 1:].tolist(), shrink=0.8)
plt.show()

# %% [markdown]
# ## Why never flip a chest film
#
# Flipping left to right is the first augmentation most image tutorials reach for. On a chest film
# it produces an anatomy that almost nobody has: the heart bulges to the patient's left, which is
# the image's right on a frontal (PA) film, and a flip moves it to the other side (*situs
# inversus*, about 1 in 10,000 people). A GAN trained on flipped films would learn to draw both.
#
# Average the normal films: the heart is the bright mass low in the middle, off to the image's
# right. Measure it as the mean brightness of the lower right quarter minus the lower left one.

# %%
def heart_side(image):
    """Mean brightness of the lower right minus the lower left central region; > 0: heart on the right."""
    S = image.shape[0]
    low = image[int(0.55 * S):int(0.85 * S)]
    return float(low[:, S // 2:int(0.8 * S)].mean() - low[:, int(0.2 * S):S // 2].mean())


mean_normal = kaggle.images[kaggle.labels == "normal"].mean(axis=0)[:, :, 0]
flipped = mean_normal[:, ::-1]
fig, axes = plt.subplots(1, 3, figsize=(9, 3.6), layout="constrained")
for ax, img, title in [(axes[0], mean_normal, "mean normal film"), (axes[1], flipped, "flipped")]:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{title}\nheart side {heart_side(img):+.3f}", fontsize=9)
difference = mean_normal - flipped
m = np.abs(difference).max()
axes[2].imshow(difference, cmap="coolwarm", vmin=-m, vmax=m)
axes[2].set_title("mean - flipped\n(red: brighter than its mirror image)", fontsize=9)
for ax in axes:
    ax.set_xticks([]), ax.set_yticks([])
plt.show()
print(f"share of films with the heart on the image's right: "
      f"{np.mean([heart_side(x[:, :, 0]) > 0 for x in kaggle.images]):.1%}")

# %% [markdown]
# ## Epoch length and the whole schedule
#
# The paper gives the augmentation factors (5 for Kaggle, 50 for COVID), a minibatch of 32 and
# 100 epochs of each stage, but **the paper does not say** how many iterations an epoch has, nor
# whether the crops are stored. This code chooses to draw fresh crops every epoch instead of storing
# the augmented copies (see `mttgan_min/data/augment.py`), because 50 stored copies of every COVID
# film cost memory and add nothing that fresh draws do not. It counts one epoch as
# `(factor x N) // 32` iterations, because that is how long an epoch over the stored copies would be
# with minibatches of 32: one iteration per 32 crops, the last incomplete minibatch dropped.
#
# A GAN iteration does not use 32 real crops, though. Its minibatch of 32 is 16 real images and 16
# generated ones, so one epoch draws only half of its `factor x N` crops, without replacement.
#
# ## Exercise: the plan of one epoch
#
# Write `epoch_plan(n_images, factor, batch_size)` returning two integers: the number of
# iterations of one epoch, counted as above (incomplete minibatches are dropped), and the number of
# real crops those iterations use (each iteration uses half a minibatch of real images).

# %%
def epoch_plan(n_images, factor, batch_size=32):
    """(iterations per epoch, real crops used per epoch) for n_images originals and factor crops each."""
    ### BEGIN SOLUTION
    iterations = (n_images * factor) // batch_size
    return iterations, iterations * (batch_size // 2)
    ### END SOLUTION


# %%
epoch_plan = check("epoch_plan", epoch_plan)

# %% [markdown]
# With the paper's counts: 5,856 Kaggle images (1,583 normal, 2,780 bacterial, 1,493 viral) less
# 3 x 68 test images, five crops each; 227 COVID images less 68, fifty crops each; 100 epochs of
# each stage. The package's own count is `iterations_per_epoch(N, factor, 32)`.

# %%
KAGGLE_IMAGES, COVID_IMAGES, N_TEST, EPOCHS = 1583 + 2780 + 1493, 227, 68, 100
kaggle_train_n = KAGGLE_IMAGES - 3 * N_TEST
covid_train_n = COVID_IMAGES - N_TEST
pretrain, _ = epoch_plan(kaggle_train_n, 5, BATCH)
finetune, _ = epoch_plan(covid_train_n, 50, BATCH)
plain, plain_real = epoch_plan(covid_train_n, 1, BATCH)
assert (pretrain, finetune, plain) == tuple(iterations_per_epoch(n, f, BATCH) for n, f in
                                            [(kaggle_train_n, 5), (covid_train_n, 50), (covid_train_n, 1)])
print(f"pretraining: {kaggle_train_n} images x 5 // {BATCH} = {pretrain} iterations per epoch")
print(f"fine-tuning: {covid_train_n} images x 50 // {BATCH} = {finetune} iterations per epoch")
print(f"MTT-GAN / Transfer GAN: {EPOCHS} x ({pretrain} + {finetune}) = {EPOCHS * (pretrain + finetune):,}")
print(f"baseline without augmentation: {covid_train_n} // {BATCH} = {plain} iterations per epoch, "
      f"{EPOCHS * plain} in total; {plain_real} of the {covid_train_n} films are used in an epoch")
assert (pretrain, finetune, EPOCHS * (pretrain + finetune), EPOCHS * plain) == (883, 248, 113_100, 400)
assert plain_real == 64

# %% [markdown]
# The baseline GAN without augmentation does **not** see each COVID film once per epoch: its
# 159 films make 4 iterations of 16 real images, so an epoch uses 64 of the 159 films (a different
# random 64 each epoch) and drops the rest; over 100 epochs that is 6,400 real images, about 40
# views per film, in 400 iterations, about 280 times fewer iterations than MTT-GAN. The same
# arithmetic on the data loaded above:

# %%
stages = {"pretrain (Kaggle, x5)": (len(kaggle), 5), "fine-tune (COVID, x50)": (len(covid), 50),
          "baseline (COVID, x1)": (len(covid), 1)}
per_epoch = {name: epoch_plan(n, f, BATCH)[0] for name, (n, f) in stages.items()}
for name, it in per_epoch.items():
    print(f"{name:<24} {stages[name][0]:>5} images -> {it:>4} iterations per epoch, {EPOCHS * it:>6,} in 100 epochs")

fig, ax = plt.subplots(figsize=(7, 2.6))
paper = {"pretrain (Kaggle, x5)": pretrain, "fine-tune (COVID, x50)": finetune, "baseline (COVID, x1)": plain}
y = np.arange(len(paper))
ax.barh(y + 0.2, [EPOCHS * v for v in paper.values()], height=0.4, label="paper's counts")
ax.barh(y - 0.2, [EPOCHS * v for v in per_epoch.values()], height=0.4, label="loaded data")
ax.set_yticks(y, list(paper)), ax.set_xscale("log"), ax.set_xlabel("iterations in 100 epochs")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# `epoch_real_batches` yields the real halves of one epoch's minibatches, a fresh random crop for
# each: count them.

# %%
batches = list(epoch_real_batches(covid.hires, 50, BATCH, np.random.default_rng(0), size=SIZE))
print(len(batches), "batches of", batches[0].shape, "; expected", iterations_per_epoch(len(covid), 50, BATCH))
assert len(batches) == iterations_per_epoch(len(covid), 50, BATCH)
assert all(b.shape == (BATCH // 2, SIZE, SIZE, 1) for b in batches)

# %% [markdown]
# ## Exercise: from a crop box to pixels
#
# A box is four fractions. On an image of `H` rows and `W` columns, which pixels does it keep?
# Write `crop_box_to_pixels(box, H, W)` returning `(row0, row1, col0, col1)` such that
# `image[row0:row1, col0:col1]` is the crop: `top * H` rows (rounded to the nearest pixel) are
# removed at the top, `bottom * H` at the bottom, `left * W` columns at the left and `right * W` at
# the right. Rows count from the top, columns from the left; the end bounds are exclusive, as in
# every Python slice. Return four Python integers.
#
# Cropping a film at its full resolution and only then resizing to the training size keeps all the
# detail the film has; cropping an already small image and scaling it up again blurs it. So the
# crop belongs on the source image, in its own pixels, which is what this function computes.
#
# `check` compares your bounds with the expected ones on a non-square 160 x 200 image (so that
# rows and columns cannot be mixed up), for a few hand-made boxes and 200 random ones.

# %%
def crop_box_to_pixels(box, H, W):
    """(top, bottom, left, right) fractions -> (row0, row1, col0, col1) pixel bounds on an H x W image."""
    ### BEGIN SOLUTION
    top, bottom, left, right = box
    return (int(round(top * H)), H - int(round(bottom * H)),
            int(round(left * W)), W - int(round(right * W)))
    ### END SOLUTION


# %%
crop_box_to_pixels = check("crop_box_to_pixels", crop_box_to_pixels)


# %%
def crop(image, box):
    """The pixels of ``image`` (H, W, ...) inside ``box``."""
    r0, r1, c0, c1 = crop_box_to_pixels(box, image.shape[0], image.shape[1])
    return image[r0:r1, c0:c1]


# %% [markdown]
# Your crop, resized with SciPy's spline zoom, next to the package's `crop_and_resize` of the same
# box: they should show the same field of view. (The two resample differently, so do not expect
# equal pixels.)

# %%
box = np.array([0.05, 0.0, 0.05, 0.0])                     # cut the top and the left 5%
mine = crop(film[0, :, :, 0], box)
mine = ndimage.zoom(mine, (SIZE / mine.shape[0], SIZE / mine.shape[1]), order=1)
package = crop_and_resize(film, box[None], SIZE)[0, :, :, 0]
fig, axes = plt.subplots(1, 3, figsize=(8, 3))
for ax, img, title in [(axes[0], film[0, :, :, 0], "original"), (axes[1], mine, "crop, then zoom"),
                       (axes[2], package, "crop_and_resize")]:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title), ax.set_xticks([]), ax.set_yticks([])
plt.tight_layout()
plt.show()
print(f"mean |crop+zoom - crop_and_resize| = {np.abs(mine - package).mean():.4f} "
      f"(original vs crop_and_resize: {np.abs(film[0, :, :, 0] - package).mean():.4f})")

# %% [markdown]
# ## What to try next
#
# - Raise the crop limit from 5% to 20% (`random_crop_boxes(n, rng, max_frac=0.2)`): when do the
#   crops stop looking like the same patient?
# - How many distinct crops would the paper's 50 per image be, if you stored them? At 128 x 128
#   float32, how many gigabytes is that for the COVID pool? (This is why crops are drawn afresh.)
# - Count how many times each COVID film is seen in the 24,800 fine-tuning iterations.
# - Lesson 3 starts the engine: the first layers of the networks and their gradients.
