"""Lesson 9's exercise: the mean teacher's EMA update (Sec. IV-B, Eq. 3, Fig. 3)."""
import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close
from mttgan_min.ema import BUFFER_MODES, EMATeacher
from mttgan_min.models import build_generator


class _Pair(EMATeacher):
    """The package's teacher around an existing teacher network (EMATeacher makes its own copy)."""

    def __init__(self, teacher, student, buffers):
        if buffers not in BUFFER_MODES:
            raise ValueError(f"buffers must be one of {BUFFER_MODES}, got {buffers!r}")
        self.network, self.student, self.buffers = teacher, student, buffers


def ema_update(teacher, student, alpha, buffers="average"):
    """The package's EMA step (``EMATeacher.update``) on two networks, in place on ``teacher``."""
    _Pair(teacher, student, buffers).update(alpha)


def _student_step(student, rng):
    """Move a student as a training step would: every weight, and the batch-norm statistics."""
    for p in student.named_params().values():
        p += (0.01 * rng.standard_normal(p.shape)).astype(p.dtype)
    for k, b in student.named_buffers().items():
        if k.endswith("running_var"):
            b *= np.exp(0.1 * rng.standard_normal(b.shape)).astype(b.dtype)
        else:
            b += (0.1 * rng.standard_normal(b.shape)).astype(b.dtype)


def _follow(fn, seed, alphas, buffers):
    """Train-like steps of a tiny G; after each, ``fn`` and the package update two equal teachers."""
    rng = np.random.default_rng(seed)
    student = build_generator("tiny", rng=np.random.default_rng(seed + 1))
    _student_step(student, rng)             # buffers away from their initial 0 / 1
    mine, reference = student.clone().set_training(False), student.clone().set_training(False)
    for step, alpha in enumerate(alphas, start=1):
        _student_step(student, rng)
        before = {k: v.copy() for k, v in student.state_dict().items()}
        out = fn(mine, student, alpha, buffers)
        ema_update(reference, student, alpha, buffers)
        if out is not None and out is not mine:
            raise ExerciseFailed("ema_update: update the teacher's arrays in place and return None "
                                 f"(yours returned a {type(out).__name__})")
        for k, v in student.state_dict().items():
            if not np.array_equal(v, before[k]):
                raise ExerciseFailed(f"ema_update changed the student's '{k}' (step {step}); only the teacher moves")
        where = f"(alpha {alpha}, buffers={buffers!r}, after step {step})"
        for kind, ours, theirs in (("weight", mine.named_params(), reference.named_params()),
                                   ("batch-norm buffer", mine.named_buffers(), reference.named_buffers())):
            for k, v in theirs.items():
                assert_close(f"teacher {kind} '{k}' {where}", ours[k], v, rtol=1e-5, atol=1e-7)


def ema_cases(fn):
    _follow(fn, 0, [0.9, 0.9, 0.9], "average")


def ema_hidden(fn):
    _follow(fn, 10, [0.999] * 4, "average")
    _follow(fn, 20, [0.5, 0.0, 0.98], "average")
    _follow(fn, 30, [0.9, 0.99, 0.7], "copy")


EXERCISES = [
    Exercise("ema_update", 9, "the mean teacher's EMA update, weights and batch-norm buffers",
             fallback=ema_update, cases=ema_cases, hidden=ema_hidden),
]
