"""python -m mttgan_min.reproduce with the shortest schedules: four GANs, then the evaluation; a second
call finds everything finished and only rewrites the evaluation's outputs."""
import json

from mttgan_min import reproduce

SHORT = ["--pretrain-epochs", "1", "--finetune-epochs", "1", "--max-iters-per-epoch", "1", "--epochs", "1",
         "--images-per-class", "20", "--task", "binary", "--classifiers", "alexnet"]


def test_reproduce_trains_four_gans_then_evaluates_and_continues(tmp_path, capsys):
    out = tmp_path / "r"
    assert reproduce.main(["--out", str(out)] + SHORT) == 0
    gans = out / "gans"
    for name in ("transfer", "mtt", "baseline", "baseline_aug"):
        assert (gans / name / "generator.npz").is_file(), name
    mtt = json.loads((gans / "mtt" / "config.json").read_text())["options"]
    assert mtt["pretrained"] == str((gans / "transfer").resolve()) and mtt["pretrain_epochs"] == 0
    factors = {n: json.loads((gans / n / "config.json").read_text())["options"]["covid_factor"]
               for n in ("baseline", "baseline_aug")}
    assert factors == {"baseline": 1, "baseline_aug": 50}
    ev = out / "evaluation"
    table = (ev / "table1.md").read_text()
    assert "not run" not in table                      # all six rows of Table I
    assert (ev / "quality" / "quality.json").is_file()
    cfg = json.loads((ev / "config.json").read_text())["options"]
    assert cfg["controls"] and cfg["quality"] and set(cfg["gans"]) == {"transfer", "mtt", "baseline", "baseline_aug"}
    capsys.readouterr()
    assert reproduce.main(["--out", str(out)] + SHORT) == 0
    said = capsys.readouterr().out
    assert said.count("finished earlier") == 4 and "evaluation (resumed)" in said
