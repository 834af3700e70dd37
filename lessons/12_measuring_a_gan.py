# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lesson 12: Measuring a GAN without downloaded weights (paper, Sec. VI, Figs. 6-9)
#
# The paper trains four GANs (the baseline without and with augmentation, the Transfer GAN and
# MTT-GAN) and judges them by eye (Figs. 6-9) and through the classifiers of Tables I and II.
# The usual number, FID, needs an Inception network trained on ImageNet, which we cannot download.
# What can we measure with the images alone?
#
# - **Can a simple classifier tell generated from real?** (classifier two-sample test)
# - **Did the generator copy its training images?** (nearest neighbours)
# - **Does it draw varied images, and do they cover the real ones?** (diversity, coverage)
# - **Do simple image statistics match?** (intensity histogram, power spectrum)
#
# A measure is only trustworthy if it gives the right answer where we know the answer. So we run each
# one on four "generators" whose quality we know: fresh real images (a perfect generator), noisy
# copies of the training images (a generator that memorised), uniform noise (a broken one), and one
# training film with fresh grain on every draw (a collapsed one).
#
# You write two pieces of these measures: the memorisation fractions of the nearest-neighbour test,
# and the patient-grouped folds of the two-sample test.

# %%
import numpy as np
import matplotlib.pyplot as plt

from mttgan_min.coursework import check
from mttgan_min.data import make_synthetic
from mttgan_min.evaluation import controls, quality
from mttgan_min.evaluation.diversity import pairwise_distances

# %% [markdown]
# The real COVID images are the project's synthetic phantoms at 32x32. We split them by patient into a
# training set (what the GAN would learn from), a held-out set (the evaluation's real test images),
# and a third set of fresh real images that plays the perfect generator.

# %%
covid = make_synthetic("covid", size=32, seed=0)
patients = np.random.default_rng(0).permutation(np.unique(covid.patients))
rank = {p: i for i, p in enumerate(patients)}
order = np.array([rank[p] for p in covid.patients])          # patient's place in a seeded shuffle
part = (order >= len(patients) // 2).astype(int) + (order >= 3 * len(patients) // 4)
train, heldout, fresh = (covid.subset(part == i) for i in range(3))
train_patients, heldout_patients, fresh_patients = train.patients, heldout.patients, fresh.patients
train, heldout, fresh = train.images, heldout.images, fresh.images
print(f"training images: {len(train)}, held-out images: {len(heldout)}, fresh real images: {len(fresh)}")

rng = np.random.default_rng(1)
candidates = {
    "fresh real (perfect)": fresh,
    "noisy copies (memorised)": np.clip(train[rng.integers(0, len(train), 200)]
                                        + rng.normal(0, 0.02, (200, 32, 32, 1)), 0, 1).astype(np.float32),
    "uniform noise (broken)": rng.random((200, 32, 32, 1)).astype(np.float32),
    "one film + grain (collapsed)": np.clip(train[:1] + rng.normal(0, 0.1, (200, 32, 32, 1)),
                                            0, 1).astype(np.float32),
}

fig, axes = plt.subplots(len(candidates), 6, figsize=(9, 1.6 * len(candidates)))
for row, (name, imgs) in zip(axes, candidates.items()):
    for ax, img in zip(row, imgs[:6]):
        ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
    row[0].set_title(name, loc="left", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The classifier two-sample test
#
# Put the generated and the real images in one pile, label them, and let the pixel-logistic model
# (the 8x8 mean-pooled image, 64 numbers) learn to tell them apart under 5-fold cross-validation.
# Accuracy near 0.5 means it cannot; the binomial test gives a p-value against 0.5. We run it against
# the training images and against the held-out ones: a generator that copies its training set is
# harder to tell from the training images than from new ones.

# %%
for name, imgs in candidates.items():
    t_train = quality.two_sample_test(imgs, train, real_groups=train_patients)
    t_held = quality.two_sample_test(imgs, heldout, real_groups=heldout_patients)
    print(f"{name:<28} vs training: {t_train['accuracy']:.2f} (p = {t_train['p_value']:.1e})   "
          f"vs held-out: {t_held['accuracy']:.2f} (p = {t_held['p_value']:.1e})")

# %% [markdown]
# The `real_groups` argument matters. A phantom patient has up to three nearly identical films. If
# two films of one patient land in different folds, the model can win by recognising the patient, and
# even real against real scores above chance. Keeping each patient in one fold closes that leak:

# %%
leaky = quality.two_sample_test(fresh, train)
grouped = quality.two_sample_test(fresh, train, real_groups=train_patients, generated_groups=fresh_patients)
print(f"fresh real vs training, folds ignore patients: {leaky['accuracy']:.2f} (p = {leaky['p_value']:.1e})")
print(f"fresh real vs training, patients kept whole:   {grouped['accuracy']:.2f} (p = {grouped['p_value']:.1e})")

# %% [markdown]
# Noise fails at once; the fresh real images pass. The copies pass too, with a twist: against the
# training images they score far *below* 0.5. Each copy's original sits in another fold with the
# other label, so the model is fooled systematically; accuracy well under chance against the
# training set, and not against the held-out set, is itself a hint of copying. And a weak judge says
# little: this one sees only 64 numbers, so "cannot tell" is a low bar.
#
# ## Nearest neighbours: did it copy?
#
# For every generated image, the L2 distance to its nearest training image. For comparison the same
# distance for held-out real images: how close a *new* image of the same kind usually comes. Copies
# sit far below that; the fraction of generated images below the held-out distances' 1st and 5th
# percentile, and a one-sided Mann-Whitney U test, turn it into numbers.

# %%
held_to_train = pairwise_distances(heldout, train).min(axis=1)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(held_to_train, bins=30, alpha=0.6, density=True, label="held-out real")
for name, imgs in list(candidates.items())[1:]:
    nn = quality.nearest_neighbours(imgs, train, heldout)
    print(f"{name:<28} below p1: {nn['fraction_below_p1']:.2f}  below p5: {nn['fraction_below_p5']:.2f}  "
          f"Mann-Whitney p = {nn['mannwhitney_p']:.1e}")
    ax.hist(nn["generated_distance"], bins=30, alpha=0.6, density=True, label=name)
ax.set_xlabel("distance to the nearest training image")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise: the memorisation fractions
#
# Write `memorisation_fractions(generated, train, heldout)` -> `(below_p1, below_p5)`: images are
# arrays (N, S, S, 1), (M, S, S, 1) and (K, S, S, 1). For every generated image take its distance
# to the nearest training image; for every held-out image the same; return the fractions of
# generated images whose distance lies below the 1st and below the 5th percentile of the held-out
# images' distances (`np.percentile`). Use `pairwise_distances(a, b)` (shape (len(a), len(b))) and
# NumPy. The check compares with `quality.nearest_neighbours` on small random images with and
# without copies; the grader also tries other sizes and mixtures.

# %%
def memorisation_fractions(generated, train, heldout):
    """Fractions of generated images closer to the training set than the held-out images' 1st / 5th percentile."""
    ### BEGIN SOLUTION
    nearest_gen = pairwise_distances(generated, train).min(axis=1)
    nearest_new = pairwise_distances(heldout, train).min(axis=1)
    p1, p5 = np.percentile(nearest_new, [1, 5])
    return float(np.mean(nearest_gen < p1)), float(np.mean(nearest_gen < p5))
    ### END SOLUTION


# %%
memorisation_fractions = check("memorisation_fractions", memorisation_fractions)

# %%
for name in ("fresh real (perfect)", "noisy copies (memorised)"):
    below_p1, below_p5 = memorisation_fractions(candidates[name], train, heldout)
    print(f"{name:<28} below p1: {below_p1:.2f}  below p5: {below_p5:.2f}")
assert memorisation_fractions(candidates["noisy copies (memorised)"], train, heldout)[1] > 0.9, \
    "noisy copies must be flagged as memorised"

# %% [markdown]
# ## Diversity and coverage
#
# `quality_report` gathers every measure. The *spread ratio* (mean pairwise distance among generated
# images over the same among real ones) is near 0 for a collapsed generator; *coverage* is the
# fraction of held-out images that have a generated image among their nearest real neighbours. Note
# what each number cannot see: copies are as varied as the data (spread about 1) and even cover the
# held-out images; only the nearest-neighbour test catches them. Noise is *more* varied than the data.
# The *layout* spread is the same ratio on 4x4-pixel block means: grain averages away there, so a
# generator that draws one picture with fresh noise each time scores high on the first and low on
# the second (docs/design.md, "Diversity after every epoch").

# %%
reports = {name: quality.quality_report(imgs, train, heldout, train_groups=train_patients,
                                        heldout_groups=heldout_patients) for name, imgs in candidates.items()}
print(f"{'':<28}{'spread':>8}{'layout':>8}{'near-dup':>10}{'coverage':>10}{'W1 int.':>9}{'spectrum':>10}")
for name, r in reports.items():
    d = r["diversity"]
    print(f"{name:<28}{d['spread_ratio']:>8.2f}{d['layout_spread_ratio']:>8.2f}{d['near_duplicate_rate']:>10.3f}"
          f"{d['coverage_heldout']:>10.2f}{r['intensity_wasserstein']:>9.3f}{r['spectrum']['log_distance']:>10.2f}")
collapsed = reports["one film + grain (collapsed)"]["diversity"]
assert collapsed["spread_ratio"] > 0.7 and collapsed["layout_spread_ratio"] < 0.5, "grain fools only the pixels"

# %% [markdown]
# ## The power spectrum
#
# Average the squared Fourier magnitude of the images over rings of equal frequency. Natural images
# fall off smoothly; noise is flat; a generator built from stride-2 transposed convolutions (the
# paper's, Sec. IV, Fig. 5) tends to leave a checkerboard, a bump at the highest frequencies.
# Each axis's frequency runs up to 0.5 cycles per pixel (Nyquist); the ring radius
# sqrt(fx^2 + fy^2) runs up to 0.707 at the corner (0.5, 0.5). Right of the dotted line (radius
# 0.5) lie only diagonal frequencies, every one of them still within Nyquist on each axis; the
# x + y checkerboard is the corner itself, at 0.707.

# %%
board = 0.06 * (np.indices((32, 32)).sum(axis=0) % 2)[None, :, :, None]
checkered = np.clip(heldout + board, 0, 1)
fig, ax = plt.subplots(figsize=(6, 4))
f, p_real = quality.radial_power_spectrum(train)
ax.semilogy(f[1:], p_real[1:], "k", lw=2, label="training images")
for name, imgs in [*candidates.items(), ("held-out + checkerboard", checkered)]:
    f, p = quality.radial_power_spectrum(imgs)
    ax.semilogy(f[1:], p[1:], label=name)
ax.axvline(0.5, color="gray", ls=":")
ax.set_xlabel("spatial frequency (cycles / pixel)")
ax.set_ylabel("mean power")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The checkerboard adds only 0.06 to half of the pixels, hard to see by eye. `quality.spectrum_distance`
# sums the power at radius 0.5 and beyond, generated over real:

# %%
ratio_board = quality.spectrum_distance(checkered, train)["high_frequency_ratio"]
ratio_clean = quality.spectrum_distance(heldout, train)["high_frequency_ratio"]
print(f"high-frequency power vs training: checkerboard {ratio_board:.1f}x, clean {ratio_clean:.2f}x")
assert ratio_board > 5 * ratio_clean, "the checkerboard puts its power at the highest frequencies"

# %% [markdown]
# ## Folds that keep each patient whole
#
# Back to the two-sample test and its leak. Cross-validation deals the images into folds; the
# judge is trained on all folds but one and scored on the one left out. When a patient's films
# sit in two folds, the judge meets the patient in training and again in testing.
#
# ### Exercise: grouped folds
#
# Write `grouped_folds(groups, folds, rng)` -> an int array (N,) of fold numbers 0..folds-1:
# `groups` (N,) holds each image's patient key (strings or integers), `rng` a seeded NumPy
# generator. Every image of a patient goes to the same fold; the patients are dealt out in a random
# order drawn from `rng` (so two equally seeded calls agree), such that the numbers of patients in
# any two folds differ by at most one. (`np.unique(..., return_inverse=True)` gives every image
# the index of its patient among the distinct patients.) The check tests these properties on 23
# patients; the grader on other group sizes and fold counts, and that another seed deals
# differently.

# %%
def grouped_folds(groups, folds, rng):
    """Fold number (N,) of every image, 0..folds-1, whole groups to one fold, groups dealt in a seeded order."""
    ### BEGIN SOLUTION
    keys, index = np.unique(np.asarray(groups), return_inverse=True)
    deal = rng.permutation(len(keys)) % folds
    return deal[index.ravel()]
    ### END SOLUTION


# %%
grouped_folds = check("grouped_folds", grouped_folds)

# %% [markdown]
# With your folds, the two-sample accuracy of the pixel-logistic judge (as `quality.two_sample_test`
# computes it: equal numbers of both kinds, five folds), once with every image its own group (the
# leak) and once with the patients kept whole. Both sides are real images here, so the honest
# answer is about 0.5:

# %%
def two_sample_accuracy(generated, real, generated_groups, real_groups, folds=5, seed=0):
    """Cross-validated accuracy of the 8x8 pixel-logistic judge telling generated (1) from real (0)."""
    rng = np.random.default_rng(seed)
    m = min(len(generated), len(real))
    gi, ri = rng.permutation(len(generated))[:m], rng.permutation(len(real))[:m]
    x = np.concatenate([generated[gi], real[ri]])
    y = np.repeat([1, 0], m)
    fold = np.concatenate([grouped_folds(np.asarray(generated_groups)[gi], folds, rng),
                           grouped_folds(np.asarray(real_groups)[ri], folds, rng)])
    correct = 0
    for f in range(folds):
        judge = controls.fit_pixel_logistic(x[fold != f], y[fold != f], n_classes=2, grid=8, l2=1e-2)
        correct += int(np.sum(judge.predict(x[fold == f]) == y[fold == f]))
    return correct / (2 * m)


acc_leaky = two_sample_accuracy(fresh, train, np.arange(len(fresh)), np.arange(len(train)))
acc_whole = two_sample_accuracy(fresh, train, fresh_patients, train_patients)
print(f"fresh real vs training: images as groups {acc_leaky:.2f}, patients kept whole {acc_whole:.2f}")
print(f"(the package's two_sample_test above: {leaky['accuracy']:.2f} and {grouped['accuracy']:.2f})")

# %% [markdown]
# ## What to try next
#
# - Train a tiny GAN (`python -m mttgan_min.train`) and pass its samples through `quality_report`:
#   where between "perfect" and "broken" does it land, and does the spectrum show a checkerboard?
# - Lower the noise on the copies, or mix copies with held-out images: at what fraction of copies does
#   the Mann-Whitney test stop noticing?
# - Make a collapsed generator (one image repeated with tiny noise) and look at the spread ratio and
#   the near-duplicate rate.
# - Replace the pixel-logistic judge by a small convolutional classifier from the engine: does it
#   separate the held-out images from the training ones (it should not)?
