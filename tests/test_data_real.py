"""The loaders on the shared reduced copy of the real data (shared/data/README.md gives the counts).

Skipped when the data is absent. Found at <repo>/../shared/data or $MTTGAN_DATA.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from mttgan_min.data import load_covid, load_kaggle, prepare_data

DATA = Path(os.environ.get("MTTGAN_DATA") or Path(__file__).parents[2] / "shared" / "data")
pytestmark = pytest.mark.skipif(
    not (DATA / "chest_xray").is_dir() or not (DATA / "covid-chestxray-dataset").is_dir(),
    reason=f"real data not found at {DATA} (set MTTGAN_DATA to the folder holding chest_xray/ and "
           "covid-chestxray-dataset/)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_kaggle_counts_per_class_and_split(cache):
    ds = load_kaggle(DATA, 32, cache, progress=False)
    assert ds.counts() == {"normal": 1583, "bacterial": 2780, "viral": 1493}
    assert ds.skipped == []
    assert ds.images.shape == (5856, 32, 32, 1) and ds.images.dtype == np.float32
    split = ds.meta["published_split"]
    assert [int(np.sum(split == s)) for s in ("train", "test", "val")] == [5216, 624, 16]
    # personN is reused across subtypes, so the key carries the subtype
    assert all(p.endswith(("_bacteria", "_virus")) for p in ds.patients[ds.labels != "normal"])


def test_kaggle_dir_may_be_chest_xray_itself(cache):
    ds = load_kaggle(DATA / "chest_xray", 32, cache, progress=False)
    assert len(ds) == 5856


def test_covid_counts_rule(cache):
    ds = load_covid(DATA / "covid-chestxray-dataset", 32, cache, progress=False)
    assert len(ds) == 427 and len(set(ds.patients)) == 257
    assert set(ds.meta["view"]) == {"PA", "AP", "AP Supine"}
    assert ds.skipped == []


def test_real_size_128_loses_nothing_to_the_size_rule(cache):
    # the 3 COVID images below 160 px (shorter side 156-157) still pass at the paper's 128
    ds = load_covid(DATA, 128, cache, progress=False)
    assert len(ds) == 427 and ds.images.shape[1:] == (128, 128, 1)


def test_real_split_does_not_leak(cache):
    p = prepare_data(DATA, DATA, size=32, seed=3, cache_dir=cache, progress=False)
    assert p.source == {"kaggle": "real", "covid": "real"}
    assert p.test.counts() == {"normal": 68, "bacterial": 68, "viral": 68, "covid": 68}
    train = [p.kaggle_train, p.covid_train]
    for tr in train:
        assert not set(tr.files) & set(p.test.files)
        assert not set(tr.patients) & set(p.test.patients)
    seen = {img.tobytes() for tr in train for img in tr.images}
    assert not any(img.tobytes() in seen for img in p.test.images)
