"""Lesson 10's exercise: the boundary between pretraining and fine-tuning (Sec. IV-A, Sec. V).

What the package does there (``mttgan_min.run.loop.finish_stage`` calling the training state's
``begin_stage``): the students G and D keep their pretrained weights and batch-norm statistics,
each gets a fresh Adam (zero moments, step count 0), and for MTT-GAN each gets a teacher that starts
as an inference-mode copy of it (``mttgan_min.ema.EMATeacher``).
"""
import numpy as np

from mttgan_min.adam import Adam
from mttgan_min.coursework.exercise import Exercise, ExerciseFailed, assert_close
from mttgan_min.ema import EMATeacher
from mttgan_min.models import build_discriminator, build_generator


def begin_fine_tuning(state, lr, d_lr, with_teachers, buffers="average"):
    """The package's stage boundary on a dict state {"G", "D", "opt_G", "opt_D", "teachers"}, in place."""
    state["opt_G"], state["opt_D"] = Adam(state["G"], lr=lr), Adam(state["D"], lr=d_lr)
    state["teachers"] = (EMATeacher(state["G"], buffers), EMATeacher(state["D"], buffers)) if with_teachers \
        else None


def _random_grads(net, rng):
    for g in net.named_grads().values():
        g[...] = rng.standard_normal(g.shape).astype(g.dtype)


def _pretrained_state(seed, pretrain_steps=3):
    """Tiny G and D after a few Adam steps on random gradients, batch-norm statistics moved too."""
    rng = np.random.default_rng(seed)
    G = build_generator("tiny", rng=np.random.default_rng(seed + 1))
    D = build_discriminator("tiny", rng=np.random.default_rng(seed + 2), dropout_rng=np.random.default_rng(seed + 3))
    opt_G, opt_D = Adam(G, lr=1e-3), Adam(D, lr=1e-3)
    for _ in range(pretrain_steps):
        for net, opt in ((G, opt_G), (D, opt_D)):
            _random_grads(net, rng)
            opt.step()
    for k, b in G.named_buffers().items():
        b[...] = (np.exp(rng.standard_normal(b.shape)) if k.endswith("running_var")
                  else rng.standard_normal(b.shape)).astype(b.dtype)
    return {"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D, "teachers": None}, rng


def _is_inference(net):
    return not any(layer.training for layer in net.walk())


def _boundary_case(fn, seed, lr, d_lr, with_teachers, buffers):
    state, rng = _pretrained_state(seed)
    G, D, old = state["G"], state["D"], (state["opt_G"], state["opt_D"])
    pretrained = {name: {k: v.copy() for k, v in state[name].state_dict().items()} for name in ("G", "D")}
    where = f"(lr {lr:g}, d_lr {d_lr:g}, teachers {with_teachers}, buffers={buffers!r})"
    fn(state, lr, d_lr, with_teachers, buffers)
    for name in ("G", "D"):
        if state[name] is not (G if name == "G" else D):
            raise ExerciseFailed(f"state['{name}'] was replaced by another network {where}; the students "
                                 "go on from their pretrained selves")
        for k, v in state[name].state_dict().items():
            assert_close(f"{name}'s '{k}' after the boundary (the pretrained weights carry over unchanged) {where}",
                         v, pretrained[name][k], rtol=0, atol=0)
    nets = {"opt_G": G, "opt_D": D}
    rates = {"opt_G": lr, "opt_D": d_lr}
    for key, net in nets.items():
        opt = state[key]
        if opt is None or opt is old[key == "opt_D"]:
            raise ExerciseFailed(f"state['{key}'] is still the pretraining optimiser {where}; fine-tuning "
                                 "starts a new Adam")
        if getattr(opt, "t", None) != 0:
            raise ExerciseFailed(f"state['{key}'].t is {getattr(opt, 't', None)!r}, expected 0 {where}")
        for k, m in {**opt.m, **{f"(v) {k}": v for k, v in opt.v.items()}}.items():
            assert_close(f"state['{key}'] moment {k} {where}", m, np.zeros_like(m))
        if not np.isclose(opt.lr, rates[key], rtol=1e-12):
            raise ExerciseFailed(f"state['{key}'].lr is {opt.lr!r}, expected {rates[key]!r} {where}")
    # ... and it steps the student's own arrays, as a fresh Adam of the package does
    for key, net in nets.items():
        twin = net.clone()
        reference = Adam(twin, lr=rates[key])
        _random_grads(net, rng)
        for k, g in twin.named_grads().items():
            g[...] = net.named_grads()[k]
        before = {k: v.copy() for k, v in net.named_params().items()}
        state[key].step()
        reference.step()
        if all(np.array_equal(before[k], v) for k, v in net.named_params().items()):
            raise ExerciseFailed(f"state['{key}'].step() did not move {key[-1]}'s weights {where}: "
                                 f"the optimiser must hold {key[-1]}'s own arrays")
        for k, v in twin.named_params().items():
            assert_close(f"{key[-1]}'s '{k}' after the first fine-tuning step with state['{key}'] {where}",
                         net.named_params()[k], v, rtol=1e-6, atol=1e-9)
    teachers = state["teachers"]
    if not with_teachers:
        if teachers is not None:
            raise ExerciseFailed(f"state['teachers'] should be None without teachers (a Transfer GAN) {where}")
        return
    if teachers is None or len(teachers) != 2:
        raise ExerciseFailed(f"state['teachers'] should be a pair (teacher of G, teacher of D) {where}, "
                             f"got {teachers!r}")
    # the reference teachers start from the students as they were at the boundary
    for (name, student), teacher in zip((("G", G), ("D", D)), teachers):
        net = getattr(teacher, "network", None)
        if net is None or net is student:
            raise ExerciseFailed(f"the teacher of {name} must hold its own copy of {name} (teacher.network) {where}")
        if not _is_inference(net):
            raise ExerciseFailed(f"the teacher of {name} must be in inference mode (set_training(False)) {where}")
        for k, v in net.state_dict().items():
            assert_close(f"teacher of {name}: '{k}' at the start of fine-tuning (a copy of the pretrained "
                         f"{name}) {where}", v, pretrained[name][k], rtol=0, atol=0)
        reference = EMATeacher(student, buffers)          # the student has taken one step since
        reference.network.load_state_dict(pretrained[name])
        teacher.update(0.9)
        reference.update(0.9)
        for k, v in reference.network.state_dict().items():
            assert_close(f"teacher of {name}: '{k}' after one EMA update (alpha 0.9) {where}",
                         net.state_dict()[k], v, rtol=1e-6, atol=1e-9)


def boundary_cases(fn):
    _boundary_case(fn, 0, 2e-5, 1e-3, True, "average")


def boundary_hidden(fn):
    _boundary_case(fn, 10, 1e-4, 1e-4, False, "average")
    _boundary_case(fn, 20, 3e-4, 5e-5, True, "copy")


EXERCISES = [
    Exercise("begin_fine_tuning", 10, "the stage boundary of transfer learning: weights carry over, fresh "
             "Adam, teachers from the students", fallback=begin_fine_tuning, cases=boundary_cases,
             hidden=boundary_hidden),
]
