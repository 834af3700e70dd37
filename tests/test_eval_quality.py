"""GAN measures on controls whose answer is known: noisy copies of the training images (memorised)
and uniform noise (nothing like the data)."""
import json

import numpy as np
import pytest

from mttgan_min.data import make_synthetic
from mttgan_min.evaluation import quality


@pytest.fixture(scope="module")
def sets():
    real = make_synthetic("covid", size=16, seed=0).images
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(real))
    train, heldout = real[idx[:120]], real[idx[120:]]
    copies = np.clip(train[rng.integers(0, 120, 150)] + rng.normal(0, 0.02, (150, 16, 16, 1)), 0, 1)
    noise = rng.random((150, 16, 16, 1))
    return train, heldout, copies, noise


def test_memorisation_is_flagged_for_copies_only(sets):
    train, heldout, copies, noise = sets
    nn = quality.nearest_neighbours(copies, train, heldout)
    assert nn["fraction_below_p1"] > 0.9 and nn["mannwhitney_p"] < 1e-10
    nn = quality.nearest_neighbours(noise, train, heldout)
    assert nn["fraction_below_p5"] == 0.0 and nn["mannwhitney_p"] > 0.5
    # Held-out images against the training set: about 5% below their own 5th percentile.
    nn = quality.nearest_neighbours(heldout, train, heldout)
    assert nn["fraction_below_p5"] <= 0.1


def test_two_sample_test_separates_noise_not_copies(sets):
    train, heldout, copies, noise = sets
    t = quality.two_sample_test(noise, heldout)
    assert t["accuracy"] > 0.95 and t["p_value"] < 1e-10 and t["n"] == 2 * len(heldout)
    assert t["low"] <= t["accuracy"] <= t["high"]
    t = quality.two_sample_test(copies, train)
    assert t["accuracy"] < 0.65 and t["p_value"] > 0.01


def test_folds_keep_a_group_together():
    groups = np.repeat(np.arange(17), 3)
    fold = quality._folds(np.random.default_rng(0), groups, 5)
    assert set(fold) == set(range(5))
    assert all(len(set(fold[groups == g])) == 1 for g in range(17))


def test_two_sample_test_with_patient_groups_is_at_chance_for_real_against_real():
    # Patients with several near-identical images: ungrouped folds let the model recognise patients.
    rng = np.random.default_rng(5)
    base = rng.random((80, 8, 8, 1))
    imgs = np.repeat(base, 3, axis=0) + rng.normal(0, 0.01, (240, 8, 8, 1))
    pats = np.repeat(np.arange(80), 3)
    a, b = pats < 40, pats >= 40
    grouped = quality.two_sample_test(imgs[a], imgs[b], real_groups=pats[b], generated_groups=pats[a])
    assert grouped["p_value"] > 0.01
    assert quality.two_sample_test(imgs[a], imgs[b])["accuracy"] > 0.9      # the leak grouping closes


def test_spectrum_and_intensity_tell_noise_from_images(sets):
    train, heldout, copies, noise = sets
    f, p = quality.radial_power_spectrum(train)
    assert f.shape == p.shape == (12,) and f[8] == 0.5 and p[0] < 1e-12   # mean removed: no DC power
    real = quality.spectrum_distance(heldout, train)
    fake = quality.spectrum_distance(noise, train)
    assert fake["log_distance"] > 3 * real["log_distance"] and fake["high_frequency_ratio"] > 5
    assert quality.intensity_wasserstein(noise, train) > 5 * quality.intensity_wasserstein(heldout, train)
    assert quality.intensity_wasserstein(train, train) == 0.0


def test_checkerboard_shows_at_nyquist(sets):
    train = sets[0]
    board = (np.indices((16, 16)).sum(0) % 2)[None, :, :, None] * 0.1
    assert quality.spectrum_distance(np.clip(train + board, 0, 1), train)["high_frequency_ratio"] > 10


def test_coverage(sets):
    train, heldout, copies, noise = sets
    assert quality.coverage(heldout, heldout) == 1.0
    assert quality.coverage(noise, heldout) == 0.0


def test_write_quality(sets, tmp_path):
    train, heldout, copies, noise = sets
    report = quality.write_quality({"copies": copies, "noise": noise}, train, heldout, tmp_path)
    on_disk = json.loads((tmp_path / "quality.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    assert set(on_disk) == {"copies", "noise"}
    assert on_disk["noise"]["diversity"]["coverage_heldout"] == 0.0
    for name in ("spectrum.png", "intensity.png", "nn_pairs_copies.png", "nn_pairs_noise.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_samples_beside_real_has_a_row_per_gan_and_per_real_pool(sets, tmp_path):
    from PIL import Image
    train, heldout, copies, noise = sets
    quality.write_quality({"copies": copies, "noise": noise}, train, heldout, tmp_path / "a")
    quality.write_quality({"copies": copies, "noise": noise}, train, heldout, tmp_path / "b", kaggle_train=heldout)
    a = Image.open(tmp_path / "a" / "samples_beside_real.png")
    b = Image.open(tmp_path / "b" / "samples_beside_real.png")
    assert a.width == b.width == 1060          # ten images a row and the row names
    assert (a.height, b.height) == (285, 380)  # 3 rows (two GANs, real COVID), then 4 with real Kaggle
    pixels = np.asarray(b.convert("L"), dtype=float)
    assert pixels[:95].std() > 0 and pixels[-95:].std() > 0  # every row holds images, the last one too
