"""The paper's generator (Fig. 5) and discriminator (Fig. 4), at three sizes.

Presets change only sizes, never the structure (docs/design.md, "Presets and their defaults"):

    preset  image    G width  D widths        G start
    paper   128x128  128      64, 128, 256    16x16
    small   64x64    64       32, 64, 128     8x8
    tiny    32x32    32       16, 32, 64      4x4

``python -m mttgan_min.models --preset paper`` prints a Keras-style summary.
"""
import argparse
from dataclasses import dataclass, replace

import numpy as np

from .layers import (REFERENCE, BatchNorm2D, Conv2D, Conv2DTranspose, Dense, Dropout, Flatten, LeakyReLU,
                     Reshape, Residual, Sequential, Sigmoid)

ALPHA = 0.2  # LeakyReLU slope, Sec. IV-A
LATENTS = ("normal", "uniform")
RESIDUAL_INITS = ("glorot", "zero", "zero-fine")  # docs/design.md, "Initialisation"
UPSAMPLE_INITS = ("glorot", "nearest")           # the same section


@dataclass(frozen=True)
class Preset:
    name: str
    image_size: int
    g_width: int
    d_widths: tuple
    g_start: int
    latent_dim: int = 100


PRESETS = {
    "paper": Preset("paper", 128, 128, (64, 128, 256), 16),
    "small": Preset("small", 64, 64, (32, 64, 128), 8),
    "tiny": Preset("tiny", 32, 32, (16, 32, 64), 4),
}


def get_preset(preset, latent_dim=None):
    """A Preset from its name (or the Preset itself), with another size of z if ``latent_dim`` is given."""
    if not isinstance(preset, Preset):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    return preset if latent_dim is None else replace(preset, latent_dim=latent_dim)


def preset_of(cfg):
    """The Preset of a run's settings (config.json's options): its preset with its ``latent_dim``, if set."""
    return get_preset(cfg["preset"], cfg.get("latent_dim"))


# The paper's generator start: z of 100 (Fig. 5) and Keras' initialisation; the tiny preset departs from it
# (docs/design.md, "Initialisation"). A run recorded without one of these settings had the paper's.
PAPER_START = dict(latent_dim=PRESETS["paper"].latent_dim, residual_init="glorot", upsample_init="glorot")


def generator_start(options):
    """{latent_dim, residual_init, upsample_init} of a run's settings (config.json's options), the paper's
    where a run made before the option records none."""
    return {name: options.get(name, value) for name, value in PAPER_START.items()}


def res_block(width, rng, dtype, tier=REFERENCE, init="glorot"):
    """ResBlock(x) = x + LeakyReLU(DeconvS1(LeakyReLU(BN(DeconvS1(x))))) (Fig. 5).

    DeconvS1 is a 4x4 stride-1 'same' transposed convolution: Keras pads it
    asymmetrically, 1 row/column before and 2 after. ``init="zero"`` starts the
    second DeconvS1's kernel at zero, so the block starts as the identity
    (docs/design.md, "Initialisation"); that kernel is drawn and then zeroed, so
    every other layer gets the weights it gets with "glorot".
    """
    if init not in ("glorot", "zero"):
        raise ValueError(f"a ResBlock's init must be glorot or zero, got {init!r}")
    layers = [
        Conv2DTranspose(width, width, 4, stride=1, rng=rng, dtype=dtype, tier=tier),
        BatchNorm2D(width, momentum=0.8, eps=1e-3, dtype=dtype, tier=tier),
        LeakyReLU(ALPHA),
        Conv2DTranspose(width, width, 4, stride=1, rng=rng, dtype=dtype, tier=tier),
        LeakyReLU(ALPHA),
    ]
    if init == "zero":
        layers[3].params["w"][...] = 0  # the bias starts at zero already
    return Residual(Sequential(layers, name="res_block"))


def start_as_nearest_upsampling(up):
    """Tie a stride-s transposed convolution's kernel so it starts as nearest-neighbour up-sampling followed by a
    convolution (Aitken et al. 2017): each s x s block of the kernel repeats one drawn tap, so the s x s output
    pixels an input pixel feeds get the same weights and a flat input gives a flat output, not the checkerboard
    of an untied kernel (Odena et al. 2016). Kernel (K, K, C_out, C_in) with K a multiple of s; in place."""
    w, s = up.params["w"], up.stride
    assert w.shape[0] % s == 0 and w.shape[1] % s == 0, "the kernel size must be a multiple of the stride"
    w[...] = np.repeat(np.repeat(w[::s, ::s], s, axis=0), s, axis=1)


def build_generator(preset="paper", rng=None, dtype=np.float32, tier=REFERENCE, residual_init="glorot",
                    upsample_init="glorot"):
    """G (Fig. 5): z (N, 100) -> images (N, S, S, 1) in [0, 1].

    Dense -> LeakyReLU -> reshape (s0, s0, w); three times an upsampling
    4x4 stride-2 transposed convolution, LeakyReLU and two ResBlocks; a 3x3
    convolution to one channel and a sigmoid. ``rng``: NumPy Generator for the
    Glorot-uniform initialisation (drawn on the host; use ``.to(xp)`` to move).
    ``tier``: the primitives of its convolutions and batch norms (``layers/reference.py``).
    ``residual_init``: "glorot"; "zero" for ResBlocks that start as the identity (``res_block``);
    "zero-fine" for that in the last two up-sampling stages only (16 and 32 px at the tiny preset).
    ``upsample_init``: "glorot", or "nearest" for up-sampling convolutions that start as nearest-neighbour
    up-sampling (``start_as_nearest_upsampling``). Both are drawn as "glorot" draws them, then changed.
    """
    if residual_init not in RESIDUAL_INITS:
        raise ValueError(f"residual init must be one of {RESIDUAL_INITS}, got {residual_init!r}")
    if upsample_init not in UPSAMPLE_INITS:
        raise ValueError(f"up-sampling init must be one of {UPSAMPLE_INITS}, got {upsample_init!r}")
    p = get_preset(preset)
    rng = np.random.default_rng(0) if rng is None else rng
    w, s0 = p.g_width, p.g_start
    layers = [Dense(p.latent_dim, s0 * s0 * w, rng=rng, dtype=dtype), LeakyReLU(ALPHA), Reshape((s0, s0, w))]
    for stage in range(3):
        # "zero-fine" leaves the first stage's ResBlocks (8 px at the tiny preset) as Keras starts them
        init = "zero" if residual_init == "zero" or (residual_init == "zero-fine" and stage > 0) else "glorot"
        up = Conv2DTranspose(w, w, 4, stride=2, rng=rng, dtype=dtype, tier=tier)
        if upsample_init == "nearest":
            start_as_nearest_upsampling(up)
        layers += [up, LeakyReLU(ALPHA), res_block(w, rng, dtype, tier, init), res_block(w, rng, dtype, tier, init)]
    layers += [Conv2D(w, 1, 3, rng=rng, dtype=dtype, tier=tier), Sigmoid()]
    return Sequential(layers, name="generator", input_shape=(p.latent_dim,))


def build_discriminator(preset="paper", rng=None, dtype=np.float32, dropout_rng=None, tier=REFERENCE):
    """D (Fig. 4): images (N, S, S, 1) -> logits (N, 1).

    Nine 3x3 'same' convolutions (strides 2 at layers 1, 4, 7), LeakyReLU after
    each, Dropout(0.4) after layers 3, 6, 9, Flatten, Dense(1). The paper's
    sigmoid output is fused into the loss (see ``losses``). ``dropout_rng``
    (a device generator) can also be set later with ``net.set_rng``. ``tier``:
    the primitives of its convolutions (``layers/reference.py``).
    """
    p = get_preset(preset)
    rng = np.random.default_rng(0) if rng is None else rng
    layers, c_in, size = [], 1, p.image_size
    for block, width in enumerate(p.d_widths):
        for k in range(3):
            stride = 2 if k == 0 else 1
            layers += [Conv2D(c_in, width, 3, stride=stride, rng=rng, dtype=dtype, tier=tier), LeakyReLU(ALPHA)]
            c_in, size = width, -(-size // stride)
        layers.append(Dropout(0.4, rng=dropout_rng))
    layers += [Flatten(), Dense(size * size * c_in, 1, rng=rng, dtype=dtype)]
    return Sequential(layers, name="discriminator", input_shape=(p.image_size, p.image_size, 1))


def sample_latent(rng, n, latent_dim=100, kind="normal", dtype="float32"):
    """z (n, latent_dim) from ``rng`` (NumPy or CuPy generator): N(0, 1) ("normal") or U[0, 1) ("uniform").

    The paper does not name the latent distribution; see docs/design.md, "Latent distribution".
    """
    if kind == "normal":
        return rng.standard_normal((n, latent_dim), dtype=dtype)
    if kind == "uniform":
        return rng.random((n, latent_dim), dtype=dtype)
    raise ValueError(f"latent must be one of {LATENTS}, got {kind!r}")


def summary(net):
    """A Keras-style table: one row per layer, output shape and parameter count."""
    rows, shape = [], net.input_shape

    def visit(layer, name, shape, depth):
        if layer.children() and not isinstance(layer, Residual):
            for child_name, child in layer.children():
                shape = visit(child, f"{name}{child_name}.", shape, depth)
            return shape
        if isinstance(layer, Residual):
            rows.append(("  " * depth + f"{name}residual (x + f(x))", "", ""))
            visit(layer.inner, f"{name}inner.", shape, depth + 1)
            out = layer.output_shape(shape)
            rows.append(("  " * depth + f"{name}add", str((None,) + out), "0"))
            return out
        out = layer.output_shape(shape)
        n = sum(int(v.size) for v in layer.params.values())
        rows.append(("  " * depth + f"{name}{layer.kind}", str((None,) + tuple(out)), f"{n:,}"))
        return out

    out = visit(net, "", shape, 0)
    if net.name == "discriminator":
        rows.append(("sigmoid (fused into the loss)", str((None,) + tuple(out)), "0"))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f'Model: "{net.name}"', "-" * (width + 40),
             f"{'Layer (type)':<{width}}{'Output Shape':<26}{'Param #':>12}", "=" * (width + 40)]
    lines += [f"{a:<{width}}{b:<26}{c:>12}" for a, b, c in rows]
    lines += ["=" * (width + 40), f"Trainable params: {net.num_params():,}",
              f"Non-trainable params: {sum(int(v.size) for v in net.named_buffers().values()):,}"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m mttgan_min.models",
        description="Print a Keras-style summary of the paper's generator and discriminator.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper",
                        help="network size (default: paper, 128x128 images)")
    args = parser.parse_args(argv)
    print(summary(build_generator(args.preset)))
    print()
    print(summary(build_discriminator(args.preset)))


if __name__ == "__main__":
    main()
