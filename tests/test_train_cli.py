"""`python -m mttgan_min.train` and `python -m mttgan_min.sample`: each mode end to end, a few iterations
on the tiny preset, plus the one-sentence user errors (exit code 2, no traceback)."""
import json

import numpy as np
import pytest

from mttgan_min import backend, bench, gan_step, models, sample, train
from mttgan_min.run import rundir, session
from mttgan_min.run.checkpoint import load_checkpoint

FEW = ["--preset", "tiny", "--max-iters-per-epoch", "1", "--seed", "3"]


@pytest.fixture(scope="module")
def mtt_run(tmp_path_factory):
    """An MTT-GAN run (1 pretraining + 2 fine-tuning iterations, alpha 0.5) recording the student after
    every step, so the test can average it by hand."""
    run = tmp_path_factory.mktemp("runs") / "mtt"
    students = []
    real_step = gan_step.mtt_gan_step
    mp = pytest.MonkeyPatch()

    def recording_step(G, D, *args, **kwargs):
        out = real_step(G, D, *args, **kwargs)
        students.append({"teachers": kwargs.get("teachers") is not None,
                         "G": {k: np.array(v) for k, v in G.state_dict().items()},
                         "D": {k: np.array(v) for k, v in D.state_dict().items()}})
        return out

    mp.setattr(gan_step, "mtt_gan_step", recording_step)
    try:
        code = train.main(FEW + ["--mode", "mtt", "--pretrain-epochs", "1", "--finetune-epochs", "2",
                                 "--ema-decay", "0.5", "--out", str(run)])
    finally:
        mp.undo()
    assert code == 0
    return run, students


def test_mtt_run_directory(mtt_run):
    run, _ = mtt_run
    for name in ("README.txt", "config.json", "split.json", "metrics.csv", "checkpoint.npz",
                 "checkpoint.prev.npz", "pretrained.npz", "generator.npz", "loss_curves.png", "fixed_latent.npy"):
        assert (run / name).is_file(), name
    index = (run / "README.txt").read_text()
    for path in run.iterdir():  # the index describes every file the run left
        assert (path.name if path.is_file() else path.name + "/") in index, path.name
    assert sorted(p.name for p in (run / "samples").iterdir()) == \
        ["finetune_e001.png", "finetune_e002.png", "pretrain_e001.png"]
    from PIL import Image
    assert Image.open(run / "samples" / "finetune_e001.png").info["Title"] == "finetune, epoch 1 of 2"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["options"]["mode"] == "mtt" and cfg["options"]["seed"] == 3
    assert cfg["mttgan_min_version"] and "git_commit" in cfg
    cols = rundir.read_metrics(run / "metrics.csv")
    assert list(cols["stage"]) == ["pretrain", "finetune", "finetune"]
    assert list(cols["epoch"]) == [1, 1, 2]
    assert np.all(np.isfinite(cols["d_loss"])) and np.all((cols["d_real"] > 0) & (cols["d_real"] < 1))
    _, meta = load_checkpoint(run / "generator.npz")
    assert meta["generator"] == "teacher"


def test_teacher_is_the_hand_computed_average(mtt_run):
    run, students = mtt_run
    assert [s["teachers"] for s in students] == [False, True, True]
    pre, _ = load_checkpoint(run / "pretrained.npz")
    assert all(np.array_equal(pre["G"][k], students[0]["G"][k]) for k in pre["G"])
    alpha = 0.5
    groups, _ = load_checkpoint(run / "checkpoint.npz")
    for net in ("G", "D"):
        expected = {k: v.astype(np.float64) for k, v in pre[net].items()}  # teacher starts = pretrained
        for s in students[1:]:
            expected = {k: alpha * v + (1 - alpha) * s[net][k] for k, v in expected.items()}
        teacher, student = groups[f"{net}_teacher"], groups[net]
        for k in expected:  # BN running statistics included (--ema-buffers average)
            np.testing.assert_allclose(teacher[k], expected[k], rtol=1e-5, atol=1e-6, err_msg=f"{net} {k}")
        diff = max(float(np.max(np.abs(teacher[k] - student[k]))) for k in teacher)
        assert diff > 1e-6, "the teacher should lag behind the student"
    gen, _ = load_checkpoint(run / "generator.npz")
    assert all(np.array_equal(gen["G"][k], groups["G_teacher"][k]) for k in gen["G"])


def test_sample_cli(mtt_run, tmp_path, capsys):
    run, _ = mtt_run
    out = tmp_path / "gen"
    assert sample.main(["--run", str(run), "--n", "5", "--batch", "2", "--out", str(out)]) == 0
    files = sorted(out.glob("gen_*.png"))
    assert len(files) == 5 and (out / "grid.png").is_file()
    from PIL import Image
    img = np.asarray(Image.open(files[0]))
    assert img.shape == (32, 32) and img.dtype == np.uint8
    assert "teacher G of generator.npz" in Image.open(out / "grid.png").info["Title"]
    # sampling again into the same folder with a smaller --n: refused, or the old images are replaced
    assert sample.main(["--run", str(run), "--n", "2", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and len(list(out.glob("gen_*.png"))) == 5
    assert sample.main(["--run", str(run), "--n", "2", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.glob("gen_*.png")) == ["gen_00000.png", "gen_00001.png"]


@pytest.mark.parametrize("source, net, expected", [
    ("checkpoint", "auto", "G_teacher"), ("checkpoint", "student", "G"), ("pretrained", "auto", "G")])
def test_sample_from_checkpoint_or_pretrained(mtt_run, source, net, expected):
    """--from checkpoint|pretrained and --net pick the generator; its weights are the ones in that file."""
    run, _ = mtt_run
    G, _, where = sample.load_generator(run, np, source, net)
    groups, _ = load_checkpoint(run / sample.SOURCES[source])
    assert all(np.array_equal(v, groups[expected][k]) for k, v in G.state_dict().items())
    assert sample.SOURCES[source] in where
    with pytest.raises(sample.UsageError, match="no teacher"):
        sample.load_generator(run, np, "pretrained", "teacher")

def test_transfer_from_shared_pretraining(mtt_run, tmp_path):
    pre_run, _ = mtt_run
    run = tmp_path / "transfer"
    assert train.main(FEW + ["--mode", "transfer", "--finetune-epochs", "1", "--pretrained", str(pre_run),
                             "--out", str(run)]) == 0
    groups, _ = load_checkpoint(run / "checkpoint.npz")
    assert "G_teacher" not in groups
    assert list(rundir.read_metrics(run / "metrics.csv")["stage"]) == ["finetune"]
    _, meta = load_checkpoint(run / "generator.npz")
    assert meta["generator"] == "student"


def test_pretrained_gives_its_generator_settings(tmp_path):
    """--pretrained loads the generator, so its z and start are recorded from the pretraining run, not from
    this preset's defaults (a config.json older than the options reads as the paper's); a given
    --latent-dim stays, for the checkpoint's check to refuse if it differs."""
    from mttgan_min.run.options import generator_of_pretrained
    pre = tmp_path / "pre"
    pre.mkdir()
    (pre / "config.json").write_text('{"options": {"latent_dim": 4, "residual_init": "zero"}}')
    assert generator_of_pretrained(pre, {}) == {"latent_dim": 4, "residual_init": "zero", "upsample_init": "glorot"}
    assert generator_of_pretrained(pre, {"latent_dim": 6}) == {"residual_init": "zero", "upsample_init": "glorot"}
    (pre / "config.json").write_text('{"options": {}}')
    assert generator_of_pretrained(pre, {}) == {"latent_dim": 100, "residual_init": "glorot", "upsample_init": "glorot"}


def test_baseline_never_reads_the_kaggle_pool(tmp_path, monkeypatch, capsys):
    import mttgan_min.data as data
    import mttgan_min.data.kaggle as kaggle
    import mttgan_min.data.prepare as prepare

    def forbidden(*args, **kwargs):
        raise AssertionError("the baseline read the Kaggle pool")

    for module in (kaggle, data, prepare):
        for name in ("load_kaggle", "scan_kaggle", "resolve_kaggle_dir"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, forbidden)
    garbage = tmp_path / "not_kaggle"
    garbage.mkdir()
    (garbage / "junk.txt").write_text("no images here")
    run = tmp_path / "baseline"
    code = train.main(FEW + ["--mode", "baseline", "--finetune-epochs", "1", "--kaggle-dir", str(garbage),
                             "--out", str(run)])
    assert code == 0
    groups, meta = load_checkpoint(run / "checkpoint.npz")
    assert "G_teacher" not in groups and "D_teacher" not in groups
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["options"]["covid_factor"] == 1 and cfg["options"]["ema_decay"] is None
    assert [st["name"] for st in cfg["stages"]] == ["train"]
    # one iteration cannot teach a GAN anything: the user is told what to expect
    assert "warning: stage train runs only 1 iterations" in capsys.readouterr().err
    # a baseline run has no pretraining to share: --pretrained says so
    assert train.main(FEW + ["--mode", "transfer", "--pretrained", str(run), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "is a baseline run, which has no pretraining stage" in err and "\n" not in err.strip()


def test_learning_rates_per_preset():
    """The paper (and small) presets train D at G's rate, as the paper does; tiny gives D its own
    (docs/design.md, "Presets and their defaults"); options override either."""
    parse = lambda argv: train.resolve_options(train.build_parser().parse_args(argv))
    paper = parse(["--preset", "paper"])
    assert paper["lr"] == paper["d_lr"] == 1e-5
    small = parse(["--preset", "small", "--lr", "3e-4"])
    assert small["lr"] == small["d_lr"] == 3e-4
    tiny = parse([])
    assert tiny["preset"] == "tiny" and (tiny["lr"], tiny["d_lr"]) == (5e-5, 2e-3)
    assert parse(["--preset", "paper", "--d-lr", "4e-5"])["d_lr"] == 4e-5


def test_only_tiny_changes_the_papers_momentum_and_teacher():
    """paper and small keep the paper's beta1 of 0.5 for D (Sec. IV) and the teacher decay of 0.999; tiny's D
    has no momentum and its teacher a shorter memory (docs/design.md, "Presets and their defaults")."""
    parse = lambda argv: train.resolve_options(train.build_parser().parse_args(argv))
    momentum_and_teacher = lambda cfg: (cfg["d_beta1"], cfg["ema_decay"])
    for preset in ("paper", "small"):
        assert momentum_and_teacher(parse(["--preset", preset])) == (0.5, 0.999)
    assert momentum_and_teacher(parse([])) == (0.0, 0.99)
    assert parse(["--d-beta1", "0.5"])["d_beta1"] == 0.5
    assert parse(["--preset", "paper", "--d-beta1", "0"])["d_beta1"] == 0.0


def test_only_tiny_changes_the_papers_generator_start():
    """paper and small keep the paper's z of 100 and Keras' start; tiny starts smaller and smoother
    (docs/design.md, "Presets and their defaults"); the options override either."""
    parse = lambda argv: train.resolve_options(train.build_parser().parse_args(argv))
    start = lambda cfg: (cfg["latent_dim"], cfg["residual_init"], cfg["upsample_init"])
    for preset in ("paper", "small"):
        assert start(parse(["--preset", preset])) == (100, "glorot", "glorot")
    assert start(parse([])) == (8, "zero-fine", "nearest")
    assert start(parse(["--latent-dim", "100", "--residual-init", "glorot", "--upsample-init", "glorot"])) \
        == (100, "glorot", "glorot")


@pytest.mark.parametrize("argv, words", [
    (["--mode", "baseline", "--pretrain-epochs", "3"], "baseline"),
    (["--mode", "transfer", "--ema-decay", "0.9"], "mtt"),
    (["--ema-decay", "1.5"], "ema-decay"),
    (["--finetune-epochs", "0"], "finetune-epochs"),
    (["--covid-dir", "/nonexistent/covid"], "not a directory"),
    (["--resume", "/nonexistent/run"], "not a run directory"),
    (["--resume", "somewhere", "--lr", "0.1"], "--lr"),
    (["--pretrained", "/tmp"], "pretrained.npz"),
    (["--seed", "-1"], "--seed must be 0 or more"),
    (["--checkpoint-minutes", "-1"], "--checkpoint-minutes"),
    (["--d-lr", "0"], "--d-lr must be a positive number"),
    (["--d-beta1", "1"], "--d-beta1 must be in [0, 1)"),
    (["--latent-dim", "0"], "--latent-dim must be at least 1"),
    (["--residual-init", "zero", "--pretrained", "/tmp"], "--residual-init cannot be given"),
    (["--upsample-init", "nearest", "--pretrained", "/tmp"], "--upsample-init cannot be given"),
])
def test_usage_errors_are_one_sentence(argv, words, capsys):
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err and "\n" not in err and "Traceback" not in err


def test_unwritable_out_is_reported_before_training(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setattr(session, "prepare_data", lambda *a, **k: pytest.fail("data prepared before the check"))
    assert train.main(["--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write" in err and "\n" not in err


def test_full_disk_is_reported_before_training(tmp_path, capsys, monkeypatch):
    import collections
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(rundir.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    monkeypatch.setattr(session, "prepare_data", lambda *a, **k: pytest.fail("data prepared before the check"))
    assert train.main(["--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "MiB free" in err and "\n" not in err


def test_gpu_without_cupy_says_why(capsys):
    problem = backend.gpu_problem()
    if problem is None:
        pytest.skip("a working GPU is present")
    assert train.main(["--device", "gpu"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {problem}"


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--device", "--preset", "--mode", "--augment-factor", "--kaggle-dir", "--covid-dir",
                "--pretrain-epochs", "--finetune-epochs", "--ema-decay", "--latent", "--seed", "--out",
                "--resume", "--pretrained", "--max-iters-per-epoch", "--covid-train-cap", "--ema-buffers", "--lr",
                "--d-lr", "--d-beta1", "--checkpoint-minutes", "--latent-dim", "--residual-init", "--upsample-init"):
        assert opt in text
    flat = " ".join(text.split())
    assert "(default: 0)" in flat and "[cpu]" not in flat
    assert "(default: 100 for paper, 10 for small, 2 for tiny)" in flat
    assert "the same as --lr for paper and small, as in the paper; 0.002 for tiny" in flat


def test_pretrained_run_with_another_split_is_refused(mtt_run, tmp_path, capsys):
    """A pretraining made with another seed held out other test images: they may have trained it."""
    pre_run, _ = mtt_run
    out = tmp_path / "transfer"
    argv = FEW[:-2] + ["--seed", "4", "--mode", "transfer", "--pretrained", str(pre_run), "--out", str(out)]
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--seed 3" in err and "\n" not in err
    assert not out.exists(), "a failed start left its run directory behind"


def test_latent_dim_sizes_z_and_travels_with_the_run(mtt_run, tmp_path, capsys):
    """--latent-dim N: a generator of N inputs, recorded in config.json and the checkpoints, so sampling
    builds the same network; a pretraining with another size of z is refused in one sentence."""
    run = tmp_path / "z4"
    assert train.main(FEW + ["--mode", "baseline", "--finetune-epochs", "1", "--latent-dim", "4",
                             "--out", str(run)]) == 0
    assert rundir.read_options(run / "config.json")["latent_dim"] == 4
    assert rundir.read_json(run / "config.json")["preset"]["latent_dim"] == 4
    assert np.load(run / "fixed_latent.npy").shape[1] == 4
    assert load_checkpoint(run / "generator.npz")[1]["latent_dim"] == 4
    G, _, _ = sample.load_generator(run, np)
    assert G.input_shape == (4,)
    assert sample.main(["--run", str(run), "--n", "3", "--out", str(tmp_path / "gen")]) == 0
    pre_run, _ = mtt_run
    out = tmp_path / "transfer"
    assert train.main(FEW + ["--mode", "transfer", "--latent-dim", "4", "--pretrained", str(pre_run),
                             "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the warning that 1 iteration is few
    assert err.startswith("error:") and "--latent-dim 8, not 4" in err and "Traceback" not in err
    assert not out.exists(), "a failed start left its run directory behind"


def test_runs_without_a_recorded_latent_dim_use_the_presets():
    """config.json of runs made before --latent-dim existed: the preset's size of z."""
    assert models.preset_of({"preset": "tiny"}) == models.PRESETS["tiny"]
    assert models.preset_of({"preset": "tiny", "latent_dim": 8}).latent_dim == 8
    assert models.preset_of({"preset": "tiny", "latent_dim": 8}).g_width == models.PRESETS["tiny"].g_width


@pytest.mark.parametrize("command", [sample.main, bench.main])
def test_negative_seed_is_a_usage_error(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        command(["--seed", "-1", "--run", "x", "--out", "y"] if command is sample.main else ["--seed", "-1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--seed: must be 0 or more" in err and "Traceback" not in err


def test_generator_inits_reach_the_generator_and_the_run_record(tmp_path):
    """--residual-init zero: the run's generator starts with identity ResBlocks; --upsample-init nearest:
    with tied up-sampling kernels (the seed's other weights unchanged each time); config.json records both
    choices; runs made before the options read as glorot."""
    from mttgan_min.run.options import complete
    from mttgan_min.run.state import TrainState
    keras = {"residual_init": "glorot", "upsample_init": "glorot"}
    glorot = TrainState(complete(keras, "mtt", "tiny", "cpu"), np).G.named_params()
    zero = TrainState(complete({**keras, "residual_init": "zero"}, "mtt", "tiny", "cpu"), np).G.named_params()
    differ = [name for name in zero if not np.array_equal(glorot[name], zero[name])]
    assert len(differ) == 6 and not any(zero[name].any() for name in differ)
    tied = TrainState(complete({**keras, "upsample_init": "nearest"}, "mtt", "tiny", "cpu"), np).G.named_params()
    assert sum(not np.array_equal(glorot[name], tied[name]) for name in tied) == 3
    cfg = complete(keras, "mtt", "tiny", "cpu")
    del cfg["residual_init"], cfg["upsample_init"]
    before = TrainState(cfg, np).G.named_params()
    assert before.keys() == glorot.keys() and all(np.array_equal(before[k], glorot[k]) for k in glorot)
    run = tmp_path / "zero"
    assert train.main(FEW + ["--mode", "baseline", "--finetune-epochs", "1", "--residual-init", "zero",
                             "--upsample-init", "nearest", "--out", str(run)]) == 0
    options = rundir.read_options(run / "config.json")
    assert (options["residual_init"], options["upsample_init"]) == ("zero", "nearest")
