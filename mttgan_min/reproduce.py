"""The whole paper in one resumable command: ``python -m mttgan_min.reproduce``.

1. Transfer GAN: the shared pretraining on the Kaggle pool, then fine-tuning on the COVID pool (Sec. IV-A).
2. MTT-GAN: fine-tuning with EMA teachers from the Transfer run's pretraining (``--pretrained``), so both
   start from the same weights (Sec. IV-B).
3. Baseline GAN without augmentation (factor 1) and with augmentation x50, from scratch on COVID only.
4. The evaluation (``python -m mttgan_min.evaluate --controls --quality``) of all four.

Each step is ``python -m mttgan_min.train`` or ``evaluate`` with the options shown as it starts; the runs
live in OUT/gans/<name>, the evaluation in OUT/evaluation; OUT/reproduce_log.txt keeps the plan of every
start and how long it took. Run the same command again after a stop (Ctrl-C, a crash) and it
continues: finished steps are skipped, an interrupted one is resumed.
Before any work it prints its plan (``mttgan_min.plan``): the jobs, the time they should take on this device
(from a few iterations timed here) and the disk they need; ``--plan`` prints it and stops.
With no arguments: CPU, tiny preset, synthetic data, everything in about 5-15 minutes on 2 cores.
"""
import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

from . import backend, evaluate, plan, train
from . import gans as registry
from .cli import HelpFormatter, UsageError, non_negative_int, per_preset, positive_int, positive_seconds
from .data import DataError, prepare_data
from .data.prepare import PAPER_COVID_TRAIN
from .ema import BUFFER_MODES
from .evaluation.classifiers import NAMES as CLASSIFIER_NAMES
from .evaluation.trainsets import TrainSetError, check_pools
from .models import PRESETS, RESIDUAL_INITS, UPSAMPLE_INITS
from .run import rundir
from .run.loop import stage_records
from .run.options import D_LR_DEFAULT, PRESET_DEFAULTS, check_values, complete


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
LOG = "reproduce_log.txt"


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mttgan_min.reproduce", formatter_class=HelpFormatter,
                                description="Train the paper's four GANs and evaluate them (Tables I and II, "
                                            "controls, GAN measures) in one resumable command.\n"
                                            "It first prints its plan: every GAN job with its stages, epochs and "
                                            "iterations, every classifier job\nwith its epochs and batches, an "
                                            "estimate of the time from a few iterations timed on the device, and "
                                            "the\ndisk it needs; a start the disk cannot hold is refused. "
                                            "OUT/reproduce_log.txt keeps the plan of every start\nand how long it "
                                            "ran.",
                                epilog="Exit codes: 0 done, 1 failed, 2 usage error (or too little disk), 130/143 "
                                       "stopped (run the same command again to continue).")
    a = p.add_argument
    a("--device", choices=backend.DEVICES, default="cpu", help="cpu (NumPy) or gpu (CuPy, an NVIDIA GPU)")
    a("--tf32", action="store_true", help=backend.TF32_HELP + " of every GAN run and the evaluation")
    a("--preset", choices=sorted(PRESETS), default=None, help="GAN and classifier size: tiny 32px, small 64px, "
      "paper 128px (default: tiny on cpu, paper on gpu)")
    a("--kaggle-dir", metavar="DIR", default=None, help="the Kaggle 'Chest X-Ray Images (Pneumonia)' folder: the "
      "Transfer GAN's pretraining pool and the classifiers' normal, bacterial and viral images (default: "
      "synthetic pool)")
    a("--covid-dir", metavar="DIR", default=None, help="the ieee8023 covid-chestxray-dataset folder: every GAN's "
      "COVID pool and the held-out COVID test images (default: synthetic pool)")
    a("--seed", type=non_negative_int, default=0, help="the GANs' seed (data split, initialisation, batches); the "
      "evaluation tests on the held-out images of this split")
    a("--out", metavar="DIR", default=None, help="where everything goes: OUT/gans/<name> and OUT/evaluation "
      "(default: runs/reproduce-<preset>)")
    a("--plan", action="store_true", help="print the plan and exit without writing anything (the data cache in "
      "~/.cache/mttgan_min aside)")
    a("--seconds-per-iteration", type=positive_seconds, metavar="S", default=None,
      help="seconds of one GAN iteration at this preset measured elsewhere (python -m mttgan_min.bench prints "
           "ms_per_iter): the plan's time uses it instead of timing a few iterations here (default: time them here)")
    a("--seconds-per-batch", metavar="NAME=S,...", default=None,
      help="seconds of one classifier training batch measured elsewhere, e.g. vgg19=2.5,alexnet=0.4 (a plan "
           "prints them): the plan's time uses them instead of timing a few batches here (default: time them here)")
    g = p.add_argument_group("shorter schedules and subsets (each preset's own when not given)")
    g.add_argument("--pretrain-epochs", type=positive_int, default=None, metavar="E",
                   help="epochs of the Transfer GAN's pretraining on the Kaggle pool, which MTT-GAN shares "
                        + per_preset(PRESET_DEFAULTS, "pretrain_epochs"))
    g.add_argument("--finetune-epochs", type=positive_int, default=None, metavar="E",
                   help="epochs on the COVID pool of every GAN (the baselines' only stage) "
                        + per_preset(PRESET_DEFAULTS, "finetune_epochs"))
    g.add_argument("--max-iters-per-epoch", type=non_negative_int, default=None, metavar="N",
                   help="cap every GAN epoch at N iterations, 0 = no cap "
                        + per_preset(PRESET_DEFAULTS, "max_iters_per_epoch"))
    g.add_argument("--lr", type=float, default=None, metavar="LR",
                   help="Adam learning rate of every generator, and of every discriminator unless --d-lr is given "
                        + per_preset(PRESET_DEFAULTS, "lr"))
    g.add_argument("--d-lr", type=float, default=None, metavar="LR",
                   help="Adam learning rate of every discriminator " + D_LR_DEFAULT)
    g.add_argument("--d-beta1", type=float, default=None, metavar="BETA1",
                   help="Adam beta1 of every discriminator (0 = no momentum; the paper's 0.5 is also every "
                        "generator's) " + per_preset(PRESET_DEFAULTS, "d_beta1"))
    g.add_argument("--ema-decay", type=float, default=None, metavar="ALPHA",
                   help="MTT-GAN's teachers: teacher = alpha * teacher + (1 - alpha) * student after every step "
                        + per_preset(PRESET_DEFAULTS, "ema_decay"))
    g.add_argument("--ema-buffers", choices=BUFFER_MODES, default=None,
                   help="MTT-GAN's teachers: batch-norm running statistics averaged like the weights or copied "
                        "from the student (default: average)")
    g.add_argument("--latent-dim", type=positive_int, default=None, metavar="N",
                   help="size of z, every generator's input (100 is the paper's) "
                        + per_preset(PRESET_DEFAULTS, "latent_dim"))
    g.add_argument("--residual-init", choices=RESIDUAL_INITS, default=None,
                   help="how every generator's ResBlocks start, glorot, zero or zero-fine (as train's --residual-init; "
                        "MTT-GAN gets it through the Transfer run's pretraining) "
                        + per_preset(PRESET_DEFAULTS, "residual_init"))
    g.add_argument("--upsample-init", choices=UPSAMPLE_INITS, default=None,
                   help="how every generator's up-sampling convolutions start, glorot or nearest (as train's "
                        "--upsample-init; MTT-GAN gets it through the Transfer run's pretraining) "
                        + per_preset(PRESET_DEFAULTS, "upsample_init"))
    g.add_argument("--epochs", type=positive_int, default=None,
                   help="epochs of every classifier " + per_preset(evaluate.EVAL_DEFAULTS, "epochs"))
    g.add_argument("--images-per-class", type=positive_int, default=None, metavar="N",
                   help="classifier training images per class, 30%% of them held out for validation "
                        + per_preset(evaluate.EVAL_DEFAULTS, "images_per_class"))
    g.add_argument("--seeds", default=None, help="classifier seeds, a count like 3 or a list like 0,1,2 "
                   + per_preset(evaluate.EVAL_DEFAULTS, "seeds"))
    g.add_argument("--classifiers", default=None, help="comma-separated subset of vgg19,alexnet "
                                                       "(default: vgg19,alexnet)")
    g.add_argument("--task", choices=("binary", "multiclass", "both"), default=None,
                   help="Table I (binary: normal against COVID), Table II (multiclass: normal, bacterial, viral, "
                        "COVID) or both (default: both)")
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
    argv += _opt("--lr", args.lr) + _opt("--d-lr", args.d_lr) + _opt("--d-beta1", args.d_beta1)
    argv += _opt("--latent-dim", args.latent_dim)
    if not gan.shares_pretraining_of:  # one that does loads the pretrained generator
        argv += _opt("--residual-init", args.residual_init) + _opt("--upsample-init", args.upsample_init)
    if gan.teachers:
        argv += _opt("--ema-decay", args.ema_decay) + _opt("--ema-buffers", args.ema_buffers)
    return argv + (["--tf32"] if args.tf32 else [])


def eval_argv(args, gans, out):
    argv = [a for name, _ in GAN_STEPS for a in ("--gan", f"{name}={gans / name}")]
    argv += ["--controls", "--quality", "--device", args.device, "--out", str(out)]
    argv += _opt("--kaggle-dir", args.kaggle_dir) + _opt("--covid-dir", args.covid_dir)
    for flag in ("epochs", "images_per_class", "seeds", "classifiers", "task"):
        argv += _opt("--" + flag.replace("_", "-"), getattr(args, flag))
    return argv + (["--tf32"] if args.tf32 else [])


def measured_batches(timing):
    """The classifiers' seconds per batch of a plan as ``evaluate --seconds-per-batch`` takes them, so
    that the evaluation step does not time them again."""
    pairs = [f"{k}={v:.6g}" for k, v in timing.seconds.items() if k in CLASSIFIER_NAMES] if timing else []
    return ["--seconds-per-batch", ",".join(pairs)] if pairs else []


# --- the plan -------------------------------------------------------------------------------------
def gan_jobs(args, gans, counts):
    """A ``plan.GanJob`` per GAN, in training order: a run started earlier as its config.json records it,
    else as ``train`` will run it (its options through train's parser and ``run.options.complete``)."""
    run_bytes = plan.gan_run_bytes(args.preset)
    jobs = []
    for name, extra in GAN_STEPS:
        run = gans / name
        status = "finished" if (run / "generator.npz").is_file() else \
            "resume" if (run / "checkpoint.npz").is_file() else "to run"
        if status != "to run":
            stages = rundir.read_json(run / "config.json")["stages"]
        else:
            given = vars(train.build_parser().parse_args(gan_argv(args, name, extra, gans)))
            cfg = complete(given, given["mode"], args.preset, args.device)
            check_values(cfg)  # --lr, --d-lr, --ema-decay out of range: one sentence before any work
            stages = stage_records(cfg, counts)
        jobs.append(plan.GanJob(name, stages, status, registry.GANS[name].shares_pretraining_of,
                                0 if status == "finished" else run_bytes))
    return jobs


def make_plan(args, out, seconds=None, say=print):
    """reproduce's ``plan.Plan``: the GAN jobs, the evaluation's classifier jobs, their time on the device
    (timed here unless ``seconds`` {kind: seconds} gives it), the disk. Raises DataError, TrainSetError."""
    gans, ev = out / "gans", out / "evaluation"
    prepared = prepare_data(args.kaggle_dir, args.covid_dir, size=PRESETS[args.preset].image_size, seed=args.seed,
                            covid_train_cap=PAPER_COVID_TRAIN)
    counts = {"kaggle": len(prepared.kaggle_train.images), "covid": len(prepared.covid_train.images)}
    jobs = gan_jobs(args, gans, counts)
    if (ev / "config.json").is_file():
        ecfg = rundir.read_options(ev / "config.json")
    else:
        eargs = evaluate.build_parser().parse_args(eval_argv(args, gans, ev))
        ecfg = dict(evaluate.classifier_options(eargs, args.preset), controls=True)
    check_pools(prepared.kaggle_train, ecfg["tasks"], ecfg["images_per_class"])  # before hours of GAN training
    cjobs, eval_disk = evaluate.classifier_work(ecfg, ev, prepared, [name for name, _ in GAN_STEPS], args.preset)
    timing = plan.measure(args.preset, args.device, plan.kinds_to_time(jobs, cjobs), seconds, args.tf32, say)
    to_train = [j for j in jobs if j.todo]
    disk = [(f"GAN runs ({len(to_train)} x checkpoints, exports and samples)", sum(j.disk for j in to_train))]
    disk += eval_disk
    title = f"reproduce on the {args.device}{' with TF32' if args.tf32 else ''}, preset {args.preset}, into {out}"
    return plan.Plan(title, jobs, cjobs, disk, timing, plan.data_lines(prepared, args.seed))


def log_line(out, *lines):
    """Append ``lines`` to OUT/reproduce_log.txt, the record of every start (its plan) and finish, so that a run
    directory shows what its plan predicted beside what it took."""
    with open(out / LOG, "a") as f:
        f.write("".join(line + "\n" for line in lines))


def log_stop(out, where, code, started):
    log_line(out, f"== stopped in {where} (exit code {code}) "
                  f"{plan.duration_text(time.monotonic() - started)} after this start")


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
        try:
            seconds = plan.parse_seconds_per_batch(args.seconds_per_batch, CLASSIFIER_NAMES)
        except ValueError as err:
            raise UsageError(str(err)) from None
        if args.seconds_per_iteration:
            seconds["gan"] = args.seconds_per_iteration
        backend.check_tf32(args.device, args.tf32)
        if not args.plan:  # --plan lists the jobs and the disk on any machine
            backend.resolve_device(args.device, args.tf32)
        the_plan = make_plan(args, out, seconds)
        print("\n".join(the_plan.lines()), flush=True)
        if args.plan:
            return 0
        the_plan.check_room(out)
    except (UsageError, backend.DeviceUnavailable, DataError, TrainSetError, rundir.RunDirError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    gans.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log_line(out, f"== started {datetime.now().isoformat(timespec='seconds')}: python -m mttgan_min.reproduce "
             + " ".join(sys.argv[1:] if argv is None else argv), *the_plan.lines())
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
            log_stop(out, f"the {name} GAN", code, started)
            print(f"reproduce stopped at the {name} GAN; run the same command again to continue.", file=sys.stderr)
            return code
    ev = out / "evaluation"
    timed = measured_batches(the_plan.timing)
    if (ev / "config.json").is_file():
        code = step("evaluation (resumed)", evaluate, ["--resume", str(ev), "--device", args.device] + timed)
    else:
        code = step("evaluation", evaluate, eval_argv(args, gans, ev) + timed)
    if code != 0:
        log_stop(out, "the evaluation", code, started)
        print("reproduce stopped in the evaluation; run the same command again to continue.", file=sys.stderr)
        return code
    took = plan.duration_text(time.monotonic() - started)
    log_line(out, f"== finished {datetime.now().isoformat(timespec='seconds')}, {took} after this start")
    print(f"\nall done in {took}: {ev / 'table1.md'}, {ev / 'table2.md'}, {ev / 'controls.md'}, "
          f"{ev / 'results.csv'}, {ev / 'quality'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
