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
#    step on G. This is Eq. (2): G maximises log D(G(z)). Eq. (2) also carries the term
#    log D(x), which does not depend on G, so it has no gradient and the code leaves it out.
#
# This lesson computes the loss in a way that cannot overflow, shows why G uses log D(G(z))
# rather than log(1 - D(G(z))), and takes one D step and one G step by hand with the package's
# layers, matching `mttgan_min.gan_step` exactly.
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
# beyond the clip. The package fuses the sigmoid into the loss instead
# (`mttgan_min.losses.bce_with_logits_forward`):
#
#     BCE(sigmoid(z), y) = max(z, 0) - z y + log(1 + exp(-|z|)),
#
# where no exponential can overflow and no logarithm sees 0, and whose gradient is simply
# `sigmoid(z) - y`.

# %%
def naive_bce(z, y):
    p = sigmoid(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def keras_clipped_bce(z, y, eps=1e-7):
    p = np.clip(sigmoid(z), eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


print(f"{'logit':>7} {'label':>5} {'naive f32':>11} {'naive f64':>11} {'Keras clip':>11} {'fused f32':>11} {'fused grad':>11}")
for z_value in (-100.0, -20.0, 0.0, 20.0, 100.0):
    for y_value in (0.0, 1.0):
        z32 = np.array([[z_value]], np.float32)
        y32 = np.array([[y_value]], np.float32)
        fused, cache = bce_with_logits_forward(z32, y32)
        grad = bce_with_logits_backward(cache)
        print(f"{z_value:>7.0f} {y_value:>5.0f} {float(naive_bce(z32, y32)[0, 0]):>11.4g} "
              f"{float(naive_bce(z32.astype(np.float64), y_value)[0, 0]):>11.4g} "
              f"{float(keras_clipped_bce(z32, y32)[0, 0]):>11.4g} {float(fused):>11.4g} {float(grad[0, 0]):>11.4g}")

z100 = np.array([[100.0], [-100.0]], np.float32)
fused, cache = bce_with_logits_forward(z100, np.array([[0.0], [1.0]], np.float32))
assert np.isinf(naive_bce(z100, np.array([[0.0], [1.0]], np.float32))).all()
assert float(fused) == 100.0                         # the exact loss: 100 for each image
np.testing.assert_array_equal(bce_with_logits_backward(cache), [[0.5], [-0.5]])  # (sigmoid(z) - y) / N

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
# ## One D step, by hand
#
# One random generator drives everything random in the step, in a fixed order: first the
# latents, then the dropout masks of D. So the same seed gives exactly the same step. The fakes
# come from G in training mode (batch statistics), as in the package; Keras' `predict` would have
# used inference mode there, a quirk of the code the paper was written with.

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
# ## One G step, by hand
#
# Now 32 fresh latents, labelled 1. The gradient of the loss flows back through D into G, so D
# must run forward and backward, but D is **frozen** (`set_trainable(False)`, Keras'
# `trainable = False`): its backward returns the input gradient and computes no weight
# gradients, and only G's optimiser steps.

# %%
D.set_trainable(False)
z = rng.standard_normal((32, 100), dtype=np.float32)
G.zero_grad()
logits = D.forward(G.forward(z))
g_loss, cache = bce_with_logits_forward(logits, np.ones((32, 1), np.float32))
G.backward(D.backward(bce_with_logits_backward(cache)))
opt_G.step()
D.set_trainable(True)
print(f"G step: loss {float(g_loss):.4f}")

# %% [markdown]
# The package's `discriminator_step` and `generator_step` (in `mttgan_min.gan_step`; the
# training loop calls them through `mtt_gan_step`) do the same, on the copies made before, with
# a generator of the same seed. Same operations in the same order: the same numbers, bit for bit.

# %%
rng_ref = np.random.default_rng(7)
D_ref.set_rng(rng_ref)
ref_d_loss, _, _ = gan_step.discriminator_step(G_ref, D_ref, opt_D_ref, real, rng_ref)
ref_g_loss = gan_step.generator_step(G_ref, D_ref, opt_G_ref, 32, rng_ref)
print(f"package: D loss {float(ref_d_loss):.4f}, G loss {float(ref_g_loss):.4f}")
for mine, ref in ((G, G_ref), (D, D_ref)):
    for k, v in mine.state_dict().items():
        np.testing.assert_array_equal(v, ref.state_dict()[k], err_msg=k)
print("by hand and gan_step agree on every weight and running statistic")

# %% [markdown]
# ### Exercise: the G step through a frozen D
#
# Write `generator_loss_and_backward(G, D, z)`: the non-saturating loss of G on latents z (the
# mean BCE of D's logits against the label 1), with dLoss/dθ accumulated into G's gradients,
# D frozen while it passes the gradient on (and trainable again afterwards), and nothing
# accumulated into D's gradients. Return the loss as a float.
#
# Two checks follow. A float64 gradient check compares G's gradients with centred differences of
# the *package's* loss, `bce_with_logits_forward(D.forward(G.forward(z)), 1)`, on a micro
# version of the networks (same structure, 16x16 images). Then one real Adam step on G must
# leave every array of D unchanged: weights and gradients.

# %%
def generator_loss_and_backward(G, D, z):
    """Non-saturating G loss on latents z; accumulates G's gradients, leaves D's untouched."""
    D.set_trainable(False)
    logits = D.forward(G.forward(z))
    loss, cache = bce_with_logits_forward(logits, np.ones((len(z), 1), dtype=logits.dtype))
    G.backward(D.backward(bce_with_logits_backward(cache)))
    D.set_trainable(True)
    return float(loss)


# %% [markdown]
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
# * Remove `D.set_trainable(False)` from the exercise and see which assert catches it.
# * Take several D steps per G step (as WGAN does) and plot D(real) and D(fake) over iterations.
# * Keras' clipping makes the gradient exactly zero beyond |z| = 16: find where the fused gradient
#   and the clipped one part ways.

# %%
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
