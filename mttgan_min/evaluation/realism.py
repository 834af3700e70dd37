"""How realistic a generator's samples are: three cheap numbers measured after every epoch.

Diversity (evaluation.diversity) tells varied from collapsed; it cannot tell a film from grain.
These three tell samples that pass for the data from samples that do not (docs/design.md,
"Realism after every epoch"):

- **two-sample accuracy**: the pixel-logistic model on 8 x 8 block means (evaluation.quality's
  classifier two-sample test, 5 folds, a patient's films kept in one fold) tries to tell the samples
  from real films the run never trained on. About 0.5 when it cannot, 1 when a linear model on 64
  block means separates them;
- **high-frequency power ratio**: the power at spatial frequencies of at least 0.35 cycles per pixel
  (grain, a checkerboard), generated over real, with a Hann window against border leakage. About 1
  for films like the data, far above 1 for noisy or checkered samples, far below 1 for blurred ones;
- **nearest-neighbour distance ratio**: the median distance from a sample to its nearest film of the
  training pool, over the same median for the unseen real films. About 1 when samples sit as close
  to the training films as new films do; above 1 for samples off the data, near 0 for copies.

Images are NumPy arrays (N, S, S, 1) in [0, 1].
"""
import numpy as np

from .diversity import pairwise_distances
from .quality import radial_power_spectrum, two_sample_test

HIGH_FREQUENCY = 0.35   # cycles per pixel: the band above it holds the grain (Nyquist is 0.5)
GRID = 8                # the two-sample model's block means: 8 x 8 blocks per image
MEASURES = ("two_sample_accuracy", "high_frequency_ratio", "nn_distance_ratio")


def high_frequency_ratio(generated, real, cutoff=HIGH_FREQUENCY):
    """Power at radial frequencies >= ``cutoff`` cycles/pixel, generated over real (a float)."""
    f, pg = radial_power_spectrum(generated, window=True)
    _, pr = radial_power_spectrum(real, window=True)
    high = f >= cutoff - 1e-9
    return float(pg[high].sum() / max(pr[high].sum(), 1e-20))


def nn_distance_ratio(generated, train, unseen):
    """Median nearest-training-film distance of the samples over that of unseen real films (a float)."""
    d_gen = pairwise_distances(generated, train).min(axis=1)
    d_unseen = pairwise_distances(unseen, train).min(axis=1)
    return float(np.median(d_gen) / max(np.median(d_unseen), 1e-12))


def realism(generated, unseen, train, unseen_groups=None, seed=0):
    """The three measures of ``generated`` against ``unseen`` real films and the ``train`` pool (a dict).

    unseen_groups: patient keys (M,) of the unseen films, so the two-sample test keeps each
    patient's films in one fold.
    """
    test = two_sample_test(generated, unseen, grid=GRID, seed=seed, real_groups=unseen_groups)
    return {"two_sample_accuracy": test["accuracy"],
            "high_frequency_ratio": high_frequency_ratio(generated, unseen),
            "nn_distance_ratio": nn_distance_ratio(generated, train, unseen)}
