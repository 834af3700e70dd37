"""One training session, after the options: start the run directory (or resume it), then the loop.

``run_training`` prepares the data, checks the pools, writes config.json, split.json, the fixed
latents and the first checkpoint (a fresh run), or checks the data and loads the checkpoint
(``--resume``), then runs ``loop.run_schedule`` with Ctrl-C/SIGTERM caught by a StopFlag. A fresh
start that fails leaves nothing behind (StartGuard).
"""
import os
import shutil
import sys
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import numpy as np

from .. import __version__, backend
from ..cli import UsageError
from ..data import DataError, prepare_data
from ..fileio import atomic_write
from ..layers import REFERENCE
from ..models import get_preset, preset_of
from . import diversity_log, rundir
from .loop import BATCH, NonFiniteError, StopFlag, Stopped, iterations_of, plan_stages, run_schedule, stage_records, \
    short_stage_warnings
from .pictures import plot_losses
from .resume import as_recorded, check_pretrained_split, jsonable, resume_state
from .state import TrainState


def net_bytes(net):
    """Bytes of a network's weights and buffers (its ``state_dict``)."""
    return sum(int(v.nbytes) for v in net.state_dict().values())


def estimate_bytes(state):
    """Checkpoint size x 3 (latest, previous, new while saving) + exports + samples, with a margin."""
    nets = net_bytes(state.G) + net_bytes(state.D)
    return int(nets * 4 * 3 + nets * 2 + 50 * 2**20)


def config_record(cfg, pools, source, records):
    """The run's config.json: versions, command, every setting, the preset, the stages and the data."""
    return {
        "mttgan_min_version": __version__,
        "git_commit": rundir.git_commit(),
        "command": [Path(sys.executable).name, "-m", "mttgan_min.train"] + sys.argv[1:],
        "created": datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "numpy": np.__version__,
        "options": {k: v for k, v in cfg.items() if k != "out"},
        "preset": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(preset_of(cfg)).items()},
        "stages": records,
        "data": {name: {"source": source.get(name), "train_images": len(pool.images)}
                 for name, pool in pools.items()},
    }


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


class StartGuard:
    """A failure inside ``with StartGuard(...)`` removes what this start created in the run directory
    (the directory itself if it did not exist), so a failed start leaves nothing behind. Made before
    the run's lock, so that the lock file counts as created too."""

    def __init__(self, run, existed):
        self.run, self.existed = run, existed
        self.before = set(os.listdir(run))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
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


def load_pools(cfg, stages, resume, typed):
    """The prepared data (its summary printed) and {pool name: Dataset} of the pools the stages train on."""
    need_kaggle = any(st["pool"] == "kaggle" for st in stages)  # never for baseline or --pretrained
    try:
        prepared = prepare_data(cfg["kaggle_dir"] if need_kaggle else None, cfg["covid_dir"],
                                size=get_preset(cfg["preset"]).image_size, seed=cfg["seed"],
                                need_kaggle=need_kaggle, covid_train_cap=cfg["covid_train_cap"])
    except DataError as err:
        raise DataError(as_recorded(err, typed) if resume else str(err)) from None
    for line in prepared.summary_lines():  # what the data are: substituted, skipped or short
        print(line)
    pools = {"covid": prepared.covid_train}
    if need_kaggle:
        pools["kaggle"] = prepared.kaggle_train
    return prepared, pools


def held_out_films(prepared, pools):
    """{pool name: Dataset}: the held-out test films of each pool's classes, which realism is measured
    against after every epoch (never trained on; docs/design.md, "Realism after every epoch")."""
    test = prepared.test
    return {name: test.subset(np.isin(test.labels, np.unique(pool.labels))) for name, pool in pools.items()}


def start_fresh(cfg, run, state, stages, prepared, pools, split, records):
    """Write a new run's files and its first checkpoint (from --pretrained's weights, if given)."""
    if cfg["pretrained"]:
        check_pretrained_split(Path(cfg["pretrained"]), split)
        state.load_pretrained(Path(cfg["pretrained"]) / "pretrained.npz")
    state.begin_stage(stages[0]["teachers"])
    rundir.write_index(run)
    rundir.write_json(run / "config.json", config_record(cfg, pools, prepared.source, records))
    rundir.write_json(run / rundir.SPLIT, split)
    atomic_write(run / "fixed_latent.npy", lambda f: np.save(f, state.fixed_z))
    state.save(run / "checkpoint.npz")


def already_a_run(run):
    return UsageError(f"--out {run} already holds a run: continue it with --resume {run} or choose another --out.")


def run_training(cfg, run, resume, typed=(), tier=REFERENCE):
    """Everything after option parsing, the networks computing with ``tier``; returns the exit code.

    Raises the errors main reports.
    """
    xp = backend.resolve_device(cfg["device"], tf32=cfg.get("tf32", False))
    state = TrainState(cfg, xp, tier)
    stages = plan_stages(cfg)
    if not resume and (run / "config.json").exists():
        raise already_a_run(run)
    existed = run.exists()
    run = rundir.prepare_run_dir(run, estimate_bytes(state))
    guard = nullcontext() if resume else StartGuard(run, existed)  # made before the lock: .lock is ours too
    with rundir.RunLock(run):
        with guard:
            if not resume and (run / "config.json").exists():  # another job started here meanwhile
                raise already_a_run(run)
            prepared, pools = load_pools(cfg, stages, resume, typed)
            records = stage_records(cfg, {name: len(pool.images) for name, pool in pools.items()})
            per_epoch = [st["iterations_per_epoch"] for st in records]
            for st in stages:
                check_pool_size(st, len(pools[st["pool"]].images))
            split = jsonable(prepared.manifest)
            rundir.write_json(run / "data_report.json", prepared.report())
            if not resume:
                start_fresh(cfg, run, state, stages, prepared, pools, split, records)
            elif not resume_state(cfg, run, state, stages, split, typed):
                return 0
        for warning in short_stage_warnings(stages[state.stage:], per_epoch[state.stage:]):
            print(warning, file=sys.stderr)
        print(f"run directory: {run}  (device {cfg['device']}, preset {cfg['preset']}, mode {cfg['mode']})")
        log = rundir.MetricsLog(run / "metrics.csv", keep_rows=state.metrics_rows,
                                warn=lambda text: print(text, file=sys.stderr))
        try:
            with StopFlag() as stop:
                run_schedule(cfg, run, state, pools, stop, log, held_out_films(prepared, pools))
        except (Stopped, NonFiniteError):
            plot_losses(run / "metrics.csv", run / "loss_curves.png")  # the curves up to the stop
            raise
        finally:
            log.close()
    final = diversity_log.final_lines(run)
    rundir.write_index(run, final)
    for line in final:
        print(line)
    print(f"done: the final generator is {run / 'generator.npz'}; sample it with "
          f"python -m mttgan_min.sample --run {run} --n 64 --out {run / 'samples_final'}")
    return 0
