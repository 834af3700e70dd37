"""Synthetic phantoms (docs/design.md, "Synthetic phantoms"): seeded, shaped like the real pools, classes
that differ."""
import time

import numpy as np
import pytest

from mttgan_min.data import make_synthetic


@pytest.fixture(scope="module")
def pools():
    start = time.perf_counter()
    k, c = make_synthetic("kaggle", 32), make_synthetic("covid", 32)
    return k, c, time.perf_counter() - start


def test_shapes_ranges_counts_and_speed(pools):
    k, c, seconds = pools
    assert seconds < 10                                     # about 1 s on 2 cores
    assert k.counts() == {"normal": 396, "bacterial": 695, "viral": 373}
    assert c.counts() == {"covid": 227} and 100 <= len(set(c.patients)) <= 160
    for ds in (k, c):
        assert ds.images.dtype == np.float32 and ds.images.shape[1:] == (32, 32, 1)
        assert ds.images.min() >= 0 and ds.images.max() <= 1 and ds.images.std() > 0.1
        assert len(set(ds.files)) == len(ds) and all(f.startswith("synthetic/") for f in ds.files)
    assert not set(k.patients) & set(c.patients)


def test_deterministic_per_seed():
    a = make_synthetic("covid", 16, seed=1)
    b = make_synthetic("covid", 16, seed=1)
    d = make_synthetic("covid", 16, seed=2)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.patients, b.patients)
    assert not np.array_equal(a.images, d.images)


def zone_means(ds, name, rows, cols):
    return ds.images[ds.labels == name][:, rows, cols, 0].mean(axis=(1, 2))


def test_classes_differ(pools):
    k, c, _ = pools
    lower_lungs = (slice(17, 22), np.r_[4:9, 23:28])     # lower, lateral lung zones, both sides
    normal, covid = zone_means(k, "normal", *lower_lungs), zone_means(c, "covid", *lower_lungs)
    assert covid.mean() > normal.mean() + 0.04
    # bacterial: a one-sided focal patch makes the left-right difference vary far more than in normal
    left, right = (slice(8, 22), slice(4, 13)), (slice(8, 22), slice(19, 28))
    spread = {n: np.std(zone_means(k, n, *left) - zone_means(k, n, *right)) for n in ("normal", "bacterial")}
    assert spread["bacterial"] > 2.5 * spread["normal"]
    # viral: diffuse pattern raises the whole lung fields
    whole = (slice(8, 20), np.r_[5:12, 20:27])
    assert zone_means(k, "viral", *whole).mean() > zone_means(k, "normal", *whole).mean() + 0.03


def test_heart_on_the_image_right(pools):
    k, _, _ = pools
    img = k.images[k.labels == "normal"][..., 0].mean(axis=0)
    assert img[18:24, 17:22].mean() > img[18:24, 10:15].mean() + 0.05


def test_source_copy_at_one_and_a_quarter_the_size(pools):
    from mttgan_min.data import resize
    k, c, _ = pools
    for ds in (k, c):
        assert ds.hires.dtype == np.uint8 and ds.hires.shape == (len(ds), 40, 40, 1)
        np.testing.assert_array_equal(ds.images, resize(ds.hires, 32))
