"""Adam (Keras form) against hand-computed steps, its state, and the EMA teacher."""
import numpy as np
import pytest

from mttgan_min.adam import Adam
from mttgan_min.ema import EMATeacher
from mttgan_min.layers import BatchNorm2D, Conv2D, Dense, Flatten, Sequential


def test_adam_first_steps_by_hand(rng):
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    opt = Adam(layer, lr=0.01, beta1=0.5, beta2=0.999, eps=1e-7)
    theta = {k: v.copy() for k, v in layer.params.items()}
    m = {k: np.zeros_like(v) for k, v in theta.items()}
    v = {k: np.zeros_like(val) for k, val in theta.items()}
    for t in (1, 2, 3):
        x, dout = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
        layer.zero_grad()
        layer.forward(x)
        layer.backward(dout)
        grads = {"w": x.T @ dout, "b": dout.sum(axis=0)}  # computed independently of the layer
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.5 ** t)
        for k in theta:
            m[k] = 0.5 * m[k] + 0.5 * grads[k]
            v[k] = 0.999 * v[k] + 0.001 * grads[k] ** 2
            theta[k] = theta[k] - lr_t * m[k] / (np.sqrt(v[k]) + 1e-7)
        opt.step()
        assert opt.t == t
        for k in theta:
            np.testing.assert_allclose(layer.params[k], theta[k], rtol=1e-12, atol=1e-15)


def test_adam_first_step_moves_each_weight_by_about_lr(rng):
    # At t = 1, m / sqrt(v) = g / |g| * sqrt(1 - b2) / (1 - b1), so the step is lr * sign(g).
    layer = Dense(2, 2, rng=rng, dtype=np.float64)
    before = layer.params["w"].copy()
    opt = Adam(layer, lr=1e-3)
    layer.forward(rng.standard_normal((3, 2)))
    layer.backward(rng.standard_normal((3, 2)))
    opt.step()
    np.testing.assert_allclose(np.abs(layer.params["w"] - before), 1e-3, rtol=1e-4)


def test_adam_defaults_are_the_papers():
    opt = Adam(Dense(1, 1))
    assert (opt.lr, opt.beta1, opt.beta2, opt.eps) == (1e-5, 0.5, 0.999, 1e-7)


def _trained_opt(seed):
    rng = np.random.default_rng(seed)
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    opt = Adam(layer, lr=0.01)
    for _ in range(2):
        layer.forward(rng.standard_normal((4, 3)))
        layer.backward(rng.standard_normal((4, 2)))
        opt.step()
    return layer, opt


def test_adam_state_dict_round_trip():
    layer, opt = _trained_opt(0)
    state = {k: np.array(v, copy=True) for k, v in opt.state_dict().items()}
    assert sorted(state) == ["m.b", "m.w", "t", "v.b", "v.w"]
    other_layer, other = _trained_opt(1)
    other_layer.load_state_dict(layer.state_dict())
    other.load_state_dict(state)
    assert other.t == 2
    for k in opt.m:
        np.testing.assert_array_equal(other.m[k], opt.m[k])
        np.testing.assert_array_equal(other.v[k], opt.v[k])
    # Continuing from the loaded state gives the same next step.
    g = {k: np.random.default_rng(5).standard_normal(p.shape) for k, p in layer.params.items()}
    for lay, o in ((layer, opt), (other_layer, other)):
        for k in g:
            lay.grads[k][...] = g[k]
        o.step()
    for k in layer.params:
        np.testing.assert_array_equal(other_layer.params[k], layer.params[k])


def test_adam_load_state_dict_errors():
    _, opt = _trained_opt(0)
    state = dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"m\.w has shape \(2, 3\) in the given state, \(3, 2\) here"):
        opt.load_state_dict({**state, "m.w": np.zeros((2, 3))})
    del state["v.b"]
    with pytest.raises(ValueError, match="missing"):
        opt.load_state_dict(state)


# --- the mean teacher -----------------------------------------------------------

def student_net(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Conv2D(1, 2, 3, rng=rng, dtype=np.float64), BatchNorm2D(2, dtype=np.float64),
                       Flatten(), Dense(2 * 4 * 4, 1, rng=rng, dtype=np.float64)])


def perturb(net, rng):
    """A stand-in for a student step: change every parameter and buffer."""
    for v in net.named_params().values():
        v += 0.1 * rng.standard_normal(v.shape)
    net.forward(rng.standard_normal((3, 4, 4, 1)))  # training mode: running statistics move


def test_ema_teacher_follows_the_formula(rng):
    student = student_net()
    teacher = EMATeacher(student)
    expected = {k: v.copy() for k, v in student.state_dict().items()}
    alpha = 0.9
    for _ in range(3):
        perturb(student, rng)
        teacher.update(alpha)
        for k, s in student.state_dict().items():
            expected[k] = alpha * expected[k] + (1 - alpha) * s
    for k, t in teacher.network.state_dict().items():
        np.testing.assert_allclose(t, expected[k], rtol=1e-12, atol=1e-15)
    assert "1.running_mean" in expected and "1.running_var" in expected
    assert not teacher.network.layers[1].training  # the teacher is used in inference mode


def test_ema_teacher_copy_mode_copies_buffers(rng):
    student = student_net()
    teacher = EMATeacher(student, buffers="copy")
    start = student.layers[0].params["w"].copy()
    perturb(student, rng)
    teacher.update(0.999)
    for k in ("1.running_mean", "1.running_var"):
        np.testing.assert_array_equal(teacher.network.state_dict()[k], student.state_dict()[k])
    np.testing.assert_allclose(teacher.network.layers[0].params["w"],
                               0.999 * start + 0.001 * student.layers[0].params["w"], rtol=1e-12)
    with pytest.raises(ValueError, match="buffers"):
        EMATeacher(student, buffers="mean")


def test_ema_teacher_is_a_separate_copy(rng):
    student = student_net()
    teacher = EMATeacher(student)
    before = {k: v.copy() for k, v in teacher.network.state_dict().items()}
    perturb(student, rng)
    for k, v in teacher.network.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # unchanged until update()
        assert v is not student.state_dict()[k]
    teacher.update(0.5)
    assert not np.array_equal(teacher.network.layers[0].params["w"], before["0.w"])
