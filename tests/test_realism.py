"""The realism measures on controls whose answer is known: real films against real films pass every
measure; noise, a blurred copy, a checkerboard and one repeated film each fail the one meant to catch it."""
import numpy as np
import pytest
from scipy import ndimage

from mttgan_min.data import make_synthetic
from mttgan_min.evaluation import realism


@pytest.fixture(scope="module")
def films():
    """Synthetic COVID films split by patient: training pool, unseen films, and 'generated' real films."""
    ds = make_synthetic("covid", size=32, seed=3)
    patients = np.unique(ds.patients)
    rng = np.random.default_rng(0)
    part = dict(zip(patients, rng.integers(0, 3, len(patients))))
    which = np.array([part[p] for p in ds.patients])
    return {"train": ds.images[which == 0], "unseen": ds.images[which == 1], "fake": ds.images[which == 2],
            "unseen_groups": ds.patients[which == 1]}


def measure(films, generated):
    return realism.realism(generated, films["unseen"], films["train"], films["unseen_groups"])


def test_real_against_real_passes(films):
    r = measure(films, films["fake"])
    assert 0.3 <= r["two_sample_accuracy"] <= 0.7, r
    assert 0.7 <= r["high_frequency_ratio"] <= 1.4, r
    assert 0.8 <= r["nn_distance_ratio"] <= 1.25, r


def test_noise_fails_every_measure(films):
    noise = np.random.default_rng(1).random(films["fake"].shape).astype(np.float32)
    r = measure(films, noise)
    assert r["two_sample_accuracy"] > 0.9 and r["high_frequency_ratio"] > 10 and r["nn_distance_ratio"] > 2, r


def test_grain_on_real_films_fails_the_spectrum(films):
    grainy = np.clip(films["fake"] + np.random.default_rng(2).normal(0, 0.05, films["fake"].shape), 0, 1)
    assert measure(films, grainy)["high_frequency_ratio"] > 3


def test_a_blurred_copy_fails_the_spectrum(films):
    blurred = ndimage.gaussian_filter(films["fake"], sigma=(0, 1.5, 1.5, 0))
    assert measure(films, blurred)["high_frequency_ratio"] < 0.3


def test_a_checkerboard_fails_the_spectrum(films):
    board = (np.indices((32, 32)).sum(0) % 2)[None, :, :, None] * 0.08
    assert measure(films, np.clip(films["fake"] + board, 0, 1))["high_frequency_ratio"] > 3


def test_one_repeated_training_film_fails_the_nearest_neighbour_ratio(films):
    repeated = np.repeat(films["train"][:1], len(films["fake"]), axis=0)
    assert measure(films, repeated)["nn_distance_ratio"] < 0.5
