"""The diversity measure: a collapsed generator fails it, real images pass it."""
import numpy as np
import pytest

from mttgan_min.data import make_synthetic
from mttgan_min.evaluation.diversity import block_means, diversity, pairwise_distances


@pytest.fixture(scope="module")
def covid_like():
    return make_synthetic("covid", size=32, seed=0).images[:128]


def test_pairwise_distances_match_a_loop():
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 3, 3, 1)), rng.random((5, 3, 3, 1))
    d = pairwise_distances(a, b)
    for i in range(4):
        for j in range(5):
            assert d[i, j] == pytest.approx(np.linalg.norm(a[i] - b[j]), rel=1e-10)


def test_real_images_against_themselves_pass(covid_like):
    half = len(covid_like) // 2
    m = diversity(covid_like[:half], covid_like[half:])
    assert 0.8 < m["spread_ratio"] < 1.25
    assert m["near_duplicate_rate"] < 0.05


def test_one_image_repeated_fails(covid_like):
    collapsed = np.repeat(covid_like[:1], 64, axis=0)
    m = diversity(collapsed, covid_like)
    assert m["spread_ratio"] < 1e-3 and m["near_duplicate_rate"] == 1.0


def test_few_modes_with_small_noise_fail(covid_like):
    """Three modes keep a fair spread (pairs across modes are far apart), but a third of all
    pairs are near-duplicates: the second number catches what the first misses."""
    rng = np.random.default_rng(1)
    modes = np.repeat(covid_like[:3], 22, axis=0)
    noisy = np.clip(modes + rng.normal(0, 0.003, modes.shape), 0, 1)
    m = diversity(noisy, covid_like)
    assert m["spread_ratio"] > 0.5
    assert m["near_duplicate_rate"] > 0.25


def test_block_means_average_each_tile():
    x = np.arange(2 * 9 * 9, dtype=float).reshape(2, 9, 9, 1)
    m = block_means(x, 4)
    assert m.shape == (2, 2, 2, 1)
    assert m[1, 1, 0, 0] == pytest.approx(x[1, 4:8, 0:4, 0].mean())


def test_one_picture_with_fresh_grain_passes_pixels_but_fails_layout(covid_like):
    """Noise makes every pair distant at full resolution; the block means see one picture."""
    rng = np.random.default_rng(2)
    grainy = np.clip(covid_like[:1] + rng.normal(0, 0.1, (64,) + covid_like.shape[1:]), 0, 1)
    m = diversity(grainy, covid_like)
    assert m["spread_ratio"] > 0.7 and m["near_duplicate_rate"] < 0.02
    assert m["layout_spread_ratio"] < 0.4 and m["layout_near_duplicate_rate"] > 0.5


def test_real_images_pass_the_layout_figures_too(covid_like):
    half = len(covid_like) // 2
    m = diversity(covid_like[:half], covid_like[half:])
    assert 0.8 < m["layout_spread_ratio"] < 1.25
    assert m["layout_near_duplicate_rate"] < 0.05
