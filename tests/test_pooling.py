"""Max pooling: the fast tier (reshape-max, strided views; ``mttgan_min.fast.maxpool``) against the
im2col reference tier (``layers/maxpool.py``), gradient checks of both in float64, and softmax probabilities."""
import numpy as np
import pytest

from mttgan_min.gradcheck import check_function
from mttgan_min.layers import MaxPool2D, ReLU
from mttgan_min.layers.activations import softmax
from mttgan_min.fast import tier as fast_tier
from mttgan_min.fast.maxpool import maxpool_backward, maxpool_forward
from mttgan_min.layers.maxpool import maxpool_backward as maxpool_backward_im2col
from mttgan_min.layers.maxpool import maxpool_forward as maxpool_forward_im2col
from mttgan_min.layers.reference import REFERENCE

CASES = [(2, 2, "valid", (2, 8, 6, 3)),    # VGG-19's pool: reshape-max
         (3, 2, "valid", (2, 9, 7, 2)),    # AlexNet's overlapping pool: strided views
         (2, 2, "valid", (1, 7, 5, 2)),    # 2x2 with odd sizes: the last row/column is dropped
         (2, 2, "same", (1, 7, 5, 2)),     # padded with -inf
         (3, 2, "same", (2, 8, 8, 2)),
         (3, 1, "valid", (1, 5, 6, 1))]


@pytest.mark.parametrize("pool,stride,padding,shape", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_tier_equals_the_im2col_reference_ties_included(rng, pool, stride, padding, shape, dtype):
    # ReLU of rounded values: many windows are all zeros or hold a repeated maximum (ties).
    x = np.round(rng.standard_normal(shape), 1).astype(dtype)
    x, _ = ReLU().forward(x), None
    out, cache = maxpool_forward(x, pool, stride, padding)
    ref, ref_cache = maxpool_forward_im2col(x, pool, stride, padding)
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == dtype
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dx_ref = maxpool_backward(dout, cache), maxpool_backward_im2col(dout, ref_cache)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_array_equal(dx, dx_ref)
    # every output gradient lands exactly once (at its window's first maximum)
    np.testing.assert_allclose(dx.sum(), dout.sum(), rtol=1e-5)


def test_ties_go_to_the_first_maximum():
    x = np.zeros((1, 4, 4, 1))
    x[0, 1, 1, 0] = x[0, 1, 2, 0] = 1.0          # the 3x3/2 window at (0, 0) holds two maxima
    out, cache = maxpool_forward(x, 3, 2)
    dx = maxpool_backward(np.ones_like(out), cache)
    assert dx[0, 1, 1, 0] == 1.0 and dx[0, 1, 2, 0] == 0.0
    dx2 = maxpool_backward(np.ones((1, 2, 2, 1)), maxpool_forward(np.zeros((1, 4, 4, 1)), 2)[1])
    np.testing.assert_array_equal(dx2[0, :, :, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("tier", ["fast", "reference"])
@pytest.mark.parametrize("pool,stride,shape", [(3, 2, (2, 7, 9, 2)), (2, 2, (2, 6, 4, 3))])
def test_maxpool_layer_gradients_both_tiers(rng, assert_all_passed, make_dout, roundoff_floor, tier, pool,
                                            stride, shape):
    layer = MaxPool2D(pool, stride, tier=fast_tier() if tier == "fast" else REFERENCE)
    assert layer.tier.name == tier
    x = rng.permutation(np.arange(np.prod(shape), dtype=float)).reshape(shape) / 100   # no ties
    fwd = lambda x: (layer.forward(x), None)  # noqa: E731
    out = layer.forward(x)
    dout = make_dout(rng, out.shape)
    results = check_function(fwd, lambda d, c: (layer.backward(d),), {"x": x}, dout=dout, rng=rng,
                             floor=roundoff_floor(out, dout))
    assert_all_passed(results)


def test_maxpool_takes_the_reference_tier_unless_given_another():
    assert MaxPool2D(2).tier is REFERENCE
    with pytest.raises(TypeError, match="tier must be an object"):
        MaxPool2D(2, tier="fast")


def test_softmax_probabilities(rng):
    z = rng.standard_normal((5, 4)) * 3
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)
    big = softmax(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    assert np.all(np.isfinite(big)) and big.dtype == np.float32
    np.testing.assert_allclose(big, [[1.0, 0.0, 0.0]], atol=1e-30)
    np.testing.assert_array_equal(softmax(z).argmax(1), z.argmax(1))
