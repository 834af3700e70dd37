"""The evaluation's classifiers: parameter counts of the paper's VGG-19 and AlexNet recomputed here from
their description (Sec. V; docs/design.md, "Classifiers and their presets"), output shapes at every
preset, and float64 gradient checks of whole (very small) classifiers."""
import numpy as np
import pytest

from mttgan_min.evaluation.classifiers import (CLASSIFIER_PRESETS, ClassifierPreset, build_alexnet,
                                               build_classifier, build_vgg19)
from mttgan_min.fast import tier as fast_tier
from mttgan_min.gradcheck import check_layer
from mttgan_min.initializers import he_uniform
from mttgan_min.layers import Standardize


def conv(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def dense(d_in, d_out):
    return d_in * d_out + d_out


def expected_vgg19(size, K):
    """Keras VGG19(weights=None, input_shape=(size, size, 1), classes=K), counted by hand."""
    widths = [64] * 2 + [128] * 2 + [256] * 4 + [512] * 4 + [512] * 4
    c_in, total = 1, 0
    for w in widths:
        total += conv(3, c_in, w)
        c_in = w
    flat = (size // 32) ** 2 * 512              # five 2x2 pools
    return total + dense(flat, 4096) + dense(4096, 4096) + dense(4096, K)


def expected_alexnet(size, K):
    s = (size - 11) // 4 + 1                   # 96 11x11/4 valid
    for _ in range(3):                         # three 3x3/2 valid pools ('same' convs keep the size)
        s = (s - 3) // 2 + 1
    convs = conv(11, 1, 96) + conv(5, 96, 256) + conv(3, 256, 384) + conv(3, 384, 384) + conv(3, 384, 256)
    return convs + dense(s * s * 256, 4096) + dense(4096, 4096) + dense(4096, K)


@pytest.fixture(scope="module")
def paper_nets():
    """Both paper classifiers at 128 px, K = 4 (float16 to halve the memory; counts do not depend on it)."""
    return {name: build_classifier(name, "paper", 4, dtype=np.float16, init="glorot") for name in ("vgg19", "alexnet")}


def test_paper_vgg19_parameter_count(paper_nets):
    n = paper_nets["vgg19"].num_params()
    assert n == expected_vgg19(128, 4) == 70_379_460
    assert round(n / 1e6, 1) == 70.4            # "about 70.4 M parameters at 128x128"


def test_paper_alexnet_parameter_count(paper_nets):
    n = paper_nets["alexnet"].num_params()
    assert n == expected_alexnet(128, 4) == 24_720_068
    assert round(n / 1e6, 1) == 24.7            # "about 24.7 M parameters at 128x128"


def test_paper_classifiers_layer_kinds(paper_nets):
    kinds = [layer.kind for layer in paper_nets["vgg19"].layers]
    assert kinds.count("conv2d") == 16 and kinds.count("max_pool2d") == 5
    assert kinds.count("dense") == 3 and "dropout" not in kinds
    kinds = [layer.kind for layer in paper_nets["alexnet"].layers]
    assert kinds.count("conv2d") == 5 and kinds.count("dropout") == 2 and kinds.count("dense") == 3


@pytest.mark.parametrize("preset", sorted(CLASSIFIER_PRESETS))
def test_alexnet_spatial_sizes_are_the_same_at_every_preset(preset):
    net = build_alexnet(preset, 2, dtype=np.float16) if preset != "paper" else None
    if net is None:
        return                                  # the paper net is covered by the parameter count
    p = CLASSIFIER_PRESETS[preset]
    shape = (p.image_size, p.image_size, 1)
    sizes = []
    for layer in net.layers:
        shape = layer.output_shape(shape)
        if layer.kind.startswith("max_pool"):
            sizes.append(shape[0])
    assert sizes == [14, 6, 2]                 # as at 128 px with 11x11/4


@pytest.mark.parametrize("preset", ["tiny", "small"])
@pytest.mark.parametrize("name", ["vgg19", "alexnet"])
@pytest.mark.parametrize("K", [2, 4])
def test_reduced_classifiers_forward_backward_shapes(rng, preset, name, K):
    net = build_classifier(name, preset, K, rng=rng, dropout_rng=np.random.default_rng(0))
    S = CLASSIFIER_PRESETS[preset].image_size
    x = rng.random((3, S, S, 1), dtype=np.float32)
    out = net.forward(x)
    assert out.shape == (3, K) and out.dtype == np.float32
    dx = net.backward(np.ones_like(out))
    assert dx.shape == x.shape and np.all(np.isfinite(dx))
    assert net.output_shape(net.input_shape) == (K,)


MICRO = ClassifierPreset("micro", 32, (2, 2, 3, 3, 3), 6, (2, 3, 3, 3, 2), 6, (3, 1))


@pytest.mark.parametrize("name", ["vgg19", "alexnet"])
def test_whole_classifier_gradients_float64(rng, assert_all_passed, make_dout, roundoff_floor, name):
    """Every layer kind of both networks (conv, ReLU, both pools, flatten, dense) chained, in float64."""
    net = build_classifier(name, MICRO, 3, rng=rng, dtype=np.float64).set_training(False)  # dropout off
    for p in net.named_params().values():        # non-zero biases, so no ReLU sits exactly at its kink
        if p.ndim == 1:
            p[...] = rng.uniform(0.3, 0.6, p.shape)
    x = rng.random((2, 32, 32, 1))
    out = net.forward(x)
    dout = make_dout(rng, out.shape)            # deep nets have tiny gradients: compare them absolutely
    # Conv, ReLU, max-pool and dense are piecewise linear, so away from a kink the centred difference has no
    # truncation error, only round-off, which shrinks as the step grows: VGG-19's worst entry is 4e-8 relative
    # with a step of 1e-4, but 1.1e-7 (over the 1e-7 tolerance) with 1e-5 under one OpenBLAS build.
    h = 1e-4
    results = check_layer(net, x, dout=dout, rng=rng, h=h, max_entries=12, floor=roundoff_floor(out, dout, h),
                          verbose=False)
    assert len(results) == 1 + len(net.named_params())
    assert_all_passed(results, f"gradient check of the whole {name}")


def test_unknown_classifier_names():
    with pytest.raises(ValueError, match="classifier"):
        build_classifier("resnet50", "tiny")
    with pytest.raises(ValueError, match="preset"):
        build_vgg19("huge")


@pytest.mark.parametrize("name", ["vgg19", "alexnet"])
def test_classifiers_compute_with_the_reference_tier_unless_given_another(name):
    tiers = lambda net: {layer.tier.name for layer in net.walk() if hasattr(layer, "tier")}  # noqa: E731
    assert tiers(build_classifier(name, "tiny", 2)) == {"reference"}
    assert tiers(build_classifier(name, "tiny", 2, tier=fast_tier())) == {"fast"}
    kinds = {layer.kind for layer in build_classifier(name, "tiny", 2).walk() if hasattr(layer, "tier")}
    assert kinds == {"conv2d", "max_pool2d"}


def test_he_uniform_kernels_and_the_standardize_layer(rng):
    net = build_vgg19("tiny", 2, rng=np.random.default_rng(0))
    assert isinstance(net.layers[0], Standardize)
    w = net.layers[1].params["w"]   # 3x3x1x8: fan_in 9
    assert np.abs(w).max() <= np.sqrt(6.0 / 9) and np.abs(w).max() > 0.8 * np.sqrt(6.0 / 9)
    draws = he_uniform(np.random.default_rng(1), (100000,), 6, np.float64)
    assert abs(draws.max() - 1.0) < 1e-3 and abs(draws.min() + 1.0) < 1e-3  # U(-1, 1) for fan_in 6
