"""Draw the README's pictures of the default run from a finished run directory.

    python -m mttgan_min.train --out runs/default        # the default run (tiny preset, phantoms, seed 0)
    PYTHONPATH=$PWD python docs/make_readme_figures.py runs/default

Writes, from the repository root:

    docs/tiny_run_samples.png                 32 held-out phantoms of the run's split (COVID class), then
                                              the student's and the teacher's samples of 32 fixed latents
                                              (the first of the run's realism and diversity latents)
    docs/experiments/default_run_diversity.png    a copy of RUN/diversity.png
    docs/experiments/default_run_realism.png      a copy of RUN/realism.png
"""
import argparse
import shutil
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent
N = 32


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a finished MTT-GAN run directory of the tiny preset on the phantoms")
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mttgan_min.data import prepare_data
    from mttgan_min.run import rundir
    from mttgan_min.run.diversity_log import fixed_inputs
    from mttgan_min.run.pictures import image_grid
    from mttgan_min.sample import load_generator

    seed = rundir.read_options(args.run / "config.json")["seed"]
    data = prepare_data(None, None, size=32, seed=seed, need_kaggle=False, progress=False)
    real = data.test.subset(data.test.labels == "covid").images[:N]
    panels = [("held-out phantoms (real)", real)]
    for net in ("student", "teacher"):
        G, _, _ = load_generator(args.run, np, source="checkpoint", net=net)
        z, _ = fixed_inputs(data.covid_train.images, G.input_shape[0])
        panels.append((f"{net} G", np.clip(np.asarray(G.forward(z[:N])), 0, 1)))
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 2.3))
    for ax, (title, images) in zip(axes, panels):
        ax.imshow(image_grid(images, 8), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(DOCS / "tiny_run_samples.png", dpi=72)
    for name in ("diversity", "realism"):
        shutil.copyfile(args.run / f"{name}.png", DOCS / "experiments" / f"default_run_{name}.png")
    print("wrote docs/tiny_run_samples.png, docs/experiments/default_run_diversity.png and default_run_realism.png")


if __name__ == "__main__":
    main()
