"""Decoding, gray conversion and bad input (docs/design.md, "Decoding"), on small files in tmp_path."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mttgan_min.data import DataError, decode_file, load_covid, load_kaggle, to_gray8

REPO = Path(__file__).parents[1]


def ramp(h=40, w=48):
    """uint8 (h, w) image with a horizontal ramp, so resizing keeps a known mean."""
    return np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr", "HSV",
                                  "I;16", "I;16B", "I", "F"])
def test_every_mode_becomes_8bit_gray(mode):
    base = Image.fromarray(ramp())
    if mode in ("I;16", "I;16B", "I", "F"):
        a = ramp().astype(np.float64) * 10 + 1000                               # range 1000..3550
        if mode == "I;16B":
            im = Image.frombytes(mode, (48, 40), a.astype(">u2").tobytes())
        else:
            im = Image.fromarray(a.astype({"F": np.float32, "I": np.int32}.get(mode, np.uint16)))
        assert im.mode == mode
    elif mode == "PA":
        im = base.convert("RGBA").convert("P").convert("PA")
    else:
        im = base.convert("RGB").convert(mode) if mode not in ("1", "L", "LA", "P") else base.convert(mode)
    g = to_gray8(im)
    assert g.mode == "L" and g.size == im.size
    a = np.asarray(g)
    if mode == "1":
        assert set(np.unique(a)) <= {0, 255}
    elif mode in ("I;16", "I;16B", "I", "F"):
        assert a.min() == 0 and a.max() == 255                                  # rescaled by its range
        np.testing.assert_allclose(a, ramp(), atol=1)
    elif mode not in ("P", "PA", "HSV"):
        np.testing.assert_allclose(a.astype(int), ramp().astype(int), atol=2)


def test_alpha_is_dropped_not_composited():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3], rgba[..., 3] = 200, 0                                      # fully transparent
    assert np.asarray(to_gray8(Image.fromarray(rgba, "RGBA"))).min() == 200


def test_decode_file_shapes_and_16bit_png(tmp_path):
    a = (ramp(64, 80).astype(np.uint16) * 16)
    Image.fromarray(a).save(tmp_path / "x.png")
    assert Image.open(tmp_path / "x.png").mode.startswith("I")
    out = decode_file(tmp_path / "x.png", 32)
    assert out.shape == (32, 32) and out.dtype == np.uint8 and out.max() >= 250 and out.min() <= 5


def write_jpeg(path, size=(48, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ramp(size[1], size[0])).save(path, quality=90)


@pytest.fixture
def bad_kaggle(tmp_path):
    root = tmp_path / "chest_xray"
    write_jpeg(root / "train/NORMAL/IM-0001-0001.jpeg")
    write_jpeg(root / "train/PNEUMONIA/person1_bacteria_1.jpeg")
    write_jpeg(root / "test/PNEUMONIA/person2_virus_3.jpeg", size=(200, 24))
    write_jpeg(root / "val/PNEUMONIA/person3_unknown_1.jpeg")
    (root / "train/NORMAL/IM-0002-0001.jpeg").write_bytes(b"")
    (root / "train/NORMAL/IM-0003-0001.jpeg").write_bytes(b"this is not a jpeg" * 10)
    good = (root / "train/NORMAL/IM-0001-0001.jpeg").read_bytes()
    (root / "train/NORMAL/IM-0004-0001.jpeg").write_bytes(good[: len(good) // 2])
    write_jpeg(root / "train/NORMAL/IM-0005-0001.jpeg", size=(20, 30))
    (root / "train/NORMAL/notes.txt").write_text("hello")
    return tmp_path


def test_kaggle_bad_files_are_named_and_good_ones_loaded(bad_kaggle):
    ds = load_kaggle(bad_kaggle, 32, cache_dir=None, progress=False)
    assert sorted(ds.files) == ["train/NORMAL/IM-0001-0001.jpeg", "train/PNEUMONIA/person1_bacteria_1.jpeg"]
    assert list(ds.labels) == ["normal", "bacterial"] and list(ds.patients) == ["IM-0001", "person1_bacteria"]
    reasons = dict(ds.skipped)
    assert "not an image" in reasons["train/NORMAL/IM-0002-0001.jpeg"]           # empty
    assert "not an image" in reasons["train/NORMAL/IM-0003-0001.jpeg"]           # garbage
    assert "truncated" in reasons["train/NORMAL/IM-0004-0001.jpeg"].lower()
    assert "20x30" in reasons["train/NORMAL/IM-0005-0001.jpeg"] and "32" in reasons["train/NORMAL/IM-0005-0001.jpeg"]
    assert "200x24" in reasons["test/PNEUMONIA/person2_virus_3.jpeg"]
    assert "neither" in reasons["val/PNEUMONIA/person3_unknown_1.jpeg"]
    assert "train/NORMAL/notes.txt" in reasons
    assert len(ds.skipped) == 7


def covid_folder(tmp_path, header="patientid,finding,view,modality,folder,filename", rows=()):
    root = tmp_path / "covid"
    (root / "images").mkdir(parents=True)
    (root / "metadata.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def test_covid_rule_duplicates_and_missing_files(tmp_path):
    root = covid_folder(tmp_path, rows=[
        '1,COVID-19,PA,X-ray,images,a.jpg', '1,COVID-19,L,X-ray,images,b.jpg',
        '2,"COVID-19, ARDS",AP Supine,X-ray,images,c.png', '3,SARS,PA,X-ray,images,d.jpg',
        '9,COVID-19,AP,X-ray,images,a.jpg', '4,COVID-19,AP,X-ray,images,missing.jpg',
        '5,COVID-19,PA,CT,images,e.jpg'])
    for f in "abcde":
        write_jpeg(root / "images" / f"{f}.{'png' if f == 'c' else 'jpg'}")
    ds = load_covid(root, 32, cache_dir=None, progress=False)
    assert list(ds.files) == ["images/a.jpg", "images/c.png"]
    assert list(ds.patients) == ["1", "2"] and list(ds.meta["view"]) == ["PA", "AP Supine"]
    reasons = dict(ds.skipped)
    assert "missing" in reasons["images/missing.jpg"] and "patient 1" in reasons["images/a.jpg"]


def test_covid_metadata_without_columns_is_an_error(tmp_path):
    root = covid_folder(tmp_path, header="patientid,finding,filename", rows=["1,COVID-19,a.jpg"])
    with pytest.raises(DataError, match="view, modality"):
        load_covid(root, 32, cache_dir=None, progress=False)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mttgan_min.data", "--size", "16", "--no-cache", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("case", ["missing", "wrong-kaggle", "wrong-covid"])
def test_cli_bad_folder_exit_2_one_sentence(tmp_path, case):
    (tmp_path / "stuff").mkdir()
    arg = {"missing": ["--kaggle-dir", str(tmp_path / "nope")],
           "wrong-kaggle": ["--kaggle-dir", str(tmp_path)],
           "wrong-covid": ["--covid-dir", str(tmp_path)]}[case]
    r = run_cli(*arg)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and "expected" in lines[0]
    assert lines[0].endswith(".")


def test_cli_json_names_skipped_files(bad_kaggle):
    import json
    r = run_cli("--kaggle-dir", str(bad_kaggle / "chest_xray"), "--json", "--size", "32")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kaggle"]["counts"]["normal"] == 1 and out["kaggle"]["counts"]["bacterial"] == 1
    assert out["kaggle"]["split"]["possible"] is False and "68" in out["kaggle"]["split"]["reason"]
    assert len(out["kaggle"]["skipped"]) == 7 and {"file", "reason"} <= set(out["kaggle"]["skipped"][0])
    assert out["covid"]["source"] == "synthetic" and out["covid"]["images"] == 227
