"""CuPy against NumPy on the same inputs (rtol 1e-4, atol 1e-5), marked ``gpu``.

Run with ``python -m pytest -m gpu``; every test skips, with the reason, when
CuPy or a GPU is absent. Layers run on both tiers (the reference tier by
default, the fast tier the commands use); the networks on the commands' fast
tier. The last test runs everywhere: asking for the GPU without CuPy is a
one-sentence DeviceUnavailable.
"""
import numpy as np
import pytest

from mttgan_min import backend, gan_step
from mttgan_min.adam import Adam
from mttgan_min.backend import DeviceUnavailable, gpu_available, gpu_problem, resolve_device, to_device, to_numpy
from mttgan_min.fast import tier as fast_tier
from mttgan_min.layers import (BatchNorm2D, Conv2D, Conv2DTranspose, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D,
                               ReLU, Reshape, Residual, Sequential, Sigmoid)
from mttgan_min.losses import (bce_with_logits_backward, bce_with_logits_forward, softmax_cross_entropy_backward,
                               softmax_cross_entropy_forward)
from mttgan_min.models import build_discriminator, build_generator

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture
def cp():
    """The CuPy module, or a skip with the reason the GPU cannot be used."""
    problem = gpu_problem()
    if problem:
        pytest.skip(problem)
    return resolve_device("gpu")


def close(gpu_array, cpu_array):
    np.testing.assert_allclose(to_numpy(gpu_array), cpu_array, rtol=RTOL, atol=ATOL)


def layer_cases(rng):
    f64 = np.float64
    return [
        ("dense", lambda: Dense(6, 4, rng=np.random.default_rng(0), dtype=f64), (3, 6)),
        ("conv", lambda: Conv2D(2, 3, 3, stride=2, rng=np.random.default_rng(0), dtype=f64), (2, 7, 7, 2)),
        ("conv4", lambda: Conv2D(2, 3, 4, stride=1, rng=np.random.default_rng(0), dtype=f64), (2, 6, 6, 2)),
        ("conv_s3_valid", lambda: Conv2D(2, 3, 2, stride=3, padding="valid", rng=np.random.default_rng(0), dtype=f64),
         (2, 8, 7, 2)),
        ("deconv", lambda: Conv2DTranspose(2, 3, 4, stride=2, rng=np.random.default_rng(0), dtype=f64), (2, 4, 4, 2)),
        ("deconv1", lambda: Conv2DTranspose(2, 3, 4, stride=1, rng=np.random.default_rng(0), dtype=f64),
         (2, 5, 5, 2)),
        ("deconv_valid_s3", lambda: Conv2DTranspose(2, 3, 2, stride=3, padding="valid", rng=np.random.default_rng(0),
                                                    dtype=f64), (2, 3, 4, 2)),
        ("conv_fast", lambda: Conv2D(2, 3, 3, stride=2, rng=np.random.default_rng(0), dtype=f64, tier=fast_tier()),
         (2, 7, 7, 2)),
        ("conv4_fast", lambda: Conv2D(2, 3, 4, stride=1, rng=np.random.default_rng(0), dtype=f64, tier=fast_tier()),
         (2, 6, 6, 2)),
        ("deconv_fast", lambda: Conv2DTranspose(2, 3, 4, stride=2, rng=np.random.default_rng(0), dtype=f64,
                                                tier=fast_tier()), (2, 4, 4, 2)),
        ("deconv1_fast", lambda: Conv2DTranspose(2, 3, 4, stride=1, rng=np.random.default_rng(0), dtype=f64,
                                                 tier=fast_tier()), (2, 5, 5, 2)),
        ("bn", lambda: BatchNorm2D(2, dtype=f64), (3, 4, 4, 2)),
        ("bn_fast", lambda: BatchNorm2D(2, dtype=f64, tier=fast_tier()), (3, 4, 4, 2)),
        ("bn_eval", lambda: BatchNorm2D(2, dtype=f64).set_training(False), (3, 4, 4, 2)),
        ("leaky", lambda: LeakyReLU(0.2), (2, 3, 3, 2)),
        ("relu", lambda: ReLU(), (2, 3, 3, 2)),
        ("sigmoid", lambda: Sigmoid(), (2, 3, 3, 2)),
        ("dropout_eval", lambda: Dropout(0.4).set_training(False), (2, 3, 3, 2)),
        ("maxpool", lambda: MaxPool2D(3, 2), (2, 7, 7, 2)),
        ("maxpool2", lambda: MaxPool2D(2), (2, 6, 6, 2)),
        ("maxpool_fast", lambda: MaxPool2D(3, 2, tier=fast_tier()), (2, 7, 7, 2)),
        ("maxpool2_fast", lambda: MaxPool2D(2, tier=fast_tier()), (2, 6, 6, 2)),
        ("flatten", lambda: Flatten(), (2, 3, 3, 2)),
        ("reshape", lambda: Reshape((9, 2)), (2, 3, 3, 2)),
        ("residual", lambda: Residual(Sequential([Conv2D(2, 2, 3, rng=np.random.default_rng(0), dtype=f64),
                                                  Sigmoid()])), (2, 4, 4, 2)),
    ]


@pytest.mark.gpu
@pytest.mark.parametrize("case", [c[0] for c in layer_cases(None)])
def test_layer_forward_backward_match(cp, case):
    name, make, shape = next(c for c in layer_cases(None) if c[0] == case)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    cpu, gpu = make(), make().to(cp)
    out = cpu.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = cpu.backward(dout)
    out_g = gpu.forward(to_device(x, cp))
    dx_g = gpu.backward(to_device(dout, cp))
    close(out_g, out)
    close(dx_g, dx)
    for k, g in cpu.named_grads().items():
        close(gpu.named_grads()[k], g)
    for k, b in cpu.named_buffers().items():
        close(gpu.named_buffers()[k], b)


@pytest.mark.gpu
def test_dropout_with_a_fixed_mask_matches(cp):
    from mttgan_min.layers.dropout import dropout_backward, dropout_forward
    rng = np.random.default_rng(0)
    x, mask = rng.standard_normal((4, 5)), rng.random((4, 5)) >= 0.4
    out, cache = dropout_forward(x, 0.4, mask=mask)
    out_g, cache_g = dropout_forward(to_device(x, cp), 0.4, mask=to_device(mask, cp))
    close(out_g, out)
    close(dropout_backward(to_device(x, cp), cache_g), dropout_backward(x, cache))


@pytest.mark.gpu
def test_losses_match(cp):
    rng = np.random.default_rng(0)
    z, y = 5 * rng.standard_normal((8, 1)), rng.integers(0, 2, (8, 1)).astype(float)
    loss, cache = bce_with_logits_forward(z, y)
    loss_g, cache_g = bce_with_logits_forward(to_device(z, cp), to_device(y, cp))
    close(loss_g, loss)
    close(bce_with_logits_backward(cache_g), bce_with_logits_backward(cache))
    z, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    loss, cache = softmax_cross_entropy_forward(z, labels)
    loss_g, cache_g = softmax_cross_entropy_forward(to_device(z, cp), to_device(labels, cp))
    close(loss_g, loss)
    close(softmax_cross_entropy_backward(cache_g), softmax_cross_entropy_backward(cache))


@pytest.mark.gpu
def test_one_iteration_matches(cp, monkeypatch):
    """Same weights and latents on both devices, the commands' fast tier; dropout off (the generators differ)."""
    rng = np.random.default_rng(0)
    latents = [rng.standard_normal((n, 100)) for n in (4, 8)]
    real = np.random.default_rng(1).random((4, 32, 32, 1))
    results = {}
    for xp in (np, cp):
        G = build_generator("tiny", rng=np.random.default_rng(2), dtype=np.float64, tier=fast_tier()).to(xp)
        D = build_discriminator("tiny", rng=np.random.default_rng(3), dtype=np.float64, tier=fast_tier()).to(xp)
        for layer in D.walk():
            if isinstance(layer, Dropout):
                layer.rate = 0.0
        queue = list(latents)
        monkeypatch.setattr(gan_step, "sample_latent",
                            lambda rng, n, dim=100, kind="normal", dtype="float32": to_device(queue.pop(0), xp))
        losses = gan_step.mtt_gan_step(G, D, Adam(G, lr=1e-3), Adam(D, lr=1e-3), to_device(real, xp),
                                       backend.make_rng(xp, 0))
        results[xp.__name__] = (losses, {k: to_numpy(v) for k, v in {**G.state_dict(), **{
            "D." + k: v for k, v in D.state_dict().items()}}.items()})
    (l_cpu, s_cpu), (l_gpu, s_gpu) = results["numpy"], results["cupy"]
    for k in l_cpu:
        np.testing.assert_allclose(l_gpu[k], l_cpu[k], rtol=RTOL, atol=ATOL, err_msg=k)
    for k in s_cpu:
        np.testing.assert_allclose(s_gpu[k], s_cpu[k], rtol=RTOL, atol=ATOL, err_msg=k)


@pytest.mark.gpu
def test_paper_iteration_peak_memory_below_16_gb(cp):
    pool = cp.get_default_memory_pool()
    G = build_generator("paper", tier=fast_tier()).to(cp)  # the commands' tier
    D = build_discriminator("paper", tier=fast_tier()).to(cp)
    opt_G, opt_D = Adam(G), Adam(D)
    real = cp.asarray(np.random.default_rng(0).random((16, 128, 128, 1), dtype=np.float32))
    rng = backend.make_rng(cp, 0)
    backend.synchronize(cp)
    before = pool.total_bytes()
    peak = [before]
    original = pool.malloc

    def tracking_malloc(nbytes):  # the pool's high-water mark, sampled at every allocation
        mem = original(nbytes)
        peak[0] = max(peak[0], pool.used_bytes(), pool.total_bytes())
        return mem

    cp.cuda.set_allocator(tracking_malloc)
    try:
        losses = gan_step.mtt_gan_step(G, D, opt_G, opt_D, real, rng)
        backend.synchronize(cp)
    finally:
        cp.cuda.set_allocator(pool.malloc)
    peak[0] = max(peak[0], pool.total_bytes())
    assert all(np.isfinite(v) for v in losses.values())
    assert peak[0] > before, "the allocation tracker saw nothing"
    assert peak[0] < 16 * 2**30, f"peak GPU memory {peak[0] / 2**30:.1f} GiB"


def test_gpu_without_cupy_is_a_one_sentence_error(monkeypatch):
    monkeypatch.setattr(backend, "_import_cupy", lambda: None)
    with pytest.raises(DeviceUnavailable) as info:
        resolve_device("gpu")
    message = str(info.value)
    assert "CuPy" in message and "not installed" in message
    assert "\n" not in message and message.endswith(".")


def test_gpu_request_here_raises_when_no_gpu():
    if gpu_available():
        pytest.skip("a GPU is present: resolve_device('gpu') succeeds here")
    with pytest.raises(DeviceUnavailable, match="CuPy"):
        resolve_device("gpu")


def test_cpu_and_unknown_devices():
    assert resolve_device("cpu") is np
    with pytest.raises(DeviceUnavailable, match="unknown device"):
        resolve_device("tpu")
