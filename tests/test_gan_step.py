"""One MTT-GAN iteration on the CPU: reproducible, each step touches only its
own network, and the teachers move by the EMA formula."""
import numpy as np

from mttgan_min.adam import Adam
from mttgan_min.ema import EMATeacher
from mttgan_min.gan_step import discriminator_step, generator_step, mtt_gan_step
from mttgan_min.models import sample_latent
from mttgan_min.models import Preset, build_discriminator, build_generator

# The paper's structure at a very small size, so an iteration takes milliseconds.
MICRO = Preset("micro", image_size=16, g_width=8, d_widths=(4, 8, 8), g_start=2, latent_dim=10)


def build(seed=0):
    G = build_generator(MICRO, rng=np.random.default_rng(seed))
    D = build_discriminator(MICRO, rng=np.random.default_rng(seed + 1))
    real = np.random.default_rng(seed + 2).random((4, 16, 16, 1), dtype=np.float32)
    return G, D, Adam(G, lr=1e-3), Adam(D, lr=1e-3), real


def snapshot(net, which="state"):
    d = net.state_dict() if which == "state" else net.named_grads() if which == "grads" else net.named_params()
    return {k: v.copy() for k, v in d.items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def assert_changed(a, b):
    assert any(not np.array_equal(a[k], b[k]) for k in a)


def test_an_iteration_is_reproducible():
    results = []
    for _ in range(2):
        G, D, opt_G, opt_D, real = build()
        losses = [mtt_gan_step(G, D, opt_G, opt_D, real, np.random.default_rng(7)) for _ in range(2)]
        results.append((losses, snapshot(G), snapshot(D)))
    (l1, g1, d1), (l2, g2, d2) = results
    assert l1 == l2
    assert set(l1[0]) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in l1[0].values())
    assert 0 <= l1[0]["d_real"] <= 1 and 0 <= l1[0]["d_fake"] <= 1
    assert_same(g1, g2)
    assert_same(d1, d2)


def test_a_different_seed_gives_a_different_iteration():
    G, D, opt_G, opt_D, real = build()
    a = mtt_gan_step(G, D, opt_G, opt_D, real, np.random.default_rng(7))
    G, D, opt_G, opt_D, real = build()
    b = mtt_gan_step(G, D, opt_G, opt_D, real, np.random.default_rng(8))
    assert a != b


def test_generator_step_leaves_the_discriminator_unchanged():
    G, D, opt_G, opt_D, real = build()
    D.set_rng(np.random.default_rng(1))
    discriminator_step(G, D, opt_D, real, np.random.default_rng(1))
    D.set_rng(np.random.default_rng(2))
    d_state, d_grads, g_params = snapshot(D), snapshot(D, "grads"), snapshot(G, "params")
    assert any(g.any() for g in d_grads.values())  # the D step left gradients behind
    loss = generator_step(G, D, opt_G, 8, np.random.default_rng(3))
    assert np.isfinite(float(loss))
    assert_same(snapshot(D), d_state)                # weights unchanged
    assert_same(snapshot(D, "grads"), d_grads)       # frozen: nothing accumulated
    assert all(layer.trainable for layer in D.walk())  # unfrozen again afterwards
    assert_changed(snapshot(G, "params"), g_params)
    assert opt_D.t == 1 and opt_G.t == 1


def test_discriminator_step_leaves_the_generator_weights_unchanged():
    G, D, opt_G, opt_D, real = build()
    D.set_rng(np.random.default_rng(2))
    g_params, d_params = snapshot(G, "params"), snapshot(D, "params")
    loss, d_real, d_fake = discriminator_step(G, D, opt_D, real, np.random.default_rng(3))
    assert np.isfinite(float(loss)) and 0 <= float(d_real) <= 1 and 0 <= float(d_fake) <= 1
    assert_same(snapshot(G, "params"), g_params)  # (G's BN running statistics may move: training mode)
    assert_changed(snapshot(D, "params"), d_params)
    assert opt_G.t == 0


def test_teachers_move_by_the_ema_formula():
    G, D, opt_G, opt_D, real = build()
    teachers = (EMATeacher(G), EMATeacher(D))
    start = [snapshot(t.network) for t in teachers]
    mtt_gan_step(G, D, opt_G, opt_D, real, np.random.default_rng(5), teachers=teachers, ema_decay=0.9)
    for teacher, before, student in zip(teachers, start, (G, D)):
        after = student.state_dict()
        for k, v in teacher.network.state_dict().items():
            np.testing.assert_allclose(v, 0.9 * before[k] + 0.1 * after[k], rtol=1e-6, atol=1e-7, err_msg=k)
    assert_changed(snapshot(teachers[0].network), start[0])


def test_without_teachers_nothing_else_changes():
    G, D, opt_G, opt_D, real = build()
    teacher = EMATeacher(G)
    before = snapshot(teacher.network)
    mtt_gan_step(G, D, opt_G, opt_D, real, np.random.default_rng(5))
    assert_same(snapshot(teacher.network), before)


def test_sample_latent():
    rng = np.random.default_rng(0)
    z = sample_latent(rng, 1000, 10)
    assert z.shape == (1000, 10) and z.dtype == np.float32
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    u = sample_latent(rng, 1000, 10, kind="uniform", dtype="float64")
    assert u.dtype == np.float64 and u.min() >= 0 and u.max() < 1
