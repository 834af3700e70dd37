"""Held-out test split (SPEC "Data"): seeded, 68 per class, by patient, never reaching training."""
import json

import numpy as np
import pytest

from mttgan_min.data import Dataset, load_manifest, prepare_data, save_manifest, split_test
from mttgan_min.data.split import choose_test, patient_groups


@pytest.fixture(scope="module")
def prepared():
    return prepare_data(size=16, seed=5, cache_dir=None, progress=False)


def test_sizes_sources_and_shapes(prepared):
    p = prepared
    assert p.source == {"kaggle": "synthetic", "covid": "synthetic"}
    assert p.test.counts() == {"normal": 68, "bacterial": 68, "viral": 68, "covid": 68}
    assert set(p.kaggle_train.labels) == {"normal", "bacterial", "viral"}
    assert set(p.covid_train.labels) == {"covid"}
    assert len(p.covid_train) == 227 - 68
    assert p.test.images.shape == (272, 16, 16, 1)


def test_no_test_image_reaches_training(prepared):
    p = prepared
    for tr in (p.kaggle_train, p.covid_train):
        assert not set(tr.files) & set(p.test.files)
        assert not set(tr.patients) & set(p.test.patients)
        train_bytes = {img.tobytes() for img in tr.images}
        assert not any(img.tobytes() in train_bytes for img in p.test.images)


def test_same_seed_same_split_other_seed_other_split(prepared):
    again = prepare_data(size=16, seed=5, cache_dir=None, progress=False)
    assert again.manifest == prepared.manifest
    other = prepare_data(size=16, seed=6, cache_dir=None, progress=False)
    assert other.manifest["test"] != prepared.manifest["test"]


def test_pool_split_depends_only_on_pool_and_seed(prepared):
    covid_only = prepare_data(size=16, seed=5, need_kaggle=False, cache_dir=None, progress=False)
    assert covid_only.kaggle_train is None
    assert covid_only.manifest["test"]["covid"] == prepared.manifest["test"]["covid"]


def test_covid_train_cap_and_manifest_roundtrip(prepared, tmp_path):
    p = prepare_data(size=16, seed=5, covid_train_cap=159, cache_dir=None, progress=False)
    assert len(p.covid_train) == 159
    assert p.manifest["test"] == prepared.manifest["test"]
    save_manifest(p.manifest, tmp_path / "split.json")
    assert load_manifest(tmp_path / "split.json") == json.loads(json.dumps(p.manifest))


def test_greedy_skips_groups_that_overshoot():
    groups = np.repeat(np.arange(6), [5, 5, 5, 1, 1, 1])
    for seed in range(10):
        test = choose_test(groups, 7, np.random.default_rng(seed))
        assert test.sum() == 7
        assert all(test[groups == g].all() or not test[groups == g].any() for g in range(6))


def test_exact_duplicates_share_a_group():
    img = np.zeros((4, 2, 2, 1), np.float32)
    img[1] = img[3] = 1.0
    ids = patient_groups(np.array(["a", "b", "c", "d"]), img)
    assert ids[1] == ids[3] and ids[0] == ids[2] and ids[0] != ids[1]


def test_patients_are_kept_whole():
    rng = np.random.default_rng(0)
    pats = np.repeat([f"p{i}" for i in range(60)], rng.integers(1, 4, 60))
    n = len(pats)
    ds = Dataset(rng.random((n, 2, 2, 1), dtype=np.float32), np.full(n, "covid"), pats, pats)
    test = split_test(ds, 20, seed=1)
    assert test.sum() == 20
    assert not set(pats[test]) & set(pats[~test])
