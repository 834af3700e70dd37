"""The gradient-check tool itself, and whole-network checks of the tiny G and D.

Network checks need care with LeakyReLU kinks: if a pre-activation lies
within about h of 0, a perturbation crosses the kink and the centred
difference is wrong (not the backward). So each network check first asserts,
by a forward pass, that every pre-activation is at least 10 h from 0, for
the seeds used, and uses h = 1e-6.
"""
import numpy as np
import pytest

from mttgan_min.gradcheck import (GradCheckResult, check_function, check_layer, compare, numeric_gradient,
                                  random_dout, relative_error, report, roundoff_floor)
from mttgan_min.layers import LeakyReLU
from mttgan_min.layers.activations import leaky_relu_forward
from mttgan_min.models import build_discriminator, build_generator

# --- the tool ------------------------------------------------------------------


def test_numeric_gradient_of_a_known_function(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = numeric_gradient(lambda: np.sum(x ** 3), x)
    np.testing.assert_allclose(grad, 3 * x ** 2, rtol=1e-8)
    np.testing.assert_array_equal(x, before)  # perturbed in place, then restored
    some = numeric_gradient(lambda: np.sum(x ** 3), x, indices=[(0, 1), (2, 3)])
    np.testing.assert_allclose(some, [3 * x[0, 1] ** 2, 3 * x[2, 3] ** 2], rtol=1e-8)


def test_relative_error_and_its_floor():
    np.testing.assert_allclose(relative_error([1.0, 0.0], [1.1, 0.0]), [0.1 / 2.1, 0.0])
    assert relative_error(1e-12, 0.0) == pytest.approx(1e-12 / 1e-8)
    assert relative_error(1e-12, 0.0, floor=1e-6) == pytest.approx(1e-6)


def test_the_recipe_defaults(rng):
    dout = random_dout(rng, (50, 4))
    assert 0.5 <= np.abs(dout).min() and np.abs(dout).max() <= 1.5 and (dout < 0).any() and (dout > 0).any()
    assert roundoff_floor(np.zeros(3), np.ones(3)) == 1e-8  # never below the textbook floor
    out = np.full(1000, 1e3)  # |L| = 1e6: round-off of L / 2h is ~eps * 1e6 / 1e-5
    assert roundoff_floor(out, -np.ones(1000)) == pytest.approx(np.finfo(float).eps * 1e6 / (1e-5 * 1e-7))
    # check_function and check_layer draw the same dout when none is given
    out, _ = leaky_relu_forward(np.ones((2, 3)))
    seen = []
    check_function(lambda x: leaky_relu_forward(x), lambda d, c: (seen.append(d) or d,), {"x": np.ones((2, 3))},
                   rng=np.random.default_rng(5))
    np.testing.assert_array_equal(seen[0], random_dout(np.random.default_rng(5), out.shape))


def test_check_function_catches_a_wrong_backward(rng):
    x = np.sign(rng.standard_normal((4, 5))) * (np.abs(rng.standard_normal((4, 5))) + 0.1)

    def wrong_backward(dout, cache):  # forgets alpha on the negative side
        x, alpha = cache
        return (np.where(x > 0, dout, dout),)

    results = check_function(lambda x: leaky_relu_forward(x, 0.2), wrong_backward, {"x": x}, rng=rng)
    assert not results[0].passed and results[0].max_rel_error > 0.1
    worst = results[0].worst_index
    assert x[worst] < 0  # the worst entry is where the bug is
    assert "FAIL" in report(results) and str(worst) in report(results)


def test_compare_samples_max_entries(rng):
    x = rng.standard_normal((10, 10))
    result = compare("x", 2 * x, lambda: np.sum(x ** 2), x, max_entries=7, rng=rng)
    assert isinstance(result, GradCheckResult) and result.checked == 7 and result.passed


def test_check_layer_reports_every_parameter(rng, capsys):
    from mttgan_min.layers import Dense
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    results = check_layer(layer, rng.standard_normal((2, 3)), rng=rng, verbose=False)
    assert [r.name for r in results] == ["x", "w", "b"]
    assert all(r.passed for r in results)
    assert capsys.readouterr().out == ""


# --- whole networks ------------------------------------------------------------

H = 1e-6


def min_pre_activation(net, x):
    net.forward(x)
    return min(float(np.abs(layer.cache[0]).min()) for layer in net.walk() if isinstance(layer, LeakyReLU))


def network_check(net, x, max_entries, assert_all_passed, roundoff_floor, zero_grad_names=(), min_floor=1e-8):
    """Analytic gradients once, then ``compare`` per array with a sampled subset.

    The floor comes from the round-off of L = sum(out * dout) at h = 1e-6
    (see conftest.roundoff_floor): for the tiny G (1024 outputs, |L| ~ 30)
    it is ~7e-9 absolute. For the tiny D, with one output, the round-off of
    the forward pass itself dominates (~1e-12 absolute): ``min_floor`` 1e-4
    compares gradients below 1e-4 absolutely, within 1e-11.
    ``zero_grad_names``: biases right before BN, whose true gradient is exactly
    0; they are checked with an absolute tolerance instead.
    """
    rng = np.random.default_rng(0)
    out = net.forward(x)
    dout = rng.standard_normal(out.shape)
    floors = max(roundoff_floor(out, dout, h=H), min_floor)
    net.zero_grad()
    dx = net.backward(dout)
    grads = {k: g.copy() for k, g in net.named_grads().items()}

    def loss():
        return np.sum(net.forward(x) * dout)

    results = [compare("x", dx, loss, x, h=H, max_entries=max_entries, rng=rng, floor=floors)]
    for name, p in net.named_params().items():
        if name in zero_grad_names:
            np.testing.assert_allclose(grads[name], 0.0, atol=1e-12)
            idx = [(i,) for i in rng.choice(p.size, size=min(max_entries, p.size), replace=False)]
            # Pure round-off: bounded by what the floor allows for any gradient.
            np.testing.assert_allclose(numeric_gradient(loss, p, h=H, indices=idx), 0.0, atol=1e-7 * floors)
        else:
            results.append(compare(name, grads[name], loss, p, h=H, max_entries=max_entries, rng=rng,
                                   floor=floors))
    assert_all_passed(results, f"gradient check of {net.name}")
    return results


def tiny_generator():
    G = build_generator("tiny", rng=np.random.default_rng(0), dtype=np.float64)  # BN in training mode
    z = np.random.default_rng(26).standard_normal((1, 100))
    assert min_pre_activation(G, z) > 10 * H, "this seed puts a LeakyReLU input near its kink"
    before_bn = [k for k in G.named_params() if k.endswith("inner.0.b")]
    assert len(before_bn) == 6
    return G, z, before_bn


def tiny_discriminator():
    D = build_discriminator("tiny", rng=np.random.default_rng(1), dtype=np.float64).set_training(False)
    x = np.random.default_rng(27).random((1, 32, 32, 1))
    assert min_pre_activation(D, x) > 10 * H, "this seed puts a LeakyReLU input near its kink"
    return D, x


def test_tiny_generator_gradients(assert_all_passed, roundoff_floor):
    # One sampled entry of every array keeps this under ~15 s; the slow test
    # below samples 8 per array (~370 entries).
    G, z, before_bn = tiny_generator()
    results = network_check(G, z, 1, assert_all_passed, roundoff_floor, before_bn)
    assert len(results) == 1 + len(G.named_params()) - 6


def test_tiny_discriminator_gradients(assert_all_passed, roundoff_floor):
    # Dropout off (inference mode) so that every forward is the same function.
    D, x = tiny_discriminator()
    results = network_check(D, x, 6, assert_all_passed, roundoff_floor, min_floor=1e-4)
    assert len(results) == 1 + 20


@pytest.mark.slow
def test_tiny_generator_gradients_many_entries(assert_all_passed, roundoff_floor):
    G, z, before_bn = tiny_generator()
    network_check(G, z, 8, assert_all_passed, roundoff_floor, before_bn)


@pytest.mark.slow
def test_tiny_discriminator_gradients_many_entries(assert_all_passed, roundoff_floor):
    D, x = tiny_discriminator()
    network_check(D, x, 20, assert_all_passed, roundoff_floor, min_floor=1e-4)
