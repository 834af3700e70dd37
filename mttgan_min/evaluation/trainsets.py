"""The classifiers' training sets (Sec. V; docs/design.md, "Classifier training sets") and the generated
images they use.

Per task and row: ``n`` images per class (1,400 in the paper, a smaller per-preset default on the CPU,
whose synthetic pools are smaller). Normal, bacterial and viral images are a seeded sample of the real
Kaggle training pool. The COVID class depends on the row:

    gen        n generated images of the row's GAN
    real+gen   the real COVID training images (159 in the paper) + generated ones up to n; below
               n = 1,400 the real share keeps the paper's proportion, round(n * 159 / 1400)
    real       (the "real only" control) the real COVID training images soft-augmented to n: every
               original once, then random 0-5% crops of them, cut from the larger copy and scaled down
               (the GANs' augmentation, Sec. III)

Generated images come from the run's exported generator (``generator.npz``: the EMA teacher for
MTT-GAN) in inference mode, from latents drawn by a seeded generator, and are rounded to 8 bits exactly
as ``python -m mttgan_min.sample`` writes them, so PNG folders and runs give the same images.
"""
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from .. import gans
from ..data.augment import crop_and_resize, random_crop_boxes
from ..data.dataset import CLASSES
from ..data.prepare import PAPER_COVID_TRAIN
from ..data.split import class_rng
from ..layers import REFERENCE
from ..layers.base import infer
from ..models import sample_latent
from ..run.pictures import to_uint8
from ..sample import load_generator

TASK_CLASSES = {"binary": ("normal", "covid"), "multiclass": CLASSES}
GANS = tuple(gans.GANS)  # the GANs of the registry (mttgan_min.gans), in the paper's order
# row -> (GAN whose images it uses, where its COVID images come from); the paper's order (Tables I, II),
# then the "real only" control
ROW_SOURCES = dict(gans.rows(), real_only=(None, "real"))
PAPER_REAL, PAPER_PER_CLASS = PAPER_COVID_TRAIN, 1400


class TrainSetError(ValueError):
    """A training set cannot be built as asked; the message is one sentence."""


def real_share(n, n_real):
    """How many real COVID images a real+gen set of n COVID images holds: the paper's 159 of 1,400."""
    return min(n_real, n, int(round(n * PAPER_REAL / PAPER_PER_CLASS)) if n < PAPER_PER_CLASS else n_real)


def sample_class(ds, name, n, seed):
    """A seeded sample of n images of class ``name`` from Dataset ``ds`` (without replacement)."""
    idx = np.flatnonzero(ds.labels == name)
    if len(idx) < n:
        raise TrainSetError(f"the {name} training pool has {len(idx)} images, fewer than the {n} per class "
                            f"asked for: lower --images-per-class.")
    return ds.images[np.sort(class_rng(seed, f"trainset-{name}").choice(idx, size=n, replace=False))]


def soft_augment_to(images, n, seed, hires=None):
    """images (M, S, S, 1) -> n images: each original once (a seeded sample if n < M), then 0-5% crops.

    hires: the images' larger copies (M, R, R, 1), R > S, as the data layer keeps them: the crops are
    cut from these and scaled down to S, exactly as the GANs' soft augmentation does (docs/design.md,
    "Crop, then resize"); without them, from ``images`` at their own size.
    """
    rng = class_rng(seed, "real-only")
    if n <= len(images):
        return images[np.sort(rng.choice(len(images), size=n, replace=False))]
    src = rng.integers(0, len(images), size=n - len(images))
    source = images if hires is None else hires
    crops = crop_and_resize(source[src], random_crop_boxes(len(src), rng), size=images.shape[1])
    return np.concatenate([images, crops]).astype(np.float32)


def check_pools(kaggle_train, tasks, n):
    """Raise TrainSetError before any work when a real class has fewer than n training images."""
    for name in sorted({c for t in tasks for c in TASK_CLASSES[t]} - {"covid"}):
        have = int(np.sum(kaggle_train.labels == name))
        if have < n:
            raise TrainSetError(f"the {name} training pool has {have} images, fewer than the {n} per class "
                                f"asked for: lower --images-per-class.")


def covid_images(source, covid_train, generated, n, seed):
    """The n COVID images of a row: ``source`` "gen", "real+gen" or "real"; returns (images, composition)."""
    if source == "real":
        return soft_augment_to(covid_train.images, n, seed, covid_train.hires), {"real": min(n, len(covid_train)),
                                                              "real_crops": max(0, n - len(covid_train))}
    n_real = real_share(n, len(covid_train)) if source == "real+gen" else 0
    n_gen = n - n_real
    if generated is None or len(generated) < n_gen:
        raise TrainSetError(f"{n_gen} generated images are needed but {0 if generated is None else len(generated)} "
                            "are available.")
    parts = [generated[:n_gen]]
    if n_real:
        parts.insert(0, covid_train.images[np.sort(class_rng(seed, "real-share").choice(
            len(covid_train), size=n_real, replace=False))])
    return np.concatenate(parts).astype(np.float32), {"real": n_real, "generated": n_gen}


def build_training_set(task, row, kaggle_train, covid_train, generated, n, seed=0):
    """(images (K n, S, S, 1) float32, labels (K n,) int indices into TASK_CLASSES[task], composition dict)."""
    classes = TASK_CLASSES[task]
    _, source = ROW_SOURCES[row]
    xs, comp = [], {}
    for name in classes:
        if name == "covid":
            x, comp["covid"] = covid_images(source, covid_train, generated, n, seed)
        else:
            x, comp[name] = sample_class(kaggle_train, name, n, seed), {"real": n}
        xs.append(x)
    labels = np.repeat(np.arange(len(classes)), n)
    return np.concatenate(xs).astype(np.float32), labels, comp


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def generate_from_run(run, n, seed, xp=np, batch=64, tier=REFERENCE):
    """n images (n, S, S, 1) float32 in [0, 1] (8-bit levels) from RUN/generator.npz, and a record of them.

    ``tier``: the primitives G computes with (``layers/reference.py``; the commands pass the fast tier).
    """
    G, cfg, where = load_generator(run, xp, tier=tier)
    rng = np.random.default_rng(seed)            # host latents: the same images on CPU and GPU
    z = sample_latent(rng, n, G.input_shape[0], cfg["latent"], np.float32)
    images = to_uint8(infer(G, z, xp, batch)).astype(np.float32) / np.float32(255.0)
    record = {"run": str(Path(run).resolve()), "generator": where, "latent": cfg["latent"],
              "latent_seed": int(seed), "n": int(n), "generator_sha256": file_sha256(Path(run) / "generator.npz"),
              "mode": cfg.get("mode"), "preset": cfg.get("preset")}
    return images, record


def load_png_folder(folder, n, size):
    """The first n PNG files of ``folder`` (sorted by name) as (n, S, S, 1) float32 in [0, 1], and a record."""
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.png") if p.name != "grid.png")
    if len(files) < n:
        raise TrainSetError(f"{folder} holds {len(files)} PNG images (grid.png not counted), fewer than the {n} "
                            "needed: lower --images-per-class or generate more.")
    images = []
    for p in files[:n]:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L"))
        if a.shape != (size, size):
            raise TrainSetError(f"{p} is {a.shape[1]}x{a.shape[0]}, not the {size}x{size} of the other images.")
        images.append(a)
    h = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in files[:n])).hexdigest()
    return ((np.stack(images).astype(np.float32) / np.float32(255.0))[..., None],
            {"folder": str(folder.resolve()), "n": int(n), "files_sha256": h})


def png_size(folder):
    """The side of the first PNG in ``folder`` (the image size of a --generated folder), or None."""
    for p in sorted(Path(folder).glob("*.png")):
        if p.name != "grid.png":
            with Image.open(p) as im:
                return im.size[0]
    return None
