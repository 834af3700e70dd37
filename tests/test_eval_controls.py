"""Controls: pooled pixels, the hand-written logistic loss and gradient, the shortcut it finds, the probe."""
import csv

import numpy as np
import pytest
from PIL import Image

from mttgan_min.evaluation import controls
from mttgan_min.losses import softmax_cross_entropy_forward


def test_pool_pixels_is_the_block_mean(rng):
    x = rng.random((3, 16, 16, 1))
    want = x.reshape(3, 4, 4, 4, 4).mean(axis=(2, 4)).reshape(3, -1)
    assert np.allclose(controls.pool_pixels(x, 4), want)
    assert np.allclose(controls.pool_pixels(np.full((1, 32, 32, 1), 0.3), 8), 0.3)
    for bad in (np.zeros((1, 10, 10, 1)), np.zeros((1, 16, 8, 1))):  # blocks that are not equal squares
        with pytest.raises(ValueError, match="grid"):
            controls.pool_pixels(bad, 4)


@pytest.mark.parametrize("K", [2, 4])
def test_softmax_cross_entropy_gradient(rng, K):
    x, y = rng.normal(size=(7, 5)), rng.integers(0, K, 7)
    theta = rng.normal(size=5 * K + K)
    loss, grad = controls.softmax_cross_entropy(theta, x, y, K, 0.1)
    h, num = 1e-6, np.zeros_like(theta)
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        num[i] = (controls.softmax_cross_entropy(theta + e, x, y, K, 0.1)[0]
                  - controls.softmax_cross_entropy(theta - e, x, y, K, 0.1)[0]) / (2 * h)
    assert np.max(np.abs(num - grad)) < 1e-7
    # The loss term is losses.softmax_cross_entropy_forward of the linear model's logits.
    D = x.shape[1]
    want, _ = softmax_cross_entropy_forward(x @ theta[:D * K].reshape(D, K) + theta[D * K:], y)
    W = theta[:D * K]
    assert np.isclose(loss, want + 0.05 * np.sum(W * W))
    # At theta = 0 every class has probability 1/K.
    assert np.isclose(controls.softmax_cross_entropy(np.zeros_like(theta), x, y, K, 0.1)[0], np.log(K))


def _shortcut_images(rng, n, K, size=16):
    """Noise images whose only class signal is the brightness of one quadrant per class."""
    y = np.repeat(np.arange(K), n)
    x = rng.random((K * n, size, size, 1)) * 0.5
    h = size // 2
    for k in range(K):
        r, c = divmod(k, 2)
        x[y == k, r * h:(r + 1) * h, c * h:(c + 1) * h] += 0.3
    return x, y


@pytest.mark.parametrize("K,pool", [(2, 4), (4, 4), (4, 8)])
def test_pixel_shortcut_finds_a_pooled_signal(rng, K, pool):
    xtr, ytr = _shortcut_images(rng, 40, K)
    xte, yte = _shortcut_images(rng, 20, K)
    pred = controls.pixel_shortcut(xtr, ytr, xte, pool)
    assert pred.shape == yte.shape and np.mean(pred == yte) > 0.95
    model = controls.fit_pixel_logistic(xtr, ytr, grid=pool)
    p = model.predict_proba(xte)
    assert p.shape == (len(xte), K) and np.allclose(p.sum(1), 1)


def test_pixel_shortcut_is_at_chance_without_signal(rng):
    xtr, xte = rng.random((200, 8, 8, 1)), rng.random((400, 8, 8, 1))
    ytr, yte = rng.integers(0, 2, 200), rng.integers(0, 2, 400)
    assert abs(np.mean(controls.pixel_shortcut(xtr, ytr, xte, 4) == yte) - 0.5) < 0.1


ROW = dict(patientid="1", finding="", view="PA", modality="X-ray", folder="images", filename="", age="40")


def test_select_probe_rows():
    rows = [dict(ROW, finding="COVID-19", filename="c.png"),
            dict(ROW, finding="SARS", filename="s.png"),
            dict(ROW, finding="No Finding", view="L", filename="lat.png"),
            dict(ROW, finding="Pneumonia", modality="CT", filename="ct.png"),
            dict(ROW, finding="Pneumonia", filename="c.png"),            # same file as a COVID row
            dict(ROW, finding="Streptococcus", view="AP Supine", filename="t.png"),
            dict(ROW, finding="Streptococcus", filename="t.png"),         # second row, same file
            dict(ROW, finding="Klebsiella", filename="train.png")]
    kept, skipped = controls.select_probe_rows(rows, exclude_files={"images/train.png"})
    assert [k[0] for k in kept] == ["images/s.png", "images/t.png"]
    assert kept[1][2] == "AP Supine" and kept[0][3] == "SARS"
    assert {s[0] for s in skipped} == {"images/c.png", "images/t.png", "images/train.png"}


def test_load_adult_probe(tmp_path):
    root = tmp_path / "covid-chestxray-dataset"
    (root / "images").mkdir(parents=True)
    rows = [dict(ROW, finding="COVID-19", filename="c.png"), dict(ROW, finding="SARS", filename="s.png"),
            dict(ROW, finding="No Finding", filename="gone.png")]
    for name, value in (("c.png", 200), ("s.png", 51)):
        Image.fromarray(np.full((20, 20), value, np.uint8)).save(root / "images" / name)
    with open(root / "metadata.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(ROW))
        w.writeheader()
        w.writerows(rows)
    d = controls.load_adult_probe_dataset(tmp_path, 8, progress=False)
    assert d.images.shape == (1, 8, 8, 1) and np.allclose(d.images, 51 / 255)
    assert list(d.files) == ["images/s.png"] and any("missing" in r for _, r in d.skipped)
    assert controls.load_adult_probe(None, 8) is None
    assert controls.load_adult_probe(tmp_path, 8, progress=False).shape == (1, 8, 8, 1)


def test_covid_call_rate():
    r = controls.covid_call_rate([1, 1, 0, 1], covid_index=1)
    assert (r["k"], r["n"], r["value"]) == (3, 4, 0.75) and r["low"] < 0.75 < r["high"]


def test_adult_probe_on_the_real_data(tmp_path):
    import os
    from pathlib import Path
    data = Path(os.environ.get("MTTGAN_DATA") or Path(__file__).parents[2] / "shared" / "data")
    covid_dir = data / "covid-chestxray-dataset"
    if not covid_dir.is_dir():
        pytest.skip(f"real data not found at {data} (set MTTGAN_DATA)")
    d = controls.load_adult_probe_dataset(covid_dir, 16, cache_dir=tmp_path, progress=False)
    # The June 2020 copy: 104 frontal non-COVID X-ray rows, 4 of them second rows of one file.
    assert len(d) == 100 and not any("COVID-19" in f for f in d.meta["finding"])
    assert set(d.meta["view"]) <= {"PA", "AP", "AP Supine"}
    assert d.images.shape == (100, 16, 16, 1)
