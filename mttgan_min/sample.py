"""Generate images from a finished run: ``python -m mttgan_min.sample --run RUN --n 1241 --out DIR``.

Loads ``RUN/generator.npz`` (the teacher G for MTT-GAN, the student G otherwise;
SPEC "Mean teacher"), draws latents of the run's kind (N(0, 1) or U[0, 1)) from
a seeded generator and runs G in inference mode (batch-norm running
statistics) in batches. Writes ``DIR/gen_00000.png`` ... (8-bit grayscale,
the preset's size) and ``DIR/grid.png`` (the first 64 images). These are the
generated COVID images of the evaluation (SPEC "Evaluation": 1,400 or 1,241).
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import backend
from .run import rundir
from .run.checkpoint import CheckpointError, check_groups, check_preset, load_checkpoint
from .gan_step import sample_latent
from .models import build_generator, get_preset
from .threads import blas_threads


class UsageError(Exception):
    """One-sentence user mistake; exit code 2."""


def load_generator(run, xp):
    """(G in inference mode on xp, run config) from RUN/generator.npz."""
    run = Path(run)
    if not (run / "config.json").is_file():
        raise UsageError(f"--run {run} is not a run directory (no config.json).")
    path = run / "generator.npz"
    if not path.is_file():
        raise UsageError(f"{run} has no generator.npz yet: training has not finished "
                         f"(continue it with python -m mttgan_min.train --resume {run}).")
    cfg = rundir.read_json(run / "config.json")["options"]
    groups, meta = load_checkpoint(path)
    check_preset(path, meta, cfg["preset"])
    G = build_generator(get_preset(cfg["preset"]))
    check_groups(path, groups, {"G": G.state_dict()})
    G.load_state_dict(groups["G"])
    return G.to(xp).set_training(False), cfg, meta


def to_uint8(images):
    """(N, S, S, 1) floats in [0, 1] -> (N, S, S) uint8."""
    return np.round(np.clip(images[..., 0], 0.0, 1.0) * 255).astype(np.uint8)


def generate_to_dir(G, n, out, latent, seed=0, batch=64, xp=np, progress=True):
    """Write n generated PNGs and a grid to ``out``; returns the list of file paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)  # host latents: the same images on CPU and GPU
    latent_dim = G.input_shape[0]
    paths, first = [], []
    with tqdm(total=n, desc="sampling", unit="img", disable=None if progress else True) as bar:
        for start in range(0, n, batch):
            z = sample_latent(rng, min(batch, n - start), latent_dim, latent, np.float32)
            images = backend.to_numpy(G.forward(backend.to_device(z, xp)))
            for k, img in enumerate(to_uint8(images)):  # one file per image
                path = out / f"gen_{start + k:05d}.png"
                Image.fromarray(img).save(path)
                paths.append(path)
            if len(first) < 64:
                first.extend(images[:64 - len(first)])
            bar.update(len(z))
    rundir.save_sample_grid(out / "grid.png", [(f"{n} samples (first {len(first)})", np.stack(first))], ncols=8, min_width=512)
    return paths


def build_parser():
    p = argparse.ArgumentParser(prog="python -m mttgan_min.sample", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--run", required=True, metavar="RUN", help="a finished training run directory")
    p.add_argument("--n", type=int, default=1241, help="how many images (1,241 = 1,400 - 159 real)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the PNG files go")
    p.add_argument("--seed", type=int, default=0, help="seed of the latent vectors")
    p.add_argument("--batch", type=int, default=64, help="images per generator call")
    p.add_argument("--device", choices=backend.DEVICES, default="cpu", help="cpu (NumPy) or gpu (CuPy)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.n < 1 or args.batch < 1:
            raise UsageError("--n and --batch must be at least 1.")
        xp = backend.resolve_device(args.device)
        G, cfg, meta = load_generator(args.run, xp)
        try:
            with blas_threads(args.device):
                paths = generate_to_dir(G, args.n, args.out, cfg["latent"], args.seed, args.batch, xp)
        except OSError as err:
            raise UsageError(f"cannot write to --out {args.out}: {err.strerror or err}.")
    except (UsageError, CheckpointError, backend.DeviceUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(paths)} images from the {meta.get('generator', '?')} generator of {args.run} "
          f"to {args.out} (+ grid.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
