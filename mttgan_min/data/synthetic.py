"""Synthetic chest-radiograph phantoms: the embedded default data set (docs/design.md, "Synthetic phantoms").

Nothing is shipped or downloaded; every image is drawn procedurally from a seeded numpy Generator,
vectorised over a chunk of images (loops only over chunks and anatomical parts, never over images).

Geometry is written in body coordinates (u, v), u from -1 (image left = the patient's right) to +1,
v from -1 (top) to +1 (bottom). A frontal (PA) chest film shows, brighter where the X-rays were absorbed:
soft tissue of the trunk; two dark lung fields; a bright mediastinum and spine in the middle; the heart
bulging to the image's right (the patient's left); posterior ribs arching down laterally over the lungs;
clavicles at the top; and the two diaphragm domes closing the lungs below, the patient's right one higher.

Classes add, inside the lungs:
- normal:    nothing (only vascular markings, which every image has);
- bacterial: a focal lobar consolidation, a dense patch in one lobe with a sharp fissure edge;
- viral:     a diffuse bilateral interstitial (reticular) pattern, strongest around the hila;
- covid:     bilateral, peripheral, lower-zone ground-glass opacities (hazy patches).

Each patient has their own body size, position, rotation, heart, diaphragm, exposure and pathology
texture; the images of one patient differ slightly (position, exposure, extent of disease).
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from ..layers.activations import sigmoid as sig   # the logistic step of every soft edge
from .dataset import Dataset, source_size
from .resample import resize
from .split import class_rng

# Pools scaled down from the real sets: Kaggle ~1/4 of 1,583 / 2,780 / 1,493; COVID 227 as in the paper.
POOL_COUNTS = {"kaggle": {"normal": 396, "bacterial": 695, "viral": 373}, "covid": {"covid": 227}}
# Probability of 1, 2, 3 images per patient: Kaggle mostly one; COVID ~1.75 (227 images, ~130 patients).
IMAGES_PER_PATIENT = {"kaggle": (0.8, 0.15, 0.05), "covid": (0.45, 0.35, 0.2)}
CHUNK_PATIENTS = 24   # patients per chunk of work (one thread each)


def smooth_noise(rng, n, size, sigma_frac):
    """Gaussian-smoothed white noise, float32 (n, size, size), unit standard deviation per image."""
    z = rng.standard_normal((n, size, size), dtype=np.float32)
    z = gaussian_filter(z, sigma=(0, sigma_frac * size, sigma_frac * size), mode="wrap")
    return z / (z.std(axis=(1, 2), keepdims=True) + 1e-6)


def draw_params(labels, patient_index, rng):
    """Per-image scalars, dict of float32 (N, 1, 1): patient-level values plus small per-image jitter."""
    P, N = int(patient_index.max()) + 1, len(labels)

    def per_patient(lo, hi, jitter=0.0):
        v = rng.uniform(lo, hi, P)[patient_index] + jitter * rng.standard_normal(N)
        return v.astype(np.float32)[:, None, None]

    p = {"scale": per_patient(0.9, 1.06, 0.01), "tx": per_patient(-0.05, 0.05, 0.012),
         "ty": per_patient(-0.06, 0.05, 0.012), "rot": per_patient(-0.06, 0.06, 0.015),
         "heart_w": per_patient(0.3, 0.38), "heart_x": per_patient(0.07, 0.13),
         "dome_r": per_patient(0.64, 0.74, 0.01), "dome_gap": per_patient(0.02, 0.09),
         "lung_w": per_patient(0.30, 0.36), "apex": per_patient(-0.8, -0.7),
         "rib_gap": per_patient(0.13, 0.16), "rib_phase": per_patient(0.0, 1.0),
         "contrast": per_patient(0.85, 1.15, 0.04), "bright": per_patient(-0.05, 0.05, 0.02),
         "gamma": per_patient(0.8, 1.2, 0.03), "noise": per_patient(0.01, 0.03),
         "side": np.sign(per_patient(-1, 1)), "zone": per_patient(0, 1), "dz": per_patient(-0.1, 0.1),
         "disease": per_patient(0.75, 1.15, 0.1)}
    return p


def rotate(images, angle):
    """Rotate each image about its centre by ``angle`` (N,1,1) radians, bilinear, edges clamped.

    images: float32 (N, S, S). One scipy.ndimage.map_coordinates call over the whole stack.
    """
    N, S, _ = images.shape
    g = (np.arange(S, dtype=np.float32) + 0.5) - S / 2
    c, s = np.cos(angle), np.sin(angle)
    sx = c * g[None, None, :] - s * g[None, :, None] + S / 2 - 0.5            # (N, S, S) source col
    sy = s * g[None, None, :] + c * g[None, :, None] + S / 2 - 0.5            # source row
    n = np.broadcast_to(np.arange(N, dtype=np.float32)[:, None, None], sx.shape)
    return map_coordinates(images, np.stack([n, sy, sx]), order=1, mode="nearest")


def render(labels, p, noise, size):
    """Draw N phantoms. labels str (N,); p from draw_params (each (N,1,1)); noise: dict of per-patient
    texture fields (N, S, S). Returns float32 (N, S, S) in [0, 1].

    The anatomy is drawn upright, with u depending only on the column (N,1,S) and v only on the row
    (N,S,1), so most soft edges are cheap 1-D fields; the small rotation is applied at the end.
    """
    g = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    u = (g[None, None, :] - p["tx"]) / p["scale"]                              # (N, 1, S)
    v = (g[None, :, None] - p["ty"]) / p["scale"]                              # (N, S, 1)
    au, e = np.abs(u), 0.025

    # Trunk: fills the film except the top corners above the sloping shoulders and a thin side margin.
    top = -0.98 + 0.45 * np.clip(au - 0.28, 0, None) ** 1.5 / 0.4                # shoulder line
    body = sig((0.97 - au) / e) * sig((v - top) / 0.04)
    shoulder = sig((0.14 - np.sqrt(((au - 0.9) / 1.3) ** 2 + (v + 0.82) ** 2)) / 0.04)  # humeral heads

    # Lungs: rounded apex, convex lateral wall, diaphragm dome below (the patient's right one higher,
    # i.e. on the image's left), deep lateral costophrenic angles.
    lungs = 0
    for side in (-1.0, 1.0):
        cu = side * 0.44
        dome = p["dome_r"] + (side > 0) * p["dome_gap"] - 0.28 * (1 - ((u - cu) / 0.42) ** 2)
        taper = np.sqrt(np.clip((v - p["apex"]) / 0.6, 0, 1))
        lungs = lungs + (sig((p["lung_w"] * (0.3 + 0.75 * taper) - np.abs(u - cu)) / e)
                         * sig((dome - v) / e) * sig((v - p["apex"]) / e))
    heart = sig((1 - np.sqrt(((u - p["heart_x"]) / p["heart_w"]) ** 2 + ((v - 0.32) / 0.28) ** 2)) / 0.1)
    knob = sig((1 - np.sqrt(((u - 0.1) / 0.09) ** 2 + ((v + 0.3) / 0.08) ** 2)) / 0.15)   # aortic knob
    mediast = sig((0.1 + 0.04 * sig((v + 0.2) / 0.1) - np.abs(u - 0.01)) / 0.02) * sig((0.75 - v) / 0.05)
    central = np.maximum(np.maximum(heart, mediast), knob)
    lungs = lungs * (1 - central)
    hilum = np.exp(-(au - 0.2) ** 2 / 0.015) * np.exp(-(v + 0.02) ** 2 / 0.05)

    # Bones: posterior ribs leave the spine level and arch down laterally; anterior ribs slope the other
    # way, fainter; clavicles at the top; the spine shows through the mediastinum.
    cage = sig((0.9 - au) / e) * sig((v + 0.9) / e) * sig((0.75 - v) / 0.08) * sig((au - 0.07) / 0.02)
    q = (v + 0.05 * au - 0.6 * au ** 2) / p["rib_gap"] + p["rib_phase"]
    ribs = np.exp(-((q - np.round(q)) / 0.15) ** 2)
    q2 = (v - 0.4 * au) / (1.25 * p["rib_gap"]) + p["rib_phase"]
    ribs2 = np.exp(-((q2 - np.round(q2)) / 0.18) ** 2) * sig((au - 0.15) / 0.05)
    vc = -0.7 - 0.1 * au + 0.3 * (au - 0.35) ** 2
    clav = sig((0.035 - np.abs(v - vc)) / 0.01) * (sig((au - 0.05) / 0.02) * sig((0.7 - au) / 0.02))
    spine = sig((0.07 - au) / 0.012) * (0.85 + 0.15 * np.cos(2 * np.pi * v / 0.11))

    # Lung texture: vascular markings fanning out from the hila, fading to the periphery.
    vessels = np.clip(noise["fine"], 0, 2.5) * (0.1 * hilum + 0.035 * sig((0.6 - au) / 0.15))

    # Disease (the paper's four classes, Sec. IV-A), extra density inside the lungs; each field is computed
    # only for the images of its class.
    patho = np.zeros((len(labels), size, size), np.float32)
    k = p["disease"]
    i = np.flatnonzero(labels == "bacterial")                                  # focal lobar consolidation
    if len(i):
        zy = np.where(p["zone"][i] < 0.6, 0.35, np.where(p["zone"][i] < 0.85, 0.05, -0.35)) + p["dz"][i]
        blob = sig((1 - np.sqrt(((u[i] - p["side"][i] * 0.45) / 0.26) ** 2 + ((v[i] - zy) / 0.22) ** 2)
                    + 0.35 * noise["mid"][i]) / 0.12)
        fissure = sig((v[i] - zy + 0.16) / 0.02)                               # sharp upper (lobar) edge
        patho[i] = 0.34 * k[i] * blob * fissure * (0.9 + 0.1 * noise["mid"][i])
    i = np.flatnonzero(labels == "viral")                                      # diffuse interstitial
    if len(i):
        perihilar = 0.4 + 0.6 * np.exp(-(au[i] - 0.25) ** 2 / 0.06) * np.exp(-v[i] ** 2 / 0.2)
        patho[i] = k[i] * perihilar * (0.26 * np.exp(-(noise["fine"][i] / 0.4) ** 2) + 0.1)
    i = np.flatnonzero(labels == "covid")                                      # peripheral lower GGO
    if len(i):
        lower, periph = sig((v[i] - 0.12) / 0.1), sig((au[i] - 0.5) / 0.07)
        patho[i] = k[i] * 0.5 * sig((noise["coarse"][i] + 0.4) / 0.3) * (lower * (0.3 + 0.7 * periph))

    density = (0.55 * body + 0.2 * shoulder + 0.06 * sig((v - 0.6) / 0.2) * body
               + lungs * (patho + vessels - 0.4)
               + 0.12 * ribs * cage * (0.25 + 0.75 * lungs) + 0.06 * ribs2 * cage * lungs
               + 0.2 * clav + 0.12 * spine + 0.08 * central * (1 - lungs))
    img = rotate(p["bright"] + 0.12 + p["contrast"] * density, p["rot"])
    img = gaussian_filter(img, sigma=(0, 0.006 * size, 0.006 * size))
    img = np.clip(img, 0, 1) ** p["gamma"] + p["noise"] * noise["white"]
    return np.clip(img, 0, 1).astype(np.float32)


def patients_for(counts, probs, rng):
    """Labels (N,) and patient index (N,) for ``counts`` {class: images}, 1-3 images per patient."""
    labels, patient = [], []
    for name, n in counts.items():
        sizes = rng.choice([1, 2, 3], size=n, p=probs)
        sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
        sizes[-1] -= sizes.sum() - n                                         # trim the last patient
        start = patient[-1][-1] + 1 if patient else 0
        patient.append(start + np.repeat(np.arange(len(sizes)), sizes))
        labels.append(np.full(n, name))
    return np.concatenate(labels), np.concatenate(patient)


def make_synthetic(pool, size=32, seed=0, counts=None):
    """A synthetic pool, "kaggle" (normal/bacterial/viral) or "covid".

    counts: {class: images}, default POOL_COUNTS[pool]. Deterministic for (pool, size, seed, counts).
    Drawn at the source resolution R = source_size(size) and stored as 8-bit like a real film, then
    resized to ``size`` exactly as the real pools are. Returns a Dataset: images float32 (N, size, size, 1)
    in [0, 1]; hires uint8 (N, R, R, 1); patients "synthetic-<pool>-0007"; files
    "synthetic/<pool>/<class>/0007-1"; skipped [].
    """
    side = source_size(size)
    rng = class_rng(seed, f"synthetic-{pool}")
    labels, pid = patients_for(counts or POOL_COUNTS[pool], IMAGES_PER_PATIENT[pool], rng)
    params = draw_params(labels, pid, rng)
    hires = np.empty((len(labels), side, side, 1), np.uint8)
    bounds = np.flatnonzero(np.diff(pid)) + 1                                 # patient boundaries
    starts = [0] + list(bounds[CHUNK_PATIENTS - 1::CHUNK_PATIENTS]) + [len(pid)]
    chunks = list(zip(starts[:-1], starts[1:]))                               # whole patients each

    def draw(chunk, chunk_rng):
        a, b = chunk
        local = pid[a:b] - pid[a]
        noise = {name: smooth_noise(chunk_rng, local[-1] + 1, side, sf)[local]
                 for name, sf in (("fine", 0.012), ("mid", 0.04), ("coarse", 0.07))}
        noise["white"] = chunk_rng.standard_normal((b - a, side, side), dtype=np.float32)
        img = render(labels[a:b], {k: v[a:b] for k, v in params.items()}, noise, side)
        hires[a:b, ..., 0] = np.round(img * 255)

    # One child generator per chunk, so the result does not depend on the thread schedule.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool_:
        list(pool_.map(draw, chunks, rng.spawn(len(chunks))))
    patients = np.array([f"synthetic-{pool}-{i:04d}" for i in pid])
    rank = np.concatenate([[0], np.cumsum(pid[1:] == pid[:-1])])             # 0,1,2 within a patient
    rank -= np.maximum.accumulate(np.where(np.r_[True, pid[1:] != pid[:-1]], rank, 0))
    files = np.array([f"synthetic/{pool}/{lab}/{i:04d}-{r + 1}" for lab, i, r in zip(labels, pid, rank)])
    return Dataset(resize(hires, size), labels, patients, files, hires=hires)
