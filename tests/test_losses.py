"""Losses from logits: gradient checks, extreme logits, a direct softmax CE."""
import numpy as np
import pytest

from mttgan_min.gradcheck import check_function
from mttgan_min.losses import (bce_with_logits_backward, bce_with_logits_forward,
                               softmax_cross_entropy_backward, softmax_cross_entropy_forward)


def test_bce_with_logits_gradient(rng, assert_all_passed):
    inputs = {"logits": 2 * rng.standard_normal((6, 1)), "targets": rng.integers(0, 2, (6, 1)).astype(float)}
    # The loss is a scalar, so dout is a scalar and the gradient is dout * dL/dz.
    results = check_function(bce_with_logits_forward, lambda d, c: (d * bce_with_logits_backward(c), None),
                             inputs, dout=np.float64(0.7), rng=rng)
    assert_all_passed(results)


def test_bce_matches_the_textbook_formula(rng):
    z, y = rng.standard_normal((8, 1)), rng.uniform(0, 1, (8, 1))
    p = 1 / (1 + np.exp(-z))
    loss, _ = bce_with_logits_forward(z, y)
    np.testing.assert_allclose(loss, np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_at_extreme_logits(dtype):
    def loss(z, y):
        value, cache = bce_with_logits_forward(np.array([[z]], dtype), np.array([[y]], dtype))
        return float(value), float(bce_with_logits_backward(cache)[0, 0])

    assert loss(1e4, 0.0)[0] == 1e4       # log(1 - sigmoid(1e4)) = -1e4, exactly
    assert loss(-1e4, 0.0)[0] == 0.0
    assert loss(1e4, 1.0)[0] == 0.0
    assert loss(-1e4, 1.0)[0] == 1e4
    for z in (-1e4, -50.0, 50.0, 1e4):
        for y in (0.0, 1.0):
            value, grad = loss(z, y)
            assert np.isfinite(value) and np.isfinite(grad)
            assert value >= 0.0
            # The gradient sigmoid(z) - y pushes z towards the label.
            if y == 1.0:
                assert grad <= 0.0 and (grad < -0.99 if z < 0 else grad > -1e-6)
            else:
                assert grad >= 0.0 and (grad > 0.99 if z > 0 else grad < 1e-6)
    batch = np.array([[1e4], [-1e4], [0.0]], dtype)
    value, cache = bce_with_logits_forward(batch, np.zeros_like(batch))
    assert value.dtype == dtype
    np.testing.assert_allclose(float(value), (1e4 + 0.0 + np.log(2.0)) / 3, rtol=1e-6)
    np.testing.assert_allclose(bce_with_logits_backward(cache).ravel(), [1 / 3, 0.0, 0.5 / 3], rtol=1e-6)


def test_softmax_cross_entropy_gradient(rng, assert_all_passed):
    inputs = {"logits": rng.standard_normal((5, 4)), "labels": rng.integers(0, 4, 5)}
    results = check_function(softmax_cross_entropy_forward,
                             lambda d, c: (d * softmax_cross_entropy_backward(c), None),
                             inputs, dout=np.float64(1.3), rng=rng)
    assert_all_passed(results)


def test_softmax_cross_entropy_matches_a_direct_computation(rng):
    z, labels = 3 * rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss, cache = softmax_cross_entropy_forward(z, labels)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(6), labels])), rtol=1e-12)
    onehot = np.eye(5)[labels]
    np.testing.assert_allclose(softmax_cross_entropy_backward(cache), (p - onehot) / 6, rtol=1e-10, atol=1e-15)


def test_softmax_cross_entropy_large_logits_are_finite():
    z = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]])
    loss, cache = softmax_cross_entropy_forward(z, np.array([1, 2]))
    np.testing.assert_allclose(float(loss), (1e4 + np.log(3.0)) / 2, rtol=1e-12)
    assert np.all(np.isfinite(softmax_cross_entropy_backward(cache)))
