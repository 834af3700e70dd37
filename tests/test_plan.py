"""The plan reproduce and evaluate print before any work (mttgan_min.plan), its disk check, and --tf32.

The plan's counts against the runs that follow are checked in tests/test_reproduce.py (the whole
reproduction runs there once)."""
import json
import os

import numpy as np
import pytest

from mttgan_min import backend, evaluate, plan, reproduce, train
from mttgan_min.evaluation.train_classifier import stratified_split

TIMED = ["--seconds-per-iteration", "0.5", "--seconds-per-batch", "vgg19=0.2,alexnet=0.1"]  # no timing in tests


@pytest.mark.parametrize("classes, n", [(2, 20), (4, 150), (2, 1400), (4, 7)])
def test_classifier_counts_are_the_training_split(classes, n):
    jobs = plan.ClassifierJobs("t", "alexnet", ["a", "b"], [0, 1, 2], 5, classes, n, 68)
    train_idx, val_idx = stratified_split(np.repeat(np.arange(classes), n))
    assert (jobs.train_images, jobs.val_images) == (len(train_idx), len(val_idx))
    assert jobs.batches_per_epoch == -(-len(train_idx) // 32)
    assert jobs.batches == 6 * 5 * jobs.batches_per_epoch
    jobs.done = 4
    assert jobs.batches == 2 * 5 * jobs.batches_per_epoch


def test_time_calls_stops_at_the_budget():
    calls = []
    seconds, n = plan.time_calls(lambda: calls.append(1), np, max_calls=3, budget_s=0.0)
    assert len(calls) == 1 and n == 1 and seconds >= 0
    calls.clear()
    seconds, n = plan.time_calls(lambda: calls.append(1), np, max_calls=3, budget_s=60.0)
    assert len(calls) == 3 and n == 2      # the first call (one-time costs) is not counted


def test_estimate_is_the_counts_times_the_figures():
    gan = plan.GanJob("g", [dict(name="train", pool="covid", factor=1, epochs=3, images=64, iterations_per_epoch=2)])
    done = plan.GanJob("h", gan.stages, status="finished")
    cls = plan.ClassifierJobs("binary", "vgg19", ["r"], [0], 2, 2, 20, 10)
    timing = plan.Timing({"gan": 2.0, "vgg19": 3.0}, {"gan": "given", "vgg19": "given"})
    g, c = plan.estimate_seconds(timing, [gan, done], [cls])
    assert g == 6 * 2.0                                          # the finished job costs nothing
    assert c == pytest.approx(3.0 * (2 * 1 + plan.FORWARD_SHARE * (2 * 12 + 10) / 32))
    assert plan.estimate_seconds(plan.Timing({"gan": 1.0}), [gan], [cls])[1] is None


def test_reproduce_plan_writes_nothing(tmp_path, capsys):
    out = tmp_path / "r"
    assert reproduce.main(["--plan", "--out", str(out)] + TIMED) == 0
    said = capsys.readouterr().out
    assert not out.exists()
    for words in ("transfer: 700 iterations", "mtt: 500 iterations", "baseline: 20 iterations",
                  "baseline_aug: 500 iterations", "total: 1,720 GAN iterations", "fine-tunes from transfer's",
                  "vgg19   7 jobs x 8 epochs x 14 batches", "time: about", "disk: about"):
        assert words in said, words
    assert "timing" not in said                                  # the figures were given


def test_reproduce_plan_times_a_few_iterations_here(tmp_path, capsys):
    assert reproduce.main(["--plan", "--out", str(tmp_path / "r"), "--classifiers", "alexnet"]) == 0
    said = capsys.readouterr().out
    assert "GAN iteration" in said and "measured" in said and "VGG-19" not in said


def test_gpu_plan_without_the_device_says_what_it_cannot_estimate(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(backend, "gpu_problem", lambda: "--device gpu needs CuPy, which is not installed.")
    out = tmp_path / "r"
    assert reproduce.main(["--plan", "--device", "gpu", "--preset", "tiny", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "time: not estimated" in said and "needs CuPy" in said and "--seconds-per-iteration" in said
    assert "total: 1,720 GAN iterations" in said and "disk: about" in said and not out.exists()
    # the same without --plan is refused before any work
    assert reproduce.main(["--device", "gpu", "--preset", "tiny", "--out", str(out)]) == 2
    assert "needs CuPy" in capsys.readouterr().err and not out.exists()


def one_sentence(err):
    err = err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_a_start_the_disk_cannot_hold_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plan, "free_bytes", lambda path: 10 * 2**20)
    out = tmp_path / "r"
    assert reproduce.main(["--out", str(out)] + TIMED) == 2
    err = one_sentence(capsys.readouterr().err)
    assert "10.0 MiB free" in err and "choose another --out" in err
    assert not out.exists()


def test_free_bytes_of_a_folder_not_yet_made(tmp_path):
    assert plan.free_bytes(tmp_path / "a" / "b") == plan.free_bytes(tmp_path) > 0


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gan") / "baseline"
    assert train.main(["--mode", "baseline", "--finetune-epochs", "1", "--max-iters-per-epoch", "1",
                       "--out", str(run)]) == 0
    return run


def test_evaluate_plan_writes_nothing_and_a_full_disk_is_refused(gan_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "e"
    argv = ["--gan", f"baseline={gan_run}", "--task", "binary", "--epochs", "2", "--images-per-class", "20",
            "--out", str(out), "--seconds-per-batch", "vgg19=0.2,alexnet=0.1"]
    assert evaluate.main(argv + ["--plan"]) == 0
    said = capsys.readouterr().out
    assert not out.exists()
    assert "rows baseline; seeds 0; 2 classes x 20 images = 28 training + 12 validation images" in said
    assert "alexnet 1 jobs x 2 epochs x 1 batches = 2 batches to run" in said and "time: about" in said
    monkeypatch.setattr(plan, "free_bytes", lambda path: 2**20)
    assert evaluate.main(argv) == 2
    assert "1.0 MiB free" in one_sentence(capsys.readouterr().err) and not out.exists()


# --- TF32 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command, argv", [
    (train, ["--tf32"]), (evaluate, ["--tf32", "--controls"]), (reproduce, ["--tf32"]),
    (reproduce, ["--tf32", "--plan"])])
def test_tf32_is_refused_on_the_cpu(command, argv, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(backend.TF32_ENV, raising=False)
    out = tmp_path / "o"
    assert command.main(argv + ["--out", str(out)]) == 2
    err = one_sentence(capsys.readouterr().err)
    assert "--tf32 needs --device gpu" in err and not out.exists()
    assert backend.TF32_ENV not in os.environ


@pytest.fixture
def fake_gpu(monkeypatch):
    """--device gpu computing with NumPy: CuPy 'imports' as NumPy, and CUPY_TF32 starts unset."""
    monkeypatch.delenv(backend.TF32_ENV, raising=False)
    monkeypatch.setattr(backend, "gpu_problem", lambda: None)
    monkeypatch.setattr(backend, "_import_cupy", lambda: None)
    real = backend.resolve_device

    def resolve(device, tf32=False):
        real(device, tf32)
        return np
    monkeypatch.setattr(backend, "resolve_device", resolve)


def test_tf32_sets_cupy_tf32_before_cupy_runs(fake_gpu):
    assert backend.resolve_device("gpu") is np and backend.TF32_ENV not in os.environ
    backend.resolve_device("gpu", tf32=True)
    assert os.environ[backend.TF32_ENV] == "1"


def test_tf32_is_recorded_and_kept_on_resume(fake_gpu, tmp_path, capsys):
    run = tmp_path / "gan"
    argv = ["--device", "gpu", "--preset", "tiny", "--mode", "baseline", "--finetune-epochs", "1",
            "--max-iters-per-epoch", "1", "--out", str(run)]
    assert train.main(argv + ["--tf32"]) == 0
    assert os.environ[backend.TF32_ENV] == "1"
    assert json.loads((run / "config.json").read_text())["options"]["tf32"] is True
    out = tmp_path / "eval"
    eargs = ["--gan", f"baseline={run}", "--device", "gpu", "--task", "binary", "--classifiers", "alexnet",
             "--epochs", "1", "--images-per-class", "20", "--out", str(out), "--tf32"]
    assert evaluate.main(eargs) == 0
    assert json.loads((out / "config.json").read_text())["options"]["tf32"] is True
    assert evaluate.main(["--resume", str(out), "--tf32"]) == 2      # resume takes the recorded setting
    assert "cannot be combined with --tf32" in capsys.readouterr().err
    os.environ.pop(backend.TF32_ENV)
    assert evaluate.main(["--resume", str(out)]) == 0
    assert os.environ[backend.TF32_ENV] == "1"                       # set again from config.json


def test_reproduce_passes_tf32_to_every_step():
    args = reproduce.build_parser().parse_args(["--device", "gpu", "--tf32"])
    args.preset = "paper"
    for name, extra in reproduce.GAN_STEPS:
        assert "--tf32" in reproduce.gan_argv(args, name, extra, reproduce.Path("g"))
    assert "--tf32" in reproduce.eval_argv(args, reproduce.Path("g"), reproduce.Path("e"))


def test_reproduce_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for action in reproduce.build_parser()._actions:
        assert action.help and len(action.help) > 15, action.dest
    for words in ("10-bit mantissa", "1e-3 relative error", "docs/benchmarks.md", "--plan", "(default: 100 for paper"):
        assert words in text, words


def test_cupy_tf32_set_by_the_user_is_recorded_on_the_gpu_only(monkeypatch):
    from mttgan_min.run.options import complete
    monkeypatch.setenv(backend.TF32_ENV, "1")
    assert complete({}, "mtt", "paper", "gpu")["tf32"] is True
    assert complete({}, "mtt", "tiny", "cpu")["tf32"] is False
    monkeypatch.setenv(backend.TF32_ENV, "0")
    assert complete({}, "mtt", "paper", "gpu")["tf32"] is False
