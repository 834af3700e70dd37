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
# # Lesson 8: Adam as Keras implements it (Sec. IV, training settings)
#
# The paper trains G and D with Adam (Kingma and Ba, 2015) at a learning rate of 1e-5 and
# beta1 = 0.5. It names no beta2 and no epsilon; this code takes Keras' defaults, beta2 = 0.999
# and epsilon = 1e-7, because the paper's networks are Keras models (docs/design.md, "Adam").
# Adam keeps two running averages per weight, of the gradient g and of its square:
#
#     m = beta1 * m + (1 - beta1) * g
#     v = beta2 * v + (1 - beta2) * g^2
#
# and steps each weight by about `lr * m / sqrt(v)`: a step of roughly `lr` in the direction of
# the recent gradients, whatever their scale. Two details decide the exact numbers, and they are
# the subject of this lesson:
#
# * **bias correction**: m and v start at 0, so early on they are too small; dividing them by
#   `1 - beta1^t` and `1 - beta2^t` (Kingma and Ba's `m_hat` and `v_hat`) undoes that;
# * **where epsilon goes**: Kingma and Ba's Algorithm 1 adds epsilon to `sqrt(v_hat)`. At the end
#   of their Sec. 2 they give a more efficient order of computation: fold both corrections into
#   the step size `lr_t` and add a constant "epsilon hat" to `sqrt(v)` instead. Keras (and
#   `mttgan_min.adam.Adam`) implements this efficient form, with epsilon hat = 1e-7.
#
# Both are Kingma and Ba's Adam. With epsilon = 0 they are the same formula; with epsilon they are
# not, and you will work out by how much. No data are used in this lesson.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from mttgan_min.adam import Adam
from mttgan_min.coursework import check
from mttgan_min.layers import Dense

START = time.perf_counter()

# %% [markdown]
# ## Exercise: one Adam step, Keras' way
#
# Write `adam_step(p, g, m, v, t, lr, beta1, beta2, eps)`: the parameters `p` after step `t`
# (counted from 1) on the gradient `g`, given the moments `m`, `v` from before the step; return the
# new `(p, m, v)` as new arrays (do not change the inputs). Use the efficient form of Kingma and
# Ba's Sec. 2 with `eps` as their epsilon hat: the two bias corrections go into one scalar step
# size for step t (work out which: what must multiply `m / sqrt(v)` so that it equals
# `m_hat / sqrt(v_hat)`?), and `eps` is added to `sqrt(v)`, uncorrected.
#
# The check runs ten steps of your function beside `mttgan_min.adam.Adam` on a small Dense layer,
# with random gradients of order 1 and of order 1e-7 (where epsilon's place shows), and compares
# parameters and moments to 1e-12. The hidden cases use other learning rates, betas and epsilons,
# both arrays of the layer, late step counts and a scalar parameter.

# %%
def adam_step(p, g, m, v, t, lr=1e-5, beta1=0.5, beta2=0.999, eps=1e-7):
    """Keras' Adam (Kingma and Ba's efficient form): returns (new p, new m, new v) after step t >= 1."""
    ### BEGIN SOLUTION
    m_new = beta1 * m + (1.0 - beta1) * g
    v_new = beta2 * v + (1.0 - beta2) * np.square(g)
    step_size = lr * (1.0 - beta2 ** t) ** 0.5 / (1.0 - beta1 ** t)
    return p - step_size * m_new / (np.sqrt(v_new) + eps), m_new, v_new
    ### END SOLUTION


# %%
adam_step = check("adam_step", adam_step)

# %% [markdown]
# The lesson's other forms, for comparison, on a whole path of parameters: Algorithm 1 of Kingma
# and Ba (epsilon added to the corrected `sqrt(v_hat)`) and Adam without any bias correction. The
# efficient form is your `adam_step` (or the package's, while the exercise is not done).

# %%
def adam_path(theta, grad, steps, lr, beta1=0.5, beta2=0.999, eps=1e-7, form="efficient"):
    """Parameters after 0..steps Adam steps on grad(theta); form: efficient, algorithm1 or uncorrected."""
    theta = np.array(theta, dtype=np.float64)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        if form == "efficient":
            theta, m, v = adam_step(theta, g, m, v, t, lr, beta1, beta2, eps)
        else:
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            if form == "algorithm1":
                m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
                theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
            elif form == "uncorrected":
                theta = theta - lr * m / (np.sqrt(v) + eps)
            else:
                raise ValueError(form)
        path.append(theta.copy())
    return np.array(path)


# %% [markdown]
# ## Bias correction
#
# At the first step `m = (1 - beta1) g = 0.5 g` and `v = (1 - beta2) g^2 = 0.001 g^2`, so the
# uncorrected step is `lr * 0.5 / sqrt(0.001) = 15.8 lr`: sixteen times the intended size, and it
# stays too large for hundreds of steps, until v has filled up (its memory is
# `1 / (1 - beta2) = 1000` steps). The corrected step is `lr * sign(g)` from the very first one.
# On a constant gradient:

# %%
steps = np.arange(1, 3001)
lr = 1e-3
sizes = {form: np.abs(np.diff(adam_path([0.0], lambda th: np.array([0.3]), 3000, lr, form=form)[:, 0]))
         for form in ("efficient", "algorithm1", "uncorrected")}
plt.figure(figsize=(6, 3.4))
for form, s in sizes.items():
    plt.plot(steps, s / lr, label=form, ls="--" if form == "algorithm1" else "-")
plt.xscale("log")
plt.xlabel("step t")
plt.ylabel("step size / lr")
plt.title("a constant gradient: the step Adam takes")
plt.legend()
plt.tight_layout()
plt.show()
print(f"first step / lr: uncorrected {sizes['uncorrected'][0] / lr:.1f}, efficient {sizes['efficient'][0] / lr:.4f}")
assert abs(sizes["uncorrected"][0] / lr - 0.5 * 0.3 / (np.sqrt(0.001) * 0.3 + 1e-7)) < 1e-9  # m / (sqrt(v) + eps)
assert abs(sizes["efficient"][0] / lr - 1) < 1e-4     # 1 - eps / sqrt(v) = 1 - 1e-5 at t = 1

# %% [markdown]
# ## Where epsilon goes
#
# An ill-conditioned bowl, `f(theta) = s/2 * (theta_1^2 + 10 theta_2^2)`. At `s = 1` the gradients
# are of order 1, epsilon = 1e-7 is nothing beside `sqrt(v)`, and the efficient form and
# Algorithm 1 draw the same path. At `s = 1e-7` the gradients are as small as epsilon: the
# efficient form's epsilon hat weighs more (see below), damps its steps more, and the two paths
# part. (Gradients this small are not exotic: a network's loss can be scaled down, and weights
# deep in a network often see gradients of 1e-6.)

# %%
curvature = np.array([1.0, 10.0])
start = np.array([-1.5, 1.0])
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, scale in zip(axes, (1.0, 1e-7)):
    def grad(theta, scale=scale):
        return scale * curvature * theta
    paths = {form: adam_path(start, grad, 300, 0.02, form=form) for form in ("efficient", "algorithm1")}
    u, w = np.meshgrid(np.linspace(-1.7, 0.5, 100), np.linspace(-0.6, 1.2, 100))
    ax.contour(u, w, u ** 2 + 10 * w ** 2, levels=12, colors="0.8")
    for form, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], ".-", ms=2, label=f"{form}: ends at ({path[-1, 0]:.3f}, {path[-1, 1]:.3f})")
    ax.set_title(f"gradient scale {scale:g}, eps 1e-7, 300 steps")
    ax.legend(fontsize=8)
    gap = np.abs(paths["efficient"] - paths["algorithm1"]).max()
    print(f"gradient scale {scale:g}: largest gap between the paths {gap:.2e}")
    assert (gap < 1e-5) if scale == 1.0 else (gap > 0.1)
fig.tight_layout()
plt.show()

# %% [markdown]
# By how much do they differ? Divide the numerator and the denominator of the efficient step by
# `sqrt(1 - beta2^t)`: it becomes Algorithm 1's step with an epsilon that changes with t,
# `eps_t = eps_hat / sqrt(1 - beta2^t)`. So epsilon hat = 1e-7 acts like Algorithm 1's epsilon
# multiplied by 31.6 at the first step, 3.2 at step 100, 1.26 at step 1000 and 1.003 at step
# 5000: the two forms differ only early, and only where `sqrt(v_hat)` is not much larger than
# epsilon. The cell checks the identity on the small-gradient bowl.

# %%
def algorithm1_with_growing_eps(theta, grad, steps, lr, beta1=0.5, beta2=0.999, eps_hat=1e-7):
    """Algorithm 1 of Kingma and Ba with eps_t = eps_hat / sqrt(1 - beta2^t) (the path, as adam_path)."""
    theta = np.array(theta, dtype=np.float64)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        g = grad(theta)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps_hat / np.sqrt(1 - beta2 ** t))
        path.append(theta.copy())
    return np.array(path)


np.testing.assert_allclose(algorithm1_with_growing_eps(start, grad, 300, 0.02),
                           adam_path(start, grad, 300, 0.02, form="efficient"), rtol=1e-9, atol=1e-12)
for t in (1, 100, 1000, 5000):
    print(f"step {t:>4}: epsilon hat acts like Algorithm 1's epsilon times {1 / np.sqrt(1 - 0.999 ** t):.4f}")

# %% [markdown]
# Neither form is a bug: "Adam with epsilon 1e-7" names two slightly different optimisers, both
# Kingma and Ba's. The paper does not say which one it used; this code chooses the efficient form
# with epsilon hat = 1e-7 because that is what Keras' Adam computes and the paper's networks are
# Keras models (docs/design.md, "Adam").
#
# ## beta1 = 0.5: less momentum for a game
#
# Keras' default beta1 is 0.9: m averages about the last 10 gradients. GAN practice (Radford et
# al.'s DCGAN, and this paper) lowers it to 0.5, about the last 2. In a game the gradient field
# rotates (each player's step changes the other's gradient), and momentum carries a player past
# the point where it should have turned. The smallest such game is `min_x max_y x * y`, whose
# only equilibrium is (0, 0): with simultaneous Adam steps both settings spiral outwards, but the
# heavier momentum spirals out much faster.

# %%
def bilinear_game(beta1, steps=2000, lr=0.01):
    """Simultaneous Keras-Adam steps of x (minimising x*y) and y (maximising it), from (1, 1)."""
    theta = np.array([1.0, 1.0])
    m, v = np.zeros(2), np.zeros(2)
    path = [theta.copy()]
    for t in range(1, steps + 1):
        x, y = theta
        g = np.array([y, -x])                      # d(xy)/dx for x, -d(xy)/dy for y
        theta, m, v = adam_step(theta, g, m, v, t, lr, beta1)
        path.append(theta.copy())
    return np.array(path)


games = {b1: bilinear_game(b1) for b1 in (0.9, 0.5)}
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for b1, path in games.items():
    axes[0].plot(path[:, 0], path[:, 1], lw=0.8, label=f"beta1 = {b1}")
    axes[1].plot(np.hypot(path[:, 0], path[:, 1]), label=f"beta1 = {b1}")
axes[0].plot(0, 0, "k*", ms=10)
axes[0].set_aspect("equal")
axes[0].set_xlabel("x (minimises xy)")
axes[0].set_ylabel("y (maximises xy)")
axes[0].legend()
axes[1].set_xlabel("step")
axes[1].set_ylabel("distance from the equilibrium")
axes[1].legend()
fig.tight_layout()
plt.show()
dist = {b1: float(np.hypot(*path[-1])) for b1, path in games.items()}
print("distance from (0, 0) after 2000 steps:", {b: round(d, 3) for b, d in dist.items()})
assert dist[0.5] < dist[0.9]

# %% [markdown]
# ## The package's optimiser
#
# `mttgan_min.adam.Adam(net, lr, beta1, beta2, eps)` holds one m and one v per parameter array of
# a network, reads the gradients the network's backward accumulated, and updates the weights in
# place when `step()` is called. `state_dict()` is what a checkpoint stores: the step count t and
# every moment.

# %%
layer = Dense(3, 2, rng=np.random.default_rng(0), dtype=np.float64)
opt = Adam(layer, lr=1e-3)
print({k: v for k, v in vars(opt).items() if k in ("lr", "beta1", "beta2", "eps", "t")})
print("state arrays:", sorted(opt.state_dict()))

# %% [markdown]
# ## What to try next
#
# * Put Algorithm 1's epsilon (added to `sqrt(v_hat)`) into `adam_step` and see at which gradient
#   scale the check fails.
# * Rerun the bilinear game with beta1 = 0 (RMSProp with bias correction) and with a smaller
#   learning rate. Does any setting converge? (Optimistic or extra-gradient methods do: look up
#   "optimistic Adam".)
# * How large can one step be? Kingma and Ba (Sec. 2.1) bound it by about
#   `lr * (1 - beta1) / sqrt(1 - beta2)` when `1 - beta1 > sqrt(1 - beta2)`, and by about `lr`
#   otherwise. With beta1 = 0.5 and beta2 = 0.999 the first case applies: about 15.8 lr, 1.6e-4
#   at the paper's lr = 1e-5. Find a gradient sequence that comes close (many zero gradients,
#   then a large one), and work out how far a weight can move in the 113,100 iterations of the
#   full schedule.
# * Adam's `t` restarts at 0 when fine-tuning begins with fresh moments (lesson 10): plot the
#   first hundred step sizes after such a restart.

# %%
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
