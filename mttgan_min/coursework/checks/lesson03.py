"""Lesson 3's exercises: backprop by hand (Sec. IV-C)."""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close, assert_gradients
from mttgan_min.gradcheck import check_function
from mttgan_min.layers.dense import dense_backward, dense_forward


def check_shapes(what, grads, expected):
    """Raise ExerciseFailed unless ``grads`` are as many arrays as ``expected`` (name: shape), of those shapes."""
    grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
    if len(grads) != len(expected):
        raise ExerciseFailed(f"{what}: returned {len(grads)} values, expected {len(expected)} "
                             f"({', '.join(expected)})")
    for (name, shape), g in zip(expected.items(), grads):
        if np.shape(g) != shape:
            raise ExerciseFailed(f"{what}: {name} has shape {np.shape(g)}, expected {shape}")


def _dense_case(fn, rng, n, d, m):
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)
    check_shapes(f"dense_backward, x {x.shape}, w {w.shape}", fn(rng.standard_normal((n, m)), (x, w)),
                 {"dx": x.shape, "dw": w.shape, "db": b.shape})
    results = check_function(dense_forward, fn, {"x": x, "w": w, "b": b}, rng=rng)
    assert_gradients(results, f"dense_backward, x {x.shape}, w {w.shape}")
    g = rng.standard_normal((n, m))
    for what, mine, expected in zip(("dx", "dw", "db"), fn(g, (x, w)), dense_backward(g, (x, w))):
        assert_close(f"{what} for x {x.shape}, w {w.shape}", mine, expected)


def dense_cases(fn):
    _dense_case(fn, np.random.default_rng(0), 6, 4, 3)


def dense_hidden(fn):
    rng = np.random.default_rng(303)
    for n, d, m in [(1, 7, 2), (9, 1, 5), (3, 5, 1), (4, 4, 4)]:
        _dense_case(fn, rng, n, d, m)


EXERCISES = [
    Exercise("dense_backward", 3, "the Dense layer's backward", fallback=dense_backward,
             cases=dense_cases, hidden=dense_hidden),
]
