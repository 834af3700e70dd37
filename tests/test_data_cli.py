"""`python -m mttgan_min.data` and prepare_data on bad or small input: every case answered with counts
or one sentence, never a traceback (docs/design.md, "What the data summary reports")."""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mttgan_min.data import DataError, decode_file, load_covid, prepare_data
from mttgan_min.data import __main__ as data_cli

REPO = Path(__file__).parents[1]


def noise_jpeg(path, seed, size=(48, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    Image.fromarray(a).save(path, quality=90)


@pytest.fixture
def six_images(tmp_path):
    """3 normal, 2 bacterial, 1 viral, and three bad files."""
    root = tmp_path / "chest_xray"
    for i in range(3):
        noise_jpeg(root / f"train/NORMAL/IM-000{i}-0001.jpeg", i)
    noise_jpeg(root / "train/PNEUMONIA/person1_bacteria_1.jpeg", 10)
    noise_jpeg(root / "test/PNEUMONIA/person2_bacteria_2.jpeg", 11)
    noise_jpeg(root / "val/PNEUMONIA/person3_virus_3.jpeg", 12)
    (root / "train/NORMAL/IM-0009-0001.jpeg").write_bytes(b"")                  # empty
    (root / "train/NORMAL/readme.txt").write_text("not an image")                # wrong name
    noise_jpeg(root / "train/PNEUMONIA/person4_virus_4.jpeg", 13, size=(20, 20))  # too small
    return tmp_path


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mttgan_min.data", "--no-cache", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_small_folder_is_summarised_and_the_split_explained(six_images):
    r = run_cli("--kaggle-dir", str(six_images), "--json", "--size", "32")
    assert r.returncode == 0, r.stderr
    k = json.loads(r.stdout)["kaggle"]
    assert k["counts"] == {"normal": 3, "bacterial": 2, "viral": 1}
    assert sorted(s["file"] for s in k["skipped"]) == [
        "train/NORMAL/IM-0009-0001.jpeg", "train/NORMAL/readme.txt", "train/PNEUMONIA/person4_virus_4.jpeg"]
    assert all(s["reason"] for s in k["skipped"])
    assert k["split"]["possible"] is False and "68" in k["split"]["reason"]
    text = run_cli("--kaggle-dir", str(six_images), "--size", "32")
    assert text.returncode == 0 and "held-out test split impossible" in text.stdout
    assert "{'" not in text.stdout and "{\"" not in text.stdout                  # no Python dict reprs


def test_training_on_a_small_folder_stops_with_one_sentence(six_images):
    with pytest.raises(DataError) as err:
        prepare_data(six_images, None, size=32, cache_dir=None, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith(".") and "1 image," in msg         # "1 image", not "1 images"


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--size", "0"], ["--size", "-5"], ["--n-test", "-1"]])
def test_bad_numbers_exit_2_without_traceback(args):
    r = run_cli(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("python -m mttgan_min.data: error: argument")


def test_help_shows_defaults():
    r = run_cli("--help")
    assert r.returncode == 0 and "(default: 128)" in r.stdout and "(default: 68)" in r.stdout


def test_grid_into_a_missing_folder_is_refused_before_loading(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data_cli, "load_pool", lambda *a, **k: pytest.fail("loaded before the check"))
    assert data_cli.main(["--grid", str(tmp_path / "nope" / "grid.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err


def covid_folder(tmp_path, rows, header="patientid,finding,view,modality,folder,filename", bom=False):
    root = tmp_path / "covid"
    (root / "images").mkdir(parents=True)
    text = "\n".join([header, *rows]) + "\n"
    (root / "metadata.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return root


def test_metadata_with_a_byte_order_mark_reads(tmp_path):
    root = covid_folder(tmp_path, ["1,COVID-19,PA,X-ray,images,a.jpg"], bom=True)
    noise_jpeg(root / "images/a.jpg", 0)
    ds = load_covid(root, 32, cache_dir=None, progress=False)
    assert list(ds.patients) == ["1"]


def test_short_metadata_row_names_file_and_line(tmp_path):
    root = covid_folder(tmp_path, ["1,COVID-19,PA,X-ray,images,a.jpg", "2,COVID-19,PA"])
    with pytest.raises(DataError, match=r"metadata.csv, line 3, has only 3 of the 6 columns"):
        load_covid(root, 32, cache_dir=None, progress=False)


def test_empty_covid_pool_is_one_sentence_without_augment_advice(tmp_path):
    root = covid_folder(tmp_path, ["1,COVID-19,PA,X-ray,images,gone.jpg"])
    with pytest.raises(DataError) as err:
        prepare_data(None, root, size=16, need_kaggle=False, cache_dir=None, progress=False)
    msg = str(err.value)
    assert "no usable image" in msg and "gone.jpg" in msg and "augment" not in msg and "\n" not in msg


def test_huge_image_raises_no_decompression_bomb_warning(tmp_path, monkeypatch):
    noise_jpeg(tmp_path / "big.jpg", 0, size=(60, 60))                         # 3600 px > the limit below
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)                        # a 12000 x 12000 film, scaled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_file(tmp_path / "big.jpg", 32).shape == (32, 32)
