"""Train a GAN of the paper: ``python -m mttgan_min.train`` (the three GANs the paper compares;
docs/design.md, "The three GANs and their stages").

    mtt       pretrain on the Kaggle-like pool (3 classes pooled, augmentation factor 5),
              then fine-tune on the COVID pool (factor 50) from those weights with fresh
              Adam moments and EMA teachers of G and D (Sec. IV-B); the teacher G is the result
    transfer  the same two stages without teachers; the student G is the result
    baseline  one stage "train" from scratch on the COVID pool only, no teacher; factor
              --augment-factor (default 1; the paper runs it with 1 and with 50)

With no arguments: CPU, tiny preset, synthetic data, the whole MTT-GAN schedule.
One iteration = ``gan_step.mtt_gan_step`` on 16 real crops (+ 16 and 32 generated).
The run directory is described in ``mttgan_min.run.rundir`` (and in RUN/README.txt); stop with
Ctrl-C (or SIGTERM) at any time, then continue with ``--resume RUN_DIR``.
"""
import argparse
import json
import math
import os
import shutil
import signal
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

from . import __version__
from . import backend
from .cli import HelpFormatter, UsageError, per_preset
from .data import DataError, prepare_data
from .data.prepare import PAPER_COVID_TRAIN
from .fileio import atomic_write
from .models import LATENTS, PRESETS, get_preset
from .run import rundir
from .run.checkpoint import CheckpointError, load_latest
from .run.loop import (BATCH, Interrupted, NonFiniteError, StopFlag, Stopped, iterations_of, plan_stages,
                       run_schedule, short_stage_warnings)
from .run.pictures import plot_losses
from .run.state import TrainState
from .fast import speed
from .layers import REFERENCE

KAGGLE_FACTOR = 5    # soft augmentation factor of the pretraining pool (Sec. III)
CHECKPOINT_MINUTES = 5.0  # docs/design.md, "Checkpoints"
# Per-preset defaults: docs/design.md, "Presets and their defaults". Every choice is recorded in config.json; the
# options override them.
PRESET_DEFAULTS = {
    "paper": dict(pretrain_epochs=100, finetune_epochs=100, lr=1e-5, d_lr=None, max_iters_per_epoch=0,
                  ema_decay=0.999),
    "small": dict(pretrain_epochs=10, finetune_epochs=10, lr=2e-4, d_lr=None, max_iters_per_epoch=0,
                  ema_decay=0.999),
    "tiny": dict(pretrain_epochs=2, finetune_epochs=4, lr=2e-5, d_lr=1e-3, max_iters_per_epoch=50, ema_decay=0.98),
}
MODES = ("baseline", "transfer", "mtt")
RESUME_OPTIONS = ("resume", "device", "checkpoint_minutes", "kaggle_dir", "covid_dir")  # may go with --resume


# --- command line -------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m mttgan_min.train", formatter_class=HelpFormatter,
        argument_default=argparse.SUPPRESS,  # an option not given is absent (see resolve_options)
        description="Train one of the paper's GANs (baseline, transfer or MTT-GAN) and leave a run directory\n"
                    "(config.json, split.json, metrics.csv, loss_curves.png, samples/, checkpoint.npz,\n"
                    "generator.npz; RUN/README.txt lists them). With no arguments: CPU, tiny preset, synthetic\n"
                    "data, the whole MTT-GAN schedule (pretraining, then fine-tuning with EMA teachers) in\n"
                    "about two minutes on a 2-core CPU.",
        epilog="Ctrl-C or SIGTERM finishes the current iteration, writes RUN/checkpoint.npz and exits\n"
               "(code 130 or 143); --resume RUN continues it. On the CPU a resumed run ends with exactly\n"
               "the weights of an uninterrupted one; on the GPU only statistically (CuPy's generator state\n"
               "cannot be saved, so device noise is reseeded from a saved host generator).\n"
               "Exit codes: 0 done, 1 training failed (non-finite loss, disk error), 2 usage error.")
    a = p.add_argument
    a("--device", choices=backend.DEVICES, help="cpu (NumPy) or gpu (CuPy) (default: cpu)")
    a("--preset", choices=sorted(PRESETS), help="network and image size: tiny 32px, small 64px, "
      "paper 128px (default: tiny on cpu, paper on gpu)")
    a("--mode", choices=MODES, help="which GAN of the paper to train (default: mtt)")
    a("--augment-factor", type=int, metavar="K",
      help="soft-augmentation factor of the COVID pool (crops per image per epoch; 1 = none); the "
           f"Kaggle pool always uses {KAGGLE_FACTOR} (default: 50 for mtt/transfer, 1 for baseline)")
    a("--kaggle-dir", metavar="DIR", help="the Kaggle 'Chest X-Ray Images (Pneumonia)' folder "
      "(holding chest_xray/ or train/); not read by --mode baseline or --pretrained; with --resume: "
      "the new place of a moved folder (default: synthetic pool)")
    a("--covid-dir", metavar="DIR", help="the ieee8023 covid-chestxray-dataset folder (metadata.csv, "
      "images/); with --resume: the new place of a moved folder (default: synthetic pool)")
    a("--covid-train-cap", type=int, metavar="N", help="at most N COVID training images (the paper "
      "had 159 after the held-out test set) (default: 159)")
    a("--pretrain-epochs", type=int, metavar="E", help="epochs on the Kaggle pool "
      + _per_preset("pretrain_epochs"))
    a("--finetune-epochs", type=int, metavar="E", help="epochs on the COVID pool (the baseline's "
      "only stage) " + _per_preset("finetune_epochs"))
    a("--max-iters-per-epoch", type=int, metavar="N", help="cap every epoch at N iterations, 0 = no cap "
      "(smoke tests, quick GPU checks) " + _per_preset("max_iters_per_epoch"))
    a("--lr", type=float, help="Adam learning rate of G, and of D unless --d-lr is given " + _per_preset("lr"))
    a("--d-lr", type=float, metavar="LR", help="Adam learning rate of D (default: the same as --lr for "
      "paper and small, as in the paper; " + ", ".join(f"{v['d_lr']:g} for {k}" for k, v in PRESET_DEFAULTS.items()
                                                      if v["d_lr"]) + ")")
    a("--ema-decay", type=float, metavar="ALPHA", help="mtt only: teacher = alpha * teacher + "
      "(1 - alpha) * student after every step " + _per_preset("ema_decay"))
    a("--ema-buffers", choices=("average", "copy"), help="mtt only: the teacher's batch-norm "
      "running statistics are averaged like weights or copied from the student (default: average)")
    a("--latent", choices=LATENTS, help="z ~ N(0, 1) or U[0, 1) (default: normal)")
    a("--seed", type=int, help="seeds data split, initialisation, batches, crops and noise (default: 0)")
    a("--checkpoint-minutes", type=float, metavar="M", help="also write a checkpoint every M minutes of "
      "training, not only at epoch ends; 0 = only at epoch ends (default: "
      f"{CHECKPOINT_MINUTES:g})")
    a("--out", metavar="DIR", help="the run directory to create "
      "(default: runs/<mode>-<preset>-s<seed>-<time>)")
    a("--resume", metavar="RUN", help="continue the interrupted run in RUN (its config.json "
      "fixes every setting; only --device, --checkpoint-minutes, --kaggle-dir and --covid-dir "
      "may be given with it)")
    a("--pretrained", metavar="RUN", help="transfer/mtt: skip pretraining and fine-tune from "
      "RUN/pretrained.npz, so Transfer and MTT runs share one pretraining; RUN must hold out the "
      "same test images (same --seed and data)")
    return p


def _per_preset(key):
    return per_preset(PRESET_DEFAULTS, key)


def _opt(name):
    return "--" + name.replace("_", "-")


def resolve_options(args):
    """Turn parsed arguments (absent = not given) into the run's complete settings.

    Raises UsageError for impossible combinations.
    """
    given = dict(vars(args))
    if "seed" in given and given["seed"] < 0:
        raise UsageError(f"--seed must be 0 or more, not {given['seed']}.")
    if "checkpoint_minutes" in given and not (math.isfinite(given["checkpoint_minutes"])
                                              and given["checkpoint_minutes"] >= 0):
        raise UsageError(f"--checkpoint-minutes must be 0 (only at epoch ends) or more, "
                         f"not {given['checkpoint_minutes']}.")
    if "resume" in given:
        others = sorted(k for k in given if k not in RESUME_OPTIONS)
        if others:
            raise UsageError(f"--resume takes every setting from the run's config.json, so it cannot be "
                             f"combined with {_opt(others[0])}.")
        return given
    device = given.get("device", "cpu")
    preset = given.get("preset", "paper" if device == "gpu" else "tiny")
    mode = given.get("mode", "mtt")
    defaults = PRESET_DEFAULTS[preset]
    if mode == "baseline":
        for opt in ("pretrained", "pretrain_epochs"):
            if opt in given:
                raise UsageError(f"{_opt(opt)} does not apply to --mode baseline, "
                                 "which trains from scratch on the COVID pool only.")
    if mode != "mtt":
        for opt in ("ema_decay", "ema_buffers"):
            if opt in given:
                raise UsageError(f"{_opt(opt)} only applies to --mode mtt "
                                 f"(--mode {mode} has no teacher).")
    if "pretrained" in given and "pretrain_epochs" in given:
        raise UsageError("--pretrained skips pretraining, so --pretrain-epochs cannot be given with it.")
    cfg = dict(
        mode=mode, preset=preset, device=device,
        lr=given.get("lr", defaults["lr"]),
        d_lr=given.get("d_lr", defaults["d_lr"] or given.get("lr", defaults["lr"])),
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
        covid_train_cap=given.get("covid_train_cap", PAPER_COVID_TRAIN),
        max_iters_per_epoch=given.get("max_iters_per_epoch", defaults["max_iters_per_epoch"]),
        pretrained=given.get("pretrained"),
        batch_size=BATCH,
        checkpoint_minutes=given.get("checkpoint_minutes", CHECKPOINT_MINUTES),
    )
    positive = {"augment_factor": cfg["covid_factor"], "finetune_epochs": cfg["finetune_epochs"],
                "covid_train_cap": cfg["covid_train_cap"]}
    if mode != "baseline" and not cfg["pretrained"]:
        positive["pretrain_epochs"] = cfg["pretrain_epochs"]
    for name, value in positive.items():
        if value < 1:
            raise UsageError(f"{_opt(name)} must be at least 1, not {value}.")
    if cfg["max_iters_per_epoch"] < 0:
        raise UsageError(f"--max-iters-per-epoch must be 0 (no cap) or more, not {cfg['max_iters_per_epoch']}.")
    for opt in ("lr", "d_lr"):
        if not (math.isfinite(cfg[opt]) and cfg[opt] > 0):
            raise UsageError(f"{_opt(opt)} must be a positive number, not {cfg[opt]}.")
    if cfg["ema_decay"] is not None and not 0.0 <= cfg["ema_decay"] < 1.0:
        raise UsageError(f"--ema-decay must be in [0, 1), not {cfg['ema_decay']}.")
    if cfg["kaggle_dir"] and (mode == "baseline" or cfg["pretrained"]):
        # the baseline never reads the pretraining pool (so one script can pass the same options to every mode)
        print(f"note: --kaggle-dir is ignored with {'--mode baseline' if mode == 'baseline' else '--pretrained'}.",
              file=sys.stderr)
        cfg["kaggle_dir"] = None
    for opt in ("kaggle_dir", "covid_dir", "pretrained"):
        if cfg[opt] is not None and not Path(cfg[opt]).is_dir():
            raise UsageError(f"{_opt(opt)} {cfg[opt]} is not a directory.")
        if cfg[opt] is not None:
            cfg[opt] = str(Path(cfg[opt]).resolve())
    if cfg["pretrained"]:
        check_pretrained_run(Path(cfg["pretrained"]))
    cfg["out"] = given.get("out") or \
        f"runs/{mode}-{preset}-s{cfg['seed']}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return cfg


def check_pretrained_run(pre):
    """Raise UsageError unless ``pre`` holds a finished pretraining stage, saying why not."""
    if (pre / "pretrained.npz").is_file():
        return
    try:
        options = rundir.read_json(pre / "config.json")["options"]
    except (OSError, ValueError, KeyError, TypeError):
        options = None
    if options is None:
        why = "it is not a training run"
    elif options.get("mode") == "baseline":
        why = "it is a baseline run, which has no pretraining stage; give an mtt or transfer run"
    elif options.get("pretrained"):
        why = f"it was itself fine-tuned from --pretrained {options['pretrained']}; give that run"
    else:
        why = "its pretraining stage has not finished"
    raise UsageError(f"--pretrained {pre} holds no pretrained.npz: {why}.")


def _raise_interrupt(signum, frame):  # before the loop, SIGTERM acts like Ctrl-C, with its own exit code
    raise Interrupted(128 + signum)


# --- setup --------------------------------------------------------------------------------------
def load_resume(options):
    """(settings, run directory) of the run to continue; raises UsageError with one sentence."""
    run = Path(options["resume"])
    if not (run / "config.json").is_file() or not (
            (run / "checkpoint.npz").is_file() or (run / "checkpoint.prev.npz").is_file()):
        raise UsageError(f"--resume {run} is not a run directory (it needs config.json and checkpoint.npz).")
    cfg = dict(rundir.read_options(run / "config.json"), out=str(run))
    cfg.setdefault("checkpoint_minutes", CHECKPOINT_MINUTES)  # runs made before the option existed
    for opt in ("device", "checkpoint_minutes"):
        if opt in options:
            cfg[opt] = options[opt]
    for opt, pool in (("kaggle_dir", "Kaggle"), ("covid_dir", "COVID")):
        if opt in options:  # the data folder moved: the split check in run_training proves it is the same data
            if not Path(options[opt]).is_dir():
                raise UsageError(f"{_opt(opt)} {options[opt]} is not a directory.")
            cfg[opt] = str(Path(options[opt]).resolve())
        elif cfg.get(opt) and not Path(cfg[opt]).is_dir():
            raise UsageError(f"the {pool} data folder of this run, {cfg[opt]}, is gone; if it moved, "
                             f"continue with --resume {run} {_opt(opt)} NEW_PLACE.")
    return cfg, run


def estimate_bytes(state):
    """Checkpoint size x 3 (latest, previous, new while saving) + exports + samples, with a margin."""
    net_bytes = sum(int(v.nbytes) for net in (state.G, state.D) for v in net.state_dict().values())
    return int(net_bytes * 4 * 3 + net_bytes * 2 + 50 * 2**20)


def config_record(cfg, pools, source, stages, per_epoch):
    record = {
        "mttgan_min_version": __version__,
        "git_commit": rundir.git_commit(),
        "command": [Path(sys.executable).name, "-m", "mttgan_min.train"] + sys.argv[1:],
        "created": datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "numpy": np.__version__,
        "options": {k: v for k, v in cfg.items() if k != "out"},
        "preset": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(get_preset(cfg["preset"])).items()},
        "stages": [dict(st, images=len(pools[st["pool"]].images), iterations_per_epoch=n)
                   for st, n in zip(stages, per_epoch)],
        "data": {name: {"source": source.get(name), "train_images": len(pool.images)}
                 for name, pool in pools.items()},
    }
    return record


def check_pool_size(stage, n_images):
    """Raise UsageError when a stage's pool cannot fill one batch, saying what would help."""
    if iterations_of(stage, n_images, 0) >= 1:
        return
    name = "COVID" if stage["pool"] == "covid" else "Kaggle"
    if n_images == 0:
        raise UsageError(f"the {name} pool has no training images left after the held-out test split; "
                         "give a folder with more images.")
    if stage["pool"] == "covid":
        raise UsageError(f"the COVID pool has {n_images} training images, too few for one batch of {BATCH} "
                         f"at --augment-factor {stage['factor']}: raise --augment-factor or give more images.")
    raise UsageError(f"the Kaggle pool has {n_images} training images, too few for one batch of {BATCH} at "
                     f"its augmentation factor {stage['factor']}; give a folder with more images.")


def split_differences(recorded, current, compare=None):
    """The keys (e.g. "test", "seed") in which two split records differ; the data folders' places
    ("dirs") never count. ``compare``: only these keys."""
    keys = compare or sorted((set(recorded) | set(current)) - {"dirs"})
    return [k for k in keys if _jsonable(recorded.get(k)) != _jsonable(current.get(k))]


def check_pretrained_split(pre, split):
    """Raise UsageError unless the --pretrained run ``pre`` holds out the same test images as this run
    (the same seed, test size and test files of every class both record): otherwise held-out images
    may have been in its pretraining pool (docs/design.md, "Pretrained runs share the held-out split")."""
    path = rundir.split_path(pre)
    try:
        theirs = rundir.read_json(path)
    except (OSError, ValueError):
        raise UsageError(f"--pretrained {pre} has no readable {path.name}, so its held-out split cannot be "
                         "checked against this run's.") from None
    if theirs.get("seed") != split.get("seed"):
        raise UsageError(f"--pretrained {pre} was made with --seed {theirs.get('seed')}, whose held-out test "
                         f"images differ from this run's (--seed {split.get('seed')}): use the same --seed or "
                         "pretrain again.")
    shared = sorted(set(theirs.get("test", {})) & set(split.get("test", {})))
    differ = split_differences({"n_test": theirs.get("n_test"), **theirs.get("test", {})},
                               {"n_test": split.get("n_test"), **split.get("test", {})}, ["n_test"] + shared)
    if differ:
        raise UsageError(f"--pretrained {pre} held out other test images ({differ[0]}) than this run, so "
                         "they may have been in its pretraining pool: use the same data and --seed or "
                         "pretrain again.")


def _as_recorded(err, typed):
    """A data error's sentence without an option the user did not type (on --resume the folders come
    from config.json)."""
    text = str(err)
    for opt, pool in (("kaggle_dir", "Kaggle"), ("covid_dir", "COVID")):
        if opt not in typed:
            text = text.replace(f"{_opt(opt)} ", f"the {pool} folder recorded in config.json, ")
    return text


class StartGuard:
    """Until ``started()``, a failure removes what this start created in the run directory
    (the directory itself if it did not exist), so a failed start leaves nothing behind."""

    def __init__(self, run, existed):
        self.run, self.existed = run, existed
        self.before = set(os.listdir(run))
        self.done = False

    def started(self):
        self.done = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.done or exc_type is None:
            return
        if not self.existed:
            shutil.rmtree(self.run, ignore_errors=True)
            return
        for name in set(os.listdir(self.run)) - self.before:
            path = self.run / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def run_training(cfg, run, resume, typed=(), tier=REFERENCE):
    """Everything after option parsing, the networks computing with ``tier``; returns the exit code.

    Raises the errors main reports.
    """
    xp = backend.resolve_device(cfg["device"])
    state = TrainState(cfg, xp, tier)
    stages = plan_stages(cfg)
    if not resume and (run / "config.json").exists():
        raise UsageError(f"--out {run} already holds a run: continue it with --resume {run} or choose another --out.")
    existed = run.exists()
    run = rundir.prepare_run_dir(run, estimate_bytes(state))
    guard = StartGuard(run, existed) if not resume else None  # made before the lock: .lock is ours too
    with rundir.RunLock(run):
        try:
            if not resume and (run / "config.json").exists():  # another job started here meanwhile
                raise UsageError(f"--out {run} already holds a run: continue it with --resume {run} "
                                 "or choose another --out.")
            need_kaggle = any(st["pool"] == "kaggle" for st in stages)  # never for baseline or --pretrained
            try:
                prepared = prepare_data(cfg["kaggle_dir"] if need_kaggle else None, cfg["covid_dir"],
                                        size=get_preset(cfg["preset"]).image_size, seed=cfg["seed"],
                                        need_kaggle=need_kaggle, covid_train_cap=cfg["covid_train_cap"])
            except DataError as err:
                raise DataError(_as_recorded(err, typed) if resume else str(err)) from None
            for line in prepared.summary_lines():  # what the data are: substituted, skipped or short
                print(line)
            pools = {"covid": prepared.covid_train}
            if need_kaggle:
                pools["kaggle"] = prepared.kaggle_train
            per_epoch = [iterations_of(st, len(pools[st["pool"]].images), cfg["max_iters_per_epoch"])
                         for st in stages]
            for st in stages:
                check_pool_size(st, len(pools[st["pool"]].images))
            split = _jsonable(prepared.manifest)
            rundir.write_json(run / "data_report.json", prepared.report())
            if resume:
                if not resume_state(cfg, run, state, stages, split, typed):
                    return 0
            else:
                if cfg["pretrained"]:
                    check_pretrained_split(Path(cfg["pretrained"]), split)
                    state.load_pretrained(Path(cfg["pretrained"]) / "pretrained.npz")
                state.begin_stage(stages[0]["teachers"])
                rundir.write_index(run)
                rundir.write_json(run / "config.json", config_record(cfg, pools, prepared.source, stages, per_epoch))
                rundir.write_json(run / rundir.SPLIT, split)
                atomic_write(run / "fixed_latent.npy", lambda f: np.save(f, state.fixed_z))
                state.save(run / "checkpoint.npz")
                guard.started()
        except BaseException:
            if guard is not None:
                guard.__exit__(*sys.exc_info())
            raise
        for warning in short_stage_warnings(stages[state.stage:], per_epoch[state.stage:]):
            print(warning, file=sys.stderr)
        print(f"run directory: {run}  (device {cfg['device']}, preset {cfg['preset']}, mode {cfg['mode']})")
        log = rundir.MetricsLog(run / "metrics.csv", keep_rows=state.metrics_rows,
                                warn=lambda text: print(text, file=sys.stderr))
        try:
            with StopFlag() as stop:
                run_schedule(cfg, run, state, pools, stop, log)
        except (Stopped, NonFiniteError):
            plot_losses(run / "metrics.csv", run / "loss_curves.png")  # the curves up to the stop
            raise
        finally:
            log.close()
    print(f"done: the final generator is {run / 'generator.npz'}; sample it with "
          f"python -m mttgan_min.sample --run {run} --n 64 --out {run / 'samples_final'}")
    return 0


def resume_state(cfg, run, state, stages, split, typed):
    """Check the data against the recorded split and load the checkpoint into ``state``.

    Returns False when the run has already finished. A data folder given anew (it moved) is recorded
    in config.json once the split check has passed.
    """
    path = rundir.split_path(run)
    if path.exists():
        recorded = rundir.read_json(path)
        differ = split_differences(recorded, split)
        if differ:
            raise UsageError(f"the data differ from the split recorded in {path} ({differ[0]}), so the run "
                             "cannot be resumed exactly.")
    moved = [opt for opt in ("kaggle_dir", "covid_dir") if opt in typed]
    if moved:
        saved = rundir.read_json(run / "config.json")
        saved["options"].update({opt: cfg[opt] for opt in moved})
        rundir.write_json(run / "config.json", saved)
        rundir.write_json(path, split)
    if not (run / "README.txt").exists():
        rundir.write_index(run)
    groups, meta, used = load_latest(run / "checkpoint.npz", warn=lambda text: print(text, file=sys.stderr))
    state.stage = meta["stage"]
    if state.stage >= len(stages):
        print(f"{run} has already finished; nothing to do.")
        return False
    state.begin_stage(stages[state.stage]["teachers"])
    state.load(used, groups, meta)
    print(f"resuming {run}: stage {stages[state.stage]['name']}, epoch {state.epoch + 1}, "
          f"iteration {state.iteration} done of this epoch")
    return True


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
            cfg, run = load_resume(options)
            typed = [opt for opt in ("kaggle_dir", "covid_dir") if opt in options]
            with speed(cfg["device"]) as fast:
                return run_training(cfg, run, resume=True, typed=typed, tier=fast.tier)
        cfg = options
        run = Path(cfg["out"])
        with speed(cfg["device"]) as fast:
            return run_training(cfg, run, resume=False, tier=fast.tier)
    except (UsageError, DataError, backend.DeviceUnavailable, rundir.RunDirError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except NonFiniteError as err:
        print(f"error: training stopped because {err}; the last good checkpoint {run / 'checkpoint.npz'} "
              "is kept.", file=sys.stderr)
        return 1
    except Stopped as stopped:
        print(f"stopped: checkpoint written to {run / 'checkpoint.npz'}; continue with "
              f"python -m mttgan_min.train --resume {run}", file=sys.stderr)
        return stopped.code
    except KeyboardInterrupt as err:
        print("interrupted before training started; nothing was saved.", file=sys.stderr)
        return getattr(err, "code", 130)
    except OSError as err:
        where = f"could not write {err.filename}: " if err.filename else ""
        if run is not None and (run / "checkpoint.npz").exists():
            print(f"error: {where}{err.strerror or err}; the last checkpoint on disk is intact: make room, "
                  f"then continue with python -m mttgan_min.train --resume {run}", file=sys.stderr)
        else:
            print(f"error: {where}{err.strerror or err}; nothing was kept.", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":
    sys.exit(main())
