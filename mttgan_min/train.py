"""Train a GAN of the paper: ``python -m mttgan_min.train`` (SPEC "The three GANs compared").

    mtt       pretrain on the Kaggle-like pool (3 classes pooled, augmentation factor 5),
              then fine-tune on the COVID pool (factor 50) from those weights with fresh
              Adam moments and EMA teachers of G and D (Sec. IV-B); the teacher G is the result
    transfer  the same two stages without teachers; the student G is the result
    baseline  one stage "train" from scratch on the COVID pool only, no teacher; factor
              --augment-factor (default 1; the paper runs it with 1 and with 50)

With no arguments: CPU, tiny preset, synthetic data, the whole MTT-GAN schedule.
One iteration = ``gan_step.mtt_gan_step`` on 16 real crops (+ 16 and 32 generated).
The run directory is described in ``mttgan_min.run.rundir``; stop with Ctrl-C (or
SIGTERM) at any time, then continue with ``--resume RUN_DIR``.
"""
import argparse
import json
import math
import signal
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__
from . import backend, gan_step
from .run import rundir
from .run.checkpoint import CheckpointError, load_checkpoint
from .data import DataError, prepare_data
from .models import PRESETS, get_preset
from .run.loop import (BATCH, NonFiniteError, StopFlag, Stopped, iterations_of, plan_stages,
                                 run_schedule)
from .run.state import TrainState
from .threads import blas_threads

KAGGLE_FACTOR = 5    # SPEC "Data": soft augmentation factor of the pretraining pool
# Per-preset defaults. The paper's learning rate is 1e-5 (Adam, beta1 0.5) for 100 + 100 full epochs,
# about 113,000 iterations on a GPU, with the EMA decay 0.999 (SPEC "Mean teacher"). The tiny preset
# exists so that the whole schedule runs on a 2-core CPU in under 10 minutes, which allows only about
# 200 iterations: its epochs are capped (--max-iters-per-epoch; 0 removes the cap), its learning rate is
# 1e-3, at which the generator draws recognisable chest films within that budget (at 1e-5 it draws
# nothing visible), and its EMA decay is 0.98, a teacher memory of ~50 steps that fits 50 fine-tuning
# iterations (with 0.999 the teacher would still be 95% the pretrained generator at the end). Every
# choice is recorded in config.json; the options override them.
PRESET_DEFAULTS = {
    "paper": dict(pretrain_epochs=100, finetune_epochs=100, lr=1e-5, max_iters_per_epoch=0, ema_decay=0.999),
    "small": dict(pretrain_epochs=10, finetune_epochs=10, lr=2e-4, max_iters_per_epoch=0, ema_decay=0.999),
    "tiny": dict(pretrain_epochs=6, finetune_epochs=2, lr=1e-3, max_iters_per_epoch=25, ema_decay=0.98),
}
MODES = ("baseline", "transfer", "mtt")


class UsageError(Exception):
    """A user mistake; the message is one sentence and the exit code 2."""


# --- command line -------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m mttgan_min.train",
        description="Train one of the paper's GANs (baseline, transfer or MTT-GAN) and leave a run directory "
                    "(config.json, manifest.json, metrics.csv, loss_curves.png, samples/, checkpoint.npz, "
                    "generator.npz). With no arguments: CPU, tiny preset, synthetic data, the whole MTT-GAN "
                    "schedule (pretraining, then fine-tuning with EMA teachers) in under 10 minutes. "
                    "Defaults are in [brackets].",
        epilog="Ctrl-C or SIGTERM finishes the current iteration, writes RUN/checkpoint.npz and exits "
               "(code 130 or 143); --resume RUN continues it. On the CPU a resumed run ends with exactly "
               "the weights of an uninterrupted one; on the GPU only statistically (CuPy's generator state "
               "cannot be saved, so device noise is reseeded from a saved host generator). "
               "Exit codes: 0 done, 1 training failed (non-finite loss, disk error), 2 usage error.")
    # every default is None here so that we can tell which options were given (see resolve_options)
    a = p.add_argument
    a("--device", choices=backend.DEVICES, help="cpu (NumPy) or gpu (CuPy) [cpu]")
    a("--preset", choices=sorted(PRESETS), help="network and image size: tiny 32px, small 64px, "
      "paper 128px [tiny on cpu, paper on gpu]")
    a("--mode", choices=MODES, help="which GAN of the paper to train [mtt]")
    a("--augment-factor", type=int, metavar="K",
      help="soft-augmentation factor of the COVID pool (crops per image per epoch; 1 = none) "
           f"[50 for mtt/transfer, 1 for baseline]; the Kaggle pool always uses {KAGGLE_FACTOR}")
    a("--kaggle-dir", metavar="DIR", help="the Kaggle 'Chest X-Ray Images (Pneumonia)' folder "
      "(holding chest_xray/ or train/) [synthetic pool]; not read by --mode baseline or --pretrained")
    a("--covid-dir", metavar="DIR", help="the ieee8023 covid-chestxray-dataset folder (metadata.csv, "
      "images/) [synthetic pool]")
    a("--covid-train-cap", type=int, metavar="N", help="at most N COVID training images (the paper "
      "had 159 after the held-out test set) [159]")
    a("--pretrain-epochs", type=int, metavar="E", help="epochs on the Kaggle pool "
      + _per_preset("pretrain_epochs"))
    a("--finetune-epochs", type=int, metavar="E", help="epochs on the COVID pool (the baseline's "
      "only stage) " + _per_preset("finetune_epochs"))
    a("--max-iters-per-epoch", type=int, metavar="N", help="cap every epoch at N iterations, 0 = no cap "
      "(smoke tests, quick GPU checks) " + _per_preset("max_iters_per_epoch"))
    a("--lr", type=float, help="Adam learning rate of G and D " + _per_preset("lr"))
    a("--ema-decay", type=float, metavar="ALPHA", help="mtt only: teacher = alpha * teacher + "
      "(1 - alpha) * student after every step " + _per_preset("ema_decay"))
    a("--ema-buffers", choices=("average", "copy"), help="mtt only: the teacher's batch-norm "
      "running statistics are averaged like weights or copied from the student [average]")
    a("--latent", choices=gan_step.LATENTS, help="z ~ N(0, 1) or U[0, 1) [normal]")
    a("--seed", type=int, help="seeds data split, initialisation, batches, crops and noise [0]")
    a("--out", metavar="DIR", help="the run directory to create [runs/<mode>-<preset>-s<seed>-<time>]")
    a("--resume", metavar="RUN", help="continue the interrupted run in RUN (its config.json "
      "fixes every setting; only --device may be given with it)")
    a("--pretrained", metavar="RUN", help="transfer/mtt: skip pretraining and fine-tune from "
      "RUN/pretrained.npz, so Transfer and MTT runs share one pretraining")
    return p


def _per_preset(key):
    return "[" + ", ".join(f"{v[key]:g} for {k}" for k, v in PRESET_DEFAULTS.items()) + "]"


def resolve_options(args):
    """Turn parsed arguments (None = not given) into the run's complete settings.

    Raises UsageError for impossible combinations.
    """
    given = {k: v for k, v in vars(args).items() if v is not None}
    if "resume" in given:
        others = sorted(k for k in given if k not in ("resume", "device"))
        if others:
            raise UsageError(f"--resume takes every setting from the run's config.json, so it cannot be "
                             f"combined with --{others[0].replace('_', '-')}.")
        return given
    device = given.get("device", "cpu")
    preset = given.get("preset", "paper" if device == "gpu" else "tiny")
    mode = given.get("mode", "mtt")
    defaults = PRESET_DEFAULTS[preset]
    if mode == "baseline":
        for opt in ("pretrained", "pretrain_epochs"):
            if opt in given:
                raise UsageError(f"--{opt.replace('_', '-')} does not apply to --mode baseline, "
                                 "which trains from scratch on the COVID pool only.")
    if mode != "mtt":
        for opt in ("ema_decay", "ema_buffers"):
            if opt in given:
                raise UsageError(f"--{opt.replace('_', '-')} only applies to --mode mtt "
                                 f"(--mode {mode} has no teacher).")
    if "pretrained" in given and "pretrain_epochs" in given:
        raise UsageError("--pretrained skips pretraining, so --pretrain-epochs cannot be given with it.")
    cfg = dict(
        mode=mode, preset=preset, device=device,
        lr=given.get("lr", defaults["lr"]),
        pretrain_epochs=0 if mode == "baseline" or "pretrained" in given
        else given.get("pretrain_epochs", defaults["pretrain_epochs"]),
        finetune_epochs=given.get("finetune_epochs", defaults["finetune_epochs"]),
        kaggle_factor=KAGGLE_FACTOR,
        covid_factor=given.get("augment_factor", 1 if mode == "baseline" else 50),
        ema_decay=given.get("ema_decay", defaults["ema_decay"]) if mode == "mtt" else None,
        ema_buffers=given.get("ema_buffers", "average"),
        latent=given.get("latent", "normal"),
        seed=given.get("seed", 0),
        kaggle_dir=given.get("kaggle_dir"), covid_dir=given.get("covid_dir"),
        covid_train_cap=given.get("covid_train_cap", 159),
        max_iters_per_epoch=given.get("max_iters_per_epoch", defaults["max_iters_per_epoch"]),
        pretrained=given.get("pretrained"),
        batch_size=BATCH,
    )
    positive = {"augment_factor": cfg["covid_factor"], "finetune_epochs": cfg["finetune_epochs"],
                "covid_train_cap": cfg["covid_train_cap"]}
    if mode != "baseline" and not cfg["pretrained"]:
        positive["pretrain_epochs"] = cfg["pretrain_epochs"]
    for name, value in positive.items():
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, not {value}.")
    if cfg["max_iters_per_epoch"] < 0:
        raise UsageError(f"--max-iters-per-epoch must be 0 (no cap) or more, not {cfg['max_iters_per_epoch']}.")
    if not (math.isfinite(cfg["lr"]) and cfg["lr"] > 0):
        raise UsageError(f"--lr must be a positive number, not {cfg['lr']}.")
    if cfg["ema_decay"] is not None and not 0.0 <= cfg["ema_decay"] < 1.0:
        raise UsageError(f"--ema-decay must be in [0, 1), not {cfg['ema_decay']}.")
    if cfg["kaggle_dir"] and (mode == "baseline" or cfg["pretrained"]):
        # the baseline never reads the pretraining pool (so one script can pass the same options to every mode)
        print(f"note: --kaggle-dir is ignored with {'--mode baseline' if mode == 'baseline' else '--pretrained'}.",
              file=sys.stderr)
        cfg["kaggle_dir"] = None
    for opt in ("kaggle_dir", "covid_dir", "pretrained"):
        if cfg[opt] is not None and not Path(cfg[opt]).is_dir():
            raise UsageError(f"--{opt.replace('_', '-')} {cfg[opt]} is not a directory.")
        if cfg[opt] is not None:
            cfg[opt] = str(Path(cfg[opt]).resolve())
    if cfg["pretrained"] and not (Path(cfg["pretrained"]) / "pretrained.npz").is_file():
        raise UsageError(f"--pretrained {cfg['pretrained']} holds no pretrained.npz (its pretraining "
                         "stage has not finished).")
    cfg["out"] = given.get("out") or \
        f"runs/{mode}-{preset}-s{cfg['seed']}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return cfg


def _raise_interrupt(signum, frame):  # before the loop, SIGTERM acts like Ctrl-C
    raise KeyboardInterrupt


# --- setup --------------------------------------------------------------------------------------
def load_resume(args):
    run = Path(args.resume)
    if not (run / "config.json").is_file() or not (run / "checkpoint.npz").is_file():
        raise UsageError(f"--resume {run} is not a run directory (it needs config.json and checkpoint.npz).")
    saved = rundir.read_json(run / "config.json")
    cfg = dict(saved["options"], out=str(run))
    if args.device:
        cfg["device"] = args.device
    return cfg, run


def estimate_bytes(state):
    """Checkpoint size x 2 (old + new while saving) + exports + samples, with a margin."""
    net_bytes = sum(int(v.nbytes) for net in (state.G, state.D) for v in net.state_dict().values())
    return int(net_bytes * 4 * 2 + net_bytes * 2 + 50 * 2**20)


def config_record(cfg, pools, source, stages):
    record = {
        "mttgan_min_version": __version__,
        "git_commit": rundir.git_commit(),
        "command": [Path(sys.executable).name, "-m", "mttgan_min.train"] + sys.argv[1:],
        "created": datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "numpy": np.__version__,
        "options": {k: v for k, v in cfg.items() if k != "out"},
        "preset": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(get_preset(cfg["preset"])).items()},
        "stages": [],
        "data": {name: {"source": source.get(name), "train_images": len(pool.images)}
                 for name, pool in pools.items()},
    }
    for st in stages:
        n = len(pools[st["pool"]].images)
        record["stages"].append(dict(st, images=n, iterations_per_epoch=iterations_of(st, n, cfg["max_iters_per_epoch"])))
    return record


def run_training(cfg, run, resume):
    """Everything after option parsing; returns the exit code (raises the errors main reports)."""
    xp = backend.resolve_device(cfg["device"])
    state = TrainState(cfg, xp)
    stages = plan_stages(cfg)
    run = rundir.prepare_run_dir(run, estimate_bytes(state))
    if not resume and (run / "config.json").exists():
        raise UsageError(f"--out {run} already holds a run: continue it with --resume {run} or choose another --out.")
    need_kaggle = any(st["pool"] == "kaggle" for st in stages)  # never for baseline or --pretrained
    prepared = prepare_data(cfg["kaggle_dir"] if need_kaggle else None, cfg["covid_dir"],
                            size=get_preset(cfg["preset"]).image_size, seed=cfg["seed"],
                            need_kaggle=need_kaggle, covid_train_cap=cfg["covid_train_cap"])
    pools = {"covid": prepared.covid_train}
    if need_kaggle:
        pools["kaggle"] = prepared.kaggle_train
    for st in stages:
        if iterations_of(st, len(pools[st["pool"]].images), 0) < 1:
            raise UsageError(f"the {st['pool']} pool has {len(pools[st['pool']].images)} images, too few for "
                             f"one batch of {BATCH} at factor {st['factor']}: raise --augment-factor.")
    if resume:
        saved_manifest = rundir.read_json(run / "manifest.json") if (run / "manifest.json").exists() else None
        if saved_manifest is not None and saved_manifest != _jsonable(prepared.manifest):
            raise UsageError(f"the data differ from the split recorded in {run / 'manifest.json'}, so the run "
                             "cannot be resumed exactly.")
        groups, meta = load_checkpoint(run / "checkpoint.npz")
        state.stage = meta["stage"]
        if state.stage >= len(stages):
            print(f"{run} has already finished; nothing to do.")
            return 0
        state.begin_stage(stages[state.stage]["teachers"])
        state.load(run / "checkpoint.npz", groups, meta)
        print(f"resuming {run}: stage {stages[state.stage]['name']}, epoch {state.epoch + 1}, "
              f"iteration {state.iteration} done of this epoch")
    else:
        if cfg["pretrained"]:
            state.load_pretrained(Path(cfg["pretrained"]) / "pretrained.npz")
        state.begin_stage(stages[0]["teachers"])
        rundir.write_json(run / "config.json", config_record(cfg, pools, prepared.source, stages))
        rundir.write_json(run / "manifest.json", _jsonable(prepared.manifest))
        np.save(run / "fixed_latent.npy", state.fixed_z)
        state.save(run / "checkpoint.npz")
    print(f"run directory: {run}  (device {cfg['device']}, preset {cfg['preset']}, mode {cfg['mode']})")
    log = rundir.MetricsLog(run / "metrics.csv", keep_rows=state.metrics_rows)
    try:
        with StopFlag() as stop:
            run_schedule(cfg, run, state, pools, stop, log)
    except (Stopped, NonFiniteError):
        rundir.plot_losses(run / "metrics.csv", run / "loss_curves.png")  # the curves up to the stop
        raise
    finally:
        log.close()
    print(f"done: the final generator is {run / 'generator.npz'}; sample it with "
          f"python -m mttgan_min.sample --run {run} --n 64 --out {run / 'samples_final'}")
    return 0


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def main(argv=None):
    """Entry point; returns the exit code (0 done, 1 failed, 2 usage error, 130/143 stopped)."""
    args = build_parser().parse_args(argv)
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)  # before the loop, SIGTERM = Ctrl-C
    run = None
    try:
        options = resolve_options(args)
        if "resume" in options:
            cfg, run = load_resume(args)
            with blas_threads(cfg["device"]):
                return run_training(cfg, run, resume=True)
        cfg = options
        run = Path(cfg["out"])
        with blas_threads(cfg["device"]):
            return run_training(cfg, run, resume=False)
    except (UsageError, DataError, backend.DeviceUnavailable, rundir.RunDirError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteError as err:
        last = run / "checkpoint.npz" if run is not None else None
        print(f"error: training stopped because {err}; the last good checkpoint {last} is kept.",
              file=sys.stderr)
        return 1
    except Stopped as stopped:
        print(f"stopped: checkpoint written to {run / 'checkpoint.npz'}; continue with "
              f"python -m mttgan_min.train --resume {run}", file=sys.stderr)
        return stopped.code
    except KeyboardInterrupt:
        print("interrupted before training started; nothing was saved.", file=sys.stderr)
        return 130
    except OSError as err:
        where = f"could not write {err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}; the last checkpoint on disk is intact.", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
