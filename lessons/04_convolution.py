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
# # Lesson 4: convolution as one matrix multiply, and "deconvolution" as its adjoint
#
# *Paper: Sec. IV-C, Fig. 4 (the discriminator: nine 3x3 convolutions, three of them with stride 2)
# and Fig. 5 (the generator: 4x4 "deconvolutional" layers with stride 2 and stride 1).*
#
# Both networks are made of convolutions. This lesson builds one from a loop over the kernel's
# offsets and a single matrix multiply (*im2col*), follows Keras' `'same'` padding into the corner
# where it is lopsided, and shows that the generator's "deconvolution" is the *transposed*
# convolution: the adjoint of a convolution, i.e. its backward pass used as a forward pass.
#
# The package has two tiers of convolution code with the same function signatures: the
# **reference tier**, `mttgan_min/layers/conv.py`, written to be read, and the **fast tier**,
# `mttgan_min/layers/conv_fast.py`, which trades clarity for speed; a float64 test in
# `tests/` proves the two agree on many shapes. This lesson uses the layers' pure forward and
# backward functions `conv2d_forward`, `conv2d_backward` and `conv2d_transpose_forward` of
# `mttgan_min.layers.conv_layers` (each takes the tier to compute with) and the layers `Conv2D`
# and `Conv2DTranspose`, and builds its own reference implementation from the pieces in
# `mttgan_min.layers.im2col`.

# %%
import matplotlib.pyplot as plt
import numpy as np

from mttgan_min.gradcheck import check_function, check_layer, report
from mttgan_min.layers import Conv2D, Conv2DTranspose
from mttgan_min.layers.conv_layers import conv2d_backward, conv2d_forward, conv2d_transpose_forward
from mttgan_min.layers.im2col import col2im, conv_geometry, im2col, window

rng = np.random.default_rng(0)

# %% [markdown]
# ## Layout: NHWC, and weights (KH, KW, C_in, C_out)
#
# Images are `(N, H, W, C)`, channels last, and a kernel is `(KH, KW, C_in, C_out)`, as in Keras,
# whose conventions the paper used. (PyTorch readers: an NCHW image is `x.transpose(0, 3, 1, 2)`
# of ours and a PyTorch weight `(C_out, C_in, KH, KW)` is `w.transpose(3, 2, 0, 1)`.)
#
# ## Output size and 'same' padding
#
# With `'valid'` padding the kernel only visits positions where it fits: `OH = (H - KH) // s + 1`.
# With `'same'`, Keras (TensorFlow) asks for `OH = ceil(H / s)` outputs and pads as many rows as
# that needs, `total = max((OH - 1) * s + KH - H, 0)`, split as `total // 2` *before* and the rest
# *after*. For an even kernel at stride 1 the total is odd: a 4x4 kernel pads **1 row before and 2
# after**. The generator's residual blocks use exactly that kernel (Fig. 5). `conv_geometry`
# computes all of it:

# %%
print(f"{'H':>3} {'K':>2} {'s':>2} | {'same: OH':>9} {'pad (before, after)':>20} | {'valid: OH':>9}")
for H, K, s in [(16, 3, 1), (16, 4, 1), (16, 3, 2), (16, 4, 2), (7, 3, 2), (7, 4, 2)]:
    OH, _, (pad_rows, _) = conv_geometry(H, H, K, K, s, "same")
    print(f"{H:>3} {K:>2} {s:>2} | {OH:>9} {str(pad_rows):>20} | {conv_geometry(H, H, K, K, s, 'valid')[0]:>9}")
assert conv_geometry(16, 16, 4, 4, 1, "same")[2] == ((1, 2), (1, 2))

# %% [markdown]
# ## im2col: one strided slice per kernel offset
#
# Pad the input, then for each kernel offset (i, j) take what that offset sees at every output
# position: `window(x_pad, i, j, s, OH, OW) = x_pad[:, i : i + s*OH : s, j : j + s*OW : s, :]`,
# one strided slice of shape (N, OH, OW, C). Stacking the KH x KW slices gives the *patches*
# (N, OH, OW, KH, KW, C). Read as a matrix of (N * OH * OW) rows and (KH * KW * C) columns, one
# row per output pixel, the convolution is a single matrix multiply with the kernel reshaped to
# (KH * KW * C, C_out). With channels last, no transposes are needed anywhere.
#
# Here is what the offsets of a 3x3 kernel at stride 2 see on a 6x6 image of numbered pixels:

# %%
image = np.arange(36.0).reshape(1, 6, 6, 1)
OH, OW, pads = conv_geometry(6, 6, 3, 3, 2, "same")
x_pad = np.pad(image, ((0, 0), *pads, (0, 0)))
fig, axes = plt.subplots(1, 4, figsize=(10, 3.2), layout="constrained")
axes[0].imshow(x_pad[0, :, :, 0], cmap="viridis", vmin=0, vmax=35)
axes[0].set_title(f"padded input {x_pad.shape[1]}x{x_pad.shape[2]}\npads {pads[0]}", fontsize=9)
for ax, (i, j) in zip(axes[1:], [(0, 0), (1, 1), (2, 2)]):
    seen = window(x_pad, i, j, 2, OH, OW)[0, :, :, 0]
    ax.imshow(seen, cmap="viridis", vmin=0, vmax=35)
    for (r, c), v in np.ndenumerate(seen):
        ax.text(c, r, int(v), ha="center", va="center", color="w", fontsize=8)
    ax.set_title(f"offset ({i}, {j}) sees", fontsize=9)
for ax in axes:
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %% [markdown]
# ## Exercise 1: the im2col loop
#
# Write `my_im2col(x_pad, KH, KW, stride, OH, OW)` returning the patches (N, OH, OW, KH, KW, C),
# with `patches[n, oh, ow, i, j, c] = x_pad[n, oh * stride + i, ow * stride + j, c]`. Loop over
# the kernel offsets (i, j) only, never over pixels or samples: each iteration copies one strided
# slice. The reference solution is in place.

# %%
def my_im2col(x_pad, KH, KW, stride, OH, OW):
    """(N, Hp, Wp, C) -> (N, OH, OW, KH, KW, C): one strided slice per kernel offset."""
    N, _, _, C = x_pad.shape
    patches = np.empty((N, OH, OW, KH, KW, C), dtype=x_pad.dtype)
    for i in range(KH):
        for j in range(KW):
            patches[:, :, :, i, j, :] = x_pad[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :]
    return patches


# %% [markdown]
# The check builds the patches a second way, straight from the formula with index arrays, on odd
# sizes, an even kernel and two strides; then compares with the package's `im2col`.

# %%
def patches_by_formula(x_pad, KH, KW, stride, OH, OW):
    n, oh, ow, i, j, c = np.ix_(*(np.arange(k) for k in (x_pad.shape[0], OH, OW, KH, KW, x_pad.shape[3])))
    return x_pad[n, oh * stride + i, ow * stride + j, c]


for (H, W, K, s, pad) in [(5, 7, 3, 1, "same"), (7, 6, 3, 2, "same"), (6, 6, 4, 1, "same"),
                          (8, 8, 4, 2, "same"), (9, 7, 3, 2, "valid")]:
    x = rng.standard_normal((2, H, W, 3))
    OH, OW, pads = conv_geometry(H, W, K, K, s, pad)
    x_pad = np.pad(x, ((0, 0), *pads, (0, 0)))
    mine = my_im2col(x_pad, K, K, s, OH, OW)
    assert mine.shape == (2, OH, OW, K, K, 3), mine.shape
    assert np.array_equal(mine, patches_by_formula(x_pad, K, K, s, OH, OW)), (H, W, K, s, pad)
    assert np.array_equal(mine, im2col(x_pad, K, K, s, OH, OW))
print("my_im2col matches the formula and the package on 5 geometries")

# %% [markdown]
# Now the whole convolution, the reference way: pad, im2col, one matrix multiply, add the bias.
# It must equal the package's `conv2d_forward`.

# %%
def conv_forward_im2col(x, w, b, stride=1, padding="same"):
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F), cache."""
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    OH, OW, pads = conv_geometry(H, W, KH, KW, stride, padding)
    x_pad = np.pad(x, ((0, 0), *pads, (0, 0)))
    patches = my_im2col(x_pad, KH, KW, stride, OH, OW).reshape(N * OH * OW, KH * KW * C)
    out = patches @ w.reshape(KH * KW * C, F) + b
    return out.reshape(N, OH, OW, F), (x, w, stride, padding)


x, w, b = rng.standard_normal((2, 7, 7, 3)), rng.standard_normal((4, 4, 3, 5)), rng.standard_normal(5)
for s in (1, 2):
    mine, package = conv_forward_im2col(x, w, b, s)[0], conv2d_forward(x, w, b, s, "same", tier="reference")[0]
    print(f"stride {s}: output {mine.shape}, max |mine - package| = {np.abs(mine - package).max():.1e}")
    np.testing.assert_allclose(mine, package, rtol=1e-10, atol=1e-10)

# %% [markdown]
# ## Backward, and "deconvolution" as the adjoint
#
# A convolution is linear in x: `y = A x` for a big sparse matrix A built from the kernel. Its
# input gradient is `dx = A^T dy`. The *transposed convolution* (Keras `Conv2DTranspose`, the
# paper's "deconvolutional layer") is exactly that map `A^T` used as a layer: it takes the small
# image back to the big one, which is why the generator uses it to upsample 16 -> 32 -> 64 -> 128.
# A matrix and its transpose satisfy, for every x and y,
#
# $$ \langle A x, y \rangle = \langle x, A^T y \rangle. $$
#
# The same kernel array serves both: `conv2d_forward` maps C -> F channels with w (KH, KW, C, F),
# and `conv2d_transpose_forward` maps F -> C with the same w (Keras stores a transposed kernel as
# (KH, KW, C_out, C_in)). Print both sides for the generator's two kernels and the discriminator's:

# %%
print(f"{'kernel':>7} {'stride':>6} {'x':>14} {'y':>14}   <conv(x), y>         <x, conv_T(y)>")
for K, s, H in [(4, 2, 8), (4, 1, 8), (3, 2, 8), (3, 1, 7)]:
    w = rng.standard_normal((K, K, 3, 4))
    x = rng.standard_normal((2, H, H, 3))
    y = rng.standard_normal(conv2d_forward(x, w, np.zeros(4), s, "same", tier="reference")[0].shape)
    left = np.sum(conv2d_forward(x, w, np.zeros(4), s, "same", tier="reference")[0] * y)
    right = np.sum(x * conv2d_transpose_forward(y, w, np.zeros(3), s, "same", tier="reference")[0])
    print(f"{K}x{K:<5} {s:>6} {str(x.shape):>14} {str(y.shape):>14}   {left:+.12f}  {right:+.12f}")
    assert abs(left - right) < 1e-9 * max(1.0, abs(left))

# %% [markdown]
# The same identity holds one level down: `col2im`, which adds each offset's slice back into the
# padded image, is the adjoint of `im2col`. That is the whole backward pass of the reference tier.

# %%
x_pad = rng.standard_normal((2, 9, 9, 3))
P = rng.standard_normal((2, 4, 4, 3, 3, 3))
left, right = np.sum(im2col(x_pad, 3, 3, 2, 4, 4) * P), np.sum(x_pad * col2im(P, x_pad.shape, 2))
print(f"<im2col(x), P> = {left:+.12f}   <x, col2im(P)> = {right:+.12f}")
assert abs(left - right) < 1e-9 * abs(left)

# %% [markdown]
# ## The checkerboard of a 4x4 stride-2 transposed convolution
#
# Upsample a constant image with a stride-2 transposed convolution. Each output pixel gathers the
# kernel taps that land on it. With a 3x3 kernel some pixels get one tap, some two, some four: an
# uneven overlap, visible even with a kernel of ones. The paper's 4x4 kernel overlaps evenly (4 is
# divisible by 2), so a kernel of ones gives a flat image inside the border. But a *trained* or
# freshly initialised kernel is not constant: output pixels of the four parities (even/odd row,
# even/odd column) each see a different quarter of the taps, `w[p::2, q::2]`, and a constant input
# comes out as a 2x2 checkerboard (Odena, Dumoulin & Olah, "Deconvolution and checkerboard
# artifacts", Distill 2016). The generator has to learn to hide it.

# %%
flat = np.ones((1, 8, 8, 1))
w_random = np.random.default_rng(3).uniform(-1, 1, (4, 4, 1, 1))
cases = [("3x3 kernel of ones", np.ones((3, 3, 1, 1))), ("4x4 kernel of ones", np.ones((4, 4, 1, 1))),
         ("4x4 random kernel", w_random)]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), layout="constrained")
for ax, (title, k) in zip(axes, cases):
    out = conv2d_transpose_forward(flat, k, np.zeros(1), 2, "same", tier="reference")[0][0, :, :, 0]
    im = ax.imshow(out, cmap="magma")
    ax.set_title(f"{title}\n8x8 ones -> {out.shape[0]}x{out.shape[1]}", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()

inside = conv2d_transpose_forward(flat, w_random, np.zeros(1), 2, "same", tier="reference")[0][0, 1:-1, 1:-1, 0]
quarters = sorted(round(float(w_random[p::2, q::2].sum()), 9) for p in (0, 1) for q in (0, 1))
print("values inside the border:", sorted(float(v) for v in set(np.round(inside.ravel(), 9))))
print("sums of the four quarters w[p::2, q::2]:", quarters)
assert sorted(set(np.round(inside.ravel(), 9))) == quarters

# %% [markdown]
# ## Exercise 2: the backward pass from im2col, gradient-checked
#
# Write `my_conv_backward(dout, cache)` for `conv_forward_im2col` above, returning
# `dx` (N, H, W, C), `dw` (KH, KW, C, F) and `db` (F,). With the patch matrix `P` (rows: output
# pixels) and the kernel matrix `Wm` (KH * KW * C, F), the forward was `out = P @ Wm + b`, so, just
# as for the Dense layer of lesson 3,
#
# - `dw = P.T @ dout` and `db = dout summed over (N, OH, OW)`;
# - `dP = dout @ Wm.T`, and `dx` is `col2im(dP)`, with the padding cut off again.
#
# Then check it in float64 against `conv_forward_im2col`, on the cases that hide bugs: stride 1
# and 2, odd sizes, a stride that differs from the kernel, and the even 4x4 kernel with its
# lopsided padding.

# %%
def my_conv_backward(dout, cache):
    """dout (N, OH, OW, F) -> dx (N, H, W, C), dw (KH, KW, C, F), db (F,)."""
    x, w, stride, padding = cache
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    OH, OW, ((top, bottom), (left, right)) = conv_geometry(H, W, KH, KW, stride, padding)
    x_pad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    P = my_im2col(x_pad, KH, KW, stride, OH, OW).reshape(N * OH * OW, KH * KW * C)
    d = dout.reshape(N * OH * OW, F)
    dw = (P.T @ d).reshape(KH, KW, C, F)
    db = d.sum(axis=0)
    dP = (d @ w.reshape(KH * KW * C, F).T).reshape(N, OH, OW, KH, KW, C)
    dx = col2im(dP, x_pad.shape, stride)[:, top:top + H, left:left + W, :]
    return dx, dw, db


# %%
results = []
for H, K, s in [(5, 3, 1), (7, 3, 2), (6, 4, 1), (7, 4, 2)]:
    inputs = {"x": rng.standard_normal((2, H, H, 2)), "w": rng.standard_normal((K, K, 2, 3)),
              "b": rng.standard_normal(3)}
    forward = lambda x, w, b, s=s: conv_forward_im2col(x, w, b, s, "same")
    r = check_function(forward, my_conv_backward, inputs)
    print(report(r, f"my_conv_backward, {H}x{H} input, {K}x{K} kernel, stride {s}"))
    results += r
    dout = rng.standard_normal(forward(**inputs)[0].shape)
    for mine, package in zip(my_conv_backward(dout, forward(**inputs)[1]),
                             conv2d_backward(dout, conv2d_forward(inputs["x"], inputs["w"], inputs["b"], s, tier="reference")[1])):
        np.testing.assert_allclose(mine, package, rtol=1e-9, atol=1e-10)
assert len(results) == 12 and all(r.passed for r in results), report(results, "my_conv_backward")

# %% [markdown]
# Finally the layer classes the networks are built from, checked whole (input, kernel and bias
# gradients) with `check_layer`: the discriminator's Conv2D at stride 1 and 2, and the generator's
# Conv2DTranspose, 4x4 at stride 2 (upsampling) and at stride 1 (inside the residual blocks).
#
# One refinement of the recipe. The numeric gradient carries a round-off error of about
# `eps * sum|out * dout| / h`, the same for every entry; an entry whose true gradient is smaller than
# that error divided by the tolerance (pixels at the border, seen by few kernel taps, are such
# entries) cannot be resolved to 1e-7 *relative*. `check_layer`'s `floor` compares those entries
# *absolutely* instead; the function below computes the floor that round-off justifies.

# %%
def roundoff_floor(out, dout, h=1e-5, tol=1e-7):
    """The relative-error floor below which a float64 centred difference cannot resolve a gradient."""
    return max(1e-8, float(np.finfo(np.float64).eps * np.sum(np.abs(out * dout)) / (h * tol)))


layers = [("Conv2D 3x3 stride 1", Conv2D(2, 3, 3, stride=1, rng=rng, dtype=np.float64, tier="reference"), (2, 5, 5, 2)),
          ("Conv2D 3x3 stride 2", Conv2D(2, 3, 3, stride=2, rng=rng, dtype=np.float64, tier="reference"), (2, 7, 7, 2)),
          ("Conv2DTranspose 4x4 stride 2", Conv2DTranspose(3, 2, 4, stride=2, rng=rng, dtype=np.float64, tier="reference"),
           (2, 3, 3, 3)),
          ("Conv2DTranspose 4x4 stride 1", Conv2DTranspose(3, 2, 4, stride=1, rng=rng, dtype=np.float64, tier="reference"),
           (2, 4, 4, 3))]
for name, layer, shape in layers:
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    layer.name = name
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    results = check_layer(layer, x, dout=dout, floor=roundoff_floor(out, dout))
    assert all(r.passed for r in results), name

# %% [markdown]
# ## What to try next
#
# - Time `conv_forward_im2col` against `conv2d_forward` at the paper's size, (16, 128, 128, 128)
#   with a 4x4 kernel: how big is the patch matrix in gigabytes? Then read
#   `mttgan_min/layers/conv_fast.py` to see how the fast tier avoids building it whole.
# - Replace `'same'` by explicit padding `((2, 1), (2, 1))` for the 4x4 kernel: the adjoint
#   identity still holds, but do the outputs line up with the inputs?
# - Train-free experiment: draw a 4x4 kernel with Glorot's uniform range (`mttgan_min.initializers`)
#   and measure how strong its checkerboard is, relative to the mean output.
# - Lesson 5 adds the two remaining pieces of the generator's residual block: batch normalisation
#   and the skip connection.
