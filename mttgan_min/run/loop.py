"""The training loop: stages, epochs and iterations of one run (the GANs of ``mttgan_min.gans``;
docs/design.md, "The three GANs and their stages").

Read ``train_plain`` first: the whole schedule in some twenty lines (data, D step, G step, teacher
step). ``run_schedule`` is the same loop, run by ``python -m mttgan_min.train``, plus what a real
run needs:

- resuming: it starts from the position stored in a TrainState (mid-epoch, it replays the epoch's crops);
- the GAN's own step function (``GAN.step`` of the registry) and a NaN check after every iteration;
- logging: a metrics.csv row per iteration, a progress bar (or a plain line every PROGRESS_EVERY_S
  seconds when the output is not a terminal), a summary line, a sample grid and the diversity figures
  (diversity_log) after every epoch;
- checkpoints: after every epoch and every --checkpoint-minutes of training; at a stage's end the
  export (pretrained.npz, or generator.npz at the end; ``finish_stage``);
- signals: SIGINT/SIGTERM set a flag (StopFlag); the loop finishes the iteration, writes the
  checkpoint and raises Stopped. A non-finite loss or weight raises NonFiniteError before anything
  is saved, so the checkpoint on disk is the last good one.
"""
import math
import signal
import sys
import time

from tqdm import tqdm

from .. import backend, gan_step, gans
from . import diversity_log
from ..data import epoch_real_batches, iterations_per_epoch
from ..layers.base import infer
from .pictures import plot_losses, save_sample_grid
from .state import save_networks

BATCH = 32           # 16 real + 16 generated per D step, 32 latents per G step (docs/design.md, "One training iteration")
PLOT_EVERY_S = 60.0  # redraw loss_curves.png at most this often during a stage (and at every stage end)
PROGRESS_EVERY_S = 60.0  # a plain progress line this often when stdout is not a terminal
SHORT_STAGE = 50     # a stage of fewer iterations is warned about (docs/design.md, "Short stages")


class NonFiniteError(Exception):
    """A loss or weight became NaN/inf; the message names the stage and iteration."""


class Stopped(Exception):
    """SIGINT/SIGTERM: a checkpoint was written; ``code`` is 128 + the signal number."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def plan_stages(cfg):
    """The schedule: a list of dicts (name, pool, factor, epochs, teachers), from the GAN of ``cfg["mode"]``."""
    gan = gans.of_mode(cfg["mode"])
    finetune = dict(pool="covid", factor=cfg["covid_factor"], epochs=cfg["finetune_epochs"],
                    teachers=bool(gan.teachers))
    if not gan.pretrain:
        return [dict(finetune, name="train")]
    stages = [] if cfg["pretrained"] else \
        [dict(name="pretrain", pool="kaggle", factor=cfg["kaggle_factor"], epochs=cfg["pretrain_epochs"],
              teachers=False)]
    return stages + [dict(finetune, name="finetune")]


def train_plain(cfg, state, pools):
    """The whole schedule of a GAN of the paper in its plainest form; returns the final generator.

    cfg: the run's settings (``run.options.resolve_options``); state: a fresh ``TrainState(cfg, xp)``;
    pools: {"kaggle", "covid": Dataset} (``data.prepare_data``). The iteration is the step every GAN of
    the paper shares (``gans.paper_step``: ``gan_step.mtt_gan_step``) spelled out. ``run_schedule`` is
    this loop plus resuming, checkpoints, signals and logging, and runs the GAN's own step (a variant's
    too); on the CPU both end with the same weights (GPU noise is reseeded every epoch there).
    """
    for stage in plan_stages(cfg):                 # pretrain -> finetune, or the baseline's one "train"
        state.begin_stage(stage["teachers"])       # fresh Adam moments; EMA teachers copy the students
        pool = pools[stage["pool"]]
        n_iter = iterations_of(stage, len(pool.images), cfg["max_iters_per_epoch"])
        for epoch in range(stage["epochs"]):
            batches = epoch_real_batches(pool.hires, stage["factor"], BATCH, state.data_rng,
                                         size=pool.images.shape[1])
            for _ in range(n_iter):
                real = backend.to_device(next(batches), state.xp)  # data: 16 soft-augmented real crops
                rng = state.noise_rng                               # latents and D's dropout masks
                state.D.set_rng(rng)
                d_loss, _, _ = gan_step.discriminator_step(state.G, state.D, state.opt_D, real, rng,
                                                           cfg["latent"])                  # D step
                g_loss = gan_step.generator_step(state.G, state.D, state.opt_G, 2 * len(real), rng,
                                                 cfg["latent"], real.dtype)                # G step
                for teacher in state.teachers or ():                # teacher step (MTT-GAN fine-tuning)
                    teacher.update(cfg["ema_decay"])
            print(f"{stage['name']} epoch {epoch + 1}/{stage['epochs']}: "
                  f"d_loss {float(d_loss):.4f}, g_loss {float(g_loss):.4f}")
    return state.final_generator()


def iterations_of(stage, n_images, cap):
    """Iterations per epoch of a stage: (N * factor) // 32, capped by --max-iters-per-epoch (0 = no cap)."""
    per_epoch = iterations_per_epoch(n_images, stage["factor"], BATCH)
    return min(per_epoch, cap) if cap else per_epoch


def stage_records(cfg, counts):
    """The stages of ``plan_stages(cfg)`` with their pool's training images and iterations per epoch, as a
    run's config.json records them; counts: {pool name: training images}."""
    return [dict(st, images=counts[st["pool"]],
                 iterations_per_epoch=iterations_of(st, counts[st["pool"]], cfg["max_iters_per_epoch"]))
            for st in plan_stages(cfg)]


class StopFlag:
    """While active, SIGINT/SIGTERM only set a flag; the loop checks it after every iteration."""

    def __init__(self):
        self.signum = None

    def _handler(self, signum, frame):
        if self.signum is None:
            tqdm.write(f"\n{signal.Signals(signum).name}: finishing this iteration, then saving a checkpoint "
                       "(further signals are ignored until then)", file=sys.stderr)
        self.signum = signum

    def __enter__(self):
        self.old = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)


def check_finite(state, metrics, where):
    """Raise NonFiniteError when a loss or a student weight is NaN or infinite."""
    for k, v in metrics.items():
        if not math.isfinite(v):
            raise NonFiniteError(f"{k} is {v} at {where}")
    xp = state.xp
    for name, net in (("G", state.G), ("D", state.D)):
        total = sum(xp.sum(p, dtype=xp.float64) for p in net.named_params().values())
        if not math.isfinite(float(total)):
            bad = next((k for k, p in net.named_params().items() if not bool(xp.isfinite(p).all())), None)
            what = f"weight {name} {bad} is not finite" if bad else f"the weights of {name} overflow"
            raise NonFiniteError(f"{what} at {where}")


def short_stage_warnings(stages, per_epoch):
    """One warning per stage that runs fewer than SHORT_STAGE iterations in all, saying what to expect.

    per_epoch: iterations per epoch of each stage, in the order of ``stages``.
    """
    warnings = []
    for st, n in zip(stages, per_epoch):
        total = st["epochs"] * n
        if total < SHORT_STAGE:
            warnings.append(
                f"warning: stage {st['name']} runs only {total} iterations ({st['epochs']} "
                f"epoch{'s' if st['epochs'] != 1 else ''} of {n}); "
                f"a GAN needs a few hundred before it draws more than flat or black images, so expect "
                f"none that look like chest films (raise the epochs, --augment-factor or "
                f"--max-iters-per-epoch for a real run).")
    return warnings


def save_epoch_outputs(run, state, stage, epoch, plot):
    """The fixed latent batch through the student G (and the teacher G), side by side; the loss curves."""
    panels = [("student G", infer(state.G, state.fixed_z, state.xp))]
    if state.teacher("G") is not None:
        panels.append(("teacher G (EMA)", infer(state.teacher("G"), state.fixed_z, state.xp)))
    title = f"{stage['name']}, epoch {epoch} of {stage['epochs']}"
    save_sample_grid(run / "samples" / f"{stage['name']}_e{epoch:03d}.png", panels, title=title)
    if plot:
        plot_losses(run / "metrics.csv", run / "loss_curves.png")


def run_schedule(cfg, run, state, pools, stop, log, held_out=None):
    """``train_plain`` for a real run: from ``state``'s position to the end of the schedule, saving as it goes.

    Checkpoints: after every epoch, when stopped, and every ``cfg["checkpoint_minutes"]`` minutes of
    training (0: only those two), so a kill loses at most that much work. stop: a StopFlag; log: the
    run's MetricsLog; held_out: {pool name: Dataset} of films never trained on, against which the
    samples' realism is measured after every epoch (None: diversity only).
    """
    Schedule(cfg, run, state, pools, stop, log, held_out).run()


def epoch_batches(state, pool, stage):
    """The real halves of the current epoch's minibatches, from where ``state`` stands in it: a new
    epoch remembers the data generator's state; a resumed one replays its crops up to where it stopped."""
    if state.iteration == 0:
        state.start_epoch_data()
        state.reseed_device_noise()
    else:
        state.data_rng.bit_generator.state = state.epoch_data_state
    batches = epoch_real_batches(pool.hires, stage["factor"], BATCH, state.data_rng, size=pool.images.shape[1])
    for _ in range(state.iteration):
        next(batches)
    return batches


class Schedule:
    """One call of ``run_schedule``: the run, its clocks, the stop flag and the log, and one method per job."""

    def __init__(self, cfg, run, state, pools, stop, log, held_out=None):
        self.cfg, self.run_dir, self.state, self.pools, self.stop, self.log = cfg, run, state, pools, stop, log
        self.held_out = held_out or {}
        self.stages = plan_stages(cfg)
        self.step = state.gan.step
        self.ckpt = run / "checkpoint.npz"
        self.every_s = 60.0 * float(cfg["checkpoint_minutes"] or 0)
        self.last_plot = self.last_save = self.last_line = time.monotonic()

    def run(self):
        while self.state.stage < len(self.stages):
            self.run_stage(self.stages[self.state.stage])

    def run_stage(self, stage):
        """Every remaining epoch of ``stage``; ends with ``state`` at the next stage."""
        state = self.state
        per_epoch = iterations_of(stage, len(self.pools[stage["pool"]].images), self.cfg["max_iters_per_epoch"])
        bar = tqdm(total=stage["epochs"] * per_epoch, initial=state.epoch * per_epoch + state.iteration,
                   desc=stage["name"], unit="it", disable=None, dynamic_ncols=True)
        while state.epoch < stage["epochs"]:
            sums, count, seconds = self.run_epoch(stage, per_epoch, bar)
            if self.end_epoch(stage, bar, sums, count, seconds):
                break
        bar.close()

    def run_epoch(self, stage, per_epoch, bar):
        """The remaining iterations of this epoch; returns (sums of the metrics, iterations run, seconds)."""
        state = self.state
        batches = epoch_batches(state, self.pools[stage["pool"]], stage)
        sums, count, t_epoch = dict.fromkeys(("d_loss", "g_loss", "d_real", "d_fake"), 0.0), 0, time.perf_counter()
        while state.iteration < per_epoch:
            m = self.iterate(stage, per_epoch, next(batches))
            for k in sums:
                sums[k] += m[k]
            count += 1
            self.show_progress(stage, per_epoch, bar, m)
            if state.iteration == per_epoch:
                break  # the epoch end saves (and stops, if asked)
            self.stop_or_save(bar)
        return sums, count, time.perf_counter() - t_epoch

    def iterate(self, stage, per_epoch, real):
        """One step of the GAN on a batch of real crops, checked for NaN and logged; returns its metrics."""
        state = self.state
        real = backend.to_device(real, state.xp)
        t0 = time.perf_counter()
        m = self.step(state, real)
        seconds = time.perf_counter() - t0
        it_stage = state.epoch * per_epoch + state.iteration + 1
        check_finite(state, m, f"stage {stage['name']}, epoch {state.epoch + 1}, "
                               f"iteration {state.iteration + 1} (iteration {it_stage} of the stage)")
        state.iteration += 1
        self.log.append(stage["name"], state.epoch + 1, it_stage, m, seconds)
        state.metrics_rows = self.log.rows
        return m

    def show_progress(self, stage, per_epoch, bar, m):
        """Advance the bar; when it is off (not a terminal), a plain line every PROGRESS_EVERY_S seconds."""
        state = self.state
        bar.set_postfix(d_loss=f"{m['d_loss']:.3f}", g_loss=f"{m['g_loss']:.3f}", refresh=False)
        bar.update(1)
        now = time.monotonic()
        if bar.disable and now - self.last_line >= PROGRESS_EVERY_S:
            print(f"{stage['name']} epoch {state.epoch + 1}/{stage['epochs']}: iteration "
                  f"{state.iteration}/{per_epoch}, d_loss {m['d_loss']:.4f}, g_loss {m['g_loss']:.4f} "
                  f"({state.epoch * per_epoch + state.iteration}/{stage['epochs'] * per_epoch} of the stage)",
                  flush=True)
            self.last_line = now

    def stop_or_save(self, bar):
        """Mid-epoch: on a signal, the checkpoint and Stopped; else a checkpoint every --checkpoint-minutes."""
        if self.stop.signum is not None:
            bar.close()
            self.state.save(self.ckpt)
            raise Stopped(128 + self.stop.signum)
        if self.every_s and time.monotonic() - self.last_save >= self.every_s:
            self.state.save(self.ckpt)
            self.last_save = time.monotonic()

    def end_epoch(self, stage, bar, sums, count, seconds):
        """Summary line, pictures, diversity, the stage's end (``finish_stage``), checkpoint, and a stop
        if one was asked for. Returns True when the stage is done."""
        state, run = self.state, self.run_dir
        state.epoch += 1
        state.iteration = 0
        if count:  # a resume exactly at an epoch's end ran none of its iterations here
            bar.write(f"{stage['name']} epoch {state.epoch}/{stage['epochs']}: "
                      + ", ".join(f"{k} {v / count:.4f}" for k, v in sums.items())
                      + f"  ({count} it in {seconds:.1f} s, {count / max(seconds, 1e-9):.2f} it/s)")
        stage_done = state.epoch == stage["epochs"]
        plot = stage_done or time.monotonic() - self.last_plot > PLOT_EVERY_S
        save_epoch_outputs(run, state, stage, state.epoch, plot)
        self.record_diversity(stage, bar)
        self.last_plot = time.monotonic() if plot else self.last_plot
        if stage_done:
            finish_stage(self.cfg, run, state, self.stages)  # moves state to the next stage
        state.save(self.ckpt)
        self.last_save = time.monotonic()
        if self.stop.signum is not None:
            bar.close()
            raise Stopped(128 + self.stop.signum)
        return stage_done

    def record_diversity(self, stage, bar):
        """The diversity figures of the student G (and the exported teacher G) against the stage's pool,
        and their realism against the pool's held-out films."""
        state = self.state
        nets = [("student", state.G)]
        if state.final_generator_name() == "teacher":
            nets.append(("teacher", state.final_generator()))
        held_out = self.held_out.get(stage["pool"])
        div = diversity_log.measure(nets, self.pools[stage["pool"]].images,
                                    lambda G, z: infer(G, z, state.xp), self.cfg["latent"],
                                    unseen=None if held_out is None else held_out.images,
                                    unseen_groups=None if held_out is None else held_out.patients)
        diversity_log.record(self.run_dir, stage["name"], state.epoch, div)
        bar.write(diversity_log.summary(div))


def finish_stage(cfg, run, state, stages):
    """End of a stage: export its result, then set up the next stage (fresh Adam, teachers)."""
    stage = stages[state.stage]
    meta = {"preset": cfg["preset"], "latent_dim": state.preset.latent_dim, "seed": cfg["seed"],
            "latent": cfg["latent"], "mode": cfg["mode"]}
    if stage["name"] == "pretrain":
        save_networks(run / "pretrained.npz", {"G": state.G, "D": state.D}, dict(meta, stage="pretrain"))
    state.stage += 1
    if state.stage < len(stages):
        state.begin_stage(stages[state.stage]["teachers"])
    else:
        which = state.final_generator_name()
        save_networks(run / "generator.npz", {"G": state.final_generator()}, dict(meta, generator=which))
        state.epoch = state.iteration = 0
