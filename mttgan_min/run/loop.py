"""The training loop: stages, epochs and iterations of one run (the three GANs the paper compares;
docs/design.md, "The three GANs and their stages").

``run_schedule`` walks the stages of ``plan_stages`` from the position stored in a TrainState:

    for each stage (pretrain -> finetune for transfer/mtt; train for the baseline):
        for each epoch: remember the data generator's state, then for each iteration
            real = next 16 soft-augmented crops; one ``gan_step.mtt_gan_step``; NaN check; metrics row
        every --checkpoint-minutes of training: a checkpoint (mid-epoch; resume replays the epoch's crops)
        after each epoch: summary line, sample grid, diversity (diversity_log), checkpoint
        after the stage: export (pretrained.npz, or generator.npz at the end), fresh Adam moments,
                         EMA teachers for MTT-GAN fine-tuning

SIGINT/SIGTERM set a flag (StopFlag); the loop finishes the iteration, writes the checkpoint and
raises Stopped. A non-finite loss or weight raises NonFiniteError before anything is saved, so the
checkpoint on disk is the last good one. When the output is not a terminal (a log file), tqdm's bar
is off and a plain progress line is printed every PROGRESS_EVERY_S seconds instead.
"""
import math
import signal
import sys
import time

from tqdm import tqdm

from .. import backend, gan_step
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
    """The schedule: a list of dicts (name, pool, factor, epochs, teachers)."""
    finetune = dict(pool="covid", factor=cfg["covid_factor"], epochs=cfg["finetune_epochs"],
                    teachers=cfg["mode"] == "mtt")
    if cfg["mode"] == "baseline":
        return [dict(finetune, name="train")]
    stages = [] if cfg["pretrained"] else \
        [dict(name="pretrain", pool="kaggle", factor=cfg["kaggle_factor"], epochs=cfg["pretrain_epochs"],
              teachers=False)]
    return stages + [dict(finetune, name="finetune")]


def iterations_of(stage, n_images, cap):
    """Iterations per epoch of a stage: (N * factor) // 32, capped by --max-iters-per-epoch (0 = no cap)."""
    per_epoch = iterations_per_epoch(n_images, stage["factor"], BATCH)
    return min(per_epoch, cap) if cap else per_epoch


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM before a command's main loop; ``code`` is 128 + the signal number."""

    def __init__(self, code=130):
        super().__init__(code)
        self.code = code


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
    if state.teachers is not None:
        panels.append(("teacher G (EMA)", infer(state.teachers[0].network, state.fixed_z, state.xp)))
    title = f"{stage['name']}, epoch {epoch} of {stage['epochs']}"
    save_sample_grid(run / "samples" / f"{stage['name']}_e{epoch:03d}.png", panels, title=title)
    if plot:
        plot_losses(run / "metrics.csv", run / "loss_curves.png")


def run_schedule(cfg, run, state, pools, stop, log):
    """Run the schedule from ``state``'s position to the end; saves checkpoints as it goes.

    Checkpoints: after every epoch, when stopped, and every ``cfg["checkpoint_minutes"]`` minutes of
    training (0: only those two), so a kill loses at most that much work.
    """
    stages = plan_stages(cfg)
    ckpt = run / "checkpoint.npz"
    every_s = 60.0 * float(cfg.get("checkpoint_minutes") or 0)
    last_plot = last_save = last_line = time.monotonic()
    while state.stage < len(stages):
        stage = stages[state.stage]
        images = pools[stage["pool"]].images
        per_epoch = iterations_of(stage, len(images), cfg["max_iters_per_epoch"])
        bar = tqdm(total=stage["epochs"] * per_epoch, initial=state.epoch * per_epoch + state.iteration,
                   desc=stage["name"], unit="it", disable=None, dynamic_ncols=True)
        while state.epoch < stage["epochs"]:
            if state.iteration == 0:
                state.start_epoch_data()
                state.reseed_device_noise()
            else:  # resumed mid-epoch: replay this epoch's crops up to where it stopped
                state.data_rng.bit_generator.state = state.epoch_data_state
            batches = epoch_real_batches(pools[stage["pool"]].hires, stage["factor"], BATCH, state.data_rng,
                                         size=images.shape[1])
            for _ in range(state.iteration):
                next(batches)
            sums, count, t_epoch = dict.fromkeys(("d_loss", "g_loss", "d_real", "d_fake"), 0.0), 0, time.perf_counter()
            while state.iteration < per_epoch:
                real = backend.to_device(next(batches), state.xp)
                t0 = time.perf_counter()
                m = gan_step.mtt_gan_step(state.G, state.D, state.opt_G, state.opt_D, real, state.noise_rng,
                                          latent=cfg["latent"], teachers=state.teachers,
                                          ema_decay=cfg["ema_decay"] or 0.0)
                seconds = time.perf_counter() - t0
                it_stage = state.epoch * per_epoch + state.iteration + 1
                check_finite(state, m, f"stage {stage['name']}, epoch {state.epoch + 1}, "
                                       f"iteration {state.iteration + 1} (iteration {it_stage} of the stage)")
                state.iteration += 1
                log.append(stage["name"], state.epoch + 1, it_stage, m, seconds)
                state.metrics_rows = log.rows
                for k in sums:
                    sums[k] += m[k]
                count += 1
                bar.set_postfix(d_loss=f"{m['d_loss']:.3f}", g_loss=f"{m['g_loss']:.3f}", refresh=False)
                bar.update(1)
                now = time.monotonic()
                if bar.disable and now - last_line >= PROGRESS_EVERY_S:  # not a terminal: a plain line
                    print(f"{stage['name']} epoch {state.epoch + 1}/{stage['epochs']}: iteration "
                          f"{state.iteration}/{per_epoch}, d_loss {m['d_loss']:.4f}, g_loss {m['g_loss']:.4f} "
                          f"({it_stage}/{stage['epochs'] * per_epoch} of the stage)", flush=True)
                    last_line = now
                if state.iteration == per_epoch:
                    break  # the epoch end below saves (and stops, if asked)
                if stop.signum is not None:
                    bar.close()
                    state.save(ckpt)
                    raise Stopped(128 + stop.signum)
                if every_s and now - last_save >= every_s:
                    state.save(ckpt)
                    last_save = time.monotonic()
            state.epoch += 1
            state.iteration = 0
            elapsed = time.perf_counter() - t_epoch
            if count:  # a resume exactly at an epoch's end ran none of its iterations here
                bar.write(f"{stage['name']} epoch {state.epoch}/{stage['epochs']}: "
                          + ", ".join(f"{k} {v / count:.4f}" for k, v in sums.items())
                          + f"  ({count} it in {elapsed:.1f} s, {count / max(elapsed, 1e-9):.2f} it/s)")
            stage_done = state.epoch == stage["epochs"]
            plot = stage_done or time.monotonic() - last_plot > PLOT_EVERY_S
            save_epoch_outputs(run, state, stage, state.epoch, plot)
            nets = [("student", state.G)] + ([("teacher", state.final_generator())] if state.teachers else [])
            div = diversity_log.measure(nets, images, lambda G, z: infer(G, z, state.xp), cfg["latent"])
            diversity_log.record(run, stage["name"], state.epoch, div)
            bar.write(diversity_log.summary(div))
            last_plot = time.monotonic() if plot else last_plot
            if stage_done:
                finish_stage(cfg, run, state, stages)  # moves state to the next stage
            state.save(ckpt)
            last_save = time.monotonic()
            if stop.signum is not None:
                bar.close()
                raise Stopped(128 + stop.signum)
            if stage_done:
                break
        bar.close()


def finish_stage(cfg, run, state, stages):
    """End of a stage: export its result, then set up the next stage (fresh Adam, teachers)."""
    stage = stages[state.stage]
    meta = {"preset": cfg["preset"], "seed": cfg["seed"], "latent": cfg["latent"], "mode": cfg["mode"]}
    if stage["name"] == "pretrain":
        save_networks(run / "pretrained.npz", {"G": state.G, "D": state.D}, dict(meta, stage="pretrain"))
    state.stage += 1
    if state.stage < len(stages):
        state.begin_stage(stages[state.stage]["teachers"])
    else:
        which = "teacher" if state.teachers is not None else "student"
        save_networks(run / "generator.npz", {"G": state.final_generator()}, dict(meta, generator=which))
        state.epoch = state.iteration = 0
