"""Rerun the paper's evaluation (Secs. V-VI, Tables I and II): ``python -m mttgan_min.evaluate``.

For each task (binary normal vs COVID, four classes) and each row of the paper's tables, a training set
of real Kaggle images plus generated (or real + generated) COVID images is assembled
(``evaluation.trainsets``), VGG-19 and AlexNet are trained from scratch on it (``evaluation.classifiers``,
``evaluation.train_classifier``) and tested on the held-out real images of the data layer's split, the
same images the GANs never saw. ``--controls`` adds the real-only row, the pixel-shortcut logistic
regressions and the adult non-COVID probe; ``--quality`` measures the generated images themselves.

Outputs in --out: config.json, results.csv, table1.md, table2.md, controls.md (with --controls),
tests.csv, confusion/ (CSV + PNG), classifiers/<task>/<row>/<classifier>-seed<s>/ (curves.csv,
curves.png, predictions.csv, result.json; checkpoint.npz only while that classifier trains),
generated/ (the images used, with grids), quality/ (quality.json and pictures, samples_beside_real.png
among them). Ctrl-C (or SIGTERM) stops after the current batch; --resume OUT continues (each classifier
from its last finished epoch). Before any work it prints its plan (``mttgan_min.plan``: the classifier
jobs, their time estimated from a few batches timed here, the disk they need) and refuses a start the
disk cannot hold; ``--plan`` prints it and stops.
"""
import argparse
import csv
import hashlib
import json
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import __version__, backend, plan
from .cli import HelpFormatter, UsageError, exit_code, non_negative_int, per_preset, positive_int, sigterm_as_interrupt
from .data import DataError, prepare_data
from .data.prepare import PAPER_COVID_TRAIN
from .evaluation import controls, stats, tables
from .evaluation.classifiers import NAMES as CLASSIFIER_NAMES, build_classifier
from .evaluation.train_classifier import predict_proba, train_classifier, write_curves
from .evaluation.trainsets import (GANS, ROW_SOURCES, TASK_CLASSES, TrainSetError, build_training_set, check_pools,
                                   file_sha256, generate_from_run, load_png_folder, png_size)
from .fileio import atomic_write
from .models import PRESETS
from .run import rundir
from .run.checkpoint import CheckpointError, previous_path
from .run.loop import NonFiniteError, StopFlag, Stopped
from .run.pictures import save_sample_grid
from .fast import speed
from .layers import REFERENCE

# Per-preset defaults (docs/design.md, "Classifier training"): the paper's lr 1e-5, 50 epochs and 1,400
# images per class on the GPU; on the CPU fewer images (the synthetic pools hold 305-627 Kaggle images per
# class), fewer epochs and a larger learning rate so that both networks learn within minutes.
EVAL_DEFAULTS = {
    "paper": dict(epochs=50, lr=1e-5, images_per_class=1400, seeds=3),
    "small": dict(epochs=20, lr=1e-4, images_per_class=300, seeds=1),
    "tiny": dict(epochs=8, lr=3e-4, images_per_class=150, seeds=1),
}
SIZE_PRESET = {p.image_size: name for name, p in PRESETS.items()}
PIXEL_GRIDS = (4, 8)
RESULT_KEYS = ("task", "row", "classifier", "seed")


def _per_preset(key):
    return per_preset(EVAL_DEFAULTS, key)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mttgan_min.evaluate", formatter_class=HelpFormatter,
                                description="Train the paper's classifiers on generated COVID images and test them on "
                                "held-out real ones (Tables I and II), with controls and GAN measures.",
                                epilog="Exit codes: 0 done, 1 failed, 2 usage error, 130/143 stopped "
                                       "(continue with --resume OUT).")
    a = p.add_argument
    a("--gan", action="append", default=[], metavar="NAME=RUN",
      help=f"a finished training run for one of {', '.join(GANS)} (repeatable)")
    a("--generated", action="append", default=[], metavar="NAME=DIR",
      help="a folder of generated PNGs (e.g. from python -m mttgan_min.sample) instead of a run (repeatable)")
    a("--kaggle-dir", metavar="DIR", default=None, help="the Kaggle pneumonia folder (default: synthetic pool)")
    a("--covid-dir", metavar="DIR", default=None,
      help="the covid-chestxray-dataset folder (default: the runs' own, else synthetic)")
    a("--task", choices=("binary", "multiclass", "both"), default="both", help="Table I, Table II or both")
    a("--classifiers", default="vgg19,alexnet", help="comma-separated subset of vgg19,alexnet")
    a("--controls", action="store_true", help="add the real-only row, the pixel shortcut and the adult probe")
    a("--quality", action="store_true", help="measure the generated images (two-sample test, memorisation, "
      "diversity, histograms, power spectra)")
    a("--seeds", default=None, help="classifier seeds, e.g. 0,1,2, or a count like 3 " + _per_preset("seeds"))
    a("--epochs", type=positive_int, default=None, help="classifier epochs " + _per_preset("epochs"))
    a("--lr", type=float, default=None, help="classifier Adam learning rate " + _per_preset("lr"))
    a("--images-per-class", type=positive_int, default=None, metavar="N",
      help="training images per class before the 30%% validation split " + _per_preset("images_per_class"))
    a("--select", choices=("final", "best"), default="final",
      help="report the final-epoch model or the best-validation one")
    a("--latent-seed", type=non_negative_int, default=0, metavar="SEED", help="seed of the generators' latent vectors")
    a("--split-seed", type=non_negative_int, default=None, metavar="SEED",
      help="held-out split seed when only --generated folders are given (default: the runs' seed, else 0)")
    a("--device", choices=backend.DEVICES, default=None, help="cpu (NumPy) or gpu (CuPy) (default: cpu; with --resume: the recorded one)")
    a("--tf32", action="store_true", help=backend.TF32_HELP + " (with --resume: the recorded one)")
    a("--out", metavar="DIR", default=None, help="the evaluation directory to create (required unless --resume)")
    a("--resume", metavar="DIR", default=None, help="continue the evaluation in DIR (only --device, --plan and "
      "--seconds-per-batch may be given)")
    a("--plan", action="store_true", help="print the plan (every classifier job with its epochs and batches, the "
      "estimated time, the disk needed) and exit without writing anything; without it the plan is printed "
      "before the work starts, and a start the disk cannot hold is refused")
    a("--seconds-per-batch", metavar="NAME=S,...", default=None,
      help="seconds of one training batch per classifier measured elsewhere, e.g. vgg19=2.5,alexnet=0.4, used for "
           "the plan's time instead of timing a few batches here (default: time them here)")
    return p


# --- options ------------------------------------------------------------------------------------
def _pairs(items, what):
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise UsageError(f"--{what} expects NAME=PATH, got {item!r}.")
        if name not in GANS:
            raise UsageError(f"--{what} {item}: NAME must be one of {', '.join(GANS)}.")
        if name in out:
            raise UsageError(f"--{what} names {name} twice.")
        out[name] = path
    return out


def _seeds(text, default_count):
    if text is None:
        return list(range(default_count))
    try:
        parts = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds expects a count or comma-separated whole numbers, got {text!r}.") from None
    if not parts or any(s < 0 for s in parts):
        raise UsageError(f"--seeds expects a count or comma-separated whole numbers, got {text!r}.")
    return list(range(parts[0])) if len(parts) == 1 and "," not in text else sorted(set(parts))


def resolve_options(args, argv):
    """The evaluation's complete settings from the command line (raises UsageError)."""
    gans, folders = _pairs(args.gan, "gan"), _pairs(args.generated, "generated")
    both = sorted(set(gans) & set(folders))
    if both:
        raise UsageError(f"{both[0]} is given both as --gan and as --generated; choose one.")
    if not gans and not folders and not args.controls:
        raise UsageError("nothing to evaluate: give at least one --gan NAME=RUN or --generated NAME=DIR "
                         "(or --controls for the real-only row).")
    if not args.out:
        raise UsageError("--out DIR is required (or --resume DIR to continue an evaluation).")
    runs = {}
    for name, run in gans.items():
        run = Path(run)
        if not (run / "config.json").is_file():
            raise UsageError(f"--gan {name}={run} is not a run directory (no config.json).")
        if not (run / "generator.npz").is_file():
            raise UsageError(f"--gan {name}={run} has no generator.npz: its training has not finished.")
        runs[name] = {"options": rundir.read_options(run / "config.json")}
    for name, folder in folders.items():
        if not Path(folder).is_dir():
            raise UsageError(f"--generated {name}={folder} is not a folder.")
    presets = {r["options"]["preset"] for r in runs.values()}
    sizes = {png_size(f) for f in folders.values()} - {None}
    presets |= {SIZE_PRESET.get(s, f"{s}px") for s in sizes}
    if len(presets) > 1:
        raise UsageError(f"the GANs were trained at different sizes ({', '.join(sorted(presets))}); "
                         "all rows must share one image size.")
    preset = presets.pop() if presets else ("paper" if args.device == "gpu" else "tiny")
    if preset not in EVAL_DEFAULTS:
        raise UsageError(f"the generated images are {preset}, but the classifiers exist at 32, 64 and 128 px.")
    seeds = {r["options"]["seed"] for r in runs.values()}
    if len(seeds) > 1 or (args.split_seed is not None and seeds and args.split_seed not in seeds):
        raise UsageError(f"the runs were split with different seeds ({sorted(seeds)}), so their held-out test "
                         "images differ.")
    split_seed = seeds.pop() if seeds else (args.split_seed or 0)
    caps = {r["options"].get("covid_train_cap", PAPER_COVID_TRAIN) for r in runs.values()}
    if len(caps) > 1:
        raise UsageError(f"the runs trained on different numbers of real COVID images (--covid-train-cap "
                         f"{', '.join(map(str, sorted(caps, key=str)))}), so their real training images differ.")
    covid_train_cap = caps.pop() if caps else PAPER_COVID_TRAIN
    covid_dirs = {r["options"].get("covid_dir") for r in runs.values()}
    covid_dir = args.covid_dir or (covid_dirs.pop() if len(covid_dirs) == 1 else None)
    kaggle_dirs = {r["options"].get("kaggle_dir") for r in runs.values()} - {None}
    kaggle_dir = args.kaggle_dir or (kaggle_dirs.pop() if len(kaggle_dirs) == 1 else None)
    for opt, d in (("kaggle-dir", kaggle_dir), ("covid-dir", covid_dir)):
        if d is not None and not Path(d).is_dir():
            raise UsageError(f"--{opt} {d} is not a directory.")
    device = args.device or "cpu"
    return dict(
        gans={k: str(Path(v).resolve()) for k, v in gans.items()},
        generated={k: str(Path(v).resolve()) for k, v in folders.items()},
        kaggle_dir=None if kaggle_dir is None else str(Path(kaggle_dir).resolve()),
        covid_dir=None if covid_dir is None else str(Path(covid_dir).resolve()),
        controls=bool(args.controls), quality=bool(args.quality), **classifier_options(args, preset),
        select=args.select, latent_seed=args.latent_seed, split_seed=split_seed, covid_train_cap=covid_train_cap,
        preset=preset, device=device, tf32=bool(args.tf32) or (device == "gpu" and backend.tf32_from_environment()),
        out=str(args.out), data_seed=0)


def classifier_options(args, preset):
    """The classifiers' settings at ``preset`` from the command line (raises UsageError): tasks,
    classifiers, seeds, epochs, lr, images_per_class. ``reproduce`` plans its evaluation with them."""
    names = [c.strip() for c in args.classifiers.split(",") if c.strip()]
    bad = [c for c in names if c not in CLASSIFIER_NAMES]
    if bad or not names:
        raise UsageError(f"--classifiers must name some of {', '.join(CLASSIFIER_NAMES)}, got {args.classifiers!r}.")
    d = EVAL_DEFAULTS[preset]
    lr = d["lr"] if args.lr is None else args.lr
    if not (np.isfinite(lr) and lr > 0):
        raise UsageError(f"--lr must be a positive number, not {lr}.")
    return dict(tasks=["binary", "multiclass"] if args.task == "both" else [args.task], classifiers=names,
                seeds=_seeds(args.seeds, d["seeds"]), epochs=args.epochs or d["epochs"], lr=lr,
                images_per_class=args.images_per_class or d["images_per_class"])


# --- the held-out split ---------------------------------------------------------------------------
def check_split(prepared, cfg):
    """Refuse runs whose held-out test images differ from each other's or from this evaluation's."""
    ours = prepared.manifest["test"]
    for name, run in cfg["gans"].items():
        path = Path(run) / rundir.SPLIT
        if not path.is_file():
            raise UsageError(f"--gan {name}={run} has no split.json, so its held-out split cannot be checked.")
        theirs = rundir.read_json(path)["test"]
        for cls, files in theirs.items():
            if ours.get(cls) != files:
                raise UsageError(f"the held-out {cls} images of --gan {name} differ from this evaluation's "
                                 "(another seed or data folder): rerun with the GANs' --kaggle-dir/--covid-dir.")


def manifest_hash(manifest):
    return hashlib.sha256(json.dumps(manifest["test"], sort_keys=True).encode()).hexdigest()


# --- one classifier -------------------------------------------------------------------------------
def write_predictions(path, files, y_true, proba, classes):
    def write(f):
        text = f"file,true,predicted,{','.join('p_' + c for c in classes)}\n"
        text += "".join(f"{fl},{classes[t]},{classes[int(p.argmax())]},{','.join(f'{v:.6f}' for v in p)}\n"
                        for fl, t, p in zip(files, y_true, proba))
        f.write(text.encode())
    atomic_write(path, write)


def discard_checkpoint(path):
    """Delete a finished classifier's checkpoint (and its previous version): its predictions and result are
    stored, so the weights and Adam moments (845 MB for VGG-19 at 128 px) are not needed again."""
    for p in (path, previous_path(path)):
        p.unlink(missing_ok=True)


def run_classifier(cfg, out, key, x, y, test, probe, xp, stop, tier=REFERENCE):
    """Train (or resume, or load) one classifier; returns (results row, y_pred)."""
    task, row, name, seed = key
    classes = TASK_CLASSES[task]
    folder = out / "classifiers" / task / row / f"{name}-seed{seed}"
    if (folder / "result.json").is_file():
        saved = rundir.read_json(folder / "result.json")
        return saved["row"], np.asarray(saved["y_pred"], dtype=int)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 31337])
    net = build_classifier(name, cfg["preset"], len(classes), rng=rng, tier=tier)
    fit = train_classifier(net, x, y, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed, xp=xp, select=cfg["select"],
                           checkpoint=folder / "checkpoint.npz", stop=stop, desc=f"{task} {row} {name} s{seed}")
    proba = predict_proba(net, test["x"], xp)
    y_pred = proba.argmax(1)
    write_predictions(folder / "predictions.csv", test["files"], test["y"], proba, classes)
    write_curves(fit["history"], folder / "curves.csv", folder / "curves.png", f"{task}, {row}, {name}, seed {seed}")
    result = dict(task=task, row=row, classifier=name, seed=seed, **stats.summarize(test["y"], y_pred, classes),
                  val_accuracy=fit["val_accuracy"], epoch=fit["epoch"], select=fit["select"],
                  train_images=fit["split"]["train"], val_images=fit["split"]["val"])
    result.update(probe_rate="", probe_k="", probe_n="")
    if task == "binary" and probe is not None and len(probe):
        rate = controls.covid_call_rate(predict_proba(net, probe, xp).argmax(1), classes.index("covid"))
        result.update(probe_rate=rate["value"], probe_k=rate["k"], probe_n=rate["n"],
                      probe_low=rate["low"], probe_high=rate["high"])
    rundir.write_json(folder / "result.json", {"row": result, "y_pred": y_pred.tolist()})
    discard_checkpoint(folder / "checkpoint.npz")
    return result, y_pred


def run_pixel_controls(task, row, x, y, test):
    """The pixel-shortcut logistic regressions (4x4 and 8x8 mean-pooled pixels) on one training set."""
    out = []
    for grid in PIXEL_GRIDS:
        y_pred = np.asarray(controls.pixel_shortcut(x, y, test["x"], grid, len(TASK_CLASSES[task])), dtype=int)
        res = dict(task=task, row=row, classifier=f"pixel{grid}x{grid}", seed=0,
                   **stats.summarize(test["y"], y_pred, TASK_CLASSES[task]))
        out.append((res, y_pred))
    return out


# --- the whole evaluation -------------------------------------------------------------------------
def task_test(prepared, task):
    classes = TASK_CLASSES[task]
    keep = np.isin(prepared.test.labels, classes)
    ds = prepared.test.subset(keep)
    return {"x": ds.images, "y": np.array([classes.index(c) for c in ds.labels]), "files": ds.files}


def gather_generated(cfg, out, xp, tier=REFERENCE):
    """{gan: images} for every --gan and --generated, cached in out/generated/<gan>.npz; and their records."""
    n = cfg["images_per_class"]
    gen_dir = out / "generated"
    gen_dir.mkdir(parents=True, exist_ok=True)
    images, records = {}, {}
    for name in GANS:
        cache = gen_dir / f"{name}.npz"
        if name in cfg["gans"]:
            if cache.is_file():
                with np.load(cache, allow_pickle=False) as z:
                    images[name] = z["images"].astype(np.float32) / np.float32(255.0)
                    records[name] = json.loads(str(z["record"]))
                if records[name]["generator_sha256"] != file_sha256(Path(cfg["gans"][name]) / "generator.npz"):
                    raise UsageError(f"the generator of --gan {name} changed since this evaluation started.")
                continue
            images[name], records[name] = generate_from_run(cfg["gans"][name], n, cfg["latent_seed"], xp, tier=tier)
        elif name in cfg["generated"]:
            images[name], records[name] = load_png_folder(cfg["generated"][name], n, PRESETS[cfg["preset"]].image_size)
        else:
            continue
        u8 = np.round(images[name] * 255).astype(np.uint8)
        atomic_write(cache, lambda f: np.savez(f, images=u8, record=np.array(json.dumps(records[name]))))
        save_sample_grid(gen_dir / f"{name}.png", [(f"{name}: first 32 of {n}", images[name][:32])],
                                ncols=8, min_width=256)
    return images, records


def planned_rows(cfg, available):
    rows = [r for r in tables.ROWS if ROW_SOURCES[r][0] in available]
    return rows + (["real_only"] if cfg["controls"] else [])


def write_results_csv(path, results):
    keys = []
    for r in results:
        keys += [k for k in r if k not in keys]

    def write(f):
        import io
        text = io.StringIO()
        w = csv.DictWriter(text, fieldnames=keys)
        w.writeheader()
        for r in results:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        f.write(text.getvalue().encode())
    atomic_write(path, write)


def load_data(cfg):
    """The prepared data of an evaluation with settings ``cfg`` (``data.prepare_data``)."""
    return prepare_data(cfg["kaggle_dir"], cfg["covid_dir"], size=PRESETS[cfg["preset"]].image_size,
                        seed=cfg["split_seed"], covid_train_cap=cfg.get("covid_train_cap", PAPER_COVID_TRAIN))


def held_out_count(prepared, task):
    """How many held-out test images the classifiers of ``task`` are tested on."""
    return int(np.isin(prepared.test.labels, TASK_CLASSES[task]).sum())


def classifier_jobs(cfg, out, rows, test_counts):
    """The evaluation's classifier jobs as ``plan.ClassifierJobs`` (one per task and classifier), with
    those finished earlier in ``out`` counted; test_counts: {task: held-out images}."""
    jobs = []
    for task in cfg["tasks"]:
        for name in cfg["classifiers"]:
            done = sum((out / "classifiers" / task / row / f"{name}-seed{seed}" / "result.json").is_file()
                       for row in rows for seed in cfg["seeds"])
            jobs.append(plan.ClassifierJobs(task, name, list(rows), list(cfg["seeds"]), cfg["epochs"],
                                            len(TASK_CLASSES[task]), cfg["images_per_class"], test_counts[task],
                                            done))
    return jobs


def classifier_work(cfg, out, prepared, names, preset):
    """(classifier jobs, [(what, bytes)] of disk still needed) of an evaluation in ``out`` of the GANs ``names``
    at ``preset``: the jobs of ``classifier_jobs`` and ``plan.evaluation_disk`` for the images not yet drawn."""
    jobs = classifier_jobs(cfg, out, planned_rows(cfg, names), {t: held_out_count(prepared, t) for t in cfg["tasks"]})
    fresh = [g for g in names if not (out / "generated" / f"{g}.npz").is_file()]
    return jobs, plan.evaluation_disk(preset, fresh, jobs, cfg.get("select", "final"))


def make_plan(cfg, out, prepared, seconds_per_batch=None, say=print):
    """The evaluation's ``plan.Plan``: its classifier jobs, their time on cfg's device, the disk they need."""
    jobs, disk = classifier_work(cfg, out, prepared, list(cfg["gans"]) + list(cfg["generated"]), cfg["preset"])
    timing = plan.measure(cfg["preset"], cfg["device"], plan.kinds_to_time([], jobs), seconds_per_batch,
                          cfg.get("tf32", False), say)
    title = (f"evaluate on the {cfg['device']}{' with TF32' if cfg.get('tf32') else ''}, preset {cfg['preset']}, "
             f"into {out}")
    return plan.Plan(title, classifier_jobs=jobs, timing=timing, data=plan.data_lines(prepared, cfg["split_seed"]),
                     disk=disk)


def run_evaluation(cfg, out, resume, argv=None, tier=REFERENCE, prepared=None):
    xp = backend.resolve_device(cfg["device"], cfg.get("tf32", False))
    size = PRESETS[cfg["preset"]].image_size
    prepared = prepared or load_data(cfg)
    check_split(prepared, cfg)
    check_pools(prepared.kaggle_train, cfg["tasks"], cfg["images_per_class"])
    if resume:
        saved = rundir.read_json(out / "config.json")
        if saved.get("split_manifest_sha256") != manifest_hash(prepared.manifest):
            raise UsageError(f"the held-out split differs from the one recorded in {out / 'config.json'}, "
                             "so the evaluation cannot be resumed.")
    images, records = gather_generated(cfg, out, xp, tier)
    if not resume:
        rundir.write_json(out / "config.json", {
            "mttgan_min_version": __version__, "git_commit": rundir.git_commit(),
            "command": [Path(sys.executable).name, "-m", "mttgan_min.evaluate"]
            + list(sys.argv[1:] if argv is None else argv),
            "created": datetime.now().isoformat(timespec="seconds"), "options": cfg,
            "defaults": EVAL_DEFAULTS[cfg["preset"]],
            "gan_runs": {k: rundir.read_json(Path(v) / "config.json") for k, v in cfg["gans"].items()},
            "generated": records, "split_manifest_sha256": manifest_hash(prepared.manifest),
            "data": {"source": prepared.source, "counts": prepared.manifest["counts"]}})
    probe = None
    if cfg["controls"]:
        exclude = list(prepared.covid_train.files)
        probe = controls.load_adult_probe(cfg["covid_dir"], size, exclude)
    rows = planned_rows(cfg, images)
    jobs = [(t, r, c, s) for t in cfg["tasks"] for r in rows for c in cfg["classifiers"] for s in cfg["seeds"]]
    results, predictions, compositions = [], {}, {}
    with StopFlag() as stop, tqdm(total=len(jobs), desc="classifiers", unit="net") as bar:
        for task in cfg["tasks"]:
            test = task_test(prepared, task)
            for row in rows:
                gan = ROW_SOURCES[row][0]
                x, y, comp = build_training_set(task, row, prepared.kaggle_train, prepared.covid_train,
                                                images.get(gan), cfg["images_per_class"], cfg["data_seed"])
                compositions[f"{task}/{row}"] = comp
                for name in cfg["classifiers"]:
                    for seed in cfg["seeds"]:
                        key = (task, row, name, seed)
                        res, y_pred = run_classifier(cfg, out, key, x, y, test, probe, xp, stop, tier)
                        res["train_counts"] = json.dumps(comp)
                        results.append(res)
                        predictions[key] = {"y_true": test["y"], "y_pred": y_pred, "files": test["files"]}
                        bar.update(1)
                if cfg["controls"]:
                    for res, y_pred in run_pixel_controls(task, row, x, y, test):
                        results.append(res)
                        predictions[(task, row, res["classifier"], 0)] = \
                            {"y_true": test["y"], "y_pred": y_pred, "files": test["files"]}
                if stop.signum is not None:
                    raise Stopped(128 + int(stop.signum))
    write_results_csv(out / "results.csv", results)
    tables.write_outputs(results, predictions, out)
    rundir.write_json(out / "training_sets.json", compositions)
    if cfg["quality"] and images:
        from .evaluation import quality
        test_covid = prepared.test.labels == "covid"
        quality.write_quality(images, prepared.covid_train.images, prepared.test.images[test_covid],
                              out / "quality", cfg["data_seed"], train_groups=prepared.covid_train.patients,
                              test_groups=prepared.test.patients[test_covid],  # a patient's films in one fold
                              kaggle_train=prepared.kaggle_train.images)
    return results


@sigterm_as_interrupt()  # before the loop, SIGTERM = Ctrl-C
def main(argv=None):
    """Entry point; returns the exit code (0 done, 1 failed, 2 usage error, 130/143 stopped)."""
    args = build_parser().parse_args(argv)
    out = None
    try:
        if args.resume:
            given = [k for k, v in vars(args).items() if k not in ("resume", "device", "plan", "seconds_per_batch")
                     and v not in (None, [], False, build_parser().get_default(k))]
            if given:
                raise UsageError(f"--resume takes every setting from the evaluation's config.json, so it "
                                 f"cannot be combined with --{given[0].replace('_', '-')}.")
            out = Path(args.resume)
            if not (out / "config.json").is_file():
                raise UsageError(f"--resume {out} is not an evaluation directory (no config.json).")
            cfg = rundir.read_options(out / "config.json")
            if args.device:
                cfg["device"] = args.device
            cfg["tf32"] = backend.resumed_tf32(cfg)
            resume = True
        else:
            cfg = resolve_options(args, argv)
            out = Path(cfg["out"])
            if (out / "config.json").exists():
                raise UsageError(f"--out {out} already holds an evaluation: continue it with --resume {out} "
                                 "or choose another --out.")
            resume = False
        backend.check_tf32(cfg["device"], cfg.get("tf32", False))
        if not args.plan:
            backend.resolve_device(cfg["device"], cfg.get("tf32", False))
        try:
            seconds = plan.parse_seconds_per_batch(args.seconds_per_batch, CLASSIFIER_NAMES)
        except ValueError as err:
            raise UsageError(str(err)) from None
        prepared = load_data(cfg)
        check_pools(prepared.kaggle_train, cfg["tasks"], cfg["images_per_class"])
        the_plan = make_plan(cfg, out, prepared, seconds)
        print("\n".join(the_plan.lines()), flush=True)
        if args.plan:
            return 0
        the_plan.check_room(out)
        rundir.prepare_run_dir(out, plan.EVAL_OUTPUT_BYTES)
        with speed(cfg["device"]) as fast:
            results = run_evaluation(cfg, out, resume, argv, fast.tier, prepared)
    except BaseException as err:
        return exit_code(err, failures(out))
    tables_written = [f for f in ("table1.md", "table2.md", "controls.md") if (out / f).is_file()]
    print(f"done: {len(results)} results in {out / 'results.csv'}; {', '.join(tables_written)}, tests.csv "
          f"and confusion/ in {out}")
    return 0


def failures(out):
    """What each failure of an evaluation in ``out`` prints, and its exit code (``cli.exit_code``)."""
    def interrupted(err):
        started = out is not None and (out / "config.json").is_file()
        return (f"interrupted; continue with python -m mttgan_min.evaluate --resume {out}" if started else
                "interrupted before the evaluation started; nothing to resume, run the command again.")
    return (
        ((UsageError, DataError, TrainSetError, backend.DeviceUnavailable, rundir.RunDirError, CheckpointError), 2,
         lambda err: f"error: {err}"),
        (Stopped, lambda stopped: stopped.code,
         lambda err: f"stopped: every finished epoch is saved; continue with python -m mttgan_min.evaluate "
                     f"--resume {out}"),
        (KeyboardInterrupt, lambda err: getattr(err, "code", 130), interrupted),
        (NonFiniteError, 1, lambda err: f"error: {err}"),
        (OSError, 1, lambda err: f"error: could not write {err.filename or ''}: {err.strerror or err}."),
    )


if __name__ == "__main__":
    sys.exit(main())
