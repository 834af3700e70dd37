"""The paper's networks at every preset: shapes, parameter counts, a forward pass."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mttgan_min.fast import tier as fast_tier
from mttgan_min.layers import REFERENCE, BatchNorm2D, Conv2D, Conv2DTranspose, Dense, Dropout, LeakyReLU
from mttgan_min.models import PRESETS, build_discriminator, build_generator, get_preset, summary

ROOT = Path(__file__).resolve().parents[1]


def expected_generator_count(p):
    """Fig. 5 counted by hand: Dense, 15 transposed 4x4 convs, 6 BN, the output 3x3 conv."""
    w, s0 = p.g_width, p.g_start
    dense = p.latent_dim * s0 * s0 * w + s0 * s0 * w
    deconvs = 15 * (4 * 4 * w * w + w)
    bns = 6 * 2 * w
    out = 3 * 3 * w * 1 + 1
    return dense, deconvs, bns, out


def expected_discriminator_count(p):
    total, c_in = 0, 1
    for width in p.d_widths:
        for _ in range(3):
            total += 3 * 3 * c_in * width + width
            c_in = width
    side = p.image_size // 8
    return total + side * side * c_in + 1


def test_parameter_counts_at_the_paper_size():
    p = get_preset("paper")
    assert expected_generator_count(p) == (3_309_568, 3_934_080, 1_536, 1_153)
    G = build_generator("paper")
    assert G.num_params() == 7_246_337
    by_kind = {}
    for layer in G.walk():
        if layer.params:
            by_kind[type(layer)] = by_kind.get(type(layer), 0) + sum(v.size for v in layer.params.values())
    assert by_kind == {Dense: 3_309_568, Conv2DTranspose: 3_934_080, BatchNorm2D: 1_536, Conv2D: 1_153}
    assert build_discriminator("paper").num_params() == 1_984_385


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_shapes_and_counts_of_every_preset(name):
    p = PRESETS[name]
    G, D = build_generator(name), build_discriminator(name)
    S = p.image_size
    assert G.output_shape((p.latent_dim,)) == (S, S, 1)
    assert D.output_shape((S, S, 1)) == (1,)
    assert G.num_params() == sum(expected_generator_count(p))
    assert D.num_params() == expected_discriminator_count(p)
    # Structure (Fig. 4, Fig. 5): layer counts do not depend on the preset.
    assert sum(isinstance(l, Conv2DTranspose) for l in G.walk()) == 15
    assert sum(isinstance(l, BatchNorm2D) for l in G.walk()) == 6
    assert sum(isinstance(l, Conv2D) for l in D.walk()) == 9
    assert [l.rate for l in D.walk() if isinstance(l, Dropout)] == [0.4, 0.4, 0.4]
    assert all(l.alpha == 0.2 for l in G.walk() if isinstance(l, LeakyReLU))
    assert all(l.momentum == 0.8 and l.eps == 1e-3 for l in G.walk() if isinstance(l, BatchNorm2D))
    assert [l.stride for l in D.walk() if isinstance(l, Conv2D)] == [2, 1, 1, 2, 1, 1, 2, 1, 1]
    assert G.input_shape == (p.latent_dim,) and D.input_shape == (S, S, 1)


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_forward_pass(name):
    p = PRESETS[name]
    rng = np.random.default_rng(0)
    G, D = build_generator(name, rng=rng), build_discriminator(name, rng=rng, dropout_rng=np.random.default_rng(1))
    z = rng.standard_normal((2, p.latent_dim), dtype=np.float32)
    images = G.forward(z)
    assert images.shape == (2, p.image_size, p.image_size, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    logits = D.forward(images)
    assert logits.shape == (2, 1) and logits.dtype == np.float32 and np.all(np.isfinite(logits))


def test_initialisation_is_keras_default():
    G = build_generator("tiny", rng=np.random.default_rng(0))
    dense = G.layers[0]
    limit = np.sqrt(6 / (100 + 4 * 4 * 32))
    assert np.abs(dense.params["w"]).max() <= limit and np.abs(dense.params["w"]).max() > 0.9 * limit
    for layer in G.walk():
        if "b" in layer.params:
            assert not layer.params["b"].any()
        if isinstance(layer, BatchNorm2D):
            assert np.all(layer.params["gamma"] == 1) and not layer.params["beta"].any()
            assert not layer.buffers["running_mean"].any() and np.all(layer.buffers["running_var"] == 1)


def test_same_seed_same_network():
    a = build_generator("tiny", rng=np.random.default_rng(3)).state_dict()
    b = build_generator("tiny", rng=np.random.default_rng(3)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")


def test_summary_lists_counts():
    text = summary(build_discriminator("tiny"))
    assert f"Trainable params: {expected_discriminator_count(PRESETS['tiny']):,}" in text


def test_models_cli_prints_the_paper_counts():
    result = subprocess.run([sys.executable, "-m", "mttgan_min.models", "--preset", "paper"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Trainable params: 7,246,337" in result.stdout
    assert "Trainable params: 1,984,385" in result.stdout


def tiers_of(net):
    """The tier names of every layer of ``net`` that has one (convolutions, batch norms)."""
    return {layer.tier.name for layer in net.walk() if hasattr(layer, "tier")}


def test_networks_compute_with_the_reference_tier_unless_given_another():
    G, D = build_generator("tiny"), build_discriminator("tiny")
    assert tiers_of(G) == tiers_of(D) == {"reference"}
    assert all(layer.tier is REFERENCE for layer in G.walk() if hasattr(layer, "tier"))
    fast = fast_tier(2)
    G, D = build_generator("tiny", tier=fast), build_discriminator("tiny", tier=fast)
    assert tiers_of(G) == tiers_of(D) == {"fast"}
    assert sum(isinstance(layer, (Conv2D, Conv2DTranspose, BatchNorm2D)) for layer in G.walk()) == \
        sum(getattr(layer, "tier", None) is fast for layer in G.walk())
    assert tiers_of(G.clone()) == {"fast"}  # a copy (the EMA teacher) keeps its tier


def test_both_tiers_give_the_same_networks_and_outputs():
    z = np.random.default_rng(5).standard_normal((3, 100))
    nets = [build_generator("tiny", rng=np.random.default_rng(4), dtype=np.float64, tier=tier)
            for tier in (REFERENCE, fast_tier())]
    for k, v in nets[0].state_dict().items():  # the same weights: the tier draws nothing
        np.testing.assert_array_equal(nets[1].state_dict()[k], v)
    a, b = (net.forward(z) for net in nets)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def changed_params(G0, G1):
    """Names of G1's parameters that differ from G0's (two generators built from the same seed)."""
    p0, p1 = G0.named_params(), G1.named_params()
    return [name for name in p1 if not np.array_equal(p0[name], p1[name])]


def test_zero_residual_init_starts_every_resblock_as_the_identity():
    """--residual-init zero: each ResBlock's last transposed convolution starts at zero, so the block
    passes its input through unchanged; every other weight is the one "glorot" draws from the same seed."""
    from mttgan_min.layers import Residual
    G0 = build_generator("tiny", np.random.default_rng(5))
    G1 = build_generator("tiny", np.random.default_rng(5), residual_init="zero")
    blocks = [layer for _, layer in G1.children() if isinstance(layer, Residual)]
    assert len(blocks) == 6
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 32)).astype(np.float32)
    for block in blocks:
        np.testing.assert_array_equal(block.forward(x), x)  # in training mode, as built
    zeroed, p1 = changed_params(G0, G1), G1.named_params()
    assert len(zeroed) == 6 and all(not p1[name].any() for name in zeroed)
    assert all(name.endswith("w") for name in zeroed)
    z = np.random.default_rng(2).standard_normal((4, 100)).astype(np.float32)
    assert not np.allclose(G0.forward(z), G1.forward(z))
    with pytest.raises(ValueError, match="residual init"):
        build_generator("tiny", residual_init="he")


def test_zero_fine_residual_init_starts_only_the_finer_resblocks_as_the_identity():
    """--residual-init zero-fine: the four ResBlocks after the second and third up-sampling start as the
    identity, the two after the first as Keras draws them; every other weight is glorot's for the seed."""
    from mttgan_min.layers import Residual
    G0 = build_generator("tiny", np.random.default_rng(5))
    G1 = build_generator("tiny", np.random.default_rng(5), residual_init="zero-fine")
    G2 = build_generator("tiny", np.random.default_rng(5), residual_init="zero")
    blocks = [layer for _, layer in G1.children() if isinstance(layer, Residual)]
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 32)).astype(np.float32)
    assert [np.array_equal(block.forward(x), x) for block in blocks] == [False] * 2 + [True] * 4
    zeroed, p1 = changed_params(G0, G1), G1.named_params()
    assert len(zeroed) == 4 and zeroed == changed_params(G0, G2)[2:] and all(not p1[name].any() for name in zeroed)


def test_nearest_upsample_init_draws_no_checkerboard():
    """--upsample-init nearest: each up-sampling kernel's 2 x 2 blocks repeat one tap, so a flat input gives a
    flat output inside the border (Keras' default gives a checkerboard); the other weights are glorot's."""
    from mttgan_min.models import start_as_nearest_upsampling
    G0 = build_generator("tiny", np.random.default_rng(5))
    G1 = build_generator("tiny", np.random.default_rng(5), upsample_init="nearest")
    tied, p0, p1 = changed_params(G0, G1), G0.named_params(), G1.named_params()
    assert len(tied) == 3 and all(p1[name].shape[:2] == (4, 4) for name in tied)
    for name in tied:
        np.testing.assert_array_equal(p1[name][::2, ::2], p0[name][::2, ::2])  # the drawn taps, repeated
        np.testing.assert_array_equal(p1[name][1::2, 1::2], p0[name][::2, ::2])
    flat = np.ones((1, 6, 6, 3), np.float64)
    for start in (False, True):
        up = Conv2DTranspose(3, 2, 4, stride=2, rng=np.random.default_rng(1), dtype=np.float64)
        if start:
            start_as_nearest_upsampling(up)
        inside = up.forward(flat)[0, 2:-2, 2:-2]
        assert np.allclose(inside, inside[0, 0]) == start
    with pytest.raises(ValueError, match="up-sampling init"):
        build_generator("tiny", upsample_init="bilinear")
