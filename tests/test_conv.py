"""Convolution and transposed convolution: geometry, forward values against a
naive loop, gradient checks in float64, and the adjoint identity

    <conv(x, w), y> = <x, conv_transpose(y, w)>,

each on both tiers (``tier`` fixture: the reference tier, ``layers/reference.py``,
and the fast tier, ``mttgan_min.fast``); then the pieces of the fast tier, and
a float64 test that the two tiers agree.
"""
import doctest
import numpy as np
import pytest

from mttgan_min.gradcheck import check_function, check_layer
from mttgan_min.fast import conv as conv_fast, tier as fast_tier
from mttgan_min.fast.conv import depth_to_space, space_to_depth, strided_kernel, unstrided_kernel, width_windows
from mttgan_min.layers import Conv2D, Conv2DTranspose, conv_layers
from mttgan_min.layers.conv_layers import (conv2d_backward, conv2d_forward, conv2d_transpose_backward,
                                           conv2d_transpose_forward, transpose_output_size)
from mttgan_min.layers.im2col import conv_geometry, im2col
from mttgan_min.layers.reference import PRIMITIVES, REFERENCE

TIERS = {"reference": REFERENCE, "fast": fast_tier()}


@pytest.fixture(params=sorted(TIERS))
def tier(request):
    """Each test that takes ``tier`` runs once per tier of convolution (the tier object)."""
    return TIERS[request.param]


def keras_same_pads(size, k, stride):
    """TensorFlow's 'same' rule written out independently: total padding, half before."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def naive_conv(x, w, b, stride, padding):
    """Direct loops over output positions (the definition of a cross-correlation)."""
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    if padding == "same":
        (t, bo), (l, r) = keras_same_pads(H, KH, stride), keras_same_pads(W, KW, stride)
        x = np.pad(x, ((0, 0), (t, bo), (l, r), (0, 0)))
    OH, OW = (x.shape[1] - KH) // stride + 1, (x.shape[2] - KW) // stride + 1
    out = np.zeros((N, OH, OW, F))
    for i in range(OH):
        for j in range(OW):
            patch = x[:, i * stride:i * stride + KH, j * stride:j * stride + KW, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def naive_conv_transpose(x, w, b, stride, padding):
    """Scatter each input pixel times the kernel, then crop Keras' 'same' padding."""
    N, H, W, C = x.shape
    KH, KW, F, _ = w.shape
    # Keras' 'valid' size, H*stride + max(K - stride, 0): rows no window reaches stay zero
    full = np.zeros((N, H * stride + max(KH - stride, 0), W * stride + max(KW - stride, 0), F))
    for i in range(H):
        for j in range(W):
            full[:, i * stride:i * stride + KH, j * stride:j * stride + KW, :] += \
                np.einsum("nc,abfc->nabf", x[:, i, j, :], w)
    if padding == "same":
        top, _ = keras_same_pads(H * stride, KH, stride)
        left, _ = keras_same_pads(W * stride, KW, stride)
        full = full[:, top:top + H * stride, left:left + W * stride, :]
    return full + b


# --- geometry ----------------------------------------------------------------

def test_even_kernel_same_pads_one_before_two_after():
    # Keras/TF: a 4x4 kernel at stride 1 pads 1 row/column before and 2 after.
    assert conv_geometry(16, 16, 4, 4, 1, "same") == (16, 16, ((1, 2), (1, 2)))
    assert conv_geometry(5, 7, 4, 4, 1, "same") == (5, 7, ((1, 2), (1, 2)))


@pytest.mark.parametrize("H,K,stride,padding,expected", [
    (32, 4, 2, "same", (16, ((1, 1)))),   # the G upsampling geometry seen from the conv side
    (7, 3, 2, "same", (4, (1, 1))),
    (8, 3, 2, "same", (4, (0, 1))),       # odd total: the extra row goes after
    (5, 3, 1, "same", (5, (1, 1))),
    (7, 3, 2, "valid", (3, (0, 0))),
    (8, 4, 2, "valid", (3, (0, 0))),
    (7, 2, 3, "valid", (2, (0, 0))),      # stride larger than the kernel
])
def test_conv_geometry(H, K, stride, padding, expected):
    OH, OW, pads = conv_geometry(H, H, K, K, stride, padding)
    assert (OH, pads[0]) == expected and OW == OH and pads[1] == pads[0]


def test_explicit_pads_are_taken_as_given(rng, tier):
    assert conv_geometry(5, 6, 3, 3, 1, ((2, 0), (1, 1))) == (5, 6, ((2, 0), (1, 1)))
    x, w = rng.standard_normal((2, 5, 6, 2)), rng.standard_normal((3, 3, 2, 3))
    padded = np.pad(x, ((0, 0), (2, 0), (1, 1), (0, 0)))
    conv = tier.conv
    np.testing.assert_allclose(conv(x, w, 1, ((2, 0), (1, 1))), conv(padded, w, 1, "valid"), rtol=1e-12)


def test_conv_geometry_errors():
    with pytest.raises(ValueError, match="padding"):
        conv_geometry(5, 5, 3, 3, 1, "full")
    with pytest.raises(ValueError, match="does not fit"):
        conv_geometry(2, 2, 3, 3, 1, "valid")


# --- the pieces of the fast tier's lowering ---------------------------------------

@pytest.mark.parametrize("K,pads", [(4, ((1, 2), (1, 2))), (3, ((0, 0), (0, 0))), (2, ((1, 0), (0, 1)))])
def test_row_patches_are_the_patch_matrix_one_kernel_row_at_a_time(rng, K, pads):
    """Rows oh + i of a sample's row patches are kernel row i's block of im2col."""
    x = rng.standard_normal((2, 5, 6, 3))
    (top, bottom), (left, right) = pads
    OH, OW, _ = conv_geometry(5, 6, K, K, 1, pads)
    Hp = 5 + top + bottom
    x_pad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    P = width_windows(x_pad, K, OW)
    assert P.shape == (2, Hp, OW, K, 3) and np.shares_memory(P, x_pad)  # a view
    col = im2col(x_pad, K, K, 1, OH, OW)
    for i in range(K):
        np.testing.assert_array_equal(P[:, i:i + OH], col[:, :, :, i])


def test_space_to_depth_stacks_each_block_and_inverts():
    x = np.arange(2 * 4 * 6 * 3, dtype=float).reshape(2, 4, 6, 3)
    blocks = space_to_depth(x, 2)
    assert blocks.shape == (2, 2, 3, 12)
    # pixel (1, 2) of the blocks is x[2:4, 4:6], channels in (row, column, channel) order
    np.testing.assert_array_equal(blocks[1, 1, 2], x[1, 2:4, 4:6].reshape(-1))
    np.testing.assert_array_equal(depth_to_space(blocks, 2), x)


@pytest.mark.parametrize("K,s", [(4, 2), (3, 2), (2, 3), (5, 2)])
def test_strided_kernel_regroups_the_taps(rng, K, s):
    w = rng.standard_normal((K, K, 2, 3))
    w2 = strided_kernel(w, s)
    t = -(-K // s)
    assert w2.shape == (t, t, s * s * 2, 3)
    for a in range(t):
        for p in range(s):  # tap a of block row p is kernel row a*s + p, or zero past the kernel
            expected = w[a * s + p, 1] if a * s + p < K else 0.0
            np.testing.assert_array_equal(w2[a, 0].reshape(s, s, 2, 3)[p, 1], expected)
    np.testing.assert_array_equal(unstrided_kernel(w2, s, K, K), w)


# --- forward values ---------------------------------------------------------

CONV_CASES = [  # (N, H, W, C, F, K, stride, padding)
    (2, 5, 7, 2, 3, 3, 1, "same"),    # odd sizes
    (2, 7, 7, 2, 3, 3, 2, "same"),    # stride != kernel, overlapping windows
    (2, 6, 5, 2, 3, 4, 1, "same"),    # even kernel 'same': asymmetric padding
    (2, 8, 8, 2, 2, 4, 2, "same"),
    (2, 8, 7, 2, 3, 3, 2, "valid"),
    (2, 7, 8, 3, 2, 2, 3, "valid"),   # stride larger than the kernel
]

TRANSPOSE_CASES = [  # (N, H, W, C_in, F, K, stride, padding)
    (2, 3, 4, 3, 2, 4, 2, "same"),    # the G upsampling layer
    (2, 4, 3, 2, 3, 4, 1, "same"),    # the ResBlock layer (asymmetric padding)
    (2, 3, 3, 2, 2, 3, 2, "same"),
    (2, 3, 2, 2, 3, 3, 2, "valid"),
    (1, 2, 3, 2, 2, 4, 2, "valid"),
    (2, 3, 3, 2, 2, 2, 3, "valid"),   # kernel smaller than the stride: Keras size H*stride
    (1, 2, 3, 2, 2, 1, 2, "valid"),
    (2, 3, 2, 2, 2, 2, 3, "same"),
]


@pytest.mark.parametrize("N,H,W,C,F,K,stride,padding", CONV_CASES)
def test_conv_forward_matches_naive_loops(rng, tier, N, H, W, C, F, K, stride, padding):
    x, w, b = rng.standard_normal((N, H, W, C)), rng.standard_normal((K, K, C, F)), rng.standard_normal(F)
    out, _ = conv2d_forward(x, w, b, stride, padding, tier)
    np.testing.assert_allclose(out, naive_conv(x, w, b, stride, padding), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N,H,W,C,F,K,stride,padding", TRANSPOSE_CASES)
def test_conv_transpose_forward_matches_naive_scatter(rng, tier, N, H, W, C, F, K, stride, padding):
    x, w, b = rng.standard_normal((N, H, W, C)), rng.standard_normal((K, K, F, C)), rng.standard_normal(F)
    out, _ = conv2d_transpose_forward(x, w, b, stride, padding, tier)
    np.testing.assert_allclose(out, naive_conv_transpose(x, w, b, stride, padding), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("K,stride,padding,expected", [
    (4, 2, "same", (10, 12)), (3, 2, "valid", (11, 13)), (4, 1, "same", (5, 6)), (4, 1, "valid", (8, 9)),
    (2, 3, "valid", (15, 18)),   # kernel smaller than the stride: Keras' H*stride + max(K - stride, 0)
    (1, 2, "valid", (10, 12)), (3, 3, "valid", (15, 18)), (5, 3, "valid", (17, 20)),
])
def test_conv_transpose_output_sizes(rng, tier, K, stride, padding, expected):
    x = rng.standard_normal((1, 5, 6, 2))
    out, _ = conv2d_transpose_forward(x, rng.standard_normal((K, K, 3, 2)), np.ones(3), stride, padding, tier)
    assert out.shape == (1, *expected, 3)
    assert (transpose_output_size(5, K, stride, padding), transpose_output_size(6, K, stride, padding)) == expected
    assert Conv2DTranspose(2, 3, K, stride, padding).output_shape((5, 6, 2)) == (*expected, 3)
    if K < stride and padding == "valid":  # the last row, which no window reaches, holds the bias alone
        np.testing.assert_array_equal(out[0, -1, :, :], 1.0)


def test_conv_transpose_rejects_explicit_pads():
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        transpose_output_size(5, 3, 2, ((1, 1), (1, 1)))


def test_conv_of_a_delta_is_the_flipped_kernel(tier):
    # An impulse in the middle of a 'valid' 3x3 conv picks out w[i, j] at each position.
    x = np.zeros((1, 5, 5, 1))
    x[0, 2, 2, 0] = 1.0
    w = np.arange(9.0).reshape(3, 3, 1, 1)
    out, _ = conv2d_forward(x, w, np.zeros(1), 1, "valid", tier)
    np.testing.assert_array_equal(out[0, :, :, 0], w[::-1, ::-1, 0, 0])


# --- gradient checks ---------------------------------------------------------

def check_conv_gradients(rng, make_dout, roundoff_floor, forward_fn, backward_fn, x_shape, w_shape, filters,
                         stride, padding, tier):
    """Gradient check of a conv forward/backward pair (``filters`` output channels); returns the results."""
    # Weights scaled like an initialiser keep |L| = |sum(out * dout)|, and so
    # the round-off of the numeric gradient (~eps * |L| / h), small.
    KH, KW = w_shape[:2]
    inputs = {"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape) / np.sqrt(KH * KW * x_shape[-1]),
              "b": rng.standard_normal(filters)}
    forward = lambda x, w, b: forward_fn(x, w, b, stride, padding, tier)  # noqa: E731
    backward = lambda dout, cache: backward_fn(dout, cache, tier=tier)  # noqa: E731
    out = forward(**inputs)[0]
    dout = make_dout(rng, out.shape)
    return check_function(forward, backward, inputs, dout=dout, rng=rng, floor=roundoff_floor(out, dout))


@pytest.mark.parametrize("N,H,W,C,F,K,stride,padding", CONV_CASES)
def test_conv2d_gradients(rng, tier, assert_all_passed, make_dout, roundoff_floor, N, H, W, C, F, K, stride, padding):
    assert_all_passed(check_conv_gradients(rng, make_dout, roundoff_floor, conv2d_forward, conv2d_backward,
                                           (N, H, W, C), (K, K, C, F), F, stride, padding, tier))


@pytest.mark.parametrize("N,H,W,C,F,K,stride,padding", TRANSPOSE_CASES)
def test_conv2d_transpose_gradients(rng, tier, assert_all_passed, make_dout, roundoff_floor,
                                    N, H, W, C, F, K, stride, padding):
    assert_all_passed(check_conv_gradients(rng, make_dout, roundoff_floor, conv2d_transpose_forward,
                                           conv2d_transpose_backward, (N, H, W, C), (K, K, F, C), F, stride, padding,
                                           tier))


@pytest.mark.parametrize("layer_cls,kernel,stride,padding", [(Conv2D, 3, 2, "same"), (Conv2D, 4, 1, "same"),
                                                             (Conv2DTranspose, 4, 2, "same"),
                                                             (Conv2DTranspose, 4, 1, "same"),
                                                             (Conv2DTranspose, 3, 2, "valid"),
                                                             (Conv2DTranspose, 2, 3, "valid")])
def test_conv_layers(rng, tier, assert_all_passed, make_dout, roundoff_floor, layer_cls, kernel, stride, padding):
    layer = layer_cls(2, 3, kernel, stride=stride, padding=padding, rng=rng, dtype=np.float64, tier=tier)
    layer.params["w"][...] = rng.standard_normal(layer.params["w"].shape) / np.sqrt(kernel * kernel * 2)
    layer.params["b"][...] = rng.standard_normal(3)
    x = rng.standard_normal((2, 5, 5, 2))
    out = layer.forward(x)
    assert out.shape[1:] == layer.output_shape((5, 5, 2))
    assert layer.params["w"].shape == ((kernel, kernel, 2, 3) if layer_cls is Conv2D else (kernel, kernel, 3, 2))
    dout = make_dout(rng, out.shape)
    assert_all_passed(check_layer(layer, x, dout=dout, rng=rng, verbose=False, floor=roundoff_floor(out, dout)))


# --- the adjoint identity ----------------------------------------------------

@pytest.mark.parametrize("H,W,K,stride,padding", [
    (8, 8, 3, 1, "same"), (8, 6, 4, 1, "same"), (8, 8, 4, 2, "same"), (8, 6, 3, 2, "same"),
    (7, 5, 3, 2, "same"), (9, 9, 3, 2, "valid"), (10, 8, 4, 2, "valid"), (7, 7, 4, 1, "valid"),
    (8, 9, 3, 2, "valid"), (8, 9, 2, 3, "valid"), (9, 8, 2, 3, "same"),
])
def test_adjoint_identity(rng, tier, H, W, K, stride, padding):
    C, F = 3, 2
    x, w = rng.standard_normal((2, H, W, C)), rng.standard_normal((K, K, C, F))
    y_conv = tier.conv(x, w, stride, padding)
    y = rng.standard_normal(y_conv.shape)
    x_adj = tier.conv_input_grad(y, w, x.shape, stride, padding)
    lhs, rhs = np.sum(y_conv * y), np.sum(x * x_adj)
    assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1.0)
    # The transposed convolution with the same w (zero bias) is that adjoint,
    # whenever its output size is x's (always for 'same' with H, W divisible).
    out, _ = conv2d_transpose_forward(y, w, np.zeros(C), stride, padding, tier)
    if out.shape == x.shape:
        np.testing.assert_allclose(out, x_adj, rtol=1e-12, atol=1e-12)
        assert abs(np.sum(x * out) - lhs) <= 1e-10 * (abs(lhs) + 1.0)
    else:
        # why the sizes differ: an input size the stride does not divide ('same', or 'valid' with a kernel
        # smaller than the stride), or rows past the last 'valid' window
        assert (H % stride or W % stride) if padding == "same" or K < stride else ((H - K) % stride or (W - K) % stride)


def test_transpose_backward_is_the_convolution(rng, tier):
    x, w = rng.standard_normal((2, 4, 4, 3)), rng.standard_normal((4, 4, 2, 3))
    _, cache = conv2d_transpose_forward(x, w, np.zeros(2), 2, "same", tier)
    dout = rng.standard_normal((2, 8, 8, 2))
    dx, _, _ = conv2d_transpose_backward(dout, cache, tier=tier)
    np.testing.assert_allclose(dx, tier.conv(dout, w, 2, "same"), rtol=1e-12)


@pytest.mark.parametrize("stride,K", [(1, 4), (2, 3), (2, 4), (3, 2)])
def test_batch_chunks_do_not_change_results(rng, monkeypatch, stride, K):
    """The fast tier's cache-sized batch chunks give the same numbers as one whole-batch pass."""
    x = rng.standard_normal((5, 9, 9, 3))
    w = rng.standard_normal((K, K, 3, 4))
    b = rng.standard_normal(4)
    dy = rng.standard_normal(conv_fast.conv(x, w, stride, "same").shape)
    outputs = []
    for chunk_bytes in (1, 2**40):  # one sample per chunk, then the whole batch at once
        monkeypatch.setattr(conv_fast, "CPU_CHUNK_BYTES", chunk_bytes)
        assert len(conv_fast.batch_chunks(len(x), x[0].nbytes, np)) == (5 if chunk_bytes == 1 else 1)
        outputs.append((conv_fast.conv(x, w, stride, "same", bias=b),
                        conv_fast.conv_input_grad(dy, w, x.shape, stride, "same"),
                        conv_fast.conv_weight_grad(x, dy, w.shape, stride, "same"),
                        *conv_fast.conv_and_weight_grad(x, w, dy, stride, "same")))
    for chunked, whole in zip(*outputs):
        np.testing.assert_allclose(chunked, whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,K", [(1, 4), (2, 3), (2, 4)])
def test_worker_threads_do_not_change_results(rng, monkeypatch, stride, K):
    """Splitting the batch between threads (uneven shares, several chunks each) gives the same numbers."""
    x = rng.standard_normal((7, 9, 9, 3))
    w = rng.standard_normal((K, K, 3, 4))
    dy = rng.standard_normal(conv_fast.conv(x, w, stride, "same").shape)
    monkeypatch.setattr(conv_fast, "CPU_CHUNK_BYTES", 1)   # one sample per chunk
    monkeypatch.setattr(conv_fast, "WORKER_MIN_BYTES", 1)  # split even this small batch
    outputs = []
    for workers in (1, 3):
        groups = conv_fast._chunk_groups(x, K, 9, ((1, 1), (1, 1)), workers)
        assert [len(g) for g in groups] == ([7] if workers == 1 else [2, 2, 3])
        threads = fast_tier(workers)
        outputs.append((threads.conv(x, w, stride, "same"),
                        threads.conv_input_grad(dy, w, x.shape, stride, "same"),
                        threads.conv_weight_grad(x, dy, w.shape, stride, "same"),
                        *threads.conv_and_weight_grad(x, w, dy, stride, "same")))
    for threaded, serial in zip(*outputs):
        np.testing.assert_allclose(threaded, serial, rtol=1e-12, atol=1e-12)


# --- the two tiers agree ---------------------------------------------------------

def explicit_pads(K, wide):
    """Explicit pads, a different one on each side; ``wide``: some wider than the kernel."""
    return ((K, 0), (1, K + 1)) if wide else ((K // 2, (K - 1) // 2), (K - 1, 0))


AGREEMENT_CASES = [  # (H, W, K, stride, padding): strides 1-3, kernels 1-5, odd sizes, K < stride
    (H, W, K, s, padding)
    for (H, W) in [(7, 5), (8, 9), (6, 6)]
    for K in (1, 2, 3, 4, 5)
    for s in (1, 2, 3)
    for padding in ("same", "valid", "explicit", "wide")
    if min(H, W) >= K
]


@pytest.mark.parametrize("C_in,C_out", [(3, 4), (1, 3), (5, 1)])  # row patches; few input, few output channels
@pytest.mark.parametrize("H,W,K,stride,padding", AGREEMENT_CASES)
def test_tiers_agree_in_float64(H, W, K, stride, padding, C_in, C_out):
    """Fast and reference tiers: forward, input gradient and weight gradient within 1e-12 (relative to the max)."""
    rng = np.random.default_rng(H * 1000 + W * 100 + K * 10 + stride)
    padding = explicit_pads(K, padding == "wide") if padding in ("explicit", "wide") else padding
    x, w, b = rng.standard_normal((3, H, W, C_in)), rng.standard_normal((K, K, C_in, C_out)), rng.standard_normal(C_out)
    fast, ref = fast_tier(), REFERENCE
    y = ref.conv(x, w, stride, padding, bias=b)
    dy = rng.standard_normal(y.shape)
    pairs = {"forward": (fast.conv(x, w, stride, padding, bias=b), y),
             "input grad": (fast.conv_input_grad(dy, w, x.shape, stride, padding),
                            ref.conv_input_grad(dy, w, x.shape, stride, padding)),
             "weight grad": (fast.conv_weight_grad(x, dy, w.shape, stride, padding),
                             ref.conv_weight_grad(x, dy, w.shape, stride, padding))}
    y_fused, dw_fused = fast.conv_and_weight_grad(x, w, dy, stride, padding)
    pairs["fused forward"] = (y_fused + b, y)
    pairs["fused weight grad"] = (dw_fused, pairs["weight grad"][1])
    for name, (a, r) in pairs.items():
        assert a.shape == r.shape, name
        error = np.abs(a - r).max() / np.abs(r).max()
        assert error < 1e-12, f"{name}: relative difference {error:.1e}"


def test_narrow_layers_are_lowered_through_their_narrow_side():
    """The generator's last layer (32 channels to 1) is lowered as the turned convolution, its input
    gradient (from one channel) as one full patch matrix, and the ResBlocks' layers on row patches."""
    lowering = conv_fast._lowering
    assert lowering((2, 32, 32, 32), (3, 3, 32, 1), "same") == "turned"
    assert lowering((2, 32, 32, 1), (3, 3, 1, 32), ((1, 1), (1, 1))) == "patches"
    assert lowering((2, 32, 32, 32), (4, 4, 32, 32), "same") == "rows"
    assert lowering((2, 5, 5, 8), (3, 3, 8, 1), ((3, 0), (1, 4))) == "rows"  # turned padding would be negative


@pytest.mark.parametrize("H,K,stride,padding", [(4, 4, 2, "same"), (5, 4, 1, "same"), (3, 3, 2, "valid"),
                                                (4, 2, 3, "valid"), (3, 1, 2, "valid"), (3, 5, 3, "valid")])
def test_tiers_agree_on_the_transposed_convolution(rng, H, K, stride, padding):
    x, w, b = rng.standard_normal((2, H, H + 1, 3)), rng.standard_normal((K, K, 2, 3)), rng.standard_normal(2)
    outs = {t: conv2d_transpose_forward(x, w, b, stride, padding, TIERS[t]) for t in TIERS}
    dout = rng.standard_normal(outs["fast"][0].shape)
    grads = {t: conv2d_transpose_backward(dout, cache, tier=TIERS[t]) for t, (_, cache) in outs.items()}
    np.testing.assert_allclose(outs["fast"][0], outs["reference"][0], rtol=1e-12, atol=1e-12)
    for g_fast, g_ref in zip(grads["fast"], grads["reference"]):
        np.testing.assert_allclose(g_fast, g_ref, rtol=1e-12, atol=1e-12)


def test_layers_compute_with_the_reference_tier_unless_given_another():
    assert Conv2D(2, 3, 3).tier is REFERENCE and Conv2DTranspose(2, 3, 4).tier is REFERENCE
    fast = fast_tier(2)
    assert Conv2D(2, 3, 3, tier=fast).tier is fast and Conv2DTranspose(2, 3, 4, tier=fast).tier.name == "fast"
    assert fast.workers == 2


def test_the_two_tiers_have_the_same_primitives():
    names = lambda tier: sorted(k for k in vars(tier) if callable(getattr(tier, k)))  # noqa: E731
    assert names(REFERENCE) == names(fast_tier()) == sorted(PRIMITIVES)


def test_a_tier_that_is_not_one_is_refused():
    with pytest.raises(TypeError, match="tier must be an object with the primitives"):
        Conv2D(2, 3, 3, tier="fast")
    with pytest.raises(TypeError, match="lacks conv_weight_grad"):
        Conv2DTranspose(2, 3, 4, tier=type("Half", (), {"conv": print})())


def test_conv_layers_docstring_examples_run():
    results = doctest.testmod(conv_layers)
    assert results.attempted >= 4 and results.failed == 0
