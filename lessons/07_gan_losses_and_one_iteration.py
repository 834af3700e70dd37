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
# # Lesson 7: the GAN losses and one training iteration (Sec. IV, Eqs. 1 and 2)
#
# A GAN is a game between two networks (Eq. 1): D learns to tell real films x from generated
# ones G(z), and G learns to fool D,
#
#     min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))].
#
# In practice the two players take turns. One iteration of the paper is
#
# 1. a **D step**: 16 real images labelled 1 and 16 generated images labelled 0, binary
#    cross-entropy, one Adam step on D;
# 2. a **G step**: 32 fresh latents through G and a *frozen* D, labelled 1 ("real"), one Adam
#    step on G. This is Eq. (2), the generator's loss
#
#        L_G = -E_z[log D(G(z))] - E_x[log(1 - D(x_r))],
#
#    whose first term is the non-saturating loss: G makes D(G(z)) large. The second term is
#    about the real images x_r: it changes when D changes, but G's weights do not enter it, so
#    its gradient with respect to G is zero and the G step can leave it out. Only the first term
#    is computed.
#
# This lesson computes the loss in a way that cannot overflow (exercise `bce_with_logits`), shows
# why G uses log D(G(z)) rather than log(1 - D(G(z))), and takes one D step and one G step
# (exercise `generator_loss_and_backward`) with the package's layers, matching
# `mttgan_min.gan_step`.
#
# Data: the real images come from the synthetic phantoms, or from the COVID-19 set when the
# environment variable `MTTGAN_DATA` points at a folder holding `covid-chestxray-dataset/`
# (its `metadata.csv` and `images/`).

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from mttgan_min import gan_step
from mttgan_min.adam import Adam
from mttgan_min.coursework import check
from mttgan_min.data import epoch_real_batches, load_pool
from mttgan_min.gradcheck import compare, report
from mttgan_min.layers import LeakyReLU
from mttgan_min.layers.activations import sigmoid
from mttgan_min.losses import bce_with_logits_backward, bce_with_logits_forward
from mttgan_min.models import Preset, build_discriminator, build_generator

START = time.perf_counter()

# %% [markdown]
# ## Binary cross-entropy, naive and fused
#
# D ends in a sigmoid, `p = sigmoid(z)` of a logit z, and the loss of one image with label y is
#
#     BCE(p, y) = -y log p - (1 - y) log(1 - p).
#
# Computed literally, it breaks as soon as D is confident: `sigmoid(100)` is 1 to every digit a
# float can hold, and `log(1 - 1)` is minus infinity. Keras hides this by clipping p into
# `[1e-7, 1 - 1e-7]`, which caps the loss at 16.1 and, worse, makes its gradient exactly zero
# beyond the clip. The package fuses the sigmoid into the loss instead.

# %%
def naive_bce(z, y):
    p = sigmoid(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def keras_clipped_bce(z, y, eps=1e-7):
    p = np.clip(sigmoid(z), eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


# %% [markdown]
# ## Exercise: binary cross-entropy from logits
#
# Write `bce_with_logits(z, y)`: the mean BCE of `sigmoid(z)` against the labels y (any shape, the
# mean over every entry), and its gradient with respect to z (the shape of z). Work on paper first:
#
# - write `log p` and `log(1 - p)` in terms of z only (`1 - sigmoid(z) = sigmoid(-z)`); each is
#   minus a "softplus", `log(1 + exp(.))`, of z or of -z;
# - `log(1 + exp(a))` overflows for a large positive a. Split off the part of a that can be large
#   (for a > 0, `exp(a)` is a factor of `1 + exp(a)`), so that `exp` only ever sees a number <= 0;
#   `np.log1p` keeps the small remainder accurate;
# - differentiate the loss with respect to z and simplify: the result is short, and must not
#   compute `exp` of a large positive number either (the package's `sigmoid` does not).
#
# The check compares your loss and gradient with a float64 reference and the package's
# `mttgan_min.losses` at logits up to |z| = 1000 with both labels (no inf, no nan allowed) and runs
# a gradient check; the hidden cases add more extreme logits, shapes and float32 input.

# %%
def bce_with_logits(z, y):
    """logits z and labels y (same shape) -> (mean loss, a number; dloss/dz, the shape of z)."""
    ### BEGIN SOLUTION
    softplus_neg_abs = np.log1p(np.exp(-np.abs(z)))
    per_entry = np.maximum(z, 0.0) - z * y + softplus_neg_abs
    return per_entry.mean(), (sigmoid(z) - y) / np.size(z)
    ### END SOLUTION


# %%
bce_with_logits = check("bce_with_logits", bce_with_logits)

# %% [markdown]
# Your loss beside the naive one and Keras' clipped one, in float32 as in training:

# %%
print(f"{'logit':>7} {'label':>5} {'naive f32':>11} {'naive f64':>11} {'Keras clip':>11} {'yours f32':>11} {'your grad':>11}")
for z_value in (-100.0, -20.0, 0.0, 20.0, 100.0):
    for y_value in (0.0, 1.0):
        z32 = np.array([[z_value]], np.float32)
        y32 = np.array([[y_value]], np.float32)
        fused, grad = bce_with_logits(z32, y32)
        print(f"{z_value:>7.0f} {y_value:>5.0f} {float(naive_bce(z32, y32)[0, 0]):>11.4g} "
              f"{float(naive_bce(z32.astype(np.float64), y_value)[0, 0]):>11.4g} "
              f"{float(keras_clipped_bce(z32, y32)[0, 0]):>11.4g} {float(fused):>11.4g} {float(grad[0, 0]):>11.4g}")

z100 = np.array([[100.0], [-100.0]], np.float32)
fused, grad = bce_with_logits(z100, np.array([[0.0], [1.0]], np.float32))
assert np.isinf(naive_bce(z100, np.array([[0.0], [1.0]], np.float32))).all()
assert float(fused) == 100.0                         # the exact loss: 100 for each image
np.testing.assert_allclose(grad, [[0.5], [-0.5]])    # each image pulls its logit with the largest force

# %% [markdown]
# ## Saturating and non-saturating generator losses
#
# Eq. (1) asks G to *minimise* log(1 - D(G(z))). Early in training D easily rejects the fakes:
# D(G(z)) is near 0, and there log(1 - D) is flat. Its gradient with respect to D's logit a is
# `-sigmoid(a) = -D(G(z))`, which vanishes exactly when G most needs to learn. The
# non-saturating loss of Eq. (2), `-log D(G(z))`, has the same fixed point but the gradient
# `D(G(z)) - 1`, close to -1 when D rejects the fakes. It is just BCE with the label 1, which is
# why the G step labels its fakes "real".

# %%
d_of_fake = np.logspace(-4, np.log10(0.9999), 400)
a = np.log(d_of_fake) - np.log1p(-d_of_fake)            # the logit with sigmoid(a) = D(G(z))
saturating_grad = -sigmoid(a)                            # d/da log(1 - sigmoid(a))
_, cache = bce_with_logits_forward(a.reshape(-1, 1), np.ones((a.size, 1)))
non_saturating_grad = bce_with_logits_backward(cache).ravel() * a.size   # d/da of -log sigmoid(a)
np.testing.assert_allclose(non_saturating_grad, d_of_fake - 1, atol=1e-12)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(d_of_fake, np.log1p(-d_of_fake), label="saturating: minimise log(1 - D(G(z)))")
axes[0].plot(d_of_fake, -np.log(d_of_fake), label="non-saturating: minimise -log D(G(z))")
axes[0].set_xscale("log")
axes[0].set_xlabel("D(G(z))")
axes[0].set_ylabel("generator loss")
axes[0].legend(fontsize=8)
axes[1].plot(d_of_fake, np.abs(saturating_grad), label="saturating")
axes[1].plot(d_of_fake, np.abs(non_saturating_grad), label="non-saturating")
axes[1].set_xscale("log")
axes[1].set_yscale("log")
axes[1].set_xlabel("D(G(z))  (near 0: D rejects the fake)")
axes[1].set_ylabel("|d loss / d logit|")
axes[1].legend(fontsize=8)
axes[1].set_title("the gradient G receives")
fig.tight_layout()
plt.show()
print(f"at D(G(z)) = 1e-4: saturating gradient {abs(saturating_grad[0]):.1e}, "
      f"non-saturating {abs(non_saturating_grad[0]):.3f}")

# %% [markdown]
# ## The players and their data
#
# We use the tiny preset (32x32) in float32 as in training, each network with its own Adam
# (the paper's settings: learning rate 1e-5, beta1 0.5, lesson 8), and 16 soft-augmented crops
# of the training films (lesson 2) as the real half of D's batch.

# %%
data_dir = os.environ.get("MTTGAN_DATA")
pool = load_pool("covid", data_dir, 32, progress=False)     # None: the synthetic phantoms
print(f"COVID pool: {len(pool.images)} images of {pool.images.shape[1:]} "
      f"({'real, from ' + data_dir if data_dir else 'synthetic phantoms'})")
real = next(epoch_real_batches(pool.images, 50, 32, np.random.default_rng(0)))
print("one real half-batch:", real.shape, real.dtype)

G = build_generator("tiny", rng=np.random.default_rng(1))
D = build_discriminator("tiny", rng=np.random.default_rng(2))
opt_G, opt_D = Adam(G), Adam(D)
# Copies for the package's own step, to compare against at the end
G_ref, D_ref = G.clone(), D.clone()
opt_G_ref, opt_D_ref = Adam(G_ref), Adam(D_ref)

# %% [markdown]
# ## The two steps as data flow
#
# Before computing them, the picture: which data go where, which loss is computed, and whose
# weights the Adam step changes (green: updated; grey: frozen or not involved).

# %%
def box(ax, xy, text, color="white", w=1.7, h=0.7):
    ax.add_patch(plt.Rectangle((xy[0] - w / 2, xy[1] - h / 2), w, h, facecolor=color, edgecolor="black"))
    ax.text(*xy, text, ha="center", va="center", fontsize=8)


def arrow(ax, a, b, text=""):
    ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", lw=1.2))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.15, text, ha="center", fontsize=7, color="0.3")


UPDATED, FROZEN = "#b7e4b0", "#dddddd"
fig, axes = plt.subplots(2, 1, figsize=(10, 6.4))
ax = axes[0]
box(ax, (0.9, 2.4), "z (16, 100)\nN(0, 1)")
box(ax, (3.0, 2.4), "G\n(training mode,\nnot updated)", FROZEN)
box(ax, (3.0, 0.8), "real x (16, S, S, 1)\naugmented crops")
box(ax, (5.2, 1.6), "concatenate\n(32, S, S, 1)")
box(ax, (7.3, 1.6), "D\n(dropout on)\nAdam step on D", UPDATED)
box(ax, (9.4, 1.6), "BCE(logits, y)\ny = 1 real, 0 fake")
arrow(ax, (1.75, 2.4), (2.15, 2.4))
arrow(ax, (3.85, 2.4), (4.4, 1.8), "fakes")
arrow(ax, (3.85, 0.8), (4.4, 1.4))
arrow(ax, (6.05, 1.6), (6.45, 1.6))
arrow(ax, (8.15, 1.6), (8.55, 1.6), "logits")
ax.set_title("D step: gradient flows back into D only")
ax = axes[1]
box(ax, (0.9, 1.6), "z (32, 100)\nN(0, 1)")
box(ax, (3.0, 1.6), "G\n(training mode)\nAdam step on G", UPDATED)
box(ax, (5.2, 1.6), "D\nfrozen: weights fixed,\ninput gradient only", FROZEN)
box(ax, (7.5, 1.6), "BCE(logits, 1)\n-log D(G(z))")
arrow(ax, (1.75, 1.6), (2.15, 1.6))
arrow(ax, (3.85, 1.6), (4.35, 1.6), "fakes")
arrow(ax, (6.05, 1.6), (6.65, 1.6), "logits")
ax.annotate("", xy=(3.0, 1.1), xytext=(7.5, 1.1), arrowprops=dict(arrowstyle="->", lw=1, ls="--", color="tab:red"))
ax.text(5.2, 0.75, "gradient: through D (not into its weights) into G's weights", ha="center", fontsize=7,
        color="tab:red")
ax.set_title("G step: labelled 'real', through a frozen D")
for ax in axes:
    ax.set_xlim(0, 10.4), ax.set_ylim(0.2, 3.0), ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## One D step, by hand
#
# One random generator drives everything random in the step, in a fixed order: first the
# latents, then the dropout masks of D. So the same seed gives exactly the same step. The fakes
# come from G in training mode (batch statistics). The paper does not say which mode; this code
# chooses training mode because it is the mode in which the G step trains G through D, so D learns
# from the images G is being trained to produce (docs/design.md, "Which generator is used where").
# The Keras GAN examples call `generator.predict` here, which uses inference mode.

# %%
rng = np.random.default_rng(7)
D.set_rng(rng)                                   # D's dropout draws from the same generator
G.set_training(True)
D.set_training(True).set_trainable(True)

z = rng.standard_normal((16, 100), dtype=np.float32)          # what models.sample_latent draws
fake = G.forward(z)
x = np.concatenate([real, fake])
y = np.concatenate([np.ones((16, 1), np.float32), np.zeros((16, 1), np.float32)])

G_before = {k: v.copy() for k, v in G.named_params().items()}
D_before = {k: v.copy() for k, v in D.named_params().items()}
D.zero_grad()
logits = D.forward(x)
d_loss, cache = bce_with_logits_forward(logits, y)
D.backward(bce_with_logits_backward(cache))      # only D: G's fakes are plain inputs here
opt_D.step()
p = sigmoid(logits)
print(f"D step: loss {float(d_loss):.4f}, mean D(real) {float(p[:16].mean()):.3f}, "
      f"mean D(fake) {float(p[16:].mean()):.3f}")
assert all(np.array_equal(G_before[k], v) for k, v in G.named_params().items())   # G untouched
assert all(not np.array_equal(D_before[k], v) for k, v in D.named_params().items())

# %% [markdown]
# ## Exercise: the G step through a frozen D
#
# Write `generator_loss_and_backward(G, D, z)`: the non-saturating loss of G on latents z (the
# mean BCE of D's logits against the label 1, the first term of Eq. (2)), with dLoss/dθ
# accumulated into G's gradients. The gradient must flow back through D into G, so D runs forward
# and backward; but D is **frozen** while it does (a network's `set_trainable` method, Keras'
# `trainable = False`): its backward then returns the input gradient and computes no weight
# gradients. Make D trainable again before returning, and return the loss as a float. Use the
# package's `bce_with_logits_forward` / `bce_with_logits_backward` (the same loss as your
# `bce_with_logits`, with a cache), labels of the logits' dtype, and do not zero any gradients
# (the caller does).
#
# The check builds a micro version of the networks (same structure, 16x16 images) in float64 and
# compares your loss with the package's, G's gradients with centred differences of that loss,
# and D's weights and gradients with their values before the call (they must not change).

# %%
def generator_loss_and_backward(G, D, z):
    """Non-saturating G loss on latents z; accumulates G's gradients, leaves D's untouched."""
    ### BEGIN SOLUTION
    D.set_trainable(False)
    d_logits = D.forward(G.forward(z))
    value, bce_cache = bce_with_logits_forward(d_logits, np.ones((len(z), 1), dtype=d_logits.dtype))
    G.backward(D.backward(bce_with_logits_backward(bce_cache)))
    D.set_trainable(True)
    return float(value)
    ### END SOLUTION


# %%
generator_loss_and_backward = check("generator_loss_and_backward", generator_loss_and_backward)

# %% [markdown]
# ## One G step
#
# Now 32 fresh latents, labelled 1, through your function, and one Adam step on G only.

# %%
z = rng.standard_normal((32, 100), dtype=np.float32)
G.zero_grad()
g_loss = generator_loss_and_backward(G, D, z)
opt_G.step()
print(f"G step: loss {g_loss:.4f}")

# %% [markdown]
# The package's `discriminator_step` and `generator_step` (in `mttgan_min.gan_step`; the
# training loop calls them through `mtt_gan_step`) do the same, on the copies made before, with
# a generator of the same seed. Same operations in the same order: the same numbers (bit for bit
# with the reference solution; a solution that orders its float32 operations differently may
# differ in the last digits, hence the tolerance).

# %%
rng_ref = np.random.default_rng(7)
D_ref.set_rng(rng_ref)
ref_d_loss, _, _ = gan_step.discriminator_step(G_ref, D_ref, opt_D_ref, real, rng_ref)
ref_g_loss = gan_step.generator_step(G_ref, D_ref, opt_G_ref, 32, rng_ref)
print(f"package: D loss {float(ref_d_loss):.4f}, G loss {float(ref_g_loss):.4f}")
identical = True
for mine, ref in ((G, G_ref), (D, D_ref)):
    for k, v in mine.state_dict().items():
        np.testing.assert_allclose(v, ref.state_dict()[k], rtol=1e-5, atol=1e-7, err_msg=k)
        identical = identical and np.array_equal(v, ref.state_dict()[k])
print("the step above and gan_step agree on every weight and running statistic",
      "(bit for bit)" if identical else "(to float32 round-off)")

# %% [markdown]
# ## What the check did
#
# The gradient check. D keeps dropout on, as in training, but every forward pass must see the
# same mask, so the loss function hands D a freshly seeded generator each time. As in lesson 6,
# `h = 1e-6` and the seeds keep every LeakyReLU input well away from its kink.

# %%
MICRO = Preset("micro", image_size=16, g_width=8, d_widths=(4, 8, 8), g_start=2, latent_dim=10)
H = 1e-6
Gm = build_generator(MICRO, rng=np.random.default_rng(3), dtype=np.float64)
Dm = build_discriminator(MICRO, rng=np.random.default_rng(4), dtype=np.float64)
zm = np.random.default_rng(25).standard_normal((4, MICRO.latent_dim))


def package_loss():
    Dm.set_rng(np.random.default_rng(11))          # the same dropout mask on every call
    loss, _ = bce_with_logits_forward(Dm.forward(Gm.forward(zm)), np.ones((len(zm), 1)))
    return float(loss)


package_loss()
kink = min(float(np.abs(l.cache[0]).min()) for net in (Gm, Dm) for l in net.walk() if isinstance(l, LeakyReLU))
assert kink > 10 * H, f"a LeakyReLU input at {kink:.1e} is within reach of h: change a seed"

Gm.zero_grad()
Dm.zero_grad()
Dm.set_rng(np.random.default_rng(11))
loss = generator_loss_and_backward(Gm, Dm, zm)
assert abs(loss - package_loss()) < 1e-12, "the loss is not the non-saturating BCE with label 1"
analytic = {k: g.copy() for k, g in Gm.named_grads().items()}
check_rng = np.random.default_rng(0)
results = [compare(k, analytic[k], package_loss, p, h=H, max_entries=3, rng=check_rng, floor=1e-2)
           for k, p in Gm.named_params().items() if np.abs(analytic[k]).max() > 1e-12]
print(report(results[:5], title=f"G-step gradient check, first 5 of {len(results)} arrays"))
assert len(results) >= len(Gm.named_params()) - 6   # all but the 6 biases before batch norm
assert all(r.passed for r in results), report(results, "G-step gradient check")

# %% [markdown]
# Why `floor=1e-2`? The loss is one number of order 1, the end of some ten thousand
# floating-point operations; its round-off, divided by `2h`, leaves up to about 1e-10 of noise in
# every numeric gradient. Many of G's gradients here are around 1e-5 to 1e-3, so no relative
# error below 1e-7 is possible for them: `compare` divides by at least the floor, which makes the
# test `|analytic - numeric| < 1e-7 * 1e-2 = 1e-9` for gradients below 1e-2 (ten times the
# noise), and relative above. A wrong backward is off by about the gradient itself, 1e-5 or more.
#
# And the frozen D: after the G step and an Adam step on G, every weight and every gradient of
# D is what it was, while G has moved.

# %%
D_params = {k: v.copy() for k, v in Dm.named_params().items()}
D_grads = {k: v.copy() for k, v in Dm.named_grads().items()}
G_params = {k: v.copy() for k, v in Gm.named_params().items()}
opt_Gm = Adam(Gm, lr=1e-3)
Gm.zero_grad()
Dm.set_rng(np.random.default_rng(12))
generator_loss_and_backward(Gm, Dm, zm)
opt_Gm.step()
for k, v in Dm.named_params().items():
    np.testing.assert_array_equal(v, D_params[k], err_msg=f"the G step changed D's weight {k}")
for k, v in Dm.named_grads().items():
    np.testing.assert_array_equal(v, D_grads[k], err_msg=f"the G step accumulated into D's gradient {k}")
assert all(layer.trainable for layer in Dm.walk()), "D must be trainable again after the G step"
assert any(not np.array_equal(v, G_params[k]) for k, v in Gm.named_params().items())
print("the G step moved G and left D's weights and gradients unchanged")

# %% [markdown]
# ## What to try next
#
# * Replace the non-saturating loss by the saturating one (minimise log(1 - D(G(z))), i.e. the
#   BCE with label 0 and the gradient's sign flipped) in a short run of lesson 10's training loop,
#   and watch G stall while D wins.
# * Leave D trainable during your G step and see which check catches it.
# * Take several D steps per G step (as WGAN does) and plot D(real) and D(fake) over iterations.
# * Keras' clipping makes the gradient exactly zero beyond |z| = 16: find where the fused gradient
#   and the clipped one part ways.

# %%
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
