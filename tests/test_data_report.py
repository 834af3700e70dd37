"""What prepare_data tells the user (docs/design.md, "What the data summary reports"): sources, counts,
skipped files, merged duplicates and shortfalls, as sentences and as a JSON-able report; and the training
job prints them and writes data_report.json."""
import json

import numpy as np
import pytest
from PIL import Image

from mttgan_min import train
from mttgan_min.run import session
from mttgan_min.data import prepare_data


def covid_folder(root, n_rows, missing=()):
    """A covid-chestxray-dataset folder: n_rows COVID-19 PA rows, one patient each, distinct noise films;
    the files named in ``missing`` are not written."""
    (root / "images").mkdir(parents=True)
    rows = ["patientid,finding,view,modality,folder,filename"]
    for i in range(n_rows):
        rows.append(f"{i},COVID-19,PA,X-ray,images,f{i}.png")
        if i not in missing:
            a = np.random.default_rng(i).integers(0, 256, (48, 48), dtype=np.uint8)
            Image.fromarray(a).save(root / "images" / f"f{i}.png")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def short_folder(tmp_path_factory):
    return covid_folder(tmp_path_factory.mktemp("covid"), 12, missing=(3, 7))


def test_missing_files_are_counted_reported_and_explained(short_folder):
    p = prepare_data(None, short_folder, size=16, need_kaggle=False, n_test=2, covid_train_cap=159,
                     cache_dir=None, progress=False)
    assert len(p.covid_train) == 8
    text = "\n".join(p.summary_lines())
    assert "real data from" in text and "2 files skipped" in text
    assert "fewer than the paper's 159" in text and "skipped" in text.split("fewer")[1]
    report = json.loads(json.dumps(p.report()))                               # JSON-able
    skipped = {s["file"]: s["reason"] for s in report["pools"]["covid"]["skipped"]}
    assert set(skipped) == {"images/f3.png", "images/f7.png"}
    assert all("missing" in r for r in skipped.values())
    assert report["pools"]["covid"]["counts"] == {"covid": 10}


def test_covid_only_says_pretraining_is_synthetic(short_folder):
    p = prepare_data(None, short_folder, size=16, n_test=2, cache_dir=None, progress=False)
    text = "\n".join(p.summary_lines())
    assert "pretraining uses synthetic phantoms" in text and "no --kaggle-dir given" in text
    assert "{'" not in text
    assert p.report()["pools"]["kaggle"]["source"] == "synthetic"


def test_train_prints_the_summary_and_writes_the_report(tmp_path, monkeypatch, capsys):
    covid = covid_folder(tmp_path / "covid", 75, missing=(0,))
    monkeypatch.setattr(session, "run_schedule", lambda *a, **k: None)          # the data part only
    run = tmp_path / "run"
    assert train.main(["--preset", "tiny", "--covid-dir", str(covid), "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "pretraining uses synthetic phantoms" in out and "fewer than the paper's 159" in out
    report = json.loads((run / "data_report.json").read_text())
    assert report["pools"]["covid"]["skipped"][0]["file"] == "images/f0.png"
