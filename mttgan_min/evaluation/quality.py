"""Measures of a generator's samples that need no downloaded weights (docs/design.md, "GAN measures").

The paper judges its GANs by eye (Sec. VI, Figs. 6-9) and by the classifiers of Tables I and II.
FID needs an Inception network we cannot download, so these measures use only the images:

- **classifier two-sample test**: can the pixel-logistic model (evaluation.controls) tell generated
  from real COVID images under 5-fold cross-validation? Accuracy near 0.5 means it cannot; run once
  against the training images and once against the held-out ones (a generator that copies its
  training set is hard to tell from the training images but not from the held-out ones);
- **nearest-neighbour memorisation**: each generated image's L2 distance to its nearest training
  image, against the same distance for held-out real images. Copies sit far below the held-out
  distances (fraction below their 1st/5th percentile; one-sided Mann-Whitney U);
- **diversity** (evaluation.diversity) plus *coverage*: the fraction of held-out images that have a
  generated image inside their 5-nearest-real-neighbour ball (Naeem et al., 2020);
- **image statistics**: Wasserstein distance between intensity histograms, and the radially averaged
  power spectrum (strided transposed convolutions leave a checkerboard: excess power at the highest
  frequencies, up to the spectrum's corner (0.5, 0.5) cycles/pixel, the Nyquist frequency of both axes).

Images are NumPy arrays (N, S, S, 1) in [0, 1].
"""
import json
from pathlib import Path

import numpy as np
from scipy import stats as sps

from ..fileio import atomic_write
from . import stats
from .controls import fit_pixel_logistic
from .diversity import diversity, pairwise_distances


def _folds(rng, groups, folds):
    """Fold index (N,) 0..folds-1: whole groups (e.g. patients) to one fold, groups dealt out in a
    seeded order so the folds are about equal."""
    keys, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    return (rng.permutation(len(keys)) % folds)[inverse]


def two_sample_test(generated, real, folds=5, grid=8, seed=0, l2=1e-2, real_groups=None,
                    generated_groups=None):
    """Classifier two-sample test with the pixel-logistic model and ``folds``-fold cross-validation.

    The larger set is subsampled (seeded) to the smaller one's size, so chance is exactly 0.5.
    real_groups / generated_groups: optional keys (N,) such as patient ids; images of one key stay in
    one fold. Without them, two images of one patient can sit on both sides of a split and a
    classifier can win by recognising the patient, so real against real then scores above 0.5
    (docs/design.md, "GAN measures"). Returns {"accuracy", "k", "n", "low", "high", "p_value"}
    (p: one-sided binomial test of accuracy > 0.5, scipy.stats.binomtest).
    """
    rng = np.random.default_rng(seed)
    m = min(len(generated), len(real))
    if m < folds:
        raise ValueError(f"a {folds}-fold two-sample test needs at least {folds} images per side")
    gi = rng.permutation(len(generated))[:m]
    ri = rng.permutation(len(real))[:m]
    x = np.concatenate([np.asarray(generated)[gi], np.asarray(real)[ri]])
    y = np.repeat([1, 0], m)
    g_groups = np.arange(m) if generated_groups is None else np.asarray(generated_groups)[gi]
    r_groups = np.arange(m) if real_groups is None else np.asarray(real_groups)[ri]
    fold = np.concatenate([_folds(rng, g_groups, folds), _folds(rng, r_groups, folds)])
    correct = 0
    for f in range(folds):
        model = fit_pixel_logistic(x[fold != f], y[fold != f], n_classes=2, grid=grid, l2=l2)
        correct += int(np.sum(model.predict(x[fold == f]) == y[fold == f]))
    ci = stats.proportion(correct, 2 * m)
    p = float(sps.binomtest(correct, 2 * m, 0.5, alternative="greater").pvalue)
    return {"accuracy": ci["value"], "k": correct, "n": 2 * m, "low": ci["low"], "high": ci["high"],
            "p_value": p}


def nearest_neighbours(generated, train, heldout):
    """Memorisation check: nearest-training-image distances of generated vs held-out real images.

    Returns {"fraction_below_p1", "fraction_below_p5", "mannwhitney_p", "generated_median",
    "heldout_median", "p1", "p5"} and, not for JSON, "generated_distance" (N,), "nearest_train" (N,).
    mannwhitney_p is one-sided: generated images closer to the training set than held-out ones are.
    """
    d_gen = pairwise_distances(generated, train)
    d_real = pairwise_distances(heldout, train).min(axis=1)
    nearest, d = d_gen.argmin(axis=1), d_gen.min(axis=1)
    p1, p5 = np.percentile(d_real, [1, 5])
    return {"fraction_below_p1": float(np.mean(d < p1)), "fraction_below_p5": float(np.mean(d < p5)),
            "mannwhitney_p": float(sps.mannwhitneyu(d, d_real, alternative="less").pvalue),
            "generated_median": float(np.median(d)), "heldout_median": float(np.median(d_real)),
            "p1": float(p1), "p5": float(p5), "generated_distance": d, "nearest_train": nearest}


def coverage(generated, heldout, k=5):
    """Fraction of held-out images with a generated image closer than their k-th nearest held-out
    neighbour (Naeem et al., 2020, "coverage"); 1 when the samples spread over all the real images."""
    real_d = pairwise_distances(heldout)
    radius = np.sort(real_d, axis=1)[:, k]          # column 0 is the image itself
    return float(np.mean(pairwise_distances(heldout, generated).min(axis=1) < radius))


def intensity_histogram(images, bins=64):
    """Normalised histogram of pixel values in [0, 1]: (centres (bins,), weights (bins,))."""
    counts, edges = np.histogram(np.clip(np.asarray(images), 0, 1), bins=bins, range=(0, 1))
    return 0.5 * (edges[1:] + edges[:-1]), counts / max(counts.sum(), 1)


def intensity_wasserstein(generated, real, bins=256):
    """Earth mover's distance between the pixel-value distributions (scipy.stats.wasserstein_distance,
    on ``bins``-bin histograms in [0, 1]; in intensity units, 0 for identical histograms)."""
    c, wg = intensity_histogram(generated, bins)
    _, wr = intensity_histogram(real, bins)
    return float(sps.wasserstein_distance(c, c, wg, wr))


def radial_power_spectrum(images, window=False):
    """Mean power spectrum of the images, averaged over rings of equal spatial frequency.

    images (N, S, S, 1) -> (freq (R,), power (R,)), freq in cycles per pixel from 0 to the corner of
    the spectrum, 0.5 * sqrt(2) (rings of radius above 0.5 hold diagonal frequencies, each axis
    still within its Nyquist limit of 0.5; the (x + y) checkerboard of a strided transposed
    convolution sits at the corner, (0.5, 0.5)). Each image's mean is removed
    first so the DC term does not dominate. ``window``: multiply by a 2-D Hann window first, so that
    the jump between opposite borders (the FFT treats the image as periodic) does not leak power
    into every frequency; without it a film's bright border alone fills the high frequencies.
    """
    x = np.asarray(images, dtype=np.float64)[..., 0]
    x = x - x.mean(axis=(1, 2), keepdims=True)
    if window:
        x = x * np.outer(np.hanning(x.shape[1]), np.hanning(x.shape[2]))
    power = (np.abs(np.fft.fft2(x)) ** 2).mean(axis=0)
    S = x.shape[1]
    f = np.fft.fftfreq(S)
    r = np.rint(np.hypot(f[:, None], f[None, :]) * S).astype(int).ravel()
    ring = np.bincount(r, weights=power.ravel())
    n = np.bincount(r)
    return np.arange(len(ring)) / S, ring / np.maximum(n, 1)


def spectrum_distance(generated, real):
    """{"log_distance": mean |log10 P_gen / P_real| over the non-zero frequency rings,
    "high_frequency_ratio": total power at radial frequencies >= 0.5 cycles/pixel (an axis at
    its Nyquist limit, and the diagonal frequencies out to the corner), generated over real: >> 1 for
    a checkerboard or for noise}."""
    f, pg = radial_power_spectrum(generated)
    _, pr = radial_power_spectrum(real)
    tiny = 1e-20
    high = f >= 0.5 - 1e-9
    return {"log_distance": float(np.mean(np.abs(np.log10((pg[1:] + tiny) / (pr[1:] + tiny))))),
            "high_frequency_ratio": float((pg[high].sum() + tiny) / (pr[high].sum() + tiny))}


def quality_report(generated, train_covid, heldout_covid, seed=0, max_pairs=500, train_groups=None,
                   heldout_groups=None):
    """All measures for one generator's images, as a JSON-ready dict.

    train_groups / heldout_groups: patient keys of the real images, so the two-sample test keeps a
    patient's images in one fold (pass them whenever a patient has several images). Diversity compares
    at most ``max_pairs`` images of each set (pairwise distances grow as N^2).
    """
    rng = np.random.default_rng(seed)
    pick = lambda a: np.asarray(a)[np.sort(rng.permutation(len(a))[:max_pairs])]
    nn = nearest_neighbours(generated, train_covid, heldout_covid)
    div = diversity(pick(generated), pick(train_covid))
    div["coverage_heldout"] = coverage(generated, heldout_covid, k=min(5, len(heldout_covid) - 1))
    return {
        "n_generated": len(generated), "n_train": len(train_covid), "n_heldout": len(heldout_covid),
        "two_sample_train": two_sample_test(generated, train_covid, seed=seed, real_groups=train_groups),
        "two_sample_heldout": two_sample_test(generated, heldout_covid, seed=seed, real_groups=heldout_groups),
        "nearest_neighbour": {k: v for k, v in nn.items() if not isinstance(v, np.ndarray)},
        "diversity": div,
        "intensity_wasserstein": intensity_wasserstein(generated, train_covid),
        "spectrum": spectrum_distance(generated, train_covid),
    }


def plot_nearest_pairs(path, generated, train, n=8, title=""):
    """PNG: the ``n`` generated images closest to a training image (top) above those images (bottom)."""
    from matplotlib.figure import Figure
    d = pairwise_distances(generated, train)
    nearest, dist = d.argmin(axis=1), d.min(axis=1)
    order = np.argsort(dist)[:n]
    fig = Figure(figsize=(1.3 * len(order), 3.0))
    axes = fig.subplots(2, len(order), squeeze=False)
    for j, i in enumerate(order):
        axes[0, j].imshow(generated[i][..., 0], cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"d={dist[i]:.2f}", fontsize=8)
        axes[1, j].imshow(train[nearest[i]][..., 0], cmap="gray", vmin=0, vmax=1)
    for ax in axes.ravel():
        ax.set_axis_off()
    axes[0, 0].text(-0.1, 0.5, "generated", transform=axes[0, 0].transAxes, rotation=90, ha="right", va="center")
    axes[1, 0].text(-0.1, 0.5, "nearest training", transform=axes[1, 0].transAxes, rotation=90, ha="right",
                    va="center")
    fig.suptitle(title or "closest generated / training pairs")
    fig.savefig(path, dpi=100)


def plot_spectra(path, named_images, real):
    """PNG: radially averaged power spectra of each {name: images} against the real images (log scale)."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    f, pr = radial_power_spectrum(real)
    ax.semilogy(f[1:], pr[1:], "k-", lw=2, label="real COVID (training)")
    for name, imgs in named_images.items():
        f, pg = radial_power_spectrum(imgs)
        ax.semilogy(f[1:], pg[1:], label=name)
    ax.set_xlabel("spatial frequency (cycles / pixel)")
    ax.set_ylabel("mean power")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_intensity(path, named_images, real):
    """PNG: intensity histograms of each {name: images} against the real images."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    c, w = intensity_histogram(real)
    ax.plot(c, w, "k-", lw=2, label="real COVID (training)")
    for name, imgs in named_images.items():
        c, w = intensity_histogram(imgs)
        ax.plot(c, w, label=name)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("fraction of pixels")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_beside_real(path, named_images, real_rows, n=10, seed=0):
    """PNG: a row of ``n`` images of each {name: images} (its first n), then a row of each {name: real
    images} (n drawn at random with ``seed``), all at the same size, so that they can be told apart by eye."""
    from matplotlib.figure import Figure
    rng = np.random.default_rng(seed)
    rows = [(name, imgs[:n]) for name, imgs in named_images.items()]
    rows += [(name, imgs[np.sort(rng.choice(len(imgs), min(n, len(imgs)), replace=False))])
             for name, imgs in real_rows.items()]
    fig = Figure(figsize=(0.9 * n + 1.6, 0.95 * len(rows)))
    axes = fig.subplots(len(rows), n, squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for j, ax in enumerate(axes[r]):
            if j < len(imgs):
                ax.imshow(imgs[j][..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
        axes[r, 0].text(-0.1, 0.5, name, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.subplots_adjust(left=1.5 / (0.9 * n + 1.6), right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.05)
    fig.savefig(path, dpi=100)


def write_quality(generated, covid_train, covid_test, out_dir, seed=0, train_groups=None, test_groups=None,
                  kaggle_train=None):
    """quality_report for every {gan_name: images (N, S, S, 1)}; writes out_dir/quality.json,
    spectrum.png, intensity.png, nn_pairs_<gan_name>.png and samples_beside_real.png (each GAN's
    images above real COVID training films and, when ``kaggle_train`` is given, real Kaggle ones).
    Returns {gan_name: report}.

    train_groups / test_groups: patient keys (N,) of covid_train / covid_test (see quality_report).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {name: quality_report(imgs, covid_train, covid_test, seed=seed, train_groups=train_groups,
                                   heldout_groups=test_groups) for name, imgs in generated.items()}
    for name, imgs in generated.items():
        plot_nearest_pairs(out_dir / f"nn_pairs_{name}.png", imgs, covid_train, title=f"{name}: closest pairs")
    plot_spectra(out_dir / "spectrum.png", generated, covid_train)
    plot_intensity(out_dir / "intensity.png", generated, covid_train)
    real_rows = {"real COVID": covid_train}
    if kaggle_train is not None:
        real_rows["real Kaggle"] = kaggle_train
    plot_beside_real(out_dir / "samples_beside_real.png", generated, real_rows, seed=seed)
    atomic_write(out_dir / "quality.json", lambda f: f.write(json.dumps(report, indent=2).encode()))
    return report
