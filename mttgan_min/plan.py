"""A command's plan, printed before any work: its jobs, an estimate of their time, the disk they need.

``reproduce`` and ``evaluate`` print one as they start (``--plan``: print it and exit, writing nothing)
and refuse to start when the output folder's file system has less room than the plan's total plus
``MARGIN``. Every count comes from the code that then runs:

- a GAN job: ``run.loop.stage_records`` (the stages of ``plan_stages``) for the complete ``train`` settings, each epoch
  ``run.loop.iterations_of`` iterations, (images x factor) // 32 capped by --max-iters-per-epoch;
- a classifier job (task x row x classifier x seed): ``epochs`` epochs of ceil(train images / 32)
  batches, 30% of each class's images held out for validation (``train_classifier.stratified_split``);
- the time: a few iterations of each kind of work timed on this device with the commands' fast tier
  (``measure``), times the counts; or the seconds per iteration a user measured elsewhere;
- the disk: per GAN run what ``train`` checks before it starts (``run.session.estimate_bytes``); for the
  evaluation the generated images, one classifier checkpoint at a time (a finished classifier's is
  deleted), each classifier's predictions and curves, and the tables and quality pictures.

docs/design.md, "The plan before the work".
"""
import math
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import backend
from .adam import Adam
from .bench import training_iteration
from .evaluation.classifiers import build_classifier
from .evaluation.train_classifier import BATCH as CLASSIFIER_BATCH, KERAS_ADAM, VAL_FRACTION, train_step
from .fast import speed
from .models import build_discriminator, build_generator, get_preset
from .run.loop import iterations_of
from .run.rundir import RunDirError
from .run.session import estimate_bytes, net_bytes

MARGIN = 0.10                  # a start needs the plan's total plus this fraction free
MEASURE_CALLS = 3              # at most this many timed calls of each kind of work ...
MEASURE_BUDGET_S = 5.0         # ... and no more once this many seconds are spent (at least one call)
RESULT_BYTES = 200_000         # a finished classifier's folder: predictions, curves, result (tests/test_evaluate_cli)
EVAL_OUTPUT_BYTES = 50 * 2**20  # tables, results, confusion matrices, quality pictures (evaluate's own check)
GRID_BYTES = 2**20             # one generated-image grid (PNG)
FORWARD_SHARE = 1 / 3          # an image's forward pass against its forward + backward + Adam step
KIND_NAMES = {"gan": ("GAN iteration", "GAN iterations"), "vgg19": ("VGG-19 batch", "VGG-19 batches"),
              "alexnet": ("AlexNet batch", "AlexNet batches")}  # one unit of each kind of work, and several


# --- the jobs -------------------------------------------------------------------------------------
@dataclass
class GanJob:
    """One ``train`` run: its stages (dicts as in its config.json: name, pool, factor, epochs, teachers,
    images, iterations_per_epoch), its status ("to run", "resume", "finished") and the disk it needs."""
    name: str
    stages: list
    status: str = "to run"
    shares: str = None   # the GAN whose pretraining it fine-tunes from
    disk: int = 0

    @property
    def iterations(self):
        return sum(st["epochs"] * st["iterations_per_epoch"] for st in self.stages)

    @property
    def todo(self):
        """Whether this start still runs it (it did not finish earlier)."""
        return self.status != "finished"


@dataclass
class ClassifierJobs:
    """The classifier jobs of one task and classifier: every row x seed, all with the same schedule."""
    task: str
    classifier: str
    rows: list
    seeds: list
    epochs: int
    classes: int
    images_per_class: int
    test_images: int
    done: int = 0        # jobs finished earlier (their result.json exists)

    @property
    def val_images(self):
        return self.classes * int(round(VAL_FRACTION * self.images_per_class))

    @property
    def train_images(self):
        return self.classes * self.images_per_class - self.val_images

    @property
    def batches_per_epoch(self):
        return math.ceil(self.train_images / CLASSIFIER_BATCH)

    @property
    def count(self):
        return len(self.rows) * len(self.seeds)

    @property
    def todo(self):
        return self.count - self.done

    @property
    def batches(self):
        """Training batches of the jobs still to run."""
        return self.todo * self.epochs * self.batches_per_epoch

    @property
    def forward_images(self):
        """Images the jobs still to run only predict: validation after every epoch, then the test set."""
        return self.todo * (self.epochs * self.val_images + self.test_images)


# --- the time -------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Seconds per unit of work by kind ("gan": one iteration; "vgg19", "alexnet": one training batch of
    32), how each was found (``how``: kind -> "N measured ..." or "given"), or why none was (``problem``)."""
    seconds: dict = field(default_factory=dict)
    how: dict = field(default_factory=dict)
    device: str = "cpu"
    problem: str = None


def time_calls(fn, xp, max_calls=MEASURE_CALLS, budget_s=MEASURE_BUDGET_S):
    """(seconds per call, calls timed): ``fn`` is called until ``max_calls`` calls or ``budget_s`` seconds;
    the first call pays one-time costs (memory, thread pools), so it counts only when it is the only one."""
    times = []
    while not times or (len(times) < max_calls and sum(times) < budget_s):
        backend.synchronize(xp)
        start = time.perf_counter()
        fn()
        backend.synchronize(xp)
        times.append(time.perf_counter() - start)
    kept = times[1:] or times
    return statistics.median(kept), len(kept)


def classifier_batch(name, preset, xp, tier, classes=4, seed=0):
    """A function running one training batch (forward, loss, backward, Adam step) of classifier ``name``."""
    host = np.random.default_rng(seed)
    size = get_preset(preset).image_size
    x = host.random((CLASSIFIER_BATCH, size, size, 1), dtype=np.float32)
    y = host.integers(0, classes, CLASSIFIER_BATCH)
    net = build_classifier(name, preset, classes, rng=host, tier=tier)
    if net.layers and hasattr(net.layers[0], "fit"):
        net.layers[0].fit(x)
    net.to(xp).set_rng(backend.make_rng(xp, seed)).set_training(True)
    opt = Adam(net, lr=1e-5, **KERAS_ADAM)
    x, y = backend.to_device(x, xp), backend.to_device(y, xp)

    return lambda: train_step(net, opt, x, y)


def measure(preset, device, kinds, given=None, tf32=False, say=print):
    """A Timing for ``kinds`` (subset of "gan", "vgg19", "alexnet") at ``preset`` on ``device``.

    given: {kind: seconds} measured elsewhere (not timed again). A device that cannot run gives a Timing
    whose ``problem`` says why (and holds the given figures only).
    """
    timing = Timing(device=device)
    for kind, seconds in (given or {}).items():
        timing.seconds[kind], timing.how[kind] = seconds, "given"
    todo = [k for k in kinds if k not in timing.seconds]
    if not todo:
        return timing
    try:
        xp = backend.resolve_device(device, tf32)
    except backend.DeviceUnavailable as err:
        timing.problem = str(err)
        return timing
    say(f"timing {', '.join(KIND_NAMES[k][1] for k in todo)} at the {preset} preset on the {device} "
        f"(at most {MEASURE_CALLS} of each, about {MEASURE_BUDGET_S:g} s each unless one call takes longer) ...")
    with speed(device) as fast:
        for kind in todo:
            # a GAN iteration with teachers, the costliest stage
            fn = training_iteration(preset, xp, tier=fast.tier) if kind == "gan" else \
                classifier_batch(kind, preset, xp, fast.tier)
            timing.seconds[kind], n = time_calls(fn, xp)
            timing.how[kind] = f"median of {n} measured" if n > 1 else "1 measured, one-time costs included"
            del fn
    return timing


def iterations_to_run(gan_jobs):
    """GAN iterations of the jobs not finished earlier."""
    return sum(j.iterations for j in gan_jobs if j.todo)


def kinds_to_time(gan_jobs, classifier_jobs):
    """The kinds of work ("gan", then each classifier once) that jobs still to run need a figure for."""
    return (["gan"] if any(j.todo for j in gan_jobs) else []) + \
        list(dict.fromkeys(j.classifier for j in classifier_jobs if j.todo))


def estimate_seconds(timing, gan_jobs, classifier_jobs):
    """(GAN seconds, classifier seconds) of the jobs still to run; None where a figure is missing."""
    iters = iterations_to_run(gan_jobs)
    gan = iters * timing.seconds["gan"] if "gan" in timing.seconds else (0.0 if not iters else None)
    cls = 0.0
    for jobs in classifier_jobs:
        if not jobs.todo:
            continue
        per_batch = timing.seconds.get(jobs.classifier)
        if per_batch is None:
            return gan, None
        cls += per_batch * (jobs.batches + FORWARD_SHARE * jobs.forward_images / CLASSIFIER_BATCH)
    return gan, cls


# --- the disk -------------------------------------------------------------------------------------
def gan_run_bytes(preset):
    """What ``train`` checks it has room for before a run starts (``run.session.estimate_bytes``)."""
    p, host = get_preset(preset), np.random.default_rng(0)
    return estimate_bytes(SimpleNamespace(G=build_generator(p, host), D=build_discriminator(p, host)))


def classifier_checkpoint_bytes(name, preset, classes, select="final"):
    """A classifier's checkpoint (weights, two Adam moments, the best weights with select "best") twice:
    the old file and the new one while it is written."""
    copies = 4 if select == "best" else 3
    return 2 * copies * net_bytes(build_classifier(name, preset, classes, rng=np.random.default_rng(0)))


def evaluation_disk(preset, generated, classifier_jobs, select="final"):
    """[(what, bytes)] of an evaluation: ``generated`` GANs' images still to draw (uint8 arrays and a grid),
    the largest classifier checkpoint (one exists at a time), each classifier's results, the outputs."""
    size, n_gen = get_preset(preset).image_size, len(generated)
    per_gan = (max((j.images_per_class for j in classifier_jobs), default=0) * size * size + GRID_BYTES)
    checkpoints = {(j.classifier, j.classes) for j in classifier_jobs if j.todo}
    ckpt = max((classifier_checkpoint_bytes(c, preset, k, select) for c, k in checkpoints), default=0)
    n_cls = sum(j.todo for j in classifier_jobs)
    return [(f"generated images ({n_gen} GAN{'s' if n_gen != 1 else ''})", n_gen * per_gan),
            ("one classifier checkpoint at a time", ckpt),
            (f"results of {n_cls} classifiers", n_cls * RESULT_BYTES),
            ("tables, confusion matrices, quality pictures", EVAL_OUTPUT_BYTES)]


def free_bytes(path):
    """Free bytes on the file system of ``path`` (of its nearest existing parent if it does not exist)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


# --- the plan -------------------------------------------------------------------------------------
@dataclass
class Plan:
    """Everything a command will run: its GAN and classifier jobs, their disk and (maybe) their time."""
    title: str
    gan_jobs: list = field(default_factory=list)
    classifier_jobs: list = field(default_factory=list)
    disk: list = field(default_factory=list)     # [(what, bytes)] still to be written
    timing: Timing = None
    data: list = field(default_factory=list)     # lines about the data the counts come from

    def total_bytes(self):
        return sum(b for _, b in self.disk)

    def check_room(self, out):
        """Raise RunDirError (one sentence) when ``out``'s file system has less room than the plan needs."""
        need, free = self.total_bytes(), free_bytes(out)
        if free < need * (1 + MARGIN):
            raise RunDirError(f"{out} is on a file system with {size_text(free)} free, but this plan needs about "
                              f"{size_text(need)} plus a {MARGIN:.0%} margin: free some space or choose "
                              "another --out (--plan lists what needs it).")

    def lines(self):
        out = [f"plan: {self.title}"] + [f"  {line}" for line in self.data]
        if self.gan_jobs:
            out += gan_lines(self.gan_jobs)
        if self.classifier_jobs:
            out += classifier_lines(self.classifier_jobs)
        out += time_lines(self.timing, self.gan_jobs, self.classifier_jobs)
        out.append(f"disk: about {size_text(self.total_bytes())} still to be written, plus a {MARGIN:.0%} margin:")
        out += [f"  {size_text(b):>10}  {what}" for what, b in self.disk]
        return out


def gan_lines(jobs):
    out = ["GAN jobs (python -m mttgan_min.train; batch 32, iterations per epoch = (images x factor) // 32, "
           "capped by --max-iters-per-epoch):"]
    for job in jobs:
        note = {"finished": "  (finished earlier: skipped)", "resume": "  (resumed from its checkpoint)"}.get(job.status, "")
        out.append(f"  {job.name}: {job.iterations:,} iterations{note}")
        if job.shares:
            out.append(f"    pretrain: none, fine-tunes from {job.shares}'s pretraining (--pretrained)")
        for st in job.stages:
            pool = "Kaggle" if st["pool"] == "kaggle" else "COVID"
            whole = iterations_of(st, st["images"], 0)
            capped = f" (capped from {whole:,})" if whole != st["iterations_per_epoch"] else ""
            out.append(f"    {st['name']:<9}{pool} pool {st['images']:,} images x{st['factor']}: "
                       f"{st['epochs']} epochs x {st['iterations_per_epoch']:,} iterations{capped}"
                       + (", EMA teachers" if st.get("teachers") else ""))
    out.append(f"  total: {iterations_to_run(jobs):,} GAN iterations to run")
    return out


def classifier_lines(groups):
    out = ["classifier jobs (python -m mttgan_min.evaluate; task x row x classifier x seed, batch 32, "
           "30% of each class held out for validation):"]
    for task in dict.fromkeys(g.task for g in groups):
        first = next(g for g in groups if g.task == task)
        out.append(f"  {task}: rows {', '.join(first.rows)}; seeds {', '.join(map(str, first.seeds))}; "
                   f"{first.classes} classes x {first.images_per_class:,} images = {first.train_images:,} "
                   f"training + {first.val_images:,} validation images; {first.test_images:,} test images")
        for g in (g for g in groups if g.task == task):
            done = f" ({g.done} finished earlier)" if g.done else ""
            out.append(f"    {g.classifier:<8}{g.count} jobs{done} x {g.epochs} epochs x {g.batches_per_epoch:,} "
                       f"batches = {g.batches:,} batches to run")
    return out


def time_lines(timing, gan_jobs, classifier_jobs):
    if timing is None:
        return []
    kinds = kinds_to_time(gan_jobs, classifier_jobs)
    if not kinds:
        return ["time: nothing left to run (every job finished earlier)."]
    figures = [f"{KIND_NAMES[k][0]} {timing.seconds[k]:.3g} s ({timing.how[k]})" for k in kinds if k in timing.seconds]
    gan, cls = estimate_seconds(timing, gan_jobs, classifier_jobs)
    missing = [k for k in kinds if k not in timing.seconds]
    if missing:
        why = timing.problem or "no figure"
        return [f"time: not estimated for the {', '.join(KIND_NAMES[k][1] for k in missing)}: {why} "
                "Measure on that device (this command with --plan there), or give the seconds measured there "
                "with --seconds-per-iteration S and --seconds-per-batch vgg19=S,alexnet=S."
                + (f" Known: {'; '.join(figures)}." if figures else "")]
    parts = ([f"GANs {duration_text(gan)}"] if gan_jobs else []) + \
            ([f"classifiers {duration_text(cls)}"] if classifier_jobs else [])
    return [f"time: about {duration_text(gan + cls)} on the {timing.device} ({', '.join(parts)}): an estimate, "
            f"the counts above times {'; '.join(figures)}. Validation and test predictions are counted as "
            f"{FORWARD_SHARE:.2g} of a training batch per image; data loading, the GANs' sample grids and "
            "diversity measures, image generation, the pixel controls and the quality measures are not counted."]


def data_lines(prepared, seed):
    """One line on the data the counts come from: the pools' training images and the held-out test set."""
    pools = [f"{name} pool {len(ds.images):,} training images ({prepared.source[key]})"
             for key, name, ds in (("kaggle", "Kaggle", prepared.kaggle_train), ("covid", "COVID", prepared.covid_train))
             if ds is not None]
    return [f"data: {', '.join(pools)}; {len(prepared.test.images):,} held-out test images (split seed {seed})"]


def size_text(n):
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


def duration_text(seconds):
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{hours / 24:,.1f} days"


def parse_seconds_per_batch(text, names):
    """'vgg19=2.5,alexnet=0.4' -> {"vgg19": 2.5, "alexnet": 0.4}; raises ValueError with one sentence."""
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = float("nan")
        if not sep or name.strip() not in names or not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"--seconds-per-batch expects NAME=SECONDS pairs for {', '.join(names)} "
                             f"(e.g. vgg19=2.5,alexnet=0.4), got {text!r}.")
        out[name.strip()] = seconds
    return out
