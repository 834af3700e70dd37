# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Lesson 11: Reading Tables I and II (paper, Sec. VI, Tables I and II)
#
# The paper's claim rests on two tables: classifiers (VGG-19, AlexNet) trained with generated COVID
# images and tested on real held-out ones, 136 test images for the binary task (Table I) and 272 for
# the four-class task (Table II). Each cell is an accuracy with a 95% interval.
#
# In this lesson we read those tables the way a reviewer would:
#
# 1. recover the number of correct test images behind each accuracy and recompute its exact interval;
# 2. compare two rows with Fisher's exact test, on accuracy and on COVID recall;
# 3. compare two rows the paired way, with McNemar's test, and correct for many comparisons (Holm);
# 4. ask whether the task can be solved without looking at the lungs at all (the pixel shortcut).

# %%
import numpy as np
import matplotlib.pyplot as plt

from math import comb

from scipy.stats import beta

from mttgan_min.coursework import check
from mttgan_min.evaluation import stats, tables, controls
from mttgan_min.data import make_synthetic

# %% [markdown]
# ## 1. An accuracy is k out of n
#
# With n = 136 test images an accuracy can only be a multiple of 1/136 (0.74 points). So
# k = round(accuracy x n) recovers how many images were right, and the exact (Clopper-Pearson)
# interval of k/n follows from the binomial distribution alone. The package takes it from SciPy
# (`stats.clopper_pearson`); you will write it yourself below.

# %%
k, n = 101, 136
print(f"baseline GAN, VGG-19: {k}/{n} = {100 * k / n:.2f}%  exact 95% CI = "
      f"({stats.clopper_pearson(k, n)[0]:.4f}, {stats.clopper_pearson(k, n)[1]:.4f})")

checks = tables.paper_checks()
print(f"{'task':<11}{'row':<19}{'clf':<8}{'printed':>8}{'k/n':>9}  {'exact 95% CI':<17} printing")
for c in checks:
    print(f"{c['task']:<11}{c['row']:<19}{c['classifier']:<8}{c['printed_accuracy']:>8.2f}"
          f"{c['k']:>5}/{c['n']:<3}  ({c['low']:.3f}, {c['high']:.3f})   {c['printing']}")

# %% [markdown]
# Most printed accuracies are k/n cut (not rounded) to two decimals: 94.11% is 128/136 = 94.1176%.
# Two cells of Table II cannot be k/272 for any k, and one printed interval is impossible:

# %%
for c in checks:
    for note in c["notes"]:
        if "truncated" not in note:
            print(f"{c['task']}, {c['row']}, {c['classifier']}: {note}")

# %% [markdown]
# The picture puts all 24 cells side by side. The intervals are about 10 points wide for the
# weaker rows: with 136 test images, 96.32% (131/136) and 94.11% (128/136) are not
# distinguishable. Their intervals overlap almost entirely, and Fisher's exact test (section 2)
# on the two 2x2 tables of right and wrong answers gives p = 0.57, far from any significance
# level.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
for ax, task in zip(axes, tables.TASKS):
    cs = [c for c in checks if c["task"] == task]
    for j, clf in enumerate(tables.CLASSIFIERS):
        sel = [c for c in cs if c["classifier"] == clf]
        x = np.arange(len(sel)) + (j - 0.5) * 0.25
        acc = np.array([c["k"] / c["n"] for c in sel])
        err = np.array([[a - c["low"] for a, c in zip(acc, sel)], [c["high"] - a for a, c in zip(acc, sel)]])
        ax.errorbar(x, 100 * acc, yerr=100 * err, fmt="o", capsize=3, label=tables.CLASSIFIER_LABELS[clf])
    ax.set_xticks(range(len(tables.ROWS)), [r.replace("_", "\n") for r in tables.ROWS], fontsize=8)
    ax.set_title(tables.TABLE_TITLES[task].split(":")[0] + f" (n = {tables.TASK_N[task]})")
    ax.set_ylabel("test accuracy % (exact 95% CI)")
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise: the exact interval from Beta quantiles
#
# The exact (Clopper-Pearson) interval at level 1 - alpha collects every p at which the observed k
# is not too surprising on either side: its lower end is the p at which P(X >= k) = alpha/2 for
# X ~ Binomial(n, p), its upper end the p at which P(X <= k) = alpha/2. Both tails are Beta
# distributions in disguise: X >= k means that at least k of n uniform numbers fall below p, that
# is, the k-th smallest of them does, and the k-th smallest of n uniform numbers has the
# Beta(k, n - k + 1) distribution. So each end is a quantile of a Beta distribution
# (`scipy.stats.beta.ppf(q, a, b)`, imported as `beta`): work out which quantile of which Beta
# for each end (for the upper end, turn X <= k into a statement about X >= k + 1).
#
# Write `clopper_pearson(k, n, alpha=0.05)` -> `(low, high)`, floats, for 0 <= k <= n, with
# `beta.ppf`, not with the package's `stats.clopper_pearson`. Mind the edges: what must each end
# be when k = 0 or k = n, where one of the Beta's parameters would be 0? The paper prints 100%
# with the interval "(1, 1)": your function will say what 136/136 really allows.
#
# The check compares your ends with SciPy's exact interval for a few (k, n) of the tables and the
# edges; the grader also tries many other (k, n, alpha).

# %%
def clopper_pearson(k, n, alpha=0.05):
    """Exact (Clopper-Pearson) interval of k successes in n trials at level 1 - alpha -> (low, high)."""
    ### BEGIN SOLUTION
    lower_end = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    upper_end = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lower_end, upper_end
    ### END SOLUTION


# %%
clopper_pearson = check("clopper_pearson", clopper_pearson)

# %%
lo_100, hi_100 = clopper_pearson(136, 136)
print(f"136/136: ({lo_100:.4f}, {hi_100:.4f}); 0/136: {tuple(round(v, 4) for v in clopper_pearson(0, 136))}")
assert abs(lo_100 - 0.025 ** (1 / 136)) < 1e-9 and hi_100 == 1.0   # p^136 = 0.025 at the lower end

# %% [markdown]
# ## 2. Fisher's exact test: on accuracy, or on COVID recall?
#
# Fisher's test asks whether two proportions differ, from the 2x2 table of right and wrong answers.
# Which proportion matters: over all test images or over the 68 COVID images? The paper's p-values
# reproduce only with the second (docs/design.md, "Which test the paper's p-values are"). Both are
# worth computing; they answer different questions. Here MTT-GAN (131/136) against the baseline
# (101/136) in Table I; the paper does not give the split of errors by class, so we *suppose* that every
# error was a missed COVID image (so COVID recall is 63/68 against 33/68).

# %%
acc_test = stats.fisher_2x2(131, 136, 101, 136)
rec_test = stats.fisher_2x2(131 - 68, 68, 101 - 68, 68)
print(f"Fisher on accuracy    131/136 vs 101/136: p = {acc_test['p']:.2e}")
print(f"Fisher on COVID recall  63/68 vs  33/68: p = {rec_test['p']:.2e}")
print(f"MTT-GAN vs Transfer GAN, VGG-19 (131/136 vs 130/136): p = {stats.fisher_2x2(131, 136, 130, 136)['p']:.2f}")

# %% [markdown]
# ## 3. Paired comparisons: McNemar, then Holm
#
# Fisher treats the two rows as if they were tested on different images. They were not: every
# classifier sees the same 136 test images, so we can compare them image by image. Only the
# *discordant* images matter, those one classifier gets right and the other wrong: b of one kind, c of
# the other. If the two are equally good, b is Binomial(b + c, 1/2) (exact McNemar test).
#
# We build two classifiers that share most of their mistakes (hard images are hard for both): both
# miss the same 14 images, B misses 9 more, A misses 1 image B gets right.

# %%
y_true = np.repeat([0, 1], 68)
right_a = np.ones(136, bool)
right_b = np.ones(136, bool)
right_a[:14] = right_b[:14] = False          # hard for both
right_b[20:29] = False                       # only B wrong
right_a[40] = False                          # only A wrong
print(f"A: {right_a.sum()}/136, B: {right_b.sum()}/136")
print(f"Fisher on accuracy: p = {stats.fisher_2x2(right_a.sum(), 136, right_b.sum(), 136)['p']:.3f}")
m = stats.mcnemar_exact(right_a, right_b)
print(f"McNemar: b = {m['b']}, c = {m['c']}, p = {m['p']:.3f}")

# %% [markdown]
# Fisher sees 121 against 113 and finds nothing; McNemar sees that of the 10 images where the two
# disagree, A wins 9, and that is unlikely for two equally good classifiers.

# %% [markdown]
# ### Exercise: McNemar's test by hand
#
# Write `mcnemar(right_a, right_b)` -> `(b, c, p)`: `right_a`, `right_b` are bool arrays (n,), one
# entry per test image, True where classifier A (B) was right. Count the discordant images (b: A
# right and B wrong; c: A wrong and B right) and compute the two-sided exact p-value as
# 2 P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), capped at 1 (and 1 when no image is
# discordant). Use integers and `math.comb` (imported), not SciPy. The check compares with
# `stats.mcnemar_exact` on the two classifiers above; the grader also on random pairs and on ties.

# %%
def mcnemar(right_a, right_b):
    """Exact McNemar test of paired outcomes, bool (n,) each -> (b, c, two-sided p)."""
    ### BEGIN SOLUTION
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(~right_a & right_b))
    trials, fewer = only_a + only_b, min(only_a, only_b)
    tail = sum(comb(trials, i) for i in range(fewer + 1)) / 2 ** trials
    return only_a, only_b, min(1.0, 2 * tail)
    ### END SOLUTION


# %%
mcnemar = check("mcnemar", mcnemar)

# %%
b, c, p_by_hand = mcnemar(right_a, right_b)
print(f"by hand: b = {b}, c = {c}, p = {p_by_hand:.4f}")
assert (b, c) == (m["b"], m["c"]) and abs(p_by_hand - m["p"]) < 1e-12

# %% [markdown]
# Testing MTT-GAN against five other rows is five tests; at alpha = 0.05 one of them comes out
# "significant" by chance far more often than 5% of the time. Holm's step-down correction keeps the
# family-wise error at alpha: sort the p-values, multiply the i-th smallest by (m - i + 1), and keep
# the result non-decreasing (`stats.holm`).

# %% [markdown]
# > **Aside.** SciPy has Benjamini-Hochberg (`scipy.stats.false_discovery_control`) but not Holm, so
# > the package's `stats.holm` is those three lines over SciPy's p-values
# > (docs/design.md, "Holm correction").

# %%
family = [0.004, 0.03, 0.04, 0.2, 0.01]
print("raw :", family)
print("Holm:", np.round(stats.holm(family), 3).tolist())

# %% [markdown]
# ## 4. The pixel shortcut
#
# Could the binary task be solved without the lungs? A logistic regression on the 4x4 mean-pooled
# image (16 numbers: overall brightness, framing, where the body sits) is a classifier that cannot
# see any opacity. On the real data the Kaggle normals are children and the COVID films mostly
# adults, so age and framing alone can separate them. Here we try it on the project's synthetic
# phantoms, where normal and COVID differ only inside the lungs.

# %% [markdown]
# > **Aside.** Measured on the project's reduced copy of the real data at 32x32: the 4x4 model
# > scores 92.6% and the 8x8 one 94.9% on the 136 binary test images, and both call about 80 of
# > 100 adult non-COVID films "COVID" (docs/design.md, "Evaluation controls").

# %%
kaggle = make_synthetic("kaggle", size=32, seed=0)
covid = make_synthetic("covid", size=32, seed=0)
normal = kaggle.subset(kaggle.labels == "normal")


def patient_split(ds, fraction, seed):
    """Bool mask (N,): the images of a seeded ``fraction`` of patients."""
    pats = np.unique(ds.patients)
    chosen = np.random.default_rng(seed).permutation(pats)[: int(fraction * len(pats))]
    return np.isin(ds.patients, chosen)


x_parts, y_parts, test_parts, ytest_parts = [], [], [], []
for label, ds in ((0, normal), (1, covid)):
    test = patient_split(ds, 0.3, seed=1)
    x_parts.append(ds.images[~test]), y_parts.append(np.full((~test).sum(), label))
    test_parts.append(ds.images[test]), ytest_parts.append(np.full(test.sum(), label))
x_train, y_train = np.concatenate(x_parts), np.concatenate(y_parts)
x_test, y_test = np.concatenate(test_parts), np.concatenate(ytest_parts)

for pool in (4, 8):
    pred = controls.pixel_shortcut(x_train, y_train, x_test, pool)
    s = stats.summarize(y_test, pred, ("normal", "covid"))
    print(f"{pool}x{pool} pixels: accuracy {100 * s['accuracy']:.1f}% ({100 * s['acc_low']:.1f}-"
          f"{100 * s['acc_high']:.1f}), COVID recall {100 * s['recall_covid']:.1f}%")

# %% [markdown]
# On the phantoms the shortcut works too: the COVID haze is a large, lower-zone brightening that
# survives 4x4 pooling. A high pixel-shortcut score does not prove that a deep classifier cheats; it
# shows that the test can be passed at a scale where no opacity is visible, so a high score in the
# table is weak evidence that the generated images carry the disease. What the 4x4 model looks at:
# its weight for each of the 16 blocks (positive: brighter there means "COVID").

# %%
model = controls.fit_pixel_logistic(x_train, y_train, grid=4)
weights = (model.W[:, 1] - model.W[:, 0]).reshape(4, 4)
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].imshow(normal.images[0, ..., 0], cmap="gray")
axes[0].set_title("normal")
axes[1].imshow(covid.images[0, ..., 0], cmap="gray")
axes[1].set_title("COVID")
im = axes[2].imshow(weights, cmap="coolwarm", vmin=-abs(weights).max(), vmax=abs(weights).max())
axes[2].set_title("4x4 weights")
fig.colorbar(im, ax=axes[2])
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What to try next
#
# - Run `python -m mttgan_min.evaluate` with `--controls` on the real data and compare the pixel
#   shortcut's row of `results.csv` with the VGG-19 rows of `table1.md`.
# - Look at the probe rate: the fraction of adult non-COVID X-rays each binary classifier calls COVID.
# - In `tests.csv`, find a pair of rows whose Fisher p-value on accuracy is above 0.05 but whose McNemar
#   p-value is below: what do the discordant counts look like?
# - Use your `clopper_pearson` on Table II: which rows of the paper overlap with the baseline's interval?
