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
# Both networks are made of convolutions. In this lesson you build one yourself: gather the
# patches a kernel sees into one array (*im2col*), and the convolution becomes a single matrix
# multiply. You then write *col2im*, which puts patches back into an image, and discover that it is
# the *adjoint* of im2col; with the two you write the convolution's backward pass. Along the way:
# Keras' `'same'` padding, lopsided for even kernels, and the generator's "deconvolution", which is
# the *transposed* convolution, a convolution's backward pass used as a forward pass.
#
# The package's own versions, which your functions are checked against, are the pure
# forward/backward functions `conv2d_forward`, `conv2d_backward` and `conv2d_transpose_forward`
# (`mttgan_min/layers/conv_layers.py`, built on `mttgan_min/layers/conv.py`) and the layers
# `Conv2D` and `Conv2DTranspose` the networks are made of.

# %%
import matplotlib.pyplot as plt
import numpy as np

from mttgan_min.coursework import check
from mttgan_min.gradcheck import check_function, check_layer, report
from mttgan_min.layers import Conv2D, Conv2DTranspose
from mttgan_min.layers.conv_layers import conv2d_backward, conv2d_forward, conv2d_transpose_forward
from mttgan_min.layers.im2col import conv_geometry

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
# ## im2col: what each kernel offset sees
#
# Pad the input to `x_pad` (N, Hp, Wp, C). A KH x KW kernel placed at output position (oh, ow)
# covers the pixels `x_pad[n, oh * stride + i, ow * stride + j, c]` for the kernel offsets
# 0 <= i < KH, 0 <= j < KW. Gather all of them into one array, the *patches*
#
# $$ \text{patches}[n, o_h, o_w, i, j, c] = x_\text{pad}[n,\; o_h s + i,\; o_w s + j,\; c], $$
#
# of shape (N, OH, OW, KH, KW, C). Read as a matrix of (N * OH * OW) rows and (KH * KW * C)
# columns, one row per output pixel, the convolution is a single matrix multiply with the kernel
# reshaped to (KH * KW * C, C_out). With channels last, no transposes are needed anywhere.
#
# Fix one offset (i, j) and let (oh, ow) run: what that offset sees is a regular grid of pixels
# of the padded image. Here is that grid for three offsets of a 3x3 kernel at stride 2 on a 6x6
# image of numbered pixels (computed pixel by pixel from the formula):

# %%
image = np.arange(36.0).reshape(1, 6, 6, 1)
OH, OW, pads = conv_geometry(6, 6, 3, 3, 2, "same")
x_pad = np.pad(image, ((0, 0), *pads, (0, 0)))
fig, axes = plt.subplots(1, 4, figsize=(10, 3.2), layout="constrained")
axes[0].imshow(x_pad[0, :, :, 0], cmap="viridis", vmin=0, vmax=35)
axes[0].set_title(f"padded input {x_pad.shape[1]}x{x_pad.shape[2]}\npads {pads[0]}", fontsize=9)
for ax, (i, j) in zip(axes[1:], [(0, 0), (1, 1), (2, 2)]):
    seen = np.array([[x_pad[0, oh * 2 + i, ow * 2 + j, 0] for ow in range(OW)] for oh in range(OH)])
    ax.imshow(seen, cmap="viridis", vmin=0, vmax=35)
    for (r, c), v in np.ndenumerate(seen):
        ax.text(c, r, int(v), ha="center", va="center", color="w", fontsize=8)
    ax.set_title(f"offset ({i}, {j}) sees", fontsize=9)
for ax in axes:
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %% [markdown]
# ## Exercise 1: im2col
#
# Write `my_im2col(x_pad, KH, KW, stride, OH, OW)` returning the patches (N, OH, OW, KH, KW, C)
# of the formula above. Loop over the kernel offsets (i, j) only, never over pixels or samples:
# for one offset, the grid it sees is a single NumPy slice of `x_pad` (with a start, a stop and a
# step along rows and along columns: which?), copied into the patches at that offset.
#
# `check` compares your patches with the formula on five geometries: odd sizes, an even kernel,
# stride 1 and 2, `'same'` and `'valid'` padding.

# %%
def my_im2col(x_pad, KH, KW, stride, OH, OW):
    """(N, Hp, Wp, C) -> (N, OH, OW, KH, KW, C): one strided slice per kernel offset."""
    ### BEGIN SOLUTION
    N, _, _, C = x_pad.shape
    patches = np.empty((N, OH, OW, KH, KW, C), dtype=x_pad.dtype)
    for i in range(KH):
        for j in range(KW):
            patches[:, :, :, i, j, :] = x_pad[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :]
    return patches
    ### END SOLUTION


# %%
my_im2col = check("im2col", my_im2col)

# %% [markdown]
# Now the whole convolution: pad, im2col, one matrix multiply, add the bias. It must equal the
# package's `conv2d_forward`. The cache keeps what backward will need: `(x, w, stride, padding)`.

# %%
def conv_forward_im2col(x, w, b, stride=1, padding="same"):
    """x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,) -> out (N, OH, OW, C_out), cache."""
    n_images, height, width, c_in = x.shape
    k_rows, k_cols, _, c_out = w.shape
    out_rows, out_cols, pads = conv_geometry(height, width, k_rows, k_cols, stride, padding)
    padded = np.pad(x, ((0, 0), *pads, (0, 0)))
    patch_rows = my_im2col(padded, k_rows, k_cols, stride, out_rows, out_cols).reshape(-1, k_rows * k_cols * c_in)
    out = patch_rows @ w.reshape(-1, c_out) + b
    return out.reshape(n_images, out_rows, out_cols, c_out), (x, w, stride, padding)


x, w, b = rng.standard_normal((2, 7, 7, 3)), rng.standard_normal((4, 4, 3, 5)), rng.standard_normal(5)
for s in (1, 2):
    mine, package = conv_forward_im2col(x, w, b, s)[0], conv2d_forward(x, w, b, s, "same")[0]
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
    y = rng.standard_normal(conv2d_forward(x, w, np.zeros(4), s, "same")[0].shape)
    left = np.sum(conv2d_forward(x, w, np.zeros(4), s, "same")[0] * y)
    right = np.sum(x * conv2d_transpose_forward(y, w, np.zeros(3), s, "same")[0])
    print(f"{K}x{K:<5} {s:>6} {str(x.shape):>14} {str(y.shape):>14}   {left:+.12f}  {right:+.12f}")
    assert abs(left - right) < 1e-9 * max(1.0, abs(left))

# %% [markdown]
# ## Exercise 2: col2im, the adjoint of im2col
#
# im2col is linear too: it copies every pixel of `x_pad` into each patch that contains it (a pixel
# seen by four windows appears four times in the patches). Its adjoint, `col2im`, goes the other
# way: it takes an array `col` shaped like the patches, (N, OH, OW, KH, KW, C), and returns an
# array shaped like `x_pad`, in which every pixel holds the **sum** of all the entries of `col`
# that im2col would have copied from that pixel. Pixels that no window covers get zero.
#
# Write `my_col2im(col, x_pad_shape, stride)`. As in im2col, loop over the kernel offsets only;
# this time each offset's part of `col` goes back to the grid that offset sees, and it must be
# *added* to what other offsets have put there, not written over it. (A basic slice of a NumPy
# array is a view: an in-place `+=` on it changes the array.)
#
# `check` tests the defining property, for random x and c,
#
# $$ \langle \text{im2col}(x), c \rangle = \langle x, \text{col2im}(c) \rangle, $$
#
# and compares your result with the package's, on the five geometries of exercise 1.

# %%
def my_col2im(col, x_pad_shape, stride):
    """(N, OH, OW, KH, KW, C) -> array of x_pad_shape (N, Hp, Wp, C): each patch entry added back to its pixel."""
    ### BEGIN SOLUTION
    N, OH, OW, KH, KW, C = col.shape
    image = np.zeros(x_pad_shape, dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):
            image[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :] += col[:, :, :, i, j, :]
    return image
    ### END SOLUTION


# %%
my_col2im = check("col2im", my_col2im)

# %% [markdown]
# col2im of a patch array of ones counts, for every pixel, how many windows see it: the overlap of
# a 3x3 kernel at stride 2 (some pixels are seen once, some twice, some four times), against the
# even overlap of a 4x4 kernel at stride 2. Keep this picture in mind for the checkerboard below.

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3.4), layout="constrained")
for ax, K in zip(axes, (3, 4)):
    OH, OW, pads = conv_geometry(8, 8, K, K, 2, "same")
    counts = my_col2im(np.ones((1, OH, OW, K, K, 1)), (1, 8 + sum(pads[0]), 8 + sum(pads[1]), 1), 2)
    im = ax.imshow(counts[0, :, :, 0], cmap="magma", vmin=0, vmax=4)
    ax.set_title(f"{K}x{K} kernel, stride 2: windows per pixel\n(padded 8x8 input)", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# ## Exercise 3: the convolution's backward from im2col and col2im
#
# Write `my_conv_backward(dout, cache)` for `conv_forward_im2col` above: `dout` is
# (N, OH, OW, C_out), the cache is `(x, w, stride, padding)`, and you return `dx` (N, H, W, C_in),
# `dw` (KH, KW, C_in, C_out) and `db` (C_out,).
#
# Look at the forward again: after im2col it is a Dense layer (lesson 3) applied to every output
# pixel at once, with the patch matrix in the role of the Dense layer's input and the reshaped
# kernel in the role of its weights. So the ideas of lesson 3 carry over: every gradient has the
# shape of what it belongs to (reshape to the kernel's shape at the end), and the same kernel and
# bias served every output pixel of every image, so their gradients sum over all of them. The
# gradient with respect to the patch matrix is not yet `dx`: shaped as patches, your `my_col2im`
# carries it back to the padded image (a pixel seen by several windows collects all of their
# contributions), and then the padding is cut off again (`conv_geometry` tells you how much).
#
# `check` compares your gradients with numerical ones (float64) and with the package's, at
# stride 1 and 2, with odd sizes and the even 4x4 kernel with its lopsided padding.

# %%
def my_conv_backward(dout, cache):
    """dout (N, OH, OW, C_out), cache (x, w, stride, padding) -> dx (N, H, W, C_in), dw (KH, KW, C_in, C_out), db (C_out,)."""
    ### BEGIN SOLUTION
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
    dx = my_col2im(dP, x_pad.shape, stride)[:, top:top + H, left:left + W, :]
    return dx, dw, db
    ### END SOLUTION


# %%
my_conv_backward = check("conv_backward", my_conv_backward)

# %% [markdown]
# The gradient check of your backward on the discriminator's geometry, a 3x3 kernel at stride 2,
# and the package's `conv2d_backward` on the same `dout`:

# %%
inputs = {"x": rng.standard_normal((2, 7, 7, 2)), "w": rng.standard_normal((3, 3, 2, 3)),
          "b": rng.standard_normal(3)}
forward = lambda x, w, b: conv_forward_im2col(x, w, b, 2, "same")
results = check_function(forward, my_conv_backward, inputs)
print(report(results, "my_conv_backward, 7x7 input, 3x3 kernel, stride 2"))
assert all(r.passed for r in results)
dout = rng.standard_normal(forward(**inputs)[0].shape)
package_cache = conv2d_forward(inputs["x"], inputs["w"], inputs["b"], 2, "same")[1]
for name, mine, package in zip(("dx", "dw", "db"), my_conv_backward(dout, forward(**inputs)[1]),
                               conv2d_backward(dout, package_cache)):
    print(f"{name}: max |mine - package| = {np.abs(mine - package).max():.1e}")
    np.testing.assert_allclose(mine, package, rtol=1e-9, atol=1e-10)

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
    out = conv2d_transpose_forward(flat, k, np.zeros(1), 2, "same")[0][0, :, :, 0]
    im = ax.imshow(out, cmap="magma")
    ax.set_title(f"{title}\n8x8 ones -> {out.shape[0]}x{out.shape[1]}", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8)
plt.show()

inside = conv2d_transpose_forward(flat, w_random, np.zeros(1), 2, "same")[0][0, 1:-1, 1:-1, 0]
quarters = sorted(round(float(w_random[p::2, q::2].sum()), 9) for p in (0, 1) for q in (0, 1))
print("values inside the border:", sorted(float(v) for v in set(np.round(inside.ravel(), 9))))
print("sums of the four quarters w[p::2, q::2]:", quarters)
assert sorted(set(np.round(inside.ravel(), 9))) == quarters

# %% [markdown]
# Finally the layer classes the networks are built from, checked whole (input, kernel and bias
# gradients) with `check_layer`: the discriminator's Conv2D at stride 1 and 2, and the generator's
# Conv2DTranspose, 4x4 at stride 2 (upsampling) and at stride 1 (inside the residual blocks).
# `check_layer` chooses `dout` and the relative-error floor as `check_function` does (lesson 3).

# %%
layers = [("Conv2D 3x3 stride 1", Conv2D(2, 3, 3, stride=1, rng=rng, dtype=np.float64), (2, 5, 5, 2)),
          ("Conv2D 3x3 stride 2", Conv2D(2, 3, 3, stride=2, rng=rng, dtype=np.float64), (2, 7, 7, 2)),
          ("Conv2DTranspose 4x4 stride 2", Conv2DTranspose(3, 2, 4, stride=2, rng=rng, dtype=np.float64), (2, 3, 3, 3)),
          ("Conv2DTranspose 4x4 stride 1", Conv2DTranspose(3, 2, 4, stride=1, rng=rng, dtype=np.float64), (2, 4, 4, 3))]
for name, layer, shape in layers:
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    layer.name = name
    results = check_layer(layer, rng.standard_normal(shape))
    assert all(r.passed for r in results), name

# %% [markdown]
# > **Aside: a faster convolution (not needed for the course).** The full patch matrix is KH x KW
# > times the size of the input: 16 times for a 4x4 kernel, about 4 GB for one layer of the
# > paper's size in float32 (32 images of 128 x 128 pixels, 128 channels). The package also has a fast implementation of the same convolution, which builds only a
# > KH-th of the patches at a time (im2col along the width alone), turns a stride into a stride-1
# > convolution, and works through the batch in cache-sized chunks. It computes the same numbers, to
# > round-off, with far less memory traffic; how much faster it is depends on the layer and the
# > machine. The next cell checks that it agrees with yours on one layer of the generator's shape.

# %%
from mttgan_min.fast.conv import conv as fast_conv  # noqa: E402  (the Aside's one import)

x, w, b = rng.standard_normal((4, 16, 16, 32)), rng.standard_normal((4, 4, 32, 16)), rng.standard_normal(16)
mine = conv_forward_im2col(x, w, b, 1, "same")[0]
fast = fast_conv(x, w, 1, "same", bias=b)
print(f"max |im2col - fast| = {np.abs(mine - fast).max():.1e}; full patch matrix of this layer: "
      f"{x.size * 16 * x.itemsize / 2**20:.1f} MiB, the input: {x.nbytes / 2**20:.2f} MiB")
np.testing.assert_allclose(fast, mine, rtol=1e-9, atol=1e-9)

# %% [markdown]
# ## What to try next
#
# - Time `conv_forward_im2col` at the paper's size, (16, 128, 128, 128) with a 4x4 kernel (or a
#   quarter of it, if memory is short): how big is the patch matrix in gigabytes?
# - Replace `'same'` by explicit padding `((2, 1), (2, 1))` for the 4x4 kernel: the adjoint
#   identity still holds, but do the outputs line up with the inputs?
# - Write the transposed convolution's forward yourself from `my_conv_backward` (which of its
#   outputs is it?) and compare it with `conv2d_transpose_forward`.
# - Train-free experiment: draw a 4x4 kernel with Glorot's uniform range (`mttgan_min.initializers`)
#   and measure how strong its checkerboard is, relative to the mean output.
# - Lesson 5 adds the two remaining pieces of the generator's residual block: batch normalisation
#   and the skip connection.
