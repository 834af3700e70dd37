"""The whole paper in one resumable command: ``python -m mttgan_min.reproduce``.

1. Transfer GAN: the shared pretraining on the Kaggle pool, then fine-tuning on the COVID pool (Sec. IV-A).
2. MTT-GAN: fine-tuning with EMA teachers from the Transfer run's pretraining (``--pretrained``), so both
   start from the same weights (Sec. IV-B).
3. Baseline GAN without augmentation (factor 1) and with augmentation x50, from scratch on COVID only.
4. The evaluation (``python -m mttgan_min.evaluate --controls --quality``) of all four.

Each step is ``python -m mttgan_min.train`` or ``evaluate`` with the options shown as it starts; the runs
live in OUT/gans/<name>, the evaluation in OUT/evaluation. Run the same command again after a stop
(Ctrl-C, a crash) and it continues: finished steps are skipped, an interrupted one is resumed.
With no arguments: CPU, tiny preset, synthetic data, everything in about 5-15 minutes on 2 cores.
"""
import argparse
import sys
from pathlib import Path

from . import backend, evaluate, train
from . import gans as registry
from .cli import HelpFormatter, UsageError, positive_int
from .models import PRESETS



def gan_options(gan):
    """The ``train`` options that make ``gan`` (a GAN of the registry); "{gans}" stands for OUT/gans.

    A GAN that shares another's pretraining fine-tunes from that run (``--pretrained``); a GAN without
    pretraining always spells out its augmentation factor (the baseline's two rows differ only in it).
    """
    argv = ["--mode", gan.mode]
    if gan.shares_pretraining_of:
        argv += ["--pretrained", "{gans}/" + gan.shares_pretraining_of]
    if not gan.pretrain:
        argv += ["--augment-factor", str(gan.augment_factor)]
    return argv


# (name, train options): the order matters, MTT-GAN reuses the Transfer run's pretraining.
GAN_STEPS = tuple((gan.name, gan_options(gan)) for gan in registry.training_order())


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mttgan_min.reproduce", formatter_class=HelpFormatter,
                                description="Train the paper's four GANs and evaluate them (Tables I and II, "
                                            "controls, GAN measures) in one resumable command.")
    a = p.add_argument
    a("--device", choices=backend.DEVICES, default="cpu", help="cpu (NumPy) or gpu (CuPy)")
    a("--preset", choices=sorted(PRESETS), default=None, help="GAN and classifier size (default: tiny on cpu, paper on gpu)")
    a("--kaggle-dir", metavar="DIR", default=None, help="the Kaggle pneumonia folder (default: synthetic pool)")
    a("--covid-dir", metavar="DIR", default=None, help="the covid-chestxray-dataset folder (default: synthetic)")
    a("--seed", type=int, default=0, help="the GANs' seed (data split, initialisation, batches)")
    a("--out", metavar="DIR", default=None, help="where everything goes (default: runs/reproduce-<preset>)")
    g = p.add_argument_group("shorter schedules and subsets (default: each preset's own, everything)")
    g.add_argument("--pretrain-epochs", type=positive_int, default=None, metavar="E", help="GAN pretraining epochs")
    g.add_argument("--finetune-epochs", type=positive_int, default=None, metavar="E", help="GAN fine-tuning epochs")
    g.add_argument("--max-iters-per-epoch", type=int, default=None, metavar="N", help="cap each GAN epoch")
    g.add_argument("--epochs", type=positive_int, default=None, help="classifier epochs")
    g.add_argument("--images-per-class", type=positive_int, default=None, metavar="N",
                   help="classifier training images per class")
    g.add_argument("--seeds", default=None, help="classifier seeds (a count or a list)")
    g.add_argument("--classifiers", default=None, help="comma-separated subset of vgg19,alexnet")
    g.add_argument("--task", choices=("binary", "multiclass", "both"), default=None, help="Table I, II or both")
    return p


def _opt(flag, value):
    return [] if value is None else [flag, str(value)]


def gan_argv(args, name, extra, gans):
    """The ``train`` command line of one GAN (a fresh run)."""
    argv = [x.format(gans=gans) for x in extra] + ["--device", args.device, "--preset", args.preset,
                                                  "--seed", str(args.seed), "--out", str(gans / name)]
    argv += _opt("--covid-dir", args.covid_dir)
    gan = registry.GANS[name]
    if gan.pretrain and not gan.shares_pretraining_of:  # it runs the pretraining: the Kaggle pool
        argv += _opt("--kaggle-dir", args.kaggle_dir) + _opt("--pretrain-epochs", args.pretrain_epochs)
    argv += _opt("--finetune-epochs", args.finetune_epochs) + _opt("--max-iters-per-epoch", args.max_iters_per_epoch)
    return argv


def eval_argv(args, gans, out):
    argv = [a for name, _ in GAN_STEPS for a in ("--gan", f"{name}={gans / name}")]
    argv += ["--controls", "--quality", "--device", args.device, "--out", str(out)]
    argv += _opt("--kaggle-dir", args.kaggle_dir) + _opt("--covid-dir", args.covid_dir)
    for flag in ("epochs", "images_per_class", "seeds", "classifiers", "task"):
        argv += _opt("--" + flag.replace("_", "-"), getattr(args, flag))
    return argv


def step(title, module, argv):
    print(f"\n== {title}: python -m mttgan_min.{module.__name__.rsplit('.', 1)[1]} {' '.join(argv)}", flush=True)
    return module.main(argv)


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.preset = args.preset or ("paper" if args.device == "gpu" else "tiny")
    out = Path(args.out or f"runs/reproduce-{args.preset}")
    gans = out / "gans"
    try:
        for opt in ("kaggle_dir", "covid_dir"):
            d = getattr(args, opt)
            if d is not None and not Path(d).is_dir():
                raise UsageError(f"--{opt.replace('_', '-')} {d} is not a directory.")
            if d is not None:
                setattr(args, opt, str(Path(d).resolve()))
        backend.resolve_device(args.device)
    except (UsageError, backend.DeviceUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    gans.mkdir(parents=True, exist_ok=True)
    for name, extra in GAN_STEPS:
        run = gans / name
        if (run / "generator.npz").is_file():
            print(f"== {name}: finished earlier ({run}), skipped")
            continue
        if (run / "checkpoint.npz").is_file():
            code = step(f"{name} (resumed)", train, ["--resume", str(run), "--device", args.device])
        else:
            code = step(name, train, gan_argv(args, name, extra, gans))
        if code != 0:
            print(f"reproduce stopped at the {name} GAN; run the same command again to continue.", file=sys.stderr)
            return code
    ev = out / "evaluation"
    if (ev / "config.json").is_file():
        code = step("evaluation (resumed)", evaluate, ["--resume", str(ev), "--device", args.device])
    else:
        code = step("evaluation", evaluate, eval_argv(args, gans, ev))
    if code != 0:
        print("reproduce stopped in the evaluation; run the same command again to continue.", file=sys.stderr)
        return code
    print(f"\nall done: {ev / 'table1.md'}, {ev / 'table2.md'}, {ev / 'results.csv'}, {ev / 'quality'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
