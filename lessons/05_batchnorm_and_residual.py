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
# # Lesson 5: batch normalisation (Keras, momentum 0.8) and the residual block
#
# *Paper: Sec. IV-C and Fig. 5 (the generator's residual blocks, with "BatchNormalization,
# momentum 0.8").*
#
# Each of the generator's six residual blocks computes
#
# $$ \mathrm{ResBlock}(x) = x + \mathrm{LReLU}(\mathrm{Deconv}(\mathrm{LReLU}(\mathrm{BN}(\mathrm{Deconv}(x))))) $$
#
# with 4x4 stride-1 transposed convolutions (lesson 4). This lesson covers the two new pieces:
# batch normalisation, whose output depends on whether the network is training, and the skip
# connection `x + ...`, whose gradient is the easiest in the whole network. You write batch norm's
# backward (exercise `batchnorm_backward`) after seeing a buggy one pass a careless gradient check,
# and then an upstream gradient that fools such a check (exercise `hiding_dout`).

# %%
import matplotlib.pyplot as plt
import numpy as np

from mttgan_min.coursework import check
from mttgan_min.gradcheck import check_function, check_layer, report
from mttgan_min.layers import BatchNorm2D, Conv2DTranspose, LeakyReLU, Residual, Sequential
from mttgan_min.layers.batchnorm import batchnorm_backward, batchnorm_forward

rng = np.random.default_rng(0)

# %% [markdown]
# ## Batch normalisation, as Keras does it
#
# For every channel c, over the M = N * H * W values of a batch (NHWC: statistics over the first
# three axes):
#
# $$ \hat x = \frac{x - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}}, \qquad \mathrm{out} = \gamma_c \hat x + \beta_c,
# \qquad \epsilon = 10^{-3}. $$
#
# - **Training** uses the batch's own mean and (biased) variance, and updates the running
#   statistics: `running = 0.8 * running + 0.2 * batch` (Keras' `momentum=0.8`; the running
#   variance takes the *unbiased* batch variance, M / (M - 1) times the biased one, as
#   TensorFlow's fused kernel does).
# - **Inference** uses the running statistics instead, so one image's output no longer depends on
#   the rest of the batch. The mean teacher of the paper samples in this mode.
#
# A fresh layer has running mean 0 and variance 1. Feed it a batch whose channels are far from
# that and compare the two modes:

# %%
TRUE_MEAN, TRUE_STD = np.array([3.0, -1.0, 0.5]), np.array([2.0, 0.5, 1.0])


def batch(rng, n=16):
    """(n, 4, 4, 3) values, channel c ~ N(TRUE_MEAN[c], TRUE_STD[c]^2)."""
    return TRUE_MEAN + TRUE_STD * rng.standard_normal((n, 4, 4, 3))


bn = BatchNorm2D(3, momentum=0.8, eps=1e-3, dtype=np.float64)
x = batch(rng)
train_out = bn.set_training(True).forward(x)
bn.buffers["running_mean"][...], bn.buffers["running_var"][...] = 0.0, 1.0   # undo this step's update
infer_out = bn.set_training(False).forward(x)
for name, out in [("input", x), ("training", train_out), ("inference, fresh layer", infer_out)]:
    print(f"{name:<24} channel means {np.round(out.mean(axis=(0, 1, 2)), 3)}, "
          f"stds {np.round(out.std(axis=(0, 1, 2)), 3)}")
np.testing.assert_allclose(train_out.mean(axis=(0, 1, 2)), 0, atol=1e-12)
np.testing.assert_allclose(infer_out, x / np.sqrt(1 + 1e-3))

fig, axes = plt.subplots(1, 3, figsize=(10, 2.6), layout="constrained", sharey=True)
for ax, (name, out) in zip(axes, [("input", x), ("training mode", train_out), ("inference mode", infer_out)]):
    for c in range(3):
        ax.hist(out[..., c].ravel(), bins=30, alpha=0.6, label=f"channel {c}")
    ax.set_title(name)
axes[0].legend(fontsize=8)
plt.show()

# %% [markdown]
# In training mode every channel comes out with mean 0 and standard deviation 1 (then scaled by
# gamma = 1 and shifted by beta = 0). In inference mode a fresh layer hardly changes its input:
# until the running statistics have caught up, the two modes disagree.
#
# ## Running statistics over steps
#
# Train the layer on 40 batches and follow the running statistics. The weight of the starting value
# after n steps is 0.8^n (0.11 after 10 steps, 0.0001 after 40): momentum 0.8 remembers only about
# 1 / (1 - 0.8) = 5 batches, so the running values stay noisy.

# %%
bn = BatchNorm2D(3, momentum=0.8, eps=1e-3, dtype=np.float64)
history = {"batch_mean": [], "batch_var": [], "running_mean": [], "running_var": []}
for step in range(40):
    x = batch(rng)
    before = bn.buffers["running_mean"].copy()
    bn.forward(x)
    m = x[..., 0].size
    history["batch_mean"].append(x.mean(axis=(0, 1, 2)))
    history["batch_var"].append(x.var(axis=(0, 1, 2)) * m / (m - 1))
    history["running_mean"].append(bn.buffers["running_mean"].copy())
    history["running_var"].append(bn.buffers["running_var"].copy())
    np.testing.assert_allclose(history["running_mean"][-1], 0.8 * before + 0.2 * history["batch_mean"][-1])
history = {k: np.array(v) for k, v in history.items()}

fig, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
for c, color in zip(range(3), ["tab:blue", "tab:orange", "tab:green"]):
    for ax, stat, true in [(axes[0], "mean", TRUE_MEAN[c]), (axes[1], "var", TRUE_STD[c] ** 2)]:
        ax.plot(history[f"running_{stat}"][:, c], color=color, label=f"channel {c}")
        ax.plot(history[f"batch_{stat}"][:, c], ".", color=color, alpha=0.4)
        ax.axhline(true, color=color, ls=":", lw=1)
for ax, stat in zip(axes, ["running mean", "running variance"]):
    ax.set_xlabel("training step"), ax.set_title(f"{stat} (dots: batch values, dotted: true)")
axes[0].legend(fontsize=8)
plt.show()
print("after 40 steps: running mean", np.round(bn.buffers["running_mean"], 3), "true", TRUE_MEAN)
assert np.all(np.abs(bn.buffers["running_mean"] - TRUE_MEAN) < 4 * TRUE_STD / np.sqrt(16 * 16))

# %% [markdown]
# Now the two modes agree on average, and inference can normalise a single image:

# %%
x = batch(rng)
infer = bn.set_training(False).forward(x)
print("inference-mode channel means", np.round(infer.mean(axis=(0, 1, 2)), 3),
      "stds", np.round(infer.std(axis=(0, 1, 2)), 3))
single = bn.forward(x[:1])
np.testing.assert_allclose(single, infer[:1])    # one image alone gives the same output
bn.set_training(True)

# %% [markdown]
# ## A batch-norm backward with a bug
#
# In training mode the output depends on x three ways: directly, through the batch mean and
# through the batch variance, since both are computed from the same batch. A backward must carry
# the upstream gradient back along all three paths. The function below was written by someone in
# a hurry. It uses the package's cache `(centred, gamma, inv_std, training)`, where
# `centred = x - mean`, `inv_std = 1 / sqrt(var + eps)` and `x_hat = centred * inv_std`.

# %%
def batchnorm_backward_planted(dout, cache):
    """dout (N, H, W, C) -> dx, dgamma (C,), dbeta (C,). Contains a bug."""
    centred, gamma, inv_std, _ = cache
    x_hat = centred * inv_std
    dx_hat = dout * gamma
    dx = inv_std * (dx_hat - dx_hat.mean(axis=(0, 1, 2)))
    return dx, (dout * x_hat).sum(axis=(0, 1, 2)), dout.sum(axis=(0, 1, 2))


def bn_forward(x, gamma, beta):
    """Training-mode batch norm with fresh running statistics: (out, cache)."""
    C = x.shape[-1]
    out, cache, _, _ = batchnorm_forward(x, gamma, beta, np.zeros(C), np.ones(C), training=True)
    return out, cache


inputs = {"x": rng.standard_normal((4, 3, 3, 2)) * 2 + 1, "gamma": rng.uniform(0.5, 2, 2),
          "beta": rng.standard_normal(2)}

# %% [markdown]
# First the lazy check, with `dout = 1`: then `L = sum(out) = M * sum(beta)` does not depend on x at
# all, and the true `dx` is exactly zero. A relative error is meaningless for a true zero, so this
# check compares absolutely (`floor=1.0` makes the relative error an absolute one for gradients far
# below 1). It passes:

# %%
ones = check_function(bn_forward, batchnorm_backward_planted, inputs, dout=np.ones((4, 3, 3, 2)), floor=1.0)
print(report(ones, "planted backward, dout = 1"))
assert all(r.passed for r in ones)

# %% [markdown]
# With a random `dout`, the proper check:

# %%
random = check_function(bn_forward, batchnorm_backward_planted, inputs)
print(report(random, "planted backward, random dout"))
assert not random[0].passed and random[1].passed and random[2].passed

# %% [markdown]
# Only `dx` is wrong: one of the three paths is missing.
#
# ## Exercise: batch norm's backward
#
# Write the correct training-mode backward. It gets the same cache as the planted one and
# returns `dx` (the shape of x), `dgamma` and `dbeta` (one number per channel). Work it out on
# paper for one channel first, with the M values `x_1 .. x_M` of that channel:
#
# - `out_i = gamma * x_hat_i + beta`, so `dout` reaches `x_hat` scaled by gamma;
# - `x_hat_i = (x_i - mu) * (var + eps)^(-1/2)` depends on `x_i` directly, and on every `x_j`
#   through `mu` and `var`;
# - `mu` is the mean of the `x_j`, and `var` the mean of `(x_j - mu)^2` (so `dmu / dx_j = 1 / M`;
#   differentiate `var` yourself, and remember that `mu` moves with `x_j` too).
#
# Add the three contributions, then simplify using the facts that `x_hat` has mean 0 and mean
# square `var / (var + eps)` in each channel. The sums run over every axis but the last, so the
# same code serves NHWC input `(N, H, W, C)` and the `(N, D)` input of a Dense layer. The check
# is a float64 gradient check with a random `dout` and a comparison with the package's
# `batchnorm_backward`; the hidden cases use other shapes, other eps and a batch of two.

# %%
def my_batchnorm_backward(dout, cache):
    """dout (N, H, W, C) or (N, D) -> dx (shape of dout), dgamma (C,), dbeta (C,); training mode.

    cache = (centred, gamma, inv_std, training), as batchnorm_forward returns it.
    """
    ### BEGIN SOLUTION
    sum_axes = tuple(range(dout.ndim - 1))
    xc, g, istd, _mode = cache
    xh = xc * istd
    per_channel = dout.size // dout.shape[-1]
    db = dout.sum(axis=sum_axes)
    dg = (dout * xh).sum(axis=sum_axes)
    return g * istd * (dout - (db + xh * dg) / per_channel), dg, db
    ### END SOLUTION


# %%
my_batchnorm_backward = check("batchnorm_backward", my_batchnorm_backward)

# %% [markdown]
# Your backward (or, while the exercise is not done, the package's) against the same random check
# that caught the planted one:

# %%
fixed = check_function(bn_forward, my_batchnorm_backward, inputs)
print(report(fixed, "my_batchnorm_backward, random dout"))
assert all(r.passed for r in fixed), report(fixed, "my_batchnorm_backward")

# %% [markdown]
# ## Why did `dout = 1` hide the bug?
#
# Compare the two `dx` on a random `dout`: in each channel their difference is `x_hat` times one
# number. The cell prints that number per channel, and checks that the difference really is
# proportional to `x_hat`.

# %%
cache = bn_forward(**inputs)[1]
x_hat = cache[0] * cache[2]
for name, dout in [("random", rng.standard_normal(x_hat.shape)), ("ones", np.ones(x_hat.shape))]:
    gap = my_batchnorm_backward(dout, cache)[0] - batchnorm_backward_planted(dout, cache)[0]
    factor = (gap * x_hat).sum(axis=(0, 1, 2)) / (x_hat * x_hat).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(gap, x_hat * factor, atol=1e-12)
    print(f"dout {name:<7}: true dx - planted dx = x_hat * {np.array2string(factor, precision=4)}")

# %% [markdown]
# The factor is zero for `dout = 1`. It is a weighted sum of `dout` over the channel: work out from
# your backward which weights, and you know every upstream gradient that hides the bug.
#
# ## Exercise: a `dout` that hides the bug
#
# Write `hiding_dout(cache, rng)`: a random upstream gradient (draw it from `rng`, normal values)
# of the shape of x, **not** constant within any channel (that would be the `dout = 1` trick
# again), for which the planted backward still returns the right `dx`. The check compares the
# planted `dx` on your `dout` with the true one, and rejects a `dout` that is (nearly) constant in
# some channel or does not depend on `rng`.

# %%
def hiding_dout(cache, rng):
    """cache from bn_forward (x (N, H, W, C) or (N, D)), rng -> dout (shape of x) that fools the planted backward."""
    ### BEGIN SOLUTION
    over = tuple(range(cache[0].ndim - 1))
    direction = cache[0] * cache[2]
    draw = rng.standard_normal(direction.shape)
    along = (draw * direction).sum(axis=over) / (direction ** 2).sum(axis=over)
    return draw - direction * along
    ### END SOLUTION


# %%
hiding_dout = check("hiding_dout", hiding_dout)

# %% [markdown]
# A gradient check run with such a `dout` passes the planted backward, although the `dout` looks
# as random as any: a check is only as strong as its upstream gradient, which is why the package's
# `random_dout` draws independent values.

# %%
fooled = check_function(bn_forward, batchnorm_backward_planted, inputs,
                        dout=hiding_dout(bn_forward(**inputs)[1], np.random.default_rng(1)))
print(report(fooled, "planted backward, a dout that hides the bug"))
assert all(r.passed for r in fooled)

# %% [markdown]
# ## The residual block and its gradient
#
# `Residual(inner)` computes `x + inner(x)`. Its backward is the sum of the two paths:
# `dx = dout + inner.backward(dout)`. The skip path hands `dout` down unchanged, whatever the inner
# path does. Stack twelve blocks built like the paper's (at 4 channels instead of 128) and follow
# the gradient on its way down, with and without the skip connections. Two different questions:
#
# - **direction**: the cosine between the gradient at each depth and `dout`. It says whether the
#   gradient still points the way `dout` does (1: same direction, 0: unrelated), and nothing about
#   its size;
# - **size**: the norm ratio `|gradient| / |dout|`, which says whether it shrinks or grows.

# %%
def inner_path(width, rng):
    """Deconv 4x4 s1 -> BN -> LeakyReLU -> Deconv 4x4 s1 -> LeakyReLU (Fig. 5), float64."""
    return Sequential([Conv2DTranspose(width, width, 4, stride=1, rng=rng, dtype=np.float64),
                       BatchNorm2D(width, momentum=0.8, eps=1e-3, dtype=np.float64), LeakyReLU(0.2),
                       Conv2DTranspose(width, width, 4, stride=1, rng=rng, dtype=np.float64),
                       LeakyReLU(0.2)])


paths = [inner_path(4, rng) for _ in range(12)]
x = rng.standard_normal((4, 8, 8, 4))
fig, axes = plt.subplots(1, 2, figsize=(10, 3), layout="constrained")
cosines, ratios = {}, {}
for skip in (True, False):
    net = Sequential([Residual(p) if skip else p for p in paths])
    dout = rng.standard_normal(net.forward(x).shape)
    g, cosines[skip], ratios[skip] = dout, [], []
    for layer in reversed(net.layers):
        g = layer.backward(g)
        cosines[skip].append(np.sum(g * dout) / (np.linalg.norm(g) * np.linalg.norm(dout)))
        ratios[skip].append(np.linalg.norm(g) / np.linalg.norm(dout))
    label = "with skip (Residual)" if skip else "without skip"
    axes[0].plot(range(1, 13), cosines[skip], "o-", label=label)
    axes[1].plot(range(1, 13), ratios[skip], "o-", label=label)
axes[0].set_ylabel("cos(gradient, dout): direction")
axes[1].set_ylabel("|gradient| / |dout|: size"), axes[1].set_yscale("log")
for ax in axes:
    ax.set_xlabel("blocks below the output"), ax.grid(alpha=0.3), ax.legend(fontsize=8)
plt.show()
print(f"after 12 blocks: cosine {cosines[True][-1]:.3f} with skips, {cosines[False][-1]:.3f} without; "
      f"norm ratio {ratios[True][-1]:.3g} with skips, {ratios[False][-1]:.3g} without")
assert cosines[True][-1] > 0.3 > abs(cosines[False][-1])
assert min(ratios[False]) > 0.1     # without skips the gradient loses its direction, not its size


# %% [markdown]
# With the skips, the gradient twelve blocks down still points roughly along `dout`: the skip
# paths hand `dout` itself down to every depth, and the inner paths add to it. Without them the
# direction is lost after the first block (cosine near 0). The size does *not* vanish here: the
# batch norm inside every block rescales the signal, so the gradient stays of the order of `dout`
# either way. What the skips preserve in this stack is the gradient's direction, the part of it
# that still says how the output should change.
#
# > **Aside.** On this seed, after 12 blocks: cosine about 0.5 with skips and 0.0 without; norm
# > ratio about 2 with skips and about 3 without (it wanders between 1.4 and 7.3 on the way down).
#
# ## Is a fresh residual block close to the identity?
#
# If the inner path's last kernel were zero, the block would be exactly the identity and its
# gradient exactly `dout`:

# %%
block = Residual(inner_path(3, rng))
block.inner.layers[3].params["w"][...] = 0.0
x = rng.standard_normal((2, 5, 5, 3))
dout = rng.standard_normal(x.shape)
np.testing.assert_array_equal(block.forward(x), x)
np.testing.assert_array_equal(block.backward(dout), dout)
print("zero inner kernel: out == x and dx == dout")

# %% [markdown]
# Some recipes initialise residual blocks that way on purpose, so that a deep network starts as
# nearly the identity and each block learns a correction. The paper does not say how its networks
# are initialised; this code chooses Keras' defaults (Glorot-uniform kernels, zero biases), because
# the paper's networks are Keras models (docs/design.md). At that initialisation a block is *not*
# close to the identity: measure `|inner(x)| / |x|` at the paper's width, 128 channels.

# %%
x = rng.standard_normal((2, 8, 8, 128))
size_ratios = [np.linalg.norm(inner_path(128, rng).forward(x)) / np.linalg.norm(x) for _ in range(3)]
print("|inner(x)| / |x| for three fresh blocks of width 128:", np.round(size_ratios, 2))
assert min(size_ratios) > 0.3

# %% [markdown]
# > **Aside.** On this seed the ratio comes out at about 0.5 for each block: the inner path's
# > output is of the same order as its input, so a fresh block changes its input substantially.
# > It is the gradient's skip path, not a near-identity start, that keeps deep stacks trainable here.

# %% [markdown]
# ## Gradient check of the whole residual block
#
# Finally `check_layer` on a `Residual` block in float64 (the input and all six parameter arrays).
# Two details: the first transposed convolution's bias sits right before batch norm, which
# subtracts the channel mean, so its true gradient is exactly zero; and some entries are too small
# to resolve relatively. Both are handled by the round-off floor of lesson 4.

# %%
def roundoff_floor(out, dout, h=1e-5, tol=1e-7):
    """The relative-error floor below which a float64 centred difference cannot resolve a gradient."""
    return max(1e-8, float(np.finfo(np.float64).eps * np.sum(np.abs(out * dout)) / (h * tol)))


block = Residual(inner_path(3, rng))
for layer in block.walk():
    if "b" in layer.params:
        layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
block.name = "Residual(Deconv-BN-LReLU-Deconv-LReLU)"
x = rng.standard_normal((2, 5, 5, 3))
out = block.forward(x)
dout = rng.standard_normal(out.shape)
results = check_layer(block, x, dout=dout, floor=roundoff_floor(out, dout))
assert len(results) == 7 and all(r.passed for r in results)
grads = block.named_grads()
print("gradient of the bias before batch norm:", grads["inner.0.b"], "(zero up to round-off)")

# %% [markdown]
# ## What to try next
#
# - Check the planted backward with `dout = 2` everywhere, then with `dout` constant within each
#   channel but different across channels: why do these hide the bug too, in terms of your
#   `hiding_dout`?
# - Put the block in inference mode (`block.set_training(False)`) and gradient-check it again: the
#   batch-norm backward becomes much simpler. Why?
# - Change the momentum to 0.99, or to 0.9 (PyTorch's default `momentum=0.1` weighs the new batch by
#   0.1, i.e. Keras' 0.9): how many steps until the running mean forgets its start?
# - Lesson 6 assembles these blocks into the paper's generator and discriminator and counts their
#   parameters.
