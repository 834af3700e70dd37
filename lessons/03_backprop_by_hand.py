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
# # Lesson 3: backprop by hand, Dense, LeakyReLU and Sigmoid
#
# *Paper: Sec. IV-C and Figs. 4-5 (the generator starts with a Dense layer and a LeakyReLU with
# slope 0.2; the discriminator ends with a Dense layer and a sigmoid).*
#
# This project has no automatic differentiation. Every layer is a pair of plain functions:
#
# - `*_forward(inputs) -> (out, cache)` computes the output and keeps what backward will need;
# - `*_backward(dout, cache) -> gradients` takes `dout`, the gradient of the loss with respect to
#   `out`, and returns the gradient with respect to every input (the chain rule, one layer at a
#   time).
#
# How do we know a backward is right? We compare it with a *numerical* gradient, computed from the
# forward alone by finite differences. This lesson does that for the three simplest layers and shows
# how to do it so that the check can actually catch a bug.

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyBboxPatch

from mttgan_min.coursework import check
from mttgan_min.gradcheck import check_function, numeric_gradient, relative_error, report, roundoff_floor
from mttgan_min.layers.activations import (leaky_relu_backward, leaky_relu_forward, sigmoid_backward,
                                           sigmoid_forward)
from mttgan_min.layers.dense import dense_backward, dense_forward

rng = np.random.default_rng(0)

# %% [markdown]
# ## Three forward/backward pairs
#
# **Dense**: `out = x @ w + b` with x (N, D), w (D, M), b (M,): N samples, D inputs, M outputs.
# Its backward is the exercise of this lesson; two ideas get you there.
#
# - *Each gradient has the shape of its input*: `dx` is (N, D) like x, `dw` (D, M) like w, `db`
#   (M,) like b. `dout` is (N, M); `dx` and `dw` each combine `dout` with the *other* factor of
#   the product `x @ w`, and once you write the shapes down there is only one way to do it.
# - *Sum over what was broadcast*: the same w and the same b serve all N samples, so their
#   gradients add up the contributions of all N samples. Where does the sum over N happen for w, and
#   where for b?
#
# **LeakyReLU**: `out = x` where x > 0, `alpha * x` elsewhere (alpha = 0.2 in the paper), so
# `dx = dout * slope`. **Sigmoid**: `out = 1 / (1 + exp(-x))`, with the neat derivative
# `out * (1 - out)`, so backward only needs the output.
#
# For an element-wise layer, backward with `dout = 1` returns its derivative: plot both.

# %%
x = np.linspace(-6, 6, 241)
fig, axes = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
for ax, (name, fwd, bwd) in zip(axes, [("LeakyReLU(0.2)", leaky_relu_forward, leaky_relu_backward),
                                       ("Sigmoid", sigmoid_forward, sigmoid_backward)]):
    out, cache = fwd(x)
    ax.plot(x, out, label="forward")
    ax.plot(x, bwd(np.ones_like(x), cache), label="backward(dout = 1)")
    ax.set_title(name), ax.grid(alpha=0.3), ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## The numerical check
#
# Take a random upstream gradient `dout` and the scalar `L = sum(out * dout)`. Its gradient with
# respect to any input is exactly what backward returns for that `dout`. Numerically, nudge one
# entry of the input by +-h and look at L:
#
# $$ \frac{\partial L}{\partial x_i} \approx \frac{L(x_i + h) - L(x_i - h)}{2h}, \qquad
# \text{relative error} = \frac{|a - n|}{\max(|a| + |n|, \text{floor})}, $$
#
# with `a` the analytic gradient (backward's) and `n` the numeric one.
# `mttgan_min.gradcheck.check_function` does this for every entry of every input, in float64,
# with h = 1e-5, and passes when the worst relative error is below 1e-7. Its default `dout` is
# `random_dout`: random signs, sizes between 0.5 and 1.5.
#
# The `floor` keeps a tiny gradient from failing on round-off alone. Each numeric gradient carries
# a round-off error of about `eps * sum|out * dout| / h` (eps = 2.2e-16, the float64 spacing near 1),
# the same for every entry; a gradient much smaller than that error divided by the tolerance cannot
# be resolved to 1e-7 relative. So `check_function` sets the floor with `roundoff_floor(out, dout)`:
# `eps * sum|out * dout| / (h * 1e-7)`, and never less than 1e-8. Entries whose gradients are
# smaller than the floor are in effect compared absolutely, `|a - n| < 1e-7 * floor`.

# %%
x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
results = check_function(dense_forward, dense_backward, {"x": x, "w": w, "b": b})
print(report(results, "Dense"))
results += check_function(leaky_relu_forward, leaky_relu_backward, {"x": rng.standard_normal((4, 5))})
results += check_function(sigmoid_forward, sigmoid_backward, {"x": rng.standard_normal((4, 5))})
print(report(results[3:], "LeakyReLU and Sigmoid"))
assert all(r.passed for r in results)
out, _ = dense_forward(x, w, b)
print(f"roundoff_floor for this Dense layer with dout = 1: {roundoff_floor(out, np.ones_like(out)):.1e}")

# %% [markdown]
# ## How small should h be?
#
# The centred difference has a *truncation* error that shrinks like h^2 and a *round-off* error,
# the rounding of L divided by 2h, that grows like eps / h (eps = 2e-16 in float64, 1.2e-7 in
# float32). The best h balances the two. Sweep h for Dense followed by Sigmoid, with the analytic
# gradient computed once in float64, and the numeric one in float64 and in float32.

# %%
def dense_sigmoid_forward(x, w, b):
    a, dense_cache = dense_forward(x, w, b)
    out, sig_cache = sigmoid_forward(a)
    return out, (dense_cache, sig_cache)


def dense_sigmoid_backward(dout, cache):
    dense_cache, sig_cache = cache
    return dense_backward(sigmoid_backward(dout, sig_cache), dense_cache)   # the chain rule


dout = rng.standard_normal((4, 3))
dx = dense_sigmoid_backward(dout, dense_sigmoid_forward(x, w, b)[1])[0]
hs = 10.0 ** -np.arange(1, 12.5, 0.5)
errors = {}
for dtype in (np.float64, np.float32):
    xd, wd, bd, dd = (a.astype(dtype) for a in (x, w, b, dout))
    loss = lambda: np.sum(dense_sigmoid_forward(xd, wd, bd)[0] * dd)
    errors[dtype.__name__] = [relative_error(dx, numeric_gradient(loss, xd, h)).max() for h in hs]

fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
for name, e in errors.items():
    ax.loglog(hs, e, "o-", label=name)
ax.axvline(1e-5, color="k", ls=":", lw=1, label="h = 1e-5")
ax.axhline(1e-7, color="tab:red", ls="--", lw=1, label="tolerance 1e-7")
ax.set_xlabel("h"), ax.set_ylabel("max relative error of dx"), ax.invert_xaxis()
ax.legend(fontsize=8), ax.grid(alpha=0.3)
plt.show()
best = hs[int(np.argmin(errors["float64"]))]
print(f"float64: best h = {best:.0e}, error {min(errors['float64']):.1e}; "
      f"float32: best error {min(errors['float32']):.1e}, never below the tolerance")
assert min(errors["float64"]) < 1e-7 < min(errors["float32"])

# %% [markdown]
# In float32 the two errors meet far above 1e-7. Smaller h does not help: a float32 number near 1
# can only move in steps of eps = 1.2e-7, so the nudge `x + h` is rounded to a whole step. Near
# h = 1e-7 it is off by 20%, and below half a step, about 6e-8, it is lost entirely (`x + h == x`)
# for x between 1 and 2; by h = 1e-8 it is lost for every x of order 1, and the numeric gradient
# is exactly zero. See it:

# %%
for h in [1e-5, 1e-6, 1e-7, 5e-8, 1e-8]:
    moved = [float(np.float32(v) + np.float32(h)) - float(np.float32(v)) for v in (0.5, 1.0, 1.5)]
    print(f"h = {h:.0e}: x + h - x in float32, for x = 0.5, 1, 1.5: " + ", ".join(f"{m:.3e}" for m in moved))
assert np.float32(1) + np.float32(1e-8) == np.float32(1) and np.float32(1) + np.float32(1e-5) != np.float32(1)

# %% [markdown]
# That is why every gradient check in this project runs in float64, while training runs in float32.
#
# ## Why the upstream gradient must be random
#
# The laziest check uses `dout = 1` everywhere, i.e. `L = sum(out)`. Here is a sigmoid backward
# with the most common bug of all: it forgets to multiply by `dout` (the chain rule). With
# `dout = 1` multiplying by it changes nothing, so the bug is invisible.

# %%
def sigmoid_backward_forgets_dout(dout, cache):
    out = cache
    return out * (1.0 - out)                      # bug: should be dout * out * (1 - out)


x = rng.standard_normal((4, 5))
ones = check_function(sigmoid_forward, sigmoid_backward_forgets_dout, {"x": x}, dout=np.ones((4, 5)))
random = check_function(sigmoid_forward, sigmoid_backward_forgets_dout, {"x": x})
print(report(ones, "buggy sigmoid, dout = 1"))
print(report(random, "buggy sigmoid, random dout"))
assert ones[0].passed and not random[0].passed

# %% [markdown]
# A random `dout` gives every output entry its own weight, so mixing up, dropping or re-using entries
# of `dout` shows. (Lesson 5 meets a subtler bug of this kind in batch normalisation.)
#
# ## Exercise: `dense_backward`
#
# Write the backward of the Dense layer: given `dout` (N, M) and the cache `(x, w)` saved by
# `dense_forward`, return `dx` (N, D), `dw` (D, M) and `db` (M,), in that order. Use the two ideas
# from the top of the lesson (shapes, and sums over what was broadcast); no loops are needed.
#
# `check` runs the numerical gradient check on your function (random x, w, b and `dout`, float64),
# then compares your three arrays with the package's for one more `dout`.

# %%
def my_dense_backward(dout, cache):
    """dout (N, M), cache (x (N, D), w (D, M)) -> dx (N, D), dw (D, M), db (M,)."""
    ### BEGIN SOLUTION
    x, w = cache
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
    ### END SOLUTION


# %%
my_dense_backward = check("dense_backward", my_dense_backward)

# %% [markdown]
# The same check rejects near misses, for example a bias gradient averaged instead of summed over
# the batch (a common slip when a loss is a mean):

# %%
def dense_backward_mean_bias(dout, cache):
    grads = my_dense_backward(dout, cache)
    return grads[0], grads[1], grads[2] / len(dout)


x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
wrong = check_function(dense_forward, dense_backward_mean_bias, {"x": x, "w": w, "b": b})
print(report(wrong, "bias averaged over the batch"))
assert [r.passed for r in wrong] == [True, True, False]

# %% [markdown]
# ## Putting pairs together: a tiny network
#
# Backward of a chain runs the pairs in reverse order, each one turning its `dout` into the `dout`
# of the layer before. Dense -> LeakyReLU -> Dense -> Sigmoid is a small classifier that ends like
# the discriminator (a Dense layer and a sigmoid). Its computational graph: forward passes values
# from left to right, backward passes gradients from right to left, and each Dense layer also sends
# out the gradients of its parameters.

# %%
fig, ax = plt.subplots(figsize=(11, 3.4))
layers = [("Dense", 1.6, "w1, b1"), ("LeakyReLU(0.2)", 4.3, None), ("Dense", 7.0, "w2, b2"), ("Sigmoid", 9.7, None)]
for name, cx, params in layers:
    ax.add_patch(FancyBboxPatch((cx - 0.85, -0.4), 1.7, 0.8, boxstyle="round,pad=0.05", fc="#e8eef8", ec="k"))
    ax.text(cx, 0, name, ha="center", va="center", fontsize=10)
    if params:                                    # parameters flow in from above, their gradients out below
        ax.annotate("", xy=(cx, 0.47), xytext=(cx, 1.05), arrowprops=dict(arrowstyle="->", color="k"))
        ax.text(cx, 1.1, params, ha="center", va="bottom", fontsize=10)
        ax.annotate("", xy=(cx, -1.05), xytext=(cx, -0.47), arrowprops=dict(arrowstyle="->", color="tab:red"))
        ax.text(cx, -1.1, ", ".join("d" + p for p in params.split(", ")), ha="center", va="top", fontsize=10,
                color="tab:red")
ax.text(11.35, 0, "L = sum(out * dout)", ha="left", va="center", fontsize=10,
        bbox=dict(boxstyle="round", fc="#fbeee6", ec="k"))
ends = [(0.0, 0.7)] + [(cx + 0.93, nx - 0.93) for (_, cx, _), (_, nx, _) in zip(layers, layers[1:])] + [(10.63, 11.3)]
for (x0, x1), value, grad in zip(ends, ["x", "h", "a", "z", "out"], ["dx", "dh", "da", "dz", "dout"]):
    ax.annotate("", xy=(x1, 0.18), xytext=(x0, 0.18), arrowprops=dict(arrowstyle="->", color="k"))
    ax.text((x0 + x1) / 2, 0.26, value, ha="center", va="bottom", fontsize=10)
    ax.annotate("", xy=(x0, -0.18), xytext=(x1, -0.18), arrowprops=dict(arrowstyle="->", color="tab:red"))
    ax.text((x0 + x1) / 2, -0.26, grad, ha="center", va="top", fontsize=10, color="tab:red")
ax.text(-0.1, 1.45, "forward: values, black, left to right", fontsize=9)
ax.text(-0.1, -1.55, "backward: gradients, red, right to left", fontsize=9, color="tab:red")
ax.set_xlim(-0.2, 13.6), ax.set_ylim(-1.7, 1.6), ax.axis("off")
ax.set_title("the computational graph of the tiny network")
plt.show()

# %% [markdown]
# The two functions below are that graph written out, checked end to end with your
# `my_dense_backward`:

# %%
def mlp_forward(x, w1, b1, w2, b2):
    h, c1 = dense_forward(x, w1, b1)
    a, c2 = leaky_relu_forward(h, 0.2)
    z, c3 = dense_forward(a, w2, b2)
    out, c4 = sigmoid_forward(z)
    return out, (c1, c2, c3, c4)


def mlp_backward(dout, cache):
    c1, c2, c3, c4 = cache
    dz = sigmoid_backward(dout, c4)
    da, dw2, db2 = my_dense_backward(dz, c3)
    dh = leaky_relu_backward(da, c2)
    dx, dw1, db1 = my_dense_backward(dh, c1)
    return dx, dw1, db1, dw2, db2


params = {"x": rng.standard_normal((5, 8)), "w1": rng.standard_normal((8, 6)),
          "b1": rng.standard_normal(6), "w2": rng.standard_normal((6, 1)), "b2": np.zeros(1)}
results = check_function(mlp_forward, mlp_backward, params, verbose=True)
assert all(r.passed for r in results)

# %% [markdown]
# ## What to try next
#
# - Break `my_dense_backward` on purpose (transpose the weight gradient, or average the bias
#   gradient instead of summing it): what does the check print? Which errors are caught by NumPy's
#   shapes already, and which only by the numbers? (With a square w, fewer are caught by shapes.)
# - Repeat the h sweep for LeakyReLU with inputs close to 0. What happens when `x - h < 0 < x + h`?
# - Set the LeakyReLU slope to 0 (a ReLU) in `mlp_forward` and count the hidden units whose
#   gradient is exactly zero for the whole batch: the "dead ReLU" that the paper's 0.2 avoids.
# - Lesson 4 builds the convolution from one matrix multiply, and its backward from the same pieces.
