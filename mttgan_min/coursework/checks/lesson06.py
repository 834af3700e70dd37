"""Lesson 6's exercises: the parameter counts of G (Fig. 5) and D (Fig. 4), by hand, for any preset.

``count_generator(p)`` and ``count_discriminator(p)`` take a ``models.Preset``
and return the number of trainable parameters; the checks compare them with
the networks ``models.build_generator`` / ``build_discriminator`` build.
"""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed
from mttgan_min.models import PRESETS, Preset, build_discriminator, build_generator


def _conv(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def reference_count_generator(p):
    """Dense, three upsampling transposed convolutions, six residual blocks, the output convolution."""
    w, s0 = p.g_width, p.g_start
    dense = p.latent_dim * s0 * s0 * w + s0 * s0 * w
    return dense + 3 * _conv(4, w, w) + 6 * (2 * _conv(4, w, w) + 2 * w) + _conv(3, w, 1)


def reference_count_discriminator(p):
    """Nine 3x3 convolutions, then a Dense unit on the flattened last feature map."""
    total, c_in, side = 0, 1, p.image_size
    for width in p.d_widths:
        side = -(-side // 2)
        total += _conv(3, c_in, width) + 2 * _conv(3, width, width)
        c_in = width
    return total + side * side * c_in + 1


def _compare(fn, p, which, build):
    label = f"count_{which}({p.name}: image {p.image_size}, G width {p.g_width}, G start {p.g_start}, " \
            f"D widths {p.d_widths}, latent {p.latent_dim})"
    mine = fn(p)
    try:
        mine_int = int(mine)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{label}: return a whole number, got {mine!r}") from None
    if mine_int != mine:
        raise ExerciseFailed(f"{label}: return a whole number, got {mine!r}")
    expected = build(p, rng=np.random.default_rng(0)).num_params()
    if mine_int != expected:
        raise ExerciseFailed(f"{label}: yours {mine_int:,}, the network the package builds has {expected:,} "
                             f"(yours is off by {mine_int - expected:+,})")


HIDDEN_PRESETS = [
    Preset("hidden-a", 24, 12, (5, 7, 9), 3, latent_dim=17),
    Preset("hidden-b", 40, 6, (3, 4, 11), 5, latent_dim=1),
    Preset("hidden-odd", 36, 9, (2, 6, 5), 2, latent_dim=8),   # 36 -> 18 -> 9 -> 5: 'same' rounds up
]


def generator_cases(fn):
    for name in ("tiny", "small", "paper"):
        _compare(fn, PRESETS[name], "generator", build_generator)


def generator_hidden(fn):
    for p in HIDDEN_PRESETS:
        _compare(fn, p, "generator", build_generator)


def discriminator_cases(fn):
    for name in ("tiny", "small", "paper"):
        _compare(fn, PRESETS[name], "discriminator", build_discriminator)


def discriminator_hidden(fn):
    for p in HIDDEN_PRESETS:
        _compare(fn, p, "discriminator", build_discriminator)


EXERCISES = [
    Exercise("count_generator", 6, "G's parameters by hand", fallback=reference_count_generator,
             cases=generator_cases, hidden=generator_hidden),
    Exercise("count_discriminator", 6, "D's parameters by hand", fallback=reference_count_discriminator,
             cases=discriminator_cases, hidden=discriminator_hidden),
]
