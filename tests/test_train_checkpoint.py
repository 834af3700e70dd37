"""Checkpoint files: atomic writes (a crash while saving never breaks the latest checkpoint), and
loading checks the preset and every shape and says what does not match."""
import numpy as np
import pytest

from mttgan_min import fileio
from mttgan_min.run import checkpoint
from mttgan_min.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mttgan_min.run.state import TrainState

CFG = dict(mode="mtt", preset="tiny", device="cpu", lr=2e-4, d_lr=2e-4, seed=0, latent="normal",
           ema_buffers="average", ema_decay=0.999)


def _groups(value):
    return {"G": {"0.w": np.full((3, 4), value, np.float32)}, "opt_G": {"t": np.array(5)}}


@pytest.mark.parametrize("fail_in", ["savez", "replace"])
def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail_in):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, _groups(1.0), {"preset": "tiny", "epoch": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        if fail_in == "savez":  # die half-way through writing the new file
            args[0].write(b"PK\x03\x04 partial zip")
        raise OSError(28, "No space left on device")

    target = checkpoint.np if fail_in == "savez" else fileio.os
    monkeypatch.setattr(target, "savez" if fail_in == "savez" else "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint(path, _groups(2.0), {"preset": "tiny", "epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"], "temporary file left behind"
    groups, meta = load_checkpoint(path)
    assert meta["epoch"] == 1 and np.all(groups["G"]["0.w"] == 1.0) and int(groups["opt_G"]["t"]) == 5


def test_round_trip_keeps_arrays_and_generator_states(tmp_path):
    rng = np.random.default_rng(123)
    rng.random(7)
    meta = {"preset": "tiny", "rng": rng.bit_generator.state}
    save_checkpoint(tmp_path / "c.npz", _groups(3.0), meta)
    groups, loaded = load_checkpoint(tmp_path / "c.npz")
    other = np.random.default_rng(0)
    other.bit_generator.state = loaded["rng"]
    assert other.random() == rng.random()
    assert groups["G"]["0.w"].dtype == np.float32


def test_loading_checks_preset_and_shapes(tmp_path):
    tiny = TrainState(CFG, np)
    tiny.begin_stage(with_teachers=True)
    tiny.save(tmp_path / "tiny.npz")
    groups, meta = load_checkpoint(tmp_path / "tiny.npz")

    small = TrainState(dict(CFG, preset="small"), np)
    small.begin_stage(with_teachers=True)
    with pytest.raises(CheckpointError, match="preset 'tiny', not 'small'"):
        small.load(tmp_path / "tiny.npz", groups, meta)

    meta["preset"] = "small"  # a lying header: the shapes still give it away
    with pytest.raises(CheckpointError, match=r"G: 0\.w has shape \(100, 512\) in the checkpoint, \(100, 4096\) here"):
        small.load(tmp_path / "tiny.npz", groups, meta)


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz")


def test_each_network_gets_its_learning_rate_and_momentum():
    state = TrainState(dict(CFG, d_lr=1e-3), np)
    state.begin_stage(with_teachers=False)
    assert (state.opt_G.lr, state.opt_D.lr) == (2e-4, 1e-3)
    # D's beta1 is the run's; a run recorded before the option had the paper's 0.5 for both
    assert (state.opt_G.beta1, state.opt_D.beta1) == (0.5, 0.5)
    state = TrainState(dict(CFG, d_beta1=0.0), np)
    state.begin_stage(with_teachers=True)
    assert (state.opt_G.beta1, state.opt_D.beta1) == (0.5, 0.0)
