"""Gradient checks and behaviour of the non-convolution layers (float64, NumPy).

Each pure forward/backward pair is checked with ``check_function`` and each
layer class with ``check_layer`` (mttgan_min.gradcheck): centred differences,
h = 1e-5, a random non-uniform ``dout``, relative error below 1e-7.
"""
import numpy as np
import pytest

from mttgan_min.gradcheck import check_function, check_layer, numeric_gradient
from mttgan_min.layers import (BatchNorm2D, Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D,
                               ReLU, Reshape, Residual, Sequential, Sigmoid)
from mttgan_min.layers.activations import (leaky_relu_backward, leaky_relu_forward, relu_backward,
                                           relu_forward, sigmoid_backward, sigmoid_forward)
from mttgan_min.layers.batchnorm import batchnorm_backward, batchnorm_forward
from mttgan_min.layers.dense import dense_backward, dense_forward
from mttgan_min.layers.dropout import dropout_backward, dropout_forward
from mttgan_min.fast import tier as fast_tier
from mttgan_min.layers.maxpool import maxpool_backward, maxpool_forward
from mttgan_min.layers.reference import REFERENCE, channel_sums


def away_from_zero(x, margin=0.05):
    """Move entries at least ``margin`` away from 0, so +-h never crosses a ReLU kink."""
    return np.sign(x) * (np.abs(x) + margin)


# --- pure functions ---------------------------------------------------------

def test_dense_gradients(rng, assert_all_passed, make_dout):
    inputs = {"x": rng.standard_normal((4, 5)), "w": rng.standard_normal((5, 3)),
              "b": rng.standard_normal(3)}
    assert_all_passed(check_function(dense_forward, dense_backward, inputs, dout=make_dout(rng, (4, 3)), rng=rng))


def test_dense_forward_is_affine(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    out, _ = dense_forward(x, w, b)
    expected = [[sum(x[n, d] * w[d, m] for d in range(4)) + b[m] for m in range(2)] for n in range(3)]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.2, 0.0, 1.0])
def test_leaky_relu_gradients(rng, assert_all_passed, make_dout, alpha):
    x = away_from_zero(rng.standard_normal((3, 4, 5, 2)))
    results = check_function(lambda x: leaky_relu_forward(x, alpha), lambda d, c: (leaky_relu_backward(d, c),),
                             {"x": x}, dout=make_dout(rng, x.shape), rng=rng)
    assert_all_passed(results)


def test_leaky_relu_values():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    np.testing.assert_array_equal(leaky_relu_forward(x, 0.2)[0], [-0.4, -0.1, 0.5, 3.0])
    np.testing.assert_array_equal(relu_forward(x)[0], [0.0, 0.0, 0.5, 3.0])


def test_relu_gradients(rng, assert_all_passed, make_dout):
    x = away_from_zero(rng.standard_normal((2, 3, 3, 4)))
    assert_all_passed(check_function(relu_forward, lambda d, c: (relu_backward(d, c),), {"x": x},
                                     dout=make_dout(rng, x.shape), rng=rng))


def test_sigmoid_gradients_and_values(rng, assert_all_passed, make_dout):
    x = 2 * rng.standard_normal((4, 6))
    assert_all_passed(check_function(sigmoid_forward, lambda d, c: (sigmoid_backward(d, c),), {"x": x},
                                     dout=make_dout(rng, x.shape), rng=rng))
    np.testing.assert_allclose(sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-12)
    big = sigmoid_forward(np.array([-1e4, 1e4], dtype=np.float32))[0]
    assert np.all(np.isfinite(big)) and big[0] == 0.0 and big[1] == 1.0


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(rng, assert_all_passed, make_dout, roundoff_floor, training):
    C = 3
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)

    def forward(x, gamma, beta):
        out, cache, _, _ = batchnorm_forward(x, gamma, beta, rm, rv, training)
        return out, cache

    # Offset and scale differ per channel; dout is random (all-ones hides BN bugs).
    inputs = {"x": 2 * rng.standard_normal((4, 3, 5, C)) + 1.5, "gamma": rng.standard_normal(C),
              "beta": rng.standard_normal(C)}
    dout = make_dout(rng, inputs["x"].shape)
    floor = roundoff_floor(forward(**inputs)[0], dout)
    assert_all_passed(check_function(forward, batchnorm_backward, inputs, dout=dout, rng=rng, floor=floor))


def test_batchnorm_forward_statistics(rng):
    x = 3 * rng.standard_normal((5, 4, 3, 2)) + 7
    gamma, beta = np.array([1.0, 2.0]), np.array([0.0, -1.0])
    rm, rv = np.array([0.5, -0.5]), np.array([1.5, 2.5])
    out, _, new_mean, new_var = batchnorm_forward(x, gamma, beta, rm, rv, True, momentum=0.8, eps=1e-3)
    flat = x.reshape(-1, 2)
    mean, var = flat.mean(axis=0), flat.var(axis=0)
    np.testing.assert_allclose(out, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_mean, 0.8 * rm + 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(new_var, 0.8 * rv + 0.2 * flat.var(axis=0, ddof=1), rtol=1e-12)
    # Inference: running statistics, which are returned unchanged.
    out, _, m2, v2 = batchnorm_forward(x, gamma, beta, rm, rv, False, eps=1e-3)
    np.testing.assert_allclose(out, gamma * (x - rm) / np.sqrt(rv + 1e-3) + beta, rtol=1e-12)
    np.testing.assert_array_equal(m2, rm)
    np.testing.assert_array_equal(v2, rv)


def test_dropout_gradients_with_fixed_mask(rng, assert_all_passed, make_dout):
    x = rng.standard_normal((3, 4, 4, 2))
    mask = rng.random(x.shape) >= 0.4
    results = check_function(lambda x: dropout_forward(x, 0.4, mask=mask),
                             lambda d, c: (dropout_backward(d, c),), {"x": x}, dout=make_dout(rng, x.shape), rng=rng)
    assert_all_passed(results)
    out, _ = dropout_forward(x, 0.4, mask=mask)
    np.testing.assert_allclose(out, np.where(mask, x / 0.6, 0.0), rtol=1e-14)


@pytest.mark.parametrize("pool,stride,shape", [(2, 2, (2, 6, 6, 3)),   # non-overlapping
                                               (3, 2, (2, 7, 9, 2)),   # overlapping, odd sizes
                                               (3, 1, (1, 5, 5, 2))])  # heavily overlapping
def test_maxpool_gradients(rng, assert_all_passed, make_dout, roundoff_floor, pool, stride, shape):
    # Distinct values 0.01 apart: no ties, and +-h never changes a window's maximum.
    x = rng.permutation(np.arange(np.prod(shape), dtype=float)).reshape(shape) / 100
    forward = lambda x: maxpool_forward(x, pool, stride)  # noqa: E731
    out = forward(x)[0]
    dout = make_dout(rng, out.shape)  # overlapping windows add douts, which can nearly cancel:
    results = check_function(forward, lambda d, c: (maxpool_backward(d, c),), {"x": x}, dout=dout, rng=rng,
                             floor=roundoff_floor(out, dout))
    assert_all_passed(results)


def test_maxpool_forward_values(rng):
    x = rng.standard_normal((2, 7, 7, 3))
    out, _ = maxpool_forward(x, 3, 2)
    assert out.shape == (2, 3, 3, 3)
    for i in range(3):
        for j in range(3):
            np.testing.assert_array_equal(out[:, i, j], x[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2)))


def test_maxpool_backward_routes_to_the_maximum():
    x = np.array([1.0, 5.0, 2.0, 3.0]).reshape(1, 2, 2, 1)
    out, cache = maxpool_forward(x, 2)
    dx = maxpool_backward(np.full((1, 1, 1, 1), 7.0), cache)
    np.testing.assert_array_equal(dx.ravel(), [0.0, 7.0, 0.0, 0.0])


# --- layer classes ----------------------------------------------------------

def test_dense_layer(rng, assert_all_passed, make_dout):
    layer = Dense(6, 4, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(4)
    assert_all_passed(check_layer(layer, rng.standard_normal((3, 6)), dout=make_dout(rng, (3, 4)), rng=rng,
                                  verbose=False))


def test_flatten_and_reshape(rng, assert_all_passed, make_dout):
    net = Sequential([Flatten(), Dense(2 * 3 * 4, 6, rng=rng, dtype=np.float64), Reshape((3, 2, 1))])
    x = rng.standard_normal((2, 2, 3, 4))
    assert net.forward(x).shape == (2, 3, 2, 1)
    assert net.output_shape((2, 3, 4)) == (3, 2, 1)
    assert_all_passed(check_layer(net, x, dout=make_dout(rng, (2, 3, 2, 1)), rng=rng, verbose=False))
    flat = Flatten()
    np.testing.assert_array_equal(flat.forward(x), x.reshape(2, -1))
    np.testing.assert_array_equal(flat.backward(x.reshape(2, -1)), x)


def test_activation_layers(rng, assert_all_passed, make_dout):
    x = away_from_zero(rng.standard_normal((2, 3, 3, 2)))
    for layer in (LeakyReLU(0.2), ReLU(), Sigmoid()):
        assert_all_passed(check_layer(layer, x, dout=make_dout(rng, x.shape), rng=rng, verbose=False), layer.kind)


def test_maxpool_layer(rng, assert_all_passed, make_dout, roundoff_floor):
    layer = MaxPool2D(3, 2)
    x = rng.permutation(np.arange(2 * 7 * 7 * 2, dtype=float)).reshape(2, 7, 7, 2) / 100
    out = layer.forward(x)
    assert layer.output_shape((7, 7, 2)) == out.shape[1:] == (3, 3, 2)
    dout = make_dout(rng, out.shape)
    assert_all_passed(check_layer(layer, x, dout=dout, rng=rng, verbose=False, floor=roundoff_floor(out, dout)))


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_after_trainable_layer(rng, assert_all_passed, make_dout, roundoff_floor, training):
    # Conv -> BN. In training mode the conv bias has a true gradient of exactly
    # 0 (BN subtracts the batch mean), so its numeric gradient is pure
    # round-off (~1e-10) and is checked separately, with an absolute tolerance.
    net = Sequential([Conv2D(2, 3, 3, stride=1, rng=rng, dtype=np.float64), BatchNorm2D(3, dtype=np.float64)])
    bn = net.layers[1]
    bn.params["gamma"][...] = rng.uniform(0.5, 2.0, 3)
    bn.params["beta"][...] = rng.standard_normal(3)
    bn.buffers["running_mean"][...] = rng.standard_normal(3)
    bn.buffers["running_var"][...] = rng.uniform(0.5, 2.0, 3)
    net.set_training(training)
    x = rng.standard_normal((3, 5, 5, 2))
    dout = make_dout(rng, (3, 5, 5, 3))
    results = check_layer(net, x, dout=dout, rng=rng, verbose=False, floor=roundoff_floor(net.forward(x), dout))
    if training:
        assert_all_passed([r for r in results if r.name != "0.b"])
        bias = net.named_params()["0.b"]
        numeric = numeric_gradient(lambda: np.sum(net.forward(x) * dout), bias)
        net.zero_grad()
        net.forward(x)
        net.backward(dout)
        np.testing.assert_allclose(net.named_grads()["0.b"], 0.0, atol=1e-12)
        np.testing.assert_allclose(numeric, 0.0, atol=1e-8)
    else:
        assert_all_passed(results)


def test_residual_and_sequential(rng, assert_all_passed, make_dout, roundoff_floor):
    inner = Sequential([Conv2D(3, 3, 3, rng=rng, dtype=np.float64), Sigmoid(),
                        Conv2D(3, 3, 3, stride=1, rng=rng, dtype=np.float64)])
    net = Sequential([Residual(inner), Flatten(), Dense(4 * 4 * 3, 5, rng=rng, dtype=np.float64)])
    for p in net.named_params().values():  # O(1) weights: gradients well above round-off
        p[...] = 0.5 * rng.standard_normal(p.shape)
    x = rng.standard_normal((2, 4, 4, 3))
    np.testing.assert_allclose(net.layers[0].forward(x), x + inner.forward(x), rtol=1e-14)
    assert sorted(net.named_params()) == ["0.inner.0.b", "0.inner.0.w", "0.inner.2.b", "0.inner.2.w",
                                          "2.b", "2.w"]
    dout = make_dout(rng, (2, 5))
    assert_all_passed(check_layer(net, x, dout=dout, rng=rng, verbose=False, floor=roundoff_floor(net.forward(x), dout)))


def test_gradients_accumulate_until_zeroed(rng):
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    x, dout = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(x)
    layer.backward(dout)
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.grads["w"], 2 * x.T @ dout, rtol=1e-12)
    layer.zero_grad()
    assert not layer.grads["w"].any() and not layer.grads["b"].any()


def test_backward_does_not_modify_dout(rng):
    net = Sequential([Conv2D(2, 3, 3, rng=rng, dtype=np.float64), BatchNorm2D(3, dtype=np.float64), LeakyReLU(),
                      Dropout(0.5, rng=np.random.default_rng(0)), Flatten(), Dense(48, 2, rng=rng, dtype=np.float64)])
    x = rng.standard_normal((2, 4, 4, 2))
    x_copy = x.copy()
    net.forward(x)
    dout = rng.standard_normal((2, 2))
    dout_copy = dout.copy()
    net.backward(dout)
    np.testing.assert_array_equal(dout, dout_copy)
    np.testing.assert_array_equal(x, x_copy)


# --- batch-norm running statistics and dropout behaviour ---------------------

def test_batchnorm_running_statistics_after_k_steps(rng):
    bn = BatchNorm2D(2, momentum=0.8, dtype=np.float64)
    mean, var = np.zeros(2), np.ones(2)
    for _ in range(4):
        x = rng.standard_normal((3, 4, 4, 2)) * [1.0, 3.0] + [2.0, -1.0]
        bn.forward(x)
        flat = x.reshape(-1, 2)
        mean = 0.8 * mean + 0.2 * flat.mean(axis=0)
        var = 0.8 * var + 0.2 * flat.var(axis=0, ddof=1)  # unbiased, as TF's fused batch norm
    np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], var, rtol=1e-12)
    # Inference uses (and does not change) the running statistics.
    bn.set_training(False)
    x = rng.standard_normal((2, 3, 3, 2))
    np.testing.assert_allclose(bn.forward(x), (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_mean"], mean, rtol=1e-12)


def test_dropout_is_inverted_and_identity_at_inference():
    layer = Dropout(0.4, rng=np.random.default_rng(7))
    x = np.ones((200, 500))
    out = layer.forward(x)
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.6, rtol=1e-12)           # kept units scaled by 1/(1-rate)
    assert abs(kept.mean() - 0.6) < 0.01                                 # 100,000 draws: sd ~0.0015
    assert abs(out.mean() - 1.0) < 0.02                                  # the mean is preserved
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)  # same mask, same scale
    layer.set_training(False)
    x = np.random.default_rng(1).standard_normal((4, 5))
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_needs_a_generator_in_training():
    with pytest.raises(ValueError, match="random generator"):
        Dropout(0.4).forward(np.ones((2, 2)))


def test_dropout_is_reproducible_with_a_seeded_generator():
    a = Dropout(0.4, rng=np.random.default_rng(3)).forward(np.ones((5, 6)))
    b = Dropout(0.4, rng=np.random.default_rng(3)).forward(np.ones((5, 6)))
    np.testing.assert_array_equal(a, b)


# --- state, cloning, freezing -----------------------------------------------

def small_net(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Conv2D(1, 2, 3, rng=rng, dtype=np.float64), BatchNorm2D(2, dtype=np.float64), LeakyReLU(),
                       Flatten(), Dense(2 * 4 * 4, 1, rng=rng, dtype=np.float64)], input_shape=(4, 4, 1))


def test_load_state_dict_round_trip():
    a, b = small_net(0), small_net(1)
    assert not np.array_equal(a.state_dict()["0.w"], b.state_dict()["0.w"])
    a.layers[1].buffers["running_var"][...] = 3.0
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)
    assert sorted(a.state_dict()) == ["0.b", "0.w", "1.beta", "1.gamma", "1.running_mean", "1.running_var",
                                      "4.b", "4.w"]


def test_load_state_dict_checks_names_and_shapes():
    net = small_net()
    state = {k: v.copy() for k, v in net.state_dict().items()}
    before = net.state_dict()["4.w"].copy()
    missing = dict(state)
    del missing["4.b"]
    with pytest.raises(ValueError, match=r"missing 4\.b"):
        net.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"unexpected extra\.w"):
        net.load_state_dict({**state, "extra.w": np.zeros(1)})
    wrong = {**state, "4.w": np.zeros((3, 1))}
    with pytest.raises(ValueError, match=r"4\.w has shape \(3, 1\) in the given state, \(32, 1\) here"):
        net.load_state_dict(wrong)
    state["4.w"] += 1.0
    with pytest.raises(ValueError):
        net.load_state_dict({**state, "4.b": np.zeros(2)})
    np.testing.assert_array_equal(net.state_dict()["4.w"], before)  # nothing copied after a failed check


def test_clone_gives_independent_arrays():
    net = small_net()
    copy = net.clone()
    for k, v in net.state_dict().items():
        assert copy.state_dict()[k] is not v
        np.testing.assert_array_equal(copy.state_dict()[k], v)
    net.layers[0].params["w"] += 1.0
    net.layers[1].buffers["running_mean"] += 1.0
    assert not np.array_equal(copy.layers[0].params["w"], net.layers[0].params["w"])
    assert not np.array_equal(copy.layers[1].buffers["running_mean"], net.layers[1].buffers["running_mean"])


def test_clone_shares_random_generators():
    gen = np.random.default_rng(0)
    net = Sequential([Dropout(0.5, rng=gen)])
    assert net.clone().layers[0].rng is gen


def test_set_trainable_false_gives_dx_but_no_parameter_gradients(rng):
    net = small_net()
    x, dout = rng.standard_normal((2, 4, 4, 1)), rng.standard_normal((2, 1))
    net.forward(x)
    net.zero_grad()
    dx_trainable = net.backward(dout)
    assert any(g.any() for g in net.named_grads().values())
    net.zero_grad()
    net.set_trainable(False)
    net.forward(x)
    dx_frozen = net.backward(dout)
    np.testing.assert_allclose(dx_frozen, dx_trainable, rtol=1e-12)
    assert not any(g.any() for g in net.named_grads().values())
    assert all(not layer.trainable for layer in net.walk())



# --- per-channel sums: the reference tier's plain sum and the fast tier's BLAS product ---------------

def test_channel_sums_of_both_tiers_agree(rng):
    a, b = rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((3, 4, 5, 6))
    np.testing.assert_allclose(channel_sums(a), a.sum(axis=(0, 1, 2)), rtol=1e-14)
    np.testing.assert_allclose(fast_tier().channel_sums(a), channel_sums(a), rtol=1e-12)
    np.testing.assert_allclose(fast_tier().channel_sums(a, b), channel_sums(a, b), rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gives_the_same_numbers_on_both_tiers(rng, training):
    x, dout = rng.standard_normal((4, 3, 3, 5)), rng.standard_normal((4, 3, 3, 5))
    layers = {name: BatchNorm2D(5, dtype=np.float64, tier=tier).set_training(training)
              for name, tier in (("reference", REFERENCE), ("fast", fast_tier()))}
    assert BatchNorm2D(5).tier is REFERENCE and layers["fast"].tier.name == "fast"
    outs = {name: (layer.forward(x), layer.backward(dout), layer.grads["gamma"].copy(), layer.buffers["running_var"])
            for name, layer in layers.items()}
    for fast, ref in zip(outs["fast"], outs["reference"]):
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-14)
