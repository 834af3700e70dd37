"""python -m mttgan_min.reproduce with the shortest schedules: four GANs, then the evaluation; a second
call finds everything finished and only rewrites the evaluation's outputs. The plan printed before
the work counts what then runs."""
import csv
import json

from mttgan_min import reproduce

SHORT = ["--pretrain-epochs", "1", "--finetune-epochs", "1", "--max-iters-per-epoch", "1", "--epochs", "1",
         "--images-per-class", "20", "--task", "binary", "--classifiers", "alexnet"]


def planned(argv, out):
    args = reproduce.build_parser().parse_args(argv)
    args.preset = "tiny"
    return reproduce.make_plan(args, out, {"gan": 1.0, "vgg19": 1.0, "alexnet": 1.0})


def test_reproduce_trains_four_gans_then_evaluates_and_continues(tmp_path, capsys):
    out = tmp_path / "r"
    before = planned(["--out", str(out)] + SHORT, out)
    assert not out.exists()
    assert reproduce.main(["--out", str(out)] + SHORT) == 0
    said = capsys.readouterr().out
    assert said.index("plan: reproduce") < said.index("== transfer:")
    gans = out / "gans"
    for job in before.gan_jobs:             # the plan's stages are those train ran, iteration counts included
        config = json.loads((gans / job.name / "config.json").read_text())
        assert json.loads(json.dumps(job.stages)) == config["stages"], job.name
        with open(gans / job.name / "metrics.csv") as f:
            assert sum(1 for _ in f) - 1 == job.iterations, job.name
    with open(out / "evaluation" / "results.csv") as f:
        nets = [r for r in csv.DictReader(f) if r["classifier"] in ("vgg19", "alexnet")]
    assert len(nets) == sum(j.count for j in before.classifier_jobs)
    (jobs,) = before.classifier_jobs
    assert {(int(r["train_images"]), int(r["val_images"])) for r in nets} == {(jobs.train_images, jobs.val_images)}
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
    assert said.count("(finished earlier: skipped)") == 4 and said.count(": finished earlier (") == 4
    assert "evaluation (resumed)" in said
    assert "time: nothing left to run (every job finished earlier)." in said.splitlines()
    log = (out / "reproduce_log.txt").read_text().splitlines()   # each start's plan, then how long it took
    starts = [i for i, line in enumerate(log) if line.startswith("== started ")]
    assert len(starts) == 2 and all(log[i + 1].startswith("plan: reproduce") for i in starts)
    first, second = log[starts[0]:starts[1]], log[starts[1]:]
    assert sum("(finished earlier: skipped)" in line for line in first) == 0
    assert sum("(finished earlier: skipped)" in line for line in second) == 4
    for part in (first, second):
        assert part[-1].startswith("== finished ") and part[-1].endswith(" after this start")
    after = planned(["--out", str(out)] + SHORT, out)
    assert all(j.status == "finished" for j in after.gan_jobs) and after.classifier_jobs[0].todo == 0


def test_gan_hyperparameters_reach_every_gan_and_the_teachers_settings_only_mtt(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["--out", str(out), "--lr", "3e-5", "--d-lr", "5e-4", "--d-beta1", "0.2", "--ema-decay", "0.99",
            "--ema-buffers", "copy", "--latent-dim", "8", "--residual-init", "zero", "--upsample-init", "nearest"]
    args = reproduce.build_parser().parse_args(argv)
    args.preset = "tiny"
    for name, extra in reproduce.GAN_STEPS:
        given = vars(reproduce.train.build_parser().parse_args(reproduce.gan_argv(args, name, extra, out / "gans")))
        assert (given["lr"], given["d_lr"], given["d_beta1"], given["latent_dim"]) == (3e-5, 5e-4, 0.2, 8), name
        assert given.get("ema_decay") == (0.99 if name == "mtt" else None), name
        assert given.get("ema_buffers") == ("copy" if name == "mtt" else None), name
        assert given.get("residual_init") == (None if "pretrained" in given else "zero"), name  # loads its G
        assert given.get("upsample_init") == (None if "pretrained" in given else "nearest"), name
    assert reproduce.main(argv + ["--ema-decay", "1.0", "--plan"]) == 2
    assert "--ema-decay must be in [0, 1), not 1.0." in capsys.readouterr().err
    assert reproduce.main(argv + ["--d-lr", "-1", "--plan"]) == 2
    assert "--d-lr must be a positive number, not -1.0." in capsys.readouterr().err
    assert reproduce.main(argv + ["--d-beta1", "-0.1", "--plan"]) == 2
    assert "--d-beta1 must be in [0, 1), not -0.1." in capsys.readouterr().err
    assert not out.exists()
