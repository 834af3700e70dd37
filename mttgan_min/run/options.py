"""The settings of a training run: ``train``'s options and per-preset defaults -> one complete dict.

Every setting lands in the run's config.json; ``--resume`` reads them back (``run.resume``). Which
modes exist, and their defaults (stages, teachers, augmentation factor), come from ``mttgan_min.gans``.
"""
import math
import sys
from datetime import datetime
from pathlib import Path

from .. import backend, gans
from ..adam import PAPER_BETA1
from ..cli import UsageError
from ..data.prepare import PAPER_COVID_TRAIN
from ..models import PAPER_START, generator_start
from . import rundir
from .loop import BATCH

KAGGLE_FACTOR = 5    # soft augmentation factor of the pretraining pool (Sec. III)
CHECKPOINT_MINUTES = 5.0  # docs/design.md, "Checkpoints"
# Per-preset defaults: docs/design.md, "Presets and their defaults". Every choice is recorded in config.json; the
# options override them.
PRESET_DEFAULTS = {
    "paper": dict(pretrain_epochs=100, finetune_epochs=100, lr=1e-5, d_lr=None, d_beta1=PAPER_BETA1,
                  max_iters_per_epoch=0, ema_decay=0.999, **PAPER_START),
    "small": dict(pretrain_epochs=10, finetune_epochs=10, lr=2e-4, d_lr=None, d_beta1=PAPER_BETA1,
                  max_iters_per_epoch=0, ema_decay=0.999, **PAPER_START),
    "tiny": dict(pretrain_epochs=2, finetune_epochs=5, lr=5e-5, d_lr=2e-3, d_beta1=0.0,
                 max_iters_per_epoch=100, ema_decay=0.99,
                 latent_dim=8, residual_init="zero-fine", upsample_init="nearest"),
}
# The --d-lr default as train's and reproduce's help say it.
D_LR_DEFAULT = ("(default: the same as --lr for paper and small, as in the paper; "
                + ", ".join(f"{v['d_lr']:g} for {k}" for k, v in PRESET_DEFAULTS.items() if v["d_lr"]) + ")")
RESUME_OPTIONS = ("resume", "device", "checkpoint_minutes", "kaggle_dir", "covid_dir")  # may go with --resume


def opt(name):
    """The option of a setting: "kaggle_dir" -> "--kaggle-dir"."""
    return "--" + name.replace("_", "-")


def check_given(given):
    """Raise UsageError for a given option that is wrong whatever the mode (seed, checkpoint minutes, --resume)."""
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
                             f"combined with {opt(others[0])}.")


def check_mode_options(given, mode):
    """Raise UsageError for an option the GAN of ``mode`` has no use for."""
    gan = gans.of_mode(mode)
    if not gan.pretrain:
        for name in ("pretrained", "pretrain_epochs"):
            if name in given:
                raise UsageError(f"{opt(name)} does not apply to --mode {mode}, "
                                 "which trains from scratch on the COVID pool only.")
    if not gan.teachers:
        with_teachers = " or ".join(m for m in gans.modes() if gans.of_mode(m).teachers)
        for name in ("ema_decay", "ema_buffers"):
            if name in given:
                raise UsageError(f"{opt(name)} only applies to --mode {with_teachers} "
                                 f"(--mode {mode} has no teacher).")
    if "pretrained" in given and "pretrain_epochs" in given:
        raise UsageError("--pretrained skips pretraining, so --pretrain-epochs cannot be given with it.")
    for name in ("residual_init", "upsample_init"):
        if "pretrained" in given and name in given:
            raise UsageError(f"--pretrained loads the generator's weights, so {opt(name)} cannot be given with it "
                             "(give it to the pretraining run).")


def complete(given, mode, preset, device):
    """Every setting of a fresh run: the given options, else the preset's and the mode's defaults."""
    gan, defaults = gans.of_mode(mode), PRESET_DEFAULTS[preset]
    return dict(
        mode=mode, preset=preset, device=device,
        tf32=given.get("tf32", False) or (device == "gpu" and backend.tf32_from_environment()),
        lr=given.get("lr", defaults["lr"]),
        d_lr=given.get("d_lr", defaults["d_lr"] or given.get("lr", defaults["lr"])),
        d_beta1=given.get("d_beta1", defaults["d_beta1"]),
        pretrain_epochs=0 if not gan.pretrain or "pretrained" in given
        else given.get("pretrain_epochs", defaults["pretrain_epochs"]),
        finetune_epochs=given.get("finetune_epochs", defaults["finetune_epochs"]),
        kaggle_factor=KAGGLE_FACTOR,
        covid_factor=given.get("augment_factor", gan.augment_factor),
        ema_decay=given.get("ema_decay", defaults["ema_decay"]) if gan.teachers else None,
        ema_buffers=given.get("ema_buffers", "average"),
        latent=given.get("latent", "normal"),
        latent_dim=given.get("latent_dim", defaults["latent_dim"]),
        residual_init=given.get("residual_init", defaults["residual_init"]),
        upsample_init=given.get("upsample_init", defaults["upsample_init"]),
        seed=given.get("seed", 0),
        kaggle_dir=given.get("kaggle_dir"), covid_dir=given.get("covid_dir"),
        covid_train_cap=given.get("covid_train_cap", PAPER_COVID_TRAIN),
        max_iters_per_epoch=given.get("max_iters_per_epoch", defaults["max_iters_per_epoch"]),
        pretrained=given.get("pretrained"),
        batch_size=BATCH,
        checkpoint_minutes=given.get("checkpoint_minutes", CHECKPOINT_MINUTES),
    )


def check_values(cfg):
    """Raise UsageError for a number out of its range (DeviceUnavailable for --tf32 on the CPU)."""
    backend.check_tf32(cfg["device"], cfg["tf32"])
    positive = {"augment_factor": cfg["covid_factor"], "finetune_epochs": cfg["finetune_epochs"],
                "covid_train_cap": cfg["covid_train_cap"], "latent_dim": cfg["latent_dim"]}
    if gans.of_mode(cfg["mode"]).pretrain and not cfg["pretrained"]:
        positive["pretrain_epochs"] = cfg["pretrain_epochs"]
    for name, value in positive.items():
        if value < 1:
            raise UsageError(f"{opt(name)} must be at least 1, not {value}.")
    if cfg["max_iters_per_epoch"] < 0:
        raise UsageError(f"--max-iters-per-epoch must be 0 (no cap) or more, not {cfg['max_iters_per_epoch']}.")
    for name in ("lr", "d_lr"):
        if not (math.isfinite(cfg[name]) and cfg[name] > 0):
            raise UsageError(f"{opt(name)} must be a positive number, not {cfg[name]}.")
    for name in ("d_beta1", "ema_decay"):  # ema_decay is None for a GAN without teachers
        if cfg[name] is not None and not 0.0 <= cfg[name] < 1.0:
            raise UsageError(f"{opt(name)} must be in [0, 1), not {cfg[name]}.")


def resolve_folders(cfg):
    """Drop a Kaggle folder the run never reads (with a note), check the folders and make them absolute."""
    mode = cfg["mode"]
    if cfg["kaggle_dir"] and (not gans.of_mode(mode).pretrain or cfg["pretrained"]):
        # the baseline never reads the pretraining pool (so one script can pass the same options to every mode)
        print(f"note: --kaggle-dir is ignored with {'--pretrained' if cfg['pretrained'] else f'--mode {mode}'}.",
              file=sys.stderr)
        cfg["kaggle_dir"] = None
    for name in ("kaggle_dir", "covid_dir", "pretrained"):
        if cfg[name] is not None and not Path(cfg[name]).is_dir():
            raise UsageError(f"{opt(name)} {cfg[name]} is not a directory.")
        if cfg[name] is not None:
            cfg[name] = str(Path(cfg[name]).resolve())


def resolve_options(args):
    """Turn parsed arguments (absent = not given) into the run's complete settings.

    With --resume: the given options only (``run.resume.load_resume`` reads the rest). Raises
    UsageError for impossible combinations.
    """
    given = dict(vars(args))
    check_given(given)
    if "resume" in given:
        return given
    device = given.get("device", "cpu")
    preset = given.get("preset", "paper" if device == "gpu" else "tiny")
    mode = given.get("mode", "mtt")
    check_mode_options(given, mode)
    cfg = complete(given, mode, preset, device)
    check_values(cfg)
    resolve_folders(cfg)
    if cfg["pretrained"]:
        check_pretrained_run(Path(cfg["pretrained"]))
        cfg.update(generator_of_pretrained(Path(cfg["pretrained"]), given))
    cfg["out"] = given.get("out") or \
        f"runs/{mode}-{preset}-s{cfg['seed']}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return cfg


def generator_of_pretrained(pre, given):
    """The generator settings of the run that ``pre`` pretrained, for those not given: its weights are loaded,
    so its z and its start are this run's (a config.json older than an option reads as the paper's)."""
    try:
        options = rundir.read_json(pre / "config.json")["options"]
    except (OSError, ValueError, KeyError, TypeError):
        options = {}
    return {name: value for name, value in generator_start(options).items() if name not in given}


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
    elif options.get("mode") in gans.modes() and not gans.of_mode(options["mode"]).pretrain:
        why = f"it is a {options['mode']} run, which has no pretraining stage; give an mtt or transfer run"
    elif options.get("pretrained"):
        why = f"it was itself fine-tuned from --pretrained {options['pretrained']}; give that run"
    else:
        why = "its pretraining stage has not finished"
    raise UsageError(f"--pretrained {pre} holds no pretrained.npz: {why}.")
