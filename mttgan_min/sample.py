"""Generate images from a training run: ``python -m mttgan_min.sample --run RUN --n 1241 --out DIR``.

Loads a generator from the run directory (by default ``RUN/generator.npz``: the teacher G for
MTT-GAN, the student G otherwise, Sec. IV-B; or the latest checkpoint, or the pretrained G),
draws latents of the run's kind (N(0, 1) or U[0, 1)) from a seeded generator and runs G in
inference mode (batch-norm running statistics) in batches. Writes ``DIR/gen_00000.png`` ...
(8-bit grayscale, the preset's size) and ``DIR/grid.png`` (the first 64 images, titled with
where they come from). These are the generated COVID images of the evaluation (Sec. V-VI: 1,400 or
1,241). A folder that already holds generated images is refused unless ``--overwrite`` is given,
which removes them first (docs/design.md, "Re-sampling into a folder").
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import backend
from .cli import HelpFormatter, UsageError, exit_code, non_negative_int, positive_int
from .layers.base import infer
from .models import build_generator, preset_of, sample_latent
from .run import rundir
from .run.checkpoint import CheckpointError, check_groups, check_preset, load_latest
from .run.pictures import save_png, save_sample_grid, to_uint8

SOURCES = {"final": "generator.npz", "checkpoint": "checkpoint.npz", "pretrained": "pretrained.npz"}
NETS = ("auto", "student", "teacher")
from .fast import speed
from .layers import REFERENCE


def load_generator(run, xp, source="final", net="auto", tier=REFERENCE):
    """(G in inference mode on xp, run options, description) from one of the run's files.

    source: "final" (generator.npz), "checkpoint" (the latest checkpoint) or "pretrained"
    (pretrained.npz). net: "student", "teacher" (checkpoints of MTT-GAN fine-tuning only) or
    "auto" (the teacher where there is one, as the run's export does). tier: the primitives G
    computes with (``layers/reference.py``; the commands pass the fast tier).
    """
    run = Path(run)
    if not (run / "config.json").is_file():
        raise UsageError(f"--run {run} is not a run directory (no config.json).")
    path = run / SOURCES[source]
    if not path.is_file() and not (source == "checkpoint" and (run / "checkpoint.prev.npz").is_file()):
        hints = {"final": f"training has not finished (continue it with python -m mttgan_min.train --resume "
                          f"{run}, or sample its latest checkpoint with --from checkpoint)",
                 "pretrained": "the run has no finished pretraining stage",
                 "checkpoint": "the run has not started training"}
        raise UsageError(f"{run} has no {path.name}: {hints[source]}.")
    try:
        cfg = rundir.read_json(run / "config.json")["options"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{run / 'config.json'} is unreadable or has no \"options\" record.") from None
    groups, meta, path = load_latest(path, warn=lambda text: print(text, file=sys.stderr))
    preset = preset_of(cfg)
    check_preset(path, meta, preset)
    has_teacher = "G_teacher" in groups
    if net == "teacher" and not has_teacher:
        raise UsageError(f"{path} holds no teacher G (only MTT-GAN fine-tuning has one): use --net student.")
    if source == "final":
        which = meta.get("generator", "?")
        if net != "auto" and net != which:
            raise UsageError(f"{path} holds the {which} G only: use --from checkpoint for the {net}.")
        group = "G"
    else:
        use_teacher = net == "teacher" or (net == "auto" and has_teacher)
        which, group = ("teacher", "G_teacher") if use_teacher else ("student", "G")
    G = build_generator(preset, tier=tier)
    check_groups(path, {"G": groups[group]}, {"G": G.state_dict()})
    G.load_state_dict(groups[group])
    where = f"{which} G of {path.name}"
    if source == "checkpoint":
        where += f" (stage index {meta['stage']}, {meta['epoch']} epochs and {meta['iteration']} iterations done)"
    return G.to(xp).set_training(False), cfg, where


def clear_out_dir(out, overwrite):
    """Refuse (or with ``overwrite`` remove) the images of an earlier sampling in ``out``."""
    old = sorted(out.glob("gen_*.png")) + ([out / "grid.png"] if (out / "grid.png").exists() else [])
    if old and not overwrite:
        raise UsageError(f"--out {out} already holds {len(old)} images of an earlier sampling: give "
                         "--overwrite to replace them, or choose another --out.")
    for path in old:
        path.unlink()


def generate_to_dir(G, n, out, latent, seed=0, batch=64, xp=np, progress=True, title=None):
    """Write n generated PNGs and a grid to ``out``; returns the list of file paths.

    Every file is written atomically, so a full disk leaves no empty or half PNG.
    """
    out = Path(out)
    rng = np.random.default_rng(seed)  # host latents: the same images on CPU and GPU
    latent_dim = G.input_shape[0]
    paths, first = [], []
    with tqdm(total=n, desc="sampling", unit="img", disable=None if progress else True) as bar:
        for start in range(0, n, batch):
            z = sample_latent(rng, min(batch, n - start), latent_dim, latent, np.float32)
            images = infer(G, z, xp, batch)
            for k, img in enumerate(to_uint8(images[..., 0])):  # one file per image
                path = out / f"gen_{start + k:05d}.png"
                save_png(path, img)
                paths.append(path)
            if len(first) < 64:
                first.extend(images[:64 - len(first)])
            bar.update(len(z))
    label = f"{n} samples (first {len(first)})"
    save_sample_grid(out / "grid.png", [(label, np.stack(first))], title=title, ncols=8, min_width=512)
    return paths


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mttgan_min.sample", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--run", required=True, metavar="RUN", help="a training run directory")
    p.add_argument("--from", dest="source", choices=sorted(SOURCES), default="final",
                   help="final: RUN/generator.npz (finished runs); checkpoint: the latest checkpoint "
                        "(runs in progress or stopped); pretrained: RUN/pretrained.npz")
    p.add_argument("--net", choices=NETS, default="auto",
                   help="which G: the student, the EMA teacher (MTT-GAN fine-tuning), or auto = the "
                        "teacher where there is one")
    p.add_argument("--n", type=positive_int, default=1241, help="how many images (1,241 = 1,400 - 159 real)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the PNG files go")
    p.add_argument("--overwrite", action="store_true",
                   help="remove the images of an earlier sampling in DIR first (else such a DIR is refused)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the latent vectors")
    p.add_argument("--batch", type=positive_int, default=64, help="images per generator call")
    p.add_argument("--device", choices=backend.DEVICES, default="cpu", help="cpu (NumPy) or gpu (CuPy)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        xp = backend.resolve_device(args.device)
        with speed(args.device) as fast:
            G, cfg, where = load_generator(args.run, xp, args.source, args.net, tier=fast.tier)
            out.mkdir(parents=True, exist_ok=True)
            clear_out_dir(out, args.overwrite)
            paths = generate_to_dir(G, args.n, out, cfg["latent"], args.seed, args.batch, xp,
                                    title=f"{where}, {Path(args.run).name}")
    except BaseException as err:
        return exit_code(err, (
            ((UsageError, CheckpointError, backend.DeviceUnavailable), 2, lambda err: f"error: {err}"),
            (OSError, 1, lambda err: f"error: cannot write {err.filename or out}: {err.strerror or err}; the "
                                     "images written before it are complete, none is half written."),
        ))
    print(f"wrote {len(paths)} images from the {where} in {args.run} to {out} (+ grid.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
