"""Continuing a run: ``train --resume RUN`` (its settings, its checkpoint, the same data) and
``train --pretrained RUN`` (another run's pretraining, on the same held-out split).

Both check that the data give the split recorded in RUN/split.json: a resumed run must see the same
images, and a pretrained run must not have pretrained on this run's held-out test images
(docs/design.md, "Resuming exactly", "Pretrained runs share the held-out split").
"""
import json
import sys
from pathlib import Path

from ..cli import UsageError
from . import rundir
from .checkpoint import load_latest
from .options import opt


def jsonable(obj):
    """``obj`` as it reads back from JSON (tuples become lists, paths strings)."""
    return json.loads(json.dumps(obj, default=str))


def load_resume(options):
    """(settings, run directory) of the run to continue; raises UsageError with one sentence."""
    run = Path(options["resume"])
    if not (run / "config.json").is_file() or not (
            (run / "checkpoint.npz").is_file() or (run / "checkpoint.prev.npz").is_file()):
        raise UsageError(f"--resume {run} is not a run directory (it needs config.json and checkpoint.npz).")
    cfg = dict(rundir.read_options(run / "config.json"), out=str(run))
    for name in ("device", "checkpoint_minutes"):
        if name in options:
            cfg[name] = options[name]
    for name, pool in (("kaggle_dir", "Kaggle"), ("covid_dir", "COVID")):
        if name in options:  # the data folder moved: the split check in resume_state proves it is the same data
            if not Path(options[name]).is_dir():
                raise UsageError(f"{opt(name)} {options[name]} is not a directory.")
            cfg[name] = str(Path(options[name]).resolve())
        elif cfg.get(name) and not Path(cfg[name]).is_dir():
            raise UsageError(f"the {pool} data folder of this run, {cfg[name]}, is gone; if it moved, "
                             f"continue with --resume {run} {opt(name)} NEW_PLACE.")
    return cfg, run


def as_recorded(err, typed):
    """A data error's sentence without an option the user did not type (on --resume the folders come
    from config.json)."""
    text = str(err)
    for name, pool in (("kaggle_dir", "Kaggle"), ("covid_dir", "COVID")):
        if name not in typed:
            text = text.replace(f"{opt(name)} ", f"the {pool} folder recorded in config.json, ")
    return text


def split_differences(recorded, current, compare=None):
    """The keys (e.g. "test", "seed") in which two split records differ; the data folders' places
    ("dirs") never count. ``compare``: only these keys."""
    keys = compare or sorted((set(recorded) | set(current)) - {"dirs"})
    return [k for k in keys if jsonable(recorded.get(k)) != jsonable(current.get(k))]


def resume_state(cfg, run, state, stages, split, typed):
    """Check the data against the recorded split and load the checkpoint into ``state``.

    Returns False when the run has already finished. A data folder given anew (it moved) is recorded
    in config.json once the split check has passed.
    """
    path = run / rundir.SPLIT
    if path.exists():
        recorded = rundir.read_json(path)
        differ = split_differences(recorded, split)
        if differ:
            raise UsageError(f"the data differ from the split recorded in {path} ({differ[0]}), so the run "
                             "cannot be resumed exactly.")
    moved = [name for name in ("kaggle_dir", "covid_dir") if name in typed]
    if moved:
        saved = rundir.read_json(run / "config.json")
        saved["options"].update({name: cfg[name] for name in moved})
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


def check_pretrained_split(pre, split):
    """Raise UsageError unless the --pretrained run ``pre`` holds out the same test images as this run
    (the same seed, test size and test files of every class both record): otherwise held-out images
    may have been in its pretraining pool (docs/design.md, "Pretrained runs share the held-out split")."""
    path = pre / rundir.SPLIT
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
