"""The exercises of lessons 9-12: planted bugs fail (fallbacks and stubs: test_coursework.py).

Each planted bug is a plausible student mistake; its ExerciseFailed message must name where the
answer goes wrong (the array, the entry or the case), so a student can act on it.
"""
import numpy as np
from coursework_planted import fails
from scipy import stats as sps

from mttgan_min.adam import Adam
from mttgan_min.coursework import get, lesson_exercises
from mttgan_min.ema import EMATeacher
from mttgan_min.evaluation.diversity import pairwise_distances

NAMES = ["ema_update", "begin_fine_tuning", "clopper_pearson", "mcnemar", "memorisation_fractions",
         "grouped_folds"]


def test_lessons_register_their_exercises():
    assert [e.name for e in lesson_exercises(9)] == ["ema_update"]
    assert [e.name for e in lesson_exercises(10)] == ["begin_fine_tuning"]
    assert [e.name for e in lesson_exercises(11)] == ["clopper_pearson", "mcnemar"]
    assert [e.name for e in lesson_exercises(12)] == ["memorisation_fractions", "grouped_folds"]





# --- lesson 9 ----------------------------------------------------------------------------------
def ema_swapped(teacher, student, alpha, buffers="average"):
    for mine, theirs in ((teacher.named_params(), student.named_params()),
                         (teacher.named_buffers(), student.named_buffers())):
        for k, t in mine.items():
            t *= 1 - alpha
            t += alpha * theirs[k]


def ema_weights_only(teacher, student, alpha, buffers="average"):
    for k, t in teacher.named_params().items():
        t *= alpha
        t += (1 - alpha) * student.named_params()[k]


def ema_copy_ignored(teacher, student, alpha, buffers="average"):
    ema_swapped.__globals__["get"]("ema_update").fallback(teacher, student, alpha, "average")


def ema_not_in_place(teacher, student, alpha, buffers="average"):
    return {k: alpha * t + (1 - alpha) * student.state_dict()[k] for k, t in teacher.state_dict().items()}


def test_ema_planted_bugs():
    fails("ema_update", ema_swapped, "teacher weight '", "after step 1")
    fails("ema_update", ema_weights_only, "batch-norm buffer", "running_mean")
    fails("ema_update", ema_copy_ignored, "buffers='copy'", "running_", hidden=True)
    fails("ema_update", ema_not_in_place, "in place")


# --- lesson 10 ---------------------------------------------------------------------------------
def boundary_kept_adam(state, lr, d_lr, with_teachers, buffers="average"):
    state["teachers"] = (EMATeacher(state["G"], buffers), EMATeacher(state["D"], buffers)) if with_teachers else None


def boundary_one_rate(state, lr, d_lr, with_teachers, buffers="average"):
    state["opt_G"], state["opt_D"] = Adam(state["G"], lr=lr), Adam(state["D"], lr=lr)
    state["teachers"] = (EMATeacher(state["G"], buffers), EMATeacher(state["D"], buffers)) if with_teachers else None


def boundary_student_as_teacher(state, lr, d_lr, with_teachers, buffers="average"):
    state["opt_G"], state["opt_D"] = Adam(state["G"], lr=lr), Adam(state["D"], lr=d_lr)

    class Same:
        def __init__(self, net):
            self.network = net

        def update(self, alpha):
            pass
    state["teachers"] = (Same(state["G"]), Same(state["D"])) if with_teachers else None


def boundary_fresh_students(state, lr, d_lr, with_teachers, buffers="average"):
    from mttgan_min.models import build_generator
    state["G"].load_state_dict(build_generator("tiny", rng=np.random.default_rng(99)).state_dict())
    boundary_one_rate(state, lr, d_lr, with_teachers, buffers)


def boundary_always_teachers(state, lr, d_lr, with_teachers, buffers="average"):
    get("begin_fine_tuning").fallback(state, lr, d_lr, True, buffers)


def test_boundary_planted_bugs():
    fails("begin_fine_tuning", boundary_kept_adam, "state['opt_G'] is still the pretraining optimiser")
    fails("begin_fine_tuning", boundary_one_rate, "state['opt_D'].lr", "0.001")
    fails("begin_fine_tuning", boundary_student_as_teacher, "teacher of G must hold its own copy")
    fails("begin_fine_tuning", boundary_fresh_students, "G's '0.w'", "carry over")
    fails("begin_fine_tuning", boundary_always_teachers, "should be None", hidden=True)


# --- lesson 11 ---------------------------------------------------------------------------------
def cp_full_alpha(k, n, alpha=0.05):
    low = sps.beta.ppf(alpha, k, n - k + 1) if k > 0 else 0.0
    high = sps.beta.ppf(1 - alpha, k + 1, n - k) if k < n else 1.0
    return low, high


def cp_no_edges(k, n, alpha=0.05):
    return sps.beta.ppf(alpha / 2, k, n - k + 1), sps.beta.ppf(1 - alpha / 2, k + 1, n - k)


def cp_shifted(k, n, alpha=0.05):
    low = sps.beta.ppf(alpha / 2, k + 1, n - k + 1) if k > 0 else 0.0
    high = sps.beta.ppf(1 - alpha / 2, k + 1, n - k) if k < n else 1.0
    return low, high


def test_clopper_pearson_planted_bugs():
    fails("clopper_pearson", cp_full_alpha, "clopper_pearson(101, 136, alpha=0.05): low end")
    msg = fails("clopper_pearson", cp_no_edges, "clopper_pearson(0, 20")
    assert "low end" in msg and "nan" in msg.lower()
    fails("clopper_pearson", cp_shifted, "low end")


def mcnemar_one_sided(right_a, right_b):
    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    return b, c, sps.binom.cdf(min(b, c), b + c, 0.5) if b + c else 1.0


def mcnemar_swapped(right_a, right_b):
    b, c = int(np.sum(~right_a & right_b)), int(np.sum(right_a & ~right_b))
    return b, c, min(1.0, 2 * sps.binom.cdf(min(b, c), b + c, 0.5)) if b + c else 1.0


def mcnemar_uncapped(right_a, right_b):
    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    return b, c, 2 * sps.binom.cdf(min(b, c), b + c, 0.5) if b + c else 1.0


def test_mcnemar_planted_bugs():
    fails("mcnemar", mcnemar_one_sided, "p-value with b = 9, c = 1")
    fails("mcnemar", mcnemar_swapped, "(b, c) = (1, 9), expected (9, 1)")
    fails("mcnemar", mcnemar_uncapped, "b = 4, c = 4", hidden=True)


# --- lesson 12 ---------------------------------------------------------------------------------
def memo_generated_percentiles(generated, train, heldout):
    d = pairwise_distances(generated, train).min(axis=1)
    p1, p5 = np.percentile(d, [1, 5])
    return float(np.mean(d < p1)), float(np.mean(d < p5))


def memo_heldout_distances(generated, train, heldout):
    d = pairwise_distances(generated, heldout).min(axis=1)
    ref = pairwise_distances(heldout, train).min(axis=1)
    p1, p5 = np.percentile(ref, [1, 5])
    return float(np.mean(d < p1)), float(np.mean(d < p5))


def test_memorisation_planted_bugs():
    fails("memorisation_fractions", memo_generated_percentiles, "fraction below the")
    fails("memorisation_fractions", memo_heldout_distances, "fraction below the 1st percentile", "yours +0.0")


def folds_per_image(groups, folds, rng):
    return rng.integers(0, folds, len(groups))


def folds_unbalanced(groups, folds, rng):
    keys, inverse = np.unique(groups, return_inverse=True)
    return rng.integers(0, folds, len(keys))[inverse]


def folds_fixed(groups, folds, rng):
    keys, inverse = np.unique(groups, return_inverse=True)
    return (np.arange(len(keys)) % folds)[inverse]


def test_grouped_folds_planted_bugs():
    fails("grouped_folds", folds_per_image, "sit in folds")
    fails("grouped_folds", folds_unbalanced, "groups per fold")
    fails("grouped_folds", folds_fixed, "seeds 1 and 2 gave the same folds", hidden=True)
