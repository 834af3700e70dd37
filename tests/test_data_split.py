"""Held-out test split (paper Sec. IV-A; docs/design.md, "The held-out split and the COVID cap"): seeded, 68 per class,
by patient, duplicates across patient ids merged, never reaching training."""
import json

import numpy as np
import pytest

from mttgan_min.data import DataError, Dataset, find_duplicates, prepare_data, split_test
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


def test_covid_train_cap_and_manifest_is_json(prepared):
    p = prepare_data(size=16, seed=5, covid_train_cap=159, cache_dir=None, progress=False)
    assert len(p.covid_train) == 159
    assert p.manifest["test"] == prepared.manifest["test"]
    assert json.loads(json.dumps(p.manifest)) == p.manifest
    assert set(p.manifest["duplicates"]) == {"kaggle", "covid"}


def test_greedy_skips_groups_that_overshoot():
    groups = np.repeat(np.arange(6), [5, 5, 5, 1, 1, 1])
    for seed in range(10):
        test = choose_test(groups, 7, np.random.default_rng(seed))
        assert test.sum() == 7
        assert all(test[groups == g].all() or not test[groups == g].any() for g in range(6))


def test_links_merge_groups():
    ids = patient_groups(np.array(["a", "b", "c", "d", "a"]), [(1, 3)])
    assert ids[1] == ids[3] and ids[0] == ids[4]
    assert len({ids[0], ids[1], ids[2]}) == 3


def test_exact_duplicates_are_found():
    rng = np.random.default_rng(0)
    img = rng.random((4, 8, 8, 1), dtype=np.float32)
    img[3] = img[1]
    ds = Dataset(img, np.full(4, "covid"), np.array(["a", "b", "c", "d"]), np.array(list("wxyz")))
    pairs = [(d["files"], d["reason"]) for d in find_duplicates(ds)]
    assert pairs == [(["x", "z"], "identical pixels")]


def planted(n_patients=80, n_copies=12, size=24, seed=0):
    """Smooth random films, one per patient, plus ``n_copies`` re-exports of some of them (brightness,
    contrast and noise changed) under new patient ids."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(seed)
    base = gaussian_filter(rng.random((n_patients, size, size)), (0, 2.5, 2.5))
    base = (base - base.min()) / (base.max() - base.min())
    orig = rng.choice(n_patients, n_copies, replace=False)
    copies = base[orig] * 0.8 + 0.1 + 0.01 * rng.standard_normal((n_copies, size, size))
    images = np.clip(np.concatenate([base, copies]), 0, 1).astype(np.float32)[..., None]
    pats = np.array([f"p{i}" for i in range(n_patients)] + [f"copy{i}" for i in range(n_copies)])
    ds = Dataset(images, np.full(len(pats), "covid"), pats, pats)
    return ds, [(f"p{o}", f"copy{k}") for k, o in enumerate(orig)]


def test_planted_near_duplicates_land_on_one_side():
    ds, pairs = planted()
    found = {tuple(sorted(d["patients"])) for d in find_duplicates(ds)}
    assert {tuple(sorted(p)) for p in pairs} <= found                       # every planted copy found
    assert len(found) == len(pairs)                                          # and nothing else
    for seed in range(10):
        test = split_test(ds, 20, seed)
        side = dict(zip(ds.patients, test))
        assert all(side[a] == side[b] for a, b in pairs)
        assert test.sum() == 20


def test_known_duplicates_merge_even_when_they_look_different():
    rng = np.random.default_rng(1)
    img = rng.random((4, 16, 16, 1), dtype=np.float32)                      # uncorrelated noise
    files = np.array(["images/A7E260CE-8A00-4C5F-A7F5-27336527A981.jpeg", "images/x.png",
                      "images/case_76_1-3.png", "images/y.png"])
    ds = Dataset(img, np.full(4, "covid"), np.array(["137", "1", "202", "2"]), files)
    dups = find_duplicates(ds)
    assert [d["patients"] for d in dups] == [["137", "202"]]
    assert "documentation" in dups[0]["reason"]


def test_impossible_split_names_the_class_in_one_sentence():
    ds = Dataset(np.zeros((1, 4, 4, 1), np.float32), np.array(["viral"]), np.array(["p"]), np.array(["f"]))
    with pytest.raises(DataError, match=r"class viral has 1 image, but the held-out .* takes 1 image "):
        split_test(ds, 1, 0)


def test_patients_are_kept_whole():
    rng = np.random.default_rng(0)
    pats = np.repeat([f"p{i}" for i in range(60)], rng.integers(1, 4, 60))
    n = len(pats)
    ds = Dataset(rng.random((n, 2, 2, 1), dtype=np.float32), np.full(n, "covid"), pats, pats)
    test = split_test(ds, 20, seed=1)
    assert test.sum() == 20
    assert not set(pats[test]) & set(pats[~test])
