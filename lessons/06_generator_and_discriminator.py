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
# # Lesson 6: the paper's generator and discriminator (Sec. IV-C, Figs. 4 and 5)
#
# Lessons 3 to 5 built the layers one by one and checked each against a numerical gradient.
# Here they become the two networks of the paper:
#
# * the **generator G** (Fig. 5): a noise vector z of 100 numbers becomes a 128x128 chest film
#   through a Dense layer, three upsampling transposed convolutions, six residual blocks and a
#   final 3x3 convolution with a sigmoid;
# * the **discriminator D** (Fig. 4): nine 3x3 convolutions (stride 2 at layers 1, 4 and 7),
#   three dropout layers and one Dense unit that says "real" or "generated".
#
# You will count every parameter by hand for any preset (exercises `count_generator` and
# `count_discriminator`) and match the package's networks, draw both networks with the shapes
# their layers hand on, count the floating-point work of one training iteration, and finish with
# a gradient check of the *whole* networks. A sampled check of a few entries per array is strong
# evidence that the chain of layers is right, not a proof: it sees only the entries it samples.
#
# No data are used in this lesson.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from mttgan_min.bench import run_benchmark
from mttgan_min.coursework import check
from mttgan_min.gradcheck import compare, numeric_gradient, report
from mttgan_min.layers import (BatchNorm2D, Conv2D, Conv2DTranspose, Dense, LeakyReLU, Residual,
                               Sequential)
from mttgan_min.models import PRESETS, build_discriminator, build_generator, get_preset, summary

START = time.perf_counter()

# %% [markdown]
# ## The networks and their summary
#
# `build_generator(preset)` and `build_discriminator(preset)` return `Sequential` networks made
# of the layers of lessons 3 to 5. Three presets change only the sizes, never the structure:
# `paper` (128x128, the paper's networks), `small` (64x64) and `tiny` (32x32, what a laptop CPU
# trains in minutes). After the exercise, `summary` prints a Keras-style table, the same one as
# `python -m mttgan_min.models --preset paper`.

# %%
for name, p in PRESETS.items():
    print(f"{name:>6}: image {p.image_size}x{p.image_size}, G width {p.g_width}, "
          f"D widths {p.d_widths}, G starts at {p.g_start}x{p.g_start}, z has {p.latent_dim} numbers")

G_paper = build_generator("paper")
D_paper = build_discriminator("paper")

# %% [markdown]
# ## Counting the parameters by hand
#
# Three formulas cover every layer with weights:
#
# * Dense from `n_in` to `n_out`: a weight matrix and a bias, `n_in * n_out + n_out`;
# * a convolution or transposed convolution with a `K x K` kernel from `C_in` to `C_out`
#   channels: `K * K * C_in * C_out + C_out` (one bias per output channel);
# * batch normalisation over `C` channels: `2 * C` trainable numbers (gamma and beta), plus the
#   running mean and variance, `2 * C` more that are *not* trained (the summary lists them as
#   non-trainable).
#
# LeakyReLU, Reshape, Flatten, Dropout, Sigmoid and the residual addition have no parameters.

# %% [markdown]
# ### Exercise: count G and D for any preset
#
# Write `count_generator(p)` and `count_discriminator(p)` from a `Preset` `p` (fields
# `latent_dim`, `g_start`, `g_width`, `image_size`, `d_widths`) using only the three formulas and
# Figs. 4 and 5 (`conv_params` below is the second formula). What the figures say:
#
# * G: one Dense layer from z to `g_start * g_start * g_width` units (reshaped to a
#   `g_start x g_start x g_width` map); then three times: an upsampling 4x4 transposed convolution
#   (width to width) and two residual blocks, each with two 4x4 transposed convolutions (width to
#   width) and one batch norm; finally a 3x3 convolution to one channel.
# * D: three blocks, one per entry of `d_widths`, of three 3x3 convolutions each (the first one
#   of a block from the previous width, or from the 1 channel of the image, the other two within
#   the block's width); the first convolution of each block has stride 2, and a 'same' stride-2
#   convolution gives `ceil(S / 2)` pixels from S; then one Dense unit on the flattened last map.
#
# The checks compare your counts with the networks the package builds at the three presets;
# the hidden cases use presets of other sizes (one with an image side that is not a multiple of 8).

# %%
def conv_params(k, c_in, c_out):
    """A k x k convolution (or transposed convolution) from c_in to c_out channels, with bias."""
    return k * k * c_in * c_out + c_out


def count_generator(p):
    """Trainable parameters of G (Fig. 5) for preset p (an int)."""
    ### BEGIN SOLUTION
    units = p.g_start * p.g_start * p.g_width
    first = (p.latent_dim + 1) * units
    one_deconv = conv_params(4, p.g_width, p.g_width)
    blocks = 6 * (2 * one_deconv + 2 * p.g_width)
    return first + 3 * one_deconv + blocks + conv_params(3, p.g_width, 1)
    ### END SOLUTION


# %%
count_generator = check("count_generator", count_generator)


# %%
def count_discriminator(p):
    """Trainable parameters of D (Fig. 4) for preset p (an int)."""
    ### BEGIN SOLUTION
    n_params, channels, pixels = 0, 1, p.image_size
    for block_width in p.d_widths:
        n_params += conv_params(3, channels, block_width) + 2 * conv_params(3, block_width, block_width)
        channels, pixels = block_width, (pixels + 1) // 2
    return n_params + pixels * pixels * channels + 1
    ### END SOLUTION


# %%
count_discriminator = check("count_discriminator", count_discriminator)

# %% [markdown]
# Your counts against the package's networks and its summary tables (the total sits at the end
# of each table):

# %%
for name, p in PRESETS.items():
    G_count, D_count = build_generator(p).num_params(), build_discriminator(p).num_params()
    assert count_generator(p) == G_count and count_discriminator(p) == D_count, name
    print(f"{name:>6}: G {G_count:>10,}  D {D_count:>10,}  (by hand and by the package: equal)")
print()
print(summary(G_paper))

# %%
print(summary(D_paper))

# %% [markdown]
# The same count, layer by layer: we walk G's layers (`net.walk()` visits every layer inside the
# containers too) and print the formula next to what the layer actually holds. Most of G's
# parameters sit in two places: the first Dense layer (100 x 32,768 weights) and the fifteen
# 4x4x128x128 transposed convolutions.

# %%
def by_hand(layer):
    """The formula for one layer with weights, as text and as a number."""
    if isinstance(layer, Dense):
        n_in, n_out = layer.params["w"].shape
        return f"{n_in} * {n_out} + {n_out}", n_in * n_out + n_out
    if isinstance(layer, (Conv2D, Conv2DTranspose)):
        k, _, a, b = layer.params["w"].shape
        c_in, c_out = (a, b) if isinstance(layer, Conv2D) else (b, a)  # Keras stores a transposed kernel as (K, K, out, in)
        return f"{k}*{k}*{c_in}*{c_out} + {c_out}", conv_params(k, c_in, c_out)
    if isinstance(layer, BatchNorm2D):
        c = layer.params["gamma"].size
        return f"2 * {c}", 2 * c
    raise TypeError(type(layer).__name__)


def parameter_table(net):
    rows, by_type = [], {}
    for layer in net.walk():
        if layer.params:
            text, n = by_hand(layer)
            held = sum(v.size for v in layer.params.values())
            assert n == held, (layer.kind, n, held)
            rows.append((layer.kind, text, n))
            by_type[layer.kind] = by_type.get(layer.kind, 0) + n
    return rows, by_type


rows, G_by_type = parameter_table(G_paper)
for kind, text, n in rows[:4]:
    print(f"{kind:<18} {text:<24} {n:>10,}")
print(f"... {len(rows) - 5} more rows like these ...")
print(f"{rows[-1][0]:<18} {rows[-1][1]:<24} {rows[-1][2]:>10,}")
print("G by layer type:", {k: f"{v:,}" for k, v in G_by_type.items()})
_, D_by_type = parameter_table(D_paper)
print("D by layer type:", {k: f"{v:,}" for k, v in D_by_type.items()})
assert G_by_type == {"dense": 3_309_568, "conv2d_transpose": 3_934_080, "batch_norm2d": 1_536,
                     "conv2d": 1_153}

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for ax, (title, counts) in zip(axes, (("G (Fig. 5), paper preset", G_by_type),
                                      ("D (Fig. 4), paper preset", D_by_type))):
    ax.barh(list(counts), [v / 1e6 for v in counts.values()], color="tab:blue")
    ax.set_xlabel("parameters (millions)")
    ax.set_title(title)
    for i, v in enumerate(counts.values()):
        ax.text(v / 1e6, i, f" {v:,}", va="center", fontsize=8)
    ax.set_xlim(0, max(counts.values()) / 1e6 * 1.45)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Shapes through the networks
#
# Each layer knows its output shape for one sample (`layer.output_shape(shape)`, no batch axis).
# Walking the top-level layers gives the shapes of Figs. 4 and 5: G grows 16 -> 32 -> 64 -> 128
# pixels while its width stays 128; D shrinks 128 -> 64 -> 32 -> 16 while its width grows
# 64 -> 128 -> 256. A residual block keeps the shape (it must, to add x to f(x)).

# %%
def trace_shapes(net, shape):
    """[(layer kind, output shape)] for the top-level layers of a Sequential network."""
    out = []
    for layer in net.layers:
        shape = layer.output_shape(shape)
        kind = "residual block" if isinstance(layer, Residual) else layer.kind
        out.append((kind, shape))
    return out


p = get_preset("paper")
G_shapes = trace_shapes(G_paper, (p.latent_dim,))
D_shapes = trace_shapes(D_paper, (p.image_size, p.image_size, 1))
for title, shapes in (("G", G_shapes), ("D", D_shapes)):
    print(f"{title}: input {G_paper.input_shape if title == 'G' else D_paper.input_shape}")
    for kind, shape in shapes:
        print(f"   {kind:<18} {shape}")
assert G_shapes[-1][1] == (128, 128, 1) and D_shapes[-1][1] == (1,)

# %% [markdown]
# The same walk as block diagrams (paper preset; each box a top-level layer with the shape it
# hands on, per sample; a residual block is `x + [Deconv 4x4 s1, BN, LReLU, Deconv 4x4 s1, LReLU](x)`):

# %%
def block_diagram(ax, title, input_shape, shapes):
    """Boxes top to bottom, one per layer, joined by arrows; the output shape under each name."""
    rows = [("input", input_shape)] + shapes
    colors = {"dense": "#f6d8a8", "conv2d": "#b9d7ee", "conv2d_transpose": "#c8e6c0",
              "residual block": "#e3cbe8", "dropout": "#eeeeee"}
    for i, (kind, shape) in enumerate(rows):
        y = -i
        ax.add_patch(plt.Rectangle((0, y - 0.38), 1, 0.76, facecolor=colors.get(kind, "white"), edgecolor="black"))
        ax.text(0.5, y, f"{kind}   {tuple(shape)}", ha="center", va="center", fontsize=7)
        if i:
            ax.annotate("", xy=(0.5, y + 0.38), xytext=(0.5, y + 0.62), arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_xlim(-0.05, 1.05), ax.set_ylim(-len(rows) + 0.4, 0.6), ax.axis("off")
    ax.set_title(title, fontsize=9)


fig, axes = plt.subplots(1, 2, figsize=(11, 8))
block_diagram(axes[0], "G (Fig. 5), paper preset", G_paper.input_shape, G_shapes)
block_diagram(axes[1], "D (Fig. 4), paper preset; the sigmoid is fused into the loss", D_paper.input_shape,
              D_shapes)
fig.tight_layout()
plt.show()

# %% [markdown]
# The numbers each layer hands on (per sample) tell where the memory of a training step goes:
# every activation is kept for the backward pass. G's last stage, at 128x128x128 = 2.1 million
# numbers per layer, dwarfs the rest.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for ax, (title, shapes) in zip(axes, (("G", G_shapes), ("D", D_shapes))):
    sizes = [int(np.prod(s)) for _, s in shapes]
    ax.bar(range(len(sizes)), sizes, color="tab:orange")
    ax.set_yscale("log")
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels([k.replace("residual block", "res") for k, _ in shapes], rotation=90, fontsize=7)
    ax.set_ylabel("numbers per sample")
    ax.set_title(f"{title}: output size of each layer (paper preset)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## How much arithmetic is one training iteration?
#
# Almost all the work is in the matrix multiplies of the Dense and convolution layers. Count
# multiply-adds (MACs) per sample:
#
# * Dense: `n_in * n_out`;
# * Conv2D: one `K x K x C_in` dot product per output pixel and channel, `OH * OW * K * K * C_in * C_out`;
# * Conv2DTranspose (the adjoint of a convolution, lesson 4): every *input* pixel spreads a
#   `K x K x C_out` patch, `H * W * K * K * C_in * C_out`.
#
# One MAC is two floating-point operations (FLOP). A backward pass costs about twice the forward
# (one product for the input gradient, one for the weight gradient). One iteration of the paper
# (Sec. IV; `mttgan_min.gan_step`) is then
#
# * D step: G forward on 16 latents, D forward and backward on 32 images (16 real, 16 generated);
# * G step: G and D forward and backward on 32 latents.
#
# The D of the G step is frozen, so strictly it skips its weight gradients; the round count below
# ignores that saving, the exact one includes it.

# %%
def macs_per_sample(net, shape):
    """Multiply-adds of one forward pass for one sample, summed over every layer."""
    total = 0

    def visit(layer, shape):
        nonlocal total
        if isinstance(layer, Sequential):    # a chain: each layer takes the last one's output
            for child in layer.layers:
                shape = visit(child, shape)
            return shape
        if isinstance(layer, Residual):      # x + f(x): f sees x, the shape stays
            visit(layer.inner, shape)
            return shape
        out = layer.output_shape(shape)
        if isinstance(layer, Dense):
            total += layer.params["w"].size
        elif isinstance(layer, Conv2D):
            total += out[0] * out[1] * layer.params["w"].size
        elif isinstance(layer, Conv2DTranspose):
            total += shape[0] * shape[1] * layer.params["w"].size
        return out

    visit(net, shape)
    return total


def flops_per_iteration(p, exact=False):
    """FLOP of one iteration (batch 32: D step on 16 + 16, G step on 32) at preset p."""
    g = 2 * macs_per_sample(build_generator(p), (p.latent_dim,))
    d = 2 * macs_per_sample(build_discriminator(p), (p.image_size, p.image_size, 1))
    d_step = 16 * g + 32 * 3 * d
    g_step = 32 * 3 * g + 32 * (2 if exact else 3) * d   # frozen D: forward + input gradient only
    return d_step + g_step


flops = {}
for name, p in PRESETS.items():
    flops[name] = flops_per_iteration(p)
    print(f"{name:>6}: G forward {2 * macs_per_sample(build_generator(p), (p.latent_dim,)) / 1e9:7.3f} GFLOP/sample, "
          f"one iteration {flops[name] / 1e12:7.4f} TFLOP (exact, frozen D: "
          f"{flops_per_iteration(p, exact=True) / 1e12:.4f})")
# The generator's stride-1 residual blocks dominate; the convolution part scales with
# (image side)^2 * width^2, so tiny is about 4^2 * 4^2 = 256 times cheaper than paper.
assert 5.7e12 < flops["paper"] < 5.9e12
assert 200 < flops["paper"] / flops["tiny"] < 300

# %% [markdown]
# > **Aside.** (A measurement, not part of the method.) The whole schedule of the paper is
# > 100 + 100 epochs, 883 iterations per pretraining epoch and 248 per fine-tuning epoch
# > (lesson 2): 113,100 iterations, about 650 PFLOP. What does that mean on this machine?
# > `mttgan_min.bench.run_benchmark` times a few iterations of the tiny preset (the number
# > depends on the CPU and on what else it is doing).

# %%
result = run_benchmark("tiny", iters=3, warmup=1)
rate = flops["tiny"] / (result["ms_per_iter"] / 1e3)
total = 113_100 * flops["paper"]
print(f"tiny preset: {result['ms_per_iter']:.0f} ms per iteration, about {rate / 1e9:.1f} GFLOP/s")
print(f"the paper's schedule: {total / 1e15:.0f} PFLOP; at this rate {total / rate / 86400 / 365:.1f} years, "
      f"on a GPU at 50 TFLOP/s {total / 50e12 / 3600:.1f} hours")

# %% [markdown]
# ## A gradient check of the whole networks
#
# Lessons 3 to 5 checked each layer. Backprop through a network is the chain rule applied layer
# after layer (`Sequential.backward` runs the layers in reverse), so we can check it the same
# way: pick a random upstream gradient `dout`, take the scalar `L = sum(G(z) * dout)` and
# compare the analytic gradient of L with centred differences, in float64.
#
# Two cautions that a single layer did not need:
#
# * **Kinks.** LeakyReLU has a kink at 0. If some pre-activation lies within `h` of 0, the
#   perturbation crosses it and the centred difference averages two slopes. With 30,000
#   LeakyReLU inputs in the tiny G this happens easily, so we check the smallest |input| first
#   and pick seeds that keep it well away (here `h = 1e-6`).
# * **Round-off.** L sums thousands of terms, so its round-off is about
#   `eps * sum|out * dout|`, divided by `h` in the difference quotient. Gradients smaller than
#   that cannot be resolved to 1e-7 relative error; they are compared absolutely (the `floor`
#   of `compare`, as in the project's tests).
#
# Checking every one of the 300,000 weights of the tiny G would take hours, so we sample a few
# entries of every array (every layer) instead. G runs in training mode (batch statistics in
# its batch norms); D runs in inference mode so that dropout does not draw a new mask every call.

# %%
H = 1e-6


def min_pre_activation(net, x):
    """The smallest |input| of any LeakyReLU of net on x (the distance to the nearest kink)."""
    net.forward(x)
    return min(float(np.abs(layer.cache[0]).min()) for layer in net.walk() if isinstance(layer, LeakyReLU))


def network_check(net, x, per_array, min_floor=1e-8, seed=0):
    """Sampled float64 gradient check of dx and of every parameter array of net at x."""
    rng = np.random.default_rng(seed)
    out = net.forward(x)
    dout = rng.standard_normal(out.shape)
    roundoff = np.finfo(np.float64).eps * np.sum(np.abs(out * dout)) / (H * 1e-7)
    floor = max(roundoff, min_floor)
    net.zero_grad()
    dx = net.backward(dout)
    grads = {k: g.copy() for k, g in net.named_grads().items()}

    def loss():
        return np.sum(net.forward(x) * dout)

    results = [compare("x", dx, loss, x, h=H, max_entries=per_array, rng=rng, floor=floor)]
    exactly_zero = []
    for name, param in net.named_params().items():
        if np.abs(grads[name]).max() < 1e-12:
            exactly_zero.append(name)  # a gradient that is zero up to round-off: checked below
            continue
        results.append(compare(name, grads[name], loss, param, h=H, max_entries=per_array, rng=rng, floor=floor))
    return results, exactly_zero, loss, floor


G = build_generator("tiny", rng=np.random.default_rng(0), dtype=np.float64)
z = np.random.default_rng(26).standard_normal((1, 100))
print(f"tiny G: smallest |LeakyReLU input| = {min_pre_activation(G, z):.2e} (h = {H:g})")
assert min_pre_activation(G, z) > 10 * H, "this seed puts a LeakyReLU input near its kink: pick another"

t0 = time.perf_counter()
results, zero, G_loss, G_floor = network_check(G, z, per_array=2)
print(report(results[:6] + results[-3:], title="tiny G, first and last arrays"))
print(f"... {len(results)} arrays checked in {time.perf_counter() - t0:.1f} s")
assert all(r.passed for r in results), report(results, "tiny G")

# %% [markdown]
# Six arrays came back with a gradient of zero (below 1e-12, round-off of a sum): the biases of
# the transposed convolutions right before each batch norm. Batch norm subtracts the batch mean
# of each channel, and a bias adds the same number to the whole channel, so it cancels and cannot
# change the output. A relative error of two round-off values means nothing, so we check instead
# that the numeric gradient is zero as well, up to round-off:

# %%
print("zero-gradient arrays:", zero)
assert len(zero) == 6 and all(k.endswith("inner.0.b") for k in zero)
for name in zero:
    numeric = numeric_gradient(G_loss, G.named_params()[name], h=H, indices=[(0,), (5,)])
    assert np.all(np.abs(numeric) < 1e-7 * G_floor), (name, numeric)
print("their numeric gradients are round-off, below", f"{1e-7 * G_floor:.1e}")

# %% [markdown]
# The discriminator, in inference mode. It has a single output per image, so `L` is tiny and
# its round-off is dominated by the forward pass itself (about 1e-12): gradients below 1e-4 are
# compared absolutely (`min_floor`).

# %%
D = build_discriminator("tiny", rng=np.random.default_rng(1), dtype=np.float64).set_training(False)
x = np.random.default_rng(27).random((1, 32, 32, 1))
print(f"tiny D: smallest |LeakyReLU input| = {min_pre_activation(D, x):.2e}")
assert min_pre_activation(D, x) > 10 * H
results, zero, _, _ = network_check(D, x, per_array=4, min_floor=1e-4)
print(report(results, title="gradient check of the tiny D"))
assert all(r.passed for r in results) and not zero

# %% [markdown]
# ## What to try next
#
# * Break one layer on purpose (for example, return `dout` instead of `dout + inner.backward(dout)`
#   in `Residual.backward`) and rerun the whole-network check: which arrays fail, and why only those?
# * Change the seed of `z` until `min_pre_activation` drops below `h`, and watch a correct network
#   fail the check at a kink.
# * Count the memory of one training step from the activation sizes above (every activation is
#   kept for backward, batch 32, 4 bytes each) and compare it with the GPU peak that
#   `python -m mttgan_min.bench --device gpu --preset paper` reports.
# * Work out how the FLOP count would change if G started at 8x8 and had four upsampling stages.

# %%
print(f"lesson ran in {time.perf_counter() - START:.1f} s")
