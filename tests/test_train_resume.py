"""Reliability of training runs: a real SIGINT then --resume gives bitwise the weights of an
uninterrupted run (CPU; the subprocess variant is marked slow), a NaN stops the run and keeps the last
good checkpoint, SIGTERM is caught (docs/design.md, "Resuming exactly")."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mttgan_min import gan_step, train
from mttgan_min.data import prepare_data
from mttgan_min.run import loop, rundir
from mttgan_min.run.checkpoint import load_checkpoint
from mttgan_min.run.state import TrainState, save_networks

ROOT = Path(__file__).resolve().parents[1]
# fine-tuning only, one epoch of 2 iterations (interrupted inside it), from a shared "pretraining"
SCHEDULE = ["--preset", "tiny", "--mode", "mtt", "--seed", "7", "--max-iters-per-epoch", "2",
            "--finetune-epochs", "1", "--ema-decay", "0.9"]


@pytest.fixture
def pretrained(tmp_path):
    """A stand-in for a finished pretraining stage: freshly initialised G and D in RUN/pretrained.npz."""
    cfg = dict(mode="mtt", preset="tiny", seed=11, latent="normal", lr=1e-3, ema_buffers="average")
    state = TrainState(cfg, np)
    (tmp_path / "pre").mkdir()
    save_networks(tmp_path / "pre" / "pretrained.npz", {"G": state.G, "D": state.D}, {"preset": "tiny"})
    rundir.write_json(tmp_path / "pre" / rundir.SPLIT, _split(seed=7))  # holds out what the runs below hold out
    return ["--pretrained", str(tmp_path / "pre")]


def _split(seed):
    """The split record of a run on the synthetic pools with ``seed`` (as train writes it)."""
    import json
    return json.loads(json.dumps(prepare_data(None, None, size=32, seed=seed, need_kaggle=False,
                                              covid_train_cap=159).manifest, default=str))


def _assert_same_checkpoints(run, ref):
    a, _ = load_checkpoint(run / "checkpoint.npz")
    b, _ = load_checkpoint(ref / "checkpoint.npz")
    assert sorted(a) == sorted(b) and "G_teacher" in a
    for group in a:
        assert sorted(a[group]) == sorted(b[group])
        for k in b[group]:
            assert np.array_equal(a[group][k], b[group][k]), f"{group}/{k} differs after resume"
    ma, mb = rundir.read_metrics(run / "metrics.csv"), rundir.read_metrics(ref / "metrics.csv")
    assert list(ma["stage"]) == list(mb["stage"]) and np.array_equal(ma["d_loss"], mb["d_loss"])


def test_sigint_then_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch, capsys, pretrained):
    """A real SIGINT (os.kill) arrives during the first fine-tuning iteration; the run saves and exits 130,
    --resume replays the epoch's crops and finishes with bitwise the weights of an uninterrupted run
    (students, teachers, Adam moments, metrics)."""
    real_step = gan_step.mtt_gan_step
    calls = []

    def step_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    run = tmp_path / "interrupted"
    with monkeypatch.context() as m:
        m.setattr(gan_step, "mtt_gan_step", step_then_ctrl_c)
        assert train.main(SCHEDULE + pretrained + ["--out", str(run)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--resume" in err
    _, meta = load_checkpoint(run / "checkpoint.npz")
    assert (meta["stage"], meta["epoch"], meta["iteration"]) == (0, 0, 1)  # mid fine-tuning epoch
    assert meta["metrics_rows"] == 1 and not (run / "generator.npz").exists()

    ref = tmp_path / "reference"
    assert train.main(SCHEDULE + pretrained + ["--out", str(ref)]) == 0
    assert train.main(["--resume", str(run)]) == 0
    _assert_same_checkpoints(run, ref)


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_then_resume(tmp_path, pretrained):
    """The same through `python -m mttgan_min.train` in a subprocess, interrupted at a random moment."""
    run = tmp_path / "interrupted"
    schedule = SCHEDULE + pretrained + ["--max-iters-per-epoch", "3"]
    cmd = [sys.executable, "-m", "mttgan_min.train"] + schedule + ["--out", str(run)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _rows(run) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    ref = tmp_path / "reference"
    assert train.main(schedule + ["--out", str(ref)]) == 0
    resumed = subprocess.run([sys.executable, "-m", "mttgan_min.train", "--resume", str(run)], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_checkpoints(run, ref)


def _rows(run):
    try:
        return len(rundir.read_metrics(run / "metrics.csv")["stage"])
    except (OSError, KeyError, ValueError):
        return 0


def test_sigterm_sets_the_stop_flag_instead_of_killing():
    with loop.StopFlag() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes
            if stop.signum is not None:
                break
            time.sleep(0.01)
    assert stop.signum == signal.SIGTERM


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys, pretrained):
    real_step = gan_step.mtt_gan_step
    calls = []

    def poisoned_step(G, D, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # poison a weight of D before the second fine-tuning iteration
            next(iter(D.named_params().values()))[...] = np.nan
        return real_step(G, D, *args, **kwargs)

    monkeypatch.setattr(gan_step, "mtt_gan_step", poisoned_step)
    run = tmp_path / "run"
    code = train.main(SCHEDULE + pretrained + ["--max-iters-per-epoch", "1", "--finetune-epochs", "2",
                                               "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 1
    assert "stage finetune, epoch 2, iteration 1" in err and "checkpoint" in err and "Traceback" not in err
    groups, meta = load_checkpoint(run / "checkpoint.npz")
    assert (meta["stage"], meta["epoch"], meta["iteration"]) == (0, 1, 0)  # written after epoch 1
    assert all(np.all(np.isfinite(v)) for g in groups.values() for v in g.values())
    assert not (run / "generator.npz").exists()
