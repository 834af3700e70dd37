"""Run directories that survive anything: the lock, temporary files, checkpoints every few minutes
and a verified previous one, an append-only metrics.csv, failed starts, full disks, moved data
(docs/design.md, "Run directory", "Checkpoints", "Resuming exactly")."""
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from mttgan_min import gan_step, sample, train
from mttgan_min.data import DataError, prepare_data
from mttgan_min.run import checkpoint, loop, rundir, session
from mttgan_min.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mttgan_min.run.state import TrainState, save_networks

# fine-tuning only, from a shared stand-in pretraining: one epoch of 3 iterations
SCHEDULE = ["--preset", "tiny", "--mode", "mtt", "--seed", "7", "--max-iters-per-epoch", "3",
            "--finetune-epochs", "1", "--ema-decay", "0.9"]


class Killed(BaseException):
    """Stands in for kill -9: the job ends at once, without saving anything."""


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    pre = tmp_path_factory.mktemp("pre")
    state = TrainState(dict(mode="mtt", preset="tiny", seed=11, latent="normal", lr=1e-3,
                            ema_buffers="average"), np)
    save_networks(pre / "pretrained.npz", {"G": state.G, "D": state.D}, {"preset": "tiny"})
    split = prepare_data(None, None, size=32, seed=7, need_kaggle=False, covid_train_cap=159).manifest
    rundir.write_json(pre / rundir.SPLIT, json.loads(json.dumps(split, default=str)))
    return ["--pretrained", str(pre)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, pretrained):
    """The uninterrupted run every resumed run must match bit for bit."""
    run = tmp_path_factory.mktemp("ref") / "run"
    assert train.main(SCHEDULE + pretrained + ["--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def killed(tmp_path_factory, pretrained):
    """A run killed (no chance to save) during its third iteration, checkpointing after every
    iteration (--checkpoint-minutes tiny): a periodic checkpoint after iteration 2 must exist."""
    run = tmp_path_factory.mktemp("killed") / "run"
    real_step, calls = gan_step.mtt_gan_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Killed()
        return real_step(*args, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(gan_step, "mtt_gan_step", step)
        with pytest.raises(Killed):
            train.main(SCHEDULE + pretrained + ["--checkpoint-minutes", "1e-9", "--out", str(run)])
    return run


def _copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def _assert_same(run, ref):
    a, _ = load_checkpoint(run / "checkpoint.npz")
    b, _ = load_checkpoint(ref / "checkpoint.npz")
    assert sorted(a) == sorted(b)
    for group in a:
        for k in b[group]:
            assert np.array_equal(a[group][k], b[group][k]), f"{group}/{k} differs after resume"
    assert (run / "metrics.csv").read_text().count("\n") == (ref / "metrics.csv").read_text().count("\n")
    ma, mb = rundir.read_metrics(run / "metrics.csv"), rundir.read_metrics(ref / "metrics.csv")
    assert np.array_equal(ma["d_loss"], mb["d_loss"]) and np.array_equal(ma["g_loss"], mb["g_loss"])


def test_periodic_checkpoint_resumes_bit_exactly(killed, reference, tmp_path, capsys):
    run = _copy(killed, tmp_path)
    _, meta = load_checkpoint(run / "checkpoint.npz")
    assert (meta["stage"], meta["epoch"], meta["iteration"]) == (0, 0, 2), "no checkpoint within the epoch"
    _, prev = load_checkpoint(run / "checkpoint.prev.npz")
    assert prev["iteration"] == 1, "the previous checkpoint was not kept"
    (run / ".checkpoint.npz.tmp-99999").write_bytes(b"PK half")  # left by a kill while saving
    (run / "samples").mkdir(exist_ok=True)
    (run / "samples" / ".finetune_e001.png.tmp-99999").write_bytes(b"")
    assert train.main(["--resume", str(run)]) == 0
    assert not list(run.rglob("*.tmp-*")), "temporary files of the killed job are still there"
    _assert_same(run, reference)


def test_corrupt_latest_checkpoint_falls_back_to_the_previous(killed, reference, tmp_path, capsys):
    run = _copy(killed, tmp_path)
    (run / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated by a full disk")
    assert train.main(["--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "checkpoint.prev.npz" in err and "iteration 1" in err
    _assert_same(run, reference)


def test_a_checkpoint_that_does_not_read_back_never_replaces_the_last_one(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    good = {"G": {"0.w": np.ones((2, 2), np.float32)}}
    save_checkpoint(path, good, {"epoch": 1}, keep_previous=True)
    save_checkpoint(path, good, {"epoch": 2}, keep_previous=True)
    assert load_checkpoint(checkpoint.previous_path(path))[1]["epoch"] == 1
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint.np, "savez", lambda f, **arrays: f.write(b"PK\x03\x04 not a zip"))
    with pytest.raises(CheckpointError, match="cannot be read back"):
        save_checkpoint(path, good, {"epoch": 3}, keep_previous=True)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_checkpoint(checkpoint.previous_path(path))[1]["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "checkpoint.prev.npz"]


def test_a_second_job_in_a_locked_run_is_refused(killed, tmp_path, capsys):
    run = _copy(killed, tmp_path)
    with rundir.RunLock(run):  # another job (a flock on its own descriptor) works here
        assert train.main(["--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert "is in use by another process" in err and "\n" not in err
        empty = tmp_path / "new"
        empty.mkdir()
        with rundir.RunLock(empty):
            assert train.main(["--out", str(empty)]) == 2
            assert "in use" in capsys.readouterr().err
        assert empty.is_dir(), "the refused job removed a directory it did not create"
    (run / ".lock").write_text("99999999\n")  # a stale lock file of a dead job is harmless
    assert train.main(["--resume", str(run)]) == 0


def test_metrics_are_appended_never_rewritten(tmp_path, monkeypatch):
    path = tmp_path / "metrics.csv"
    log = rundir.MetricsLog(path)
    for i in range(3):
        log.append("train", 1, i + 1, dict(d_loss=1.0, g_loss=2.0, d_real=0.5, d_fake=0.5), 0.1)
    log.close()
    with open(path, "a") as f:
        f.write("train,1,4,0.7")  # half a row: the job was killed while writing it
    first_rows = path.read_text().splitlines()[:3]

    class DiesOnStart:  # the resumed job is killed while it opens the log
        def __init__(self, *args, **kwargs):
            raise Killed()

    monkeypatch.setattr(rundir.csv, "DictWriter", DiesOnStart)
    with pytest.raises(Killed):
        rundir.MetricsLog(path, keep_rows=2)
    monkeypatch.undo()
    assert path.read_text().splitlines() == first_rows, "a killed resume lost rows of metrics.csv"
    log = rundir.MetricsLog(path, keep_rows=2)
    log.append("train", 1, 3, dict(d_loss=3.0, g_loss=2.0, d_real=0.5, d_fake=0.5), 0.1)
    log.close()
    cols = rundir.read_metrics(path)
    assert list(cols["iteration"]) == [1, 2, 3] and list(cols["d_loss"]) == [1.0, 1.0, 3.0]


def test_a_failed_start_leaves_nothing(tmp_path, monkeypatch, capsys, pretrained):
    def fail(*args, **kwargs):
        raise DataError("the COVID pool is empty.")

    with monkeypatch.context() as m:
        m.setattr(session, "prepare_data", fail)
        assert train.main(SCHEDULE + pretrained + ["--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    calls = []

    def full_disk_at_first_checkpoint(f, **arrays):
        calls.append(1)
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(checkpoint.np, "savez", full_disk_at_first_checkpoint)
        assert train.main(SCHEDULE + pretrained + ["--out", str(kept)]) == 1
    assert calls and sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    err = capsys.readouterr().err
    assert "checkpoint.npz" in err and "nothing was kept" in err


def test_a_full_disk_during_training_names_the_file_and_the_resume(tmp_path, monkeypatch, capsys, pretrained):
    real_savez, calls = checkpoint.np.savez, []

    def savez(f, **arrays):
        calls.append(1)
        if len(calls) == 2:  # the first checkpoint after the start
            f.write(b"PK\x03\x04")
            raise OSError(28, "No space left on device")
        return real_savez(f, **arrays)

    monkeypatch.setattr(checkpoint.np, "savez", savez)
    run = tmp_path / "run"
    assert train.main(SCHEDULE + pretrained + ["--checkpoint-minutes", "1e-9", "--out", str(run)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"could not write {run / 'checkpoint.npz'}" in err and f"--resume {run}" in err and "\n" not in err
    assert not list(run.rglob("*.tmp-*")) and load_checkpoint(run / "checkpoint.npz")[1]["iteration"] == 0


def test_sample_on_a_full_disk_leaves_no_empty_png(tmp_path, monkeypatch, capsys, reference):
    from mttgan_min.run import pictures
    real_write, calls = pictures.atomic_write, []

    def atomic_write(path, write, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            def half(f):
                f.write(b"\x89PNG")
                raise OSError(28, "No space left on device")
            return real_write(path, half, **kwargs)
        return real_write(path, write, **kwargs)

    monkeypatch.setattr(pictures, "atomic_write", atomic_write)
    out = tmp_path / "gen"
    assert sample.main(["--run", str(reference), "--n", "5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "gen_00002.png" in err and "No space left" in err
    assert sorted(p.name for p in out.iterdir()) == ["gen_00000.png", "gen_00001.png"]
    assert all(p.stat().st_size > 0 for p in out.iterdir())


@pytest.mark.parametrize("text, words", [("{not json", "is not valid JSON"), ('{"preset": "tiny"}', '"options"')])
def test_a_broken_config_on_resume_is_one_sentence(killed, tmp_path, capsys, text, words):
    run = _copy(killed, tmp_path)
    (run / "config.json").write_text(text)
    assert train.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err


def test_sigterm_while_the_data_load_exits_143(tmp_path, monkeypatch, capsys):
    def slow_load(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
        raise AssertionError("SIGTERM did not interrupt the data loading")

    monkeypatch.setattr(session, "prepare_data", slow_load)
    assert train.main(["--out", str(tmp_path / "run")]) == 143
    assert "interrupted" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_stop_at_the_end_of_an_epoch_resumes_without_an_empty_epoch_line(tmp_path, monkeypatch, capsys,
                                                                           pretrained, reference):
    real_step, calls = gan_step.mtt_gan_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C during the epoch's last iteration
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(gan_step, "mtt_gan_step", step)
        assert train.main(SCHEDULE + pretrained + ["--finetune-epochs", "2", "--out", str(run)]) == 130
    _, meta = load_checkpoint(run / "checkpoint.npz")
    assert (meta["epoch"], meta["iteration"]) == (1, 0)  # saved as the end of epoch 1
    capsys.readouterr()
    assert train.main(["--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/2" not in out and "0 it in" not in out and "finetune epoch 2/2" in out


def test_progress_lines_when_the_output_is_not_a_terminal(tmp_path, monkeypatch, capsys, pretrained):
    monkeypatch.setattr(loop, "PROGRESS_EVERY_S", 0.0)
    assert train.main(SCHEDULE + pretrained + ["--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out  # captured: not a terminal, so tqdm's bar is off
    assert "finetune epoch 1/1: iteration 2/3" in out


def _data_dir():
    here = Path(__file__).resolve().parents[1]
    root = Path(os.environ.get("MTTGAN_DATA", here.parent / "shared" / "data"))
    return root / "covid-chestxray-dataset"


def test_a_run_whose_data_folder_moved_resumes_with_the_new_place(tmp_path, capsys):
    real = _data_dir()
    if not (real / "metadata.csv").is_file():
        pytest.skip("the real COVID data are not available")
    old = tmp_path / "covid"
    old.mkdir()
    for name in ("metadata.csv", "images"):  # a folder of links: moving it moves "the data"
        (old / name).symlink_to(real / name)
    run = tmp_path / "run"
    argv = ["--mode", "baseline", "--covid-dir", str(old), "--max-iters-per-epoch", "1",
            "--finetune-epochs", "2", "--out", str(run)]
    real_step, calls = gan_step.mtt_gan_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(gan_step, "mtt_gan_step", step)
        assert train.main(argv) == 130
    new = tmp_path / "moved"
    old.rename(new)
    capsys.readouterr()
    assert train.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is gone" in err and f"--resume {run} --covid-dir" in err and "\n" not in err
    assert train.main(["--resume", str(run), "--covid-dir", str(new)]) == 0
    assert json.loads((run / "config.json").read_text())["options"]["covid_dir"] == str(new)


@pytest.mark.parametrize("n, words", [(0, "no training images left"), (3, "raise --augment-factor")])
def test_too_small_a_pool_says_what_helps(n, words):
    stage = dict(name="train", pool="covid", factor=1, epochs=1)
    with pytest.raises(train.UsageError, match=words):
        session.check_pool_size(stage, n)
    with pytest.raises(train.UsageError) as info:
        session.check_pool_size(dict(stage, name="pretrain", pool="kaggle", factor=5), n)
    assert "--augment-factor" not in str(info.value)  # the Kaggle factor is no option


def test_the_lock_holds_across_processes(killed, tmp_path, capsys):
    """A real second process holds the run: --resume here is refused and names its pid."""
    import subprocess
    import sys
    run = _copy(killed, tmp_path)
    root = Path(__file__).resolve().parents[1]
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from mttgan_min.run.rundir import RunLock; "
                               "lock = RunLock(sys.argv[1]); print('locked', flush=True); time.sleep(60)", str(run)],
                              cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train.main(["--resume", str(run)]) == 2
        assert f"(pid {holder.pid})" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert train.main(["--resume", str(run)]) == 0  # the kernel released the dead process's lock
