"""Lesson 8's exercise: one Adam step as Keras implements it (Sec. IV: lr 1e-5, beta1 0.5; Keras' epsilon).

``adam_step(p, g, m, v, t, lr, beta1, beta2, eps)`` -> new (p, m, v), in Kingma
and Ba's efficient form (their Sec. 2): the bias corrections folded into the
step size, epsilon ("epsilon hat") added to sqrt(v). Checked against
``mttgan_min.adam.Adam`` step by step.
"""
import numpy as np

from mttgan_min.adam import Adam
from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close
from mttgan_min.layers import Dense


class _OneArray:
    """The two methods Adam reads from a network, for one parameter array and its gradient."""

    def __init__(self, p, g):
        self.p, self.g = p, g

    def named_params(self):
        return {"p": self.p}

    def named_grads(self):
        return {"p": self.g}


def package_adam_step(p, g, m, v, t, lr=1e-5, beta1=0.5, beta2=0.999, eps=1e-7):
    """mttgan_min.adam.Adam's step t on one array, as a function returning new (p, m, v)."""
    p = np.array(p, copy=True)
    opt = Adam(_OneArray(p, np.asarray(g, p.dtype)), lr, beta1, beta2, eps)
    opt.m["p"], opt.v["p"] = np.array(m, p.dtype, copy=True), np.array(v, p.dtype, copy=True)
    opt.t = t - 1
    opt.step()
    return p, opt.m["p"], opt.v["p"]


def _step(fn, label, p, g, m, v, t, **hyper):
    copies = [np.array(a, copy=True) for a in (p, g, m, v)]
    out = fn(p, g, m, v, t, **hyper)
    if not isinstance(out, tuple) or len(out) != 3:
        raise ExerciseFailed(f"adam_step, {label}: return (p, m, v), got {type(out).__name__}")
    for name, before, now in zip(("p", "g", "m", "v"), copies, (p, g, m, v)):
        if not np.array_equal(before, now):
            raise ExerciseFailed(f"adam_step, {label}: your function changed its input {name}; "
                                 "return new arrays instead")
    return out


def _compare(label, mine, expected):
    for what, a, b in zip(("p", "m", "v"), mine, expected):
        assert_close(f"adam_step: {what} of {label}", a, b, rtol=1e-12, atol=1e-300)


def _against_adam(fn, steps, grad_scale, seed, t0=0, **hyper):
    """Run fn beside mttgan_min's Adam on a Dense layer (two arrays, w and b) for ``steps`` steps."""
    layer = Dense(3, 2, rng=np.random.default_rng(seed), dtype=np.float64)
    opt = Adam(layer, **hyper)
    grad_rng = np.random.default_rng(seed + 1)
    if t0:                                               # resume at step t0 with moments already filled
        for k in opt.m:
            opt.m[k][...] = 0.1 * grad_scale * grad_rng.standard_normal(opt.m[k].shape)
            opt.v[k][...] = (grad_scale * grad_rng.uniform(0.5, 1.5, opt.v[k].shape)) ** 2
        opt.t = t0
    mine = {k: (p.copy(), opt.m[k].copy(), opt.v[k].copy()) for k, p in layer.named_params().items()}
    settings = ", ".join(f"{k} {v:g}" for k, v in hyper.items())
    for t in range(t0 + 1, t0 + steps + 1):
        layer.zero_grad()
        for g in layer.named_grads().values():
            g += grad_scale * grad_rng.standard_normal(g.shape)
        opt.step()
        for k, g in layer.named_grads().items():
            label = f"{k} after step {t} (gradients of order {grad_scale:g}{', ' + settings if settings else ''})"
            mine[k] = _step(fn, label, mine[k][0], g.copy(), mine[k][1], mine[k][2], t, **hyper)
            _compare(label, mine[k], (layer.named_params()[k], opt.m[k], opt.v[k]))


def adam_cases(fn):
    for grad_scale in (1.0, 1e-7):                       # at 1e-7 the place of epsilon shows
        _against_adam(fn, 10, grad_scale, seed=1, lr=0.05)


def adam_hidden(fn):
    _against_adam(fn, 6, 1.0, seed=11, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-3)
    _against_adam(fn, 5, 1e-4, seed=12, lr=1e-5, beta1=0.0, beta2=0.9, eps=1e-4)
    _against_adam(fn, 4, 1e-6, seed=13, t0=999, lr=1e-3)          # steps 1000..1003 of a long run
    _against_adam(fn, 3, 1.0, seed=14, t0=113_097, lr=1e-5)        # the last steps of the paper's schedule
    # a scalar parameter and a zero gradient
    p, m, v = np.array(0.25), np.array(0.0), np.array(0.0)
    for t, g in enumerate([np.array(0.0), np.array(-2.0), np.array(0.0)], start=1):
        mine = _step(fn, f"a scalar after step {t}", p, g, m, v, t, lr=0.01)
        _compare(f"a scalar after step {t}", mine, package_adam_step(p, g, m, v, t, lr=0.01))
        p, m, v = (np.asarray(a) for a in mine)


EXERCISES = [
    Exercise("adam_step", 8, "one Adam step, Keras' way", fallback=package_adam_step,
             cases=adam_cases, hidden=adam_hidden),
]
