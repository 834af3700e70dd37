"""Train a GAN of the paper: ``python -m mttgan_min.train`` (the three GANs the paper compares, named
in ``mttgan_min.gans``; docs/design.md, "The three GANs and their stages").

    mtt       pretrain on the Kaggle-like pool (3 classes pooled, augmentation factor 5),
              then fine-tune on the COVID pool (factor 50) from those weights with fresh
              Adam moments and EMA teachers of G and D (Sec. IV-B); the teacher G is the result
    transfer  the same two stages without teachers; the student G is the result
    baseline  one stage "train" from scratch on the COVID pool only, no teacher; factor
              --augment-factor (default 1; the paper runs it with 1 and with 50)

With no arguments: CPU, tiny preset, synthetic data, the whole MTT-GAN schedule.
One iteration = ``gan_step.mtt_gan_step`` on 16 real crops (+ 16 and 32 generated).
This module is the command line; the settings are ``run.options``, resuming ``run.resume``, the
start of a run ``run.session`` and the loop ``run.loop`` (read ``train_plain`` there first).
The run directory is described in ``mttgan_min.run.rundir`` (and in RUN/README.txt); stop with
Ctrl-C (or SIGTERM) at any time, then continue with ``--resume RUN_DIR``.
"""
import argparse
import sys
from pathlib import Path

from . import backend, gans
from .cli import HelpFormatter, UsageError, exit_code, per_preset, sigterm_as_interrupt
from .data import DataError
from .ema import BUFFER_MODES
from .models import LATENTS, PRESETS, RESIDUAL_INITS, UPSAMPLE_INITS
from .run import rundir
from .run.checkpoint import CheckpointError
from .run.loop import NonFiniteError, Stopped
from .run.options import CHECKPOINT_MINUTES, D_LR_DEFAULT, KAGGLE_FACTOR, PRESET_DEFAULTS, resolve_options
from .run.resume import load_resume
from .run.session import run_training
from .fast import speed


# --- command line -------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m mttgan_min.train", formatter_class=HelpFormatter,
        argument_default=argparse.SUPPRESS,  # an option not given is absent (see resolve_options)
        description="Train one of the paper's GANs (baseline, transfer or MTT-GAN) and leave a run directory\n"
                    "(config.json, split.json, metrics.csv, loss_curves.png, samples/, checkpoint.npz,\n"
                    "generator.npz; RUN/README.txt lists them). With no arguments: CPU, tiny preset, synthetic\n"
                    "data, the whole MTT-GAN schedule (pretraining, then fine-tuning with EMA teachers) in\n"
                    "about four and a half minutes on a 2-core CPU.",
        epilog="Ctrl-C or SIGTERM finishes the current iteration, writes RUN/checkpoint.npz and exits\n"
               "(code 130 or 143); --resume RUN continues it. On the CPU a resumed run ends with exactly\n"
               "the weights of an uninterrupted one; on the GPU only statistically (CuPy's generator state\n"
               "cannot be saved, so device noise is reseeded from a saved host generator).\n"
               "Exit codes: 0 done, 1 training failed (non-finite loss, disk error), 2 usage error.")
    a = p.add_argument
    a("--device", choices=backend.DEVICES, help="cpu (NumPy) or gpu (CuPy) (default: cpu)")
    a("--tf32", action="store_true", help=backend.TF32_HELP + " (default: off, unless CUPY_TF32=1 is set)")
    a("--preset", choices=sorted(PRESETS), help="network and image size: tiny 32px, small 64px, "
      "paper 128px (default: tiny on cpu, paper on gpu)")
    a("--mode", choices=gans.modes(), help="which GAN of the paper to train (default: mtt)")
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
    a("--d-lr", type=float, metavar="LR", help="Adam learning rate of D " + D_LR_DEFAULT)
    a("--d-beta1", type=float, metavar="BETA1", help="Adam beta1 of D, the decay of its gradient's running mean "
      "(0 = no momentum; the paper's 0.5 is also G's) " + _per_preset("d_beta1"))
    a("--ema-decay", type=float, metavar="ALPHA", help="mtt only: teacher = alpha * teacher + "
      "(1 - alpha) * student after every step " + _per_preset("ema_decay"))
    a("--ema-buffers", choices=BUFFER_MODES, help="mtt only: the teacher's batch-norm "
      "running statistics are averaged like weights or copied from the student (default: average)")
    a("--latent", choices=LATENTS, help="z ~ N(0, 1) or U[0, 1) (default: normal)")
    a("--latent-dim", type=int, metavar="N", help="size of z, the generator's input (the paper's is 100; with "
      "--pretrained, the pretraining run's; docs/design.md, \"The size of z\") " + _per_preset("latent_dim"))
    a("--residual-init", choices=RESIDUAL_INITS, help="how the generator's ResBlocks start: glorot (Keras' "
      "default, like every other layer), zero (the last transposed convolution of each ResBlock starts at "
      "zero, so each block starts as the identity: smoother, less varied samples on the tiny preset) or "
      "zero-fine (only the four ResBlocks of the last two up-sampling stages start so); "
      "docs/design.md, \"Initialisation\" " + _per_preset("residual_init"))
    a("--upsample-init", choices=UPSAMPLE_INITS, help="how the generator's three up-sampling transposed "
      "convolutions start: glorot (Keras' default) or nearest (their kernels tied so that each starts as "
      "nearest-neighbour up-sampling followed by a convolution, which draws no checkerboard); "
      "docs/design.md, \"Initialisation\" " + _per_preset("upsample_init"))
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


@sigterm_as_interrupt()  # before the loop, SIGTERM = Ctrl-C
def main(argv=None):
    """Entry point; returns the exit code (0 done, 1 failed, 2 usage error, 130/143 stopped)."""
    args = build_parser().parse_args(argv)
    run = None
    try:
        options = resolve_options(args)
        if "resume" in options:
            cfg, run = load_resume(options)
            cfg["tf32"] = backend.resumed_tf32(cfg)
            typed = [opt for opt in ("kaggle_dir", "covid_dir") if opt in options]
            with speed(cfg["device"]) as fast:
                return run_training(cfg, run, resume=True, typed=typed, tier=fast.tier)
        cfg = options
        run = Path(cfg["out"])
        with speed(cfg["device"]) as fast:
            return run_training(cfg, run, resume=False, tier=fast.tier)
    except BaseException as err:
        return exit_code(err, failures(run))


def failures(run):
    """What each failure of a run in ``run`` prints, and its exit code (``cli.exit_code``)."""
    def disk_error(err):
        where = f"could not write {err.filename}: " if err.filename else ""
        if run is not None and (run / "checkpoint.npz").exists():
            return (f"error: {where}{err.strerror or err}; the last checkpoint on disk is intact: make room, "
                    f"then continue with python -m mttgan_min.train --resume {run}")
        return f"error: {where}{err.strerror or err}; nothing was kept."
    return (
        ((UsageError, DataError, backend.DeviceUnavailable, rundir.RunDirError, CheckpointError), 2,
         lambda err: f"error: {err}"),
        (NonFiniteError, 1, lambda err: f"error: training stopped because {err}; the last good checkpoint "
                                        f"{run / 'checkpoint.npz'} is kept."),
        (Stopped, lambda stopped: stopped.code,
         lambda err: f"stopped: checkpoint written to {run / 'checkpoint.npz'}; continue with "
                     f"python -m mttgan_min.train --resume {run}"),
        (KeyboardInterrupt, lambda err: getattr(err, "code", 130),
         lambda err: "interrupted before training started; nothing was saved."),
        (OSError, 1, disk_error),
    )


if __name__ == "__main__":
    sys.exit(main())
