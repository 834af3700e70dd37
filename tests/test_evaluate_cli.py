"""python -m mttgan_min.evaluate end to end on the synthetic data (tiny preset, one epoch, few images),
its resume, and its one-sentence refusals."""
import csv
import json

import pytest

from mttgan_min import evaluate, sample, train

FAST = ["--epochs", "1", "--images-per-class", "20"]


@pytest.fixture(scope="module")
def gan_runs(tmp_path_factory):
    """Two barely trained tiny baseline GANs (2 iterations each): split seed 0 and split seed 1."""
    root = tmp_path_factory.mktemp("gans")
    runs = {}
    for seed in (0, 1):
        run = root / f"baseline-s{seed}"
        assert train.main(["--mode", "baseline", "--finetune-epochs", "1", "--max-iters-per-epoch", "2",
                           "--seed", str(seed), "--out", str(run)]) == 0
        runs[seed] = run
    folder = root / "pngs"
    assert sample.main(["--run", str(runs[0]), "--n", "25", "--out", str(folder)]) == 0
    runs["pngs"] = folder
    return runs


def assert_no_checkpoint_left(out):
    """A finished evaluation keeps no classifier weights: per classifier only its curves, predictions and result."""
    folders = list((out / "classifiers").glob("*/*/*-seed*"))
    assert folders
    left = sorted(p.name for p in (out / "classifiers").rglob("*.npz"))
    assert not left, f"classifier checkpoints left behind: {left}"
    sizes = {f: sum(p.stat().st_size for p in f.iterdir()) for f in folders}
    assert max(sizes.values()) < 200_000, f"a finished classifier keeps {max(sizes.values())} bytes on disk"


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_evaluate_end_to_end_and_resume(gan_runs, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["--gan", f"mtt={gan_runs[0]}",
            "--generated", f"transfer={gan_runs['pngs']}", "--task", "binary", "--controls", "--quality",
            "--out", str(out)] + FAST
    assert evaluate.main(argv) == 0
    for name in ("config.json", "results.csv", "table1.md", "controls.md", "tests.csv", "training_sets.json",
                 "quality/quality.json", "quality/samples_beside_real.png", "generated/mtt.png",
                 "generated/transfer.png"):
        assert (out / name).is_file(), name
    assert not (out / "table2.md").exists()                      # --task binary only
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["options"]["preset"] == "tiny" and cfg["options"]["images_per_class"] == 20
    assert cfg["generated"]["mtt"]["latent_seed"] == 0 and len(cfg["generated"]["mtt"]["generator_sha256"]) == 64
    rows = read_csv(out / "results.csv")
    rows_run = {"transfer_gen", "transfer_real_gen", "mtt_gen", "mtt_real_gen", "real_only"}
    nets = [r for r in rows if r["classifier"] in ("vgg19", "alexnet")]
    assert {r["row"] for r in nets} == rows_run and len(nets) == 2 * len(rows_run)
    assert {r["classifier"] for r in rows} == {"vgg19", "alexnet", "pixel4x4", "pixel8x8"}
    for r in nets:
        assert int(r["n"]) == 136 and 0 <= int(r["k"]) <= 136
        assert float(r["acc_low"]) <= float(r["accuracy"]) <= float(r["acc_high"])
        assert int(r["train_images"]) == 28 and int(r["val_images"]) == 12     # 40 images, 30% validation
    comp = json.loads((out / "training_sets.json").read_text())
    assert comp["binary/mtt_real_gen"]["covid"] == {"real": 2, "generated": 18}   # round(20 * 159 / 1400)
    assert comp["binary/real_only"]["covid"]["real"] == 20
    table = (out / "table1.md").read_text()
    assert "MTT-GAN (generated)" in table and "96.32" in table and "not run" in table   # no baseline given
    assert read_csv(out / "tests.csv")
    controls = (out / "controls.md").read_text()                # every training set, networks beside pixels
    assert "| Real COVID images only (control) |" in controls and "pixels 8x8 %" in controls
    assert "calls adult non-COVID films COVID" not in controls   # synthetic data has no adult probe films
    assert "not run" not in controls.split("Accuracy on")[0]
    one = out / "classifiers" / "binary" / "mtt_gen" / "alexnet-seed0"
    preds = read_csv(one / "predictions.csv")
    assert len(preds) == 136 and abs(sum(float(preds[0][k]) for k in ("p_normal", "p_covid")) - 1) < 1e-5
    for name in ("curves.csv", "curves.png"):
        assert (one / name).is_file()
    assert_no_checkpoint_left(out)
    assert list((out / "confusion").glob("binary_mtt_gen_alexnet_seed0.png"))
    # resuming a finished evaluation trains nothing and rewrites the same results
    before = (out / "results.csv").read_text()
    (out / "results.csv").unlink()
    assert evaluate.main(["--resume", str(out)]) == 0
    assert (out / "results.csv").read_text() == before


def refusal(argv, capsys):
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_refusals(gan_runs, tmp_path, capsys):
    out = str(tmp_path / "e")
    assert "nothing to evaluate" in refusal(["--out", out], capsys)
    assert "NAME must be one of" in refusal(["--gan", f"wgan={gan_runs[0]}", "--out", out], capsys)
    assert "not a run directory" in refusal(["--gan", f"mtt={tmp_path}", "--out", out], capsys)
    err = refusal(["--gan", f"baseline={gan_runs[0]}", "--gan", f"mtt={gan_runs[1]}", "--out", out], capsys)
    assert "held-out test images differ" in err
    assert "classifiers" in refusal(["--gan", f"mtt={gan_runs[0]}", "--classifiers", "resnet", "--out", out], capsys)
    assert "cannot be combined" in refusal(["--resume", out, "--epochs", "3"], capsys)
    assert "not an evaluation directory" in refusal(["--resume", out], capsys)
    # a run whose recorded split differs from the data given here (another COVID pool)
    err = refusal(["--gan", f"mtt={gan_runs[0]}", "--images-per-class", "500", "--out", out] + FAST[:2], capsys)
    assert "fewer than" in err


def test_refuses_a_run_whose_recorded_split_differs(gan_runs, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", "generator.npz"):
        (run / name).write_bytes((gan_runs[0] / name).read_bytes())
    manifest = json.loads((gan_runs[0] / "split.json").read_text())
    manifest["test"]["covid"] = manifest["test"]["covid"][::-1][:67] + ["synthetic/covid/covid/9999-1"]
    (run / "split.json").write_text(json.dumps(manifest))
    err = refusal(["--gan", f"mtt={run}", "--out", str(tmp_path / "e")] + FAST, capsys)
    assert "held-out covid images" in err and "differ" in err


class FakeStop:
    """run.loop.StopFlag as if Ctrl-C came after ``batches`` training batches."""

    def __init__(self, batches):
        self.batches = batches

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    @property
    def signum(self):
        self.batches -= 1
        return 2 if self.batches < 0 else None


def test_ctrl_c_stops_and_resume_finishes(gan_runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "eval"
    argv = ["--gan", f"mtt={gan_runs[0]}", "--task", "binary", "--classifiers", "alexnet", "--epochs", "2",
            "--images-per-class", "20", "--out", str(out)]
    monkeypatch.setattr(evaluate, "StopFlag", lambda: FakeStop(1))     # 1 batch per epoch: stops in epoch 2
    assert evaluate.main(argv) == 130
    err = capsys.readouterr().err
    assert f"--resume {out}" in err and not (out / "results.csv").exists()
    first = out / "classifiers" / "binary" / "mtt_gen" / "alexnet-seed0"
    assert (first / "checkpoint.npz").is_file() and not (first / "result.json").exists()
    monkeypatch.setattr(evaluate, "StopFlag", lambda: FakeStop(10**6))
    assert evaluate.main(["--resume", str(out)]) == 0
    rows = read_csv(out / "results.csv")
    assert [r["row"] for r in rows] == ["mtt_gen", "mtt_real_gen"]
    assert all(r["epoch"] == "2" for r in rows)
    assert_no_checkpoint_left(out)


@pytest.mark.parametrize("content, words", [("{not json", "not valid JSON"), ('{"seed": 1}', 'no "options"')])
def test_a_broken_run_config_is_one_sentence(gan_runs, tmp_path, capsys, content, words):
    run = tmp_path / "run"
    run.mkdir()
    (run / "generator.npz").write_bytes((gan_runs[0] / "generator.npz").read_bytes())
    (run / "config.json").write_text(content)
    assert words in refusal(["--gan", f"mtt={run}", "--out", str(tmp_path / "e")] + FAST, capsys)
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "config.json").write_text(content)
    assert words in refusal(["--resume", str(tmp_path / "e")], capsys)


def test_runs_with_different_covid_caps_are_refused(gan_runs, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("generator.npz", "split.json"):
        (run / name).write_bytes((gan_runs[0] / name).read_bytes())
    config = json.loads((gan_runs[0] / "config.json").read_text())
    config["options"]["covid_train_cap"] = 100
    (run / "config.json").write_text(json.dumps(config))
    err = refusal(["--gan", f"mtt={run}", "--gan", f"baseline={gan_runs[0]}", "--out", str(tmp_path / "e")] + FAST,
                  capsys)
    assert "different numbers of real COVID images" in err
