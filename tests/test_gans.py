"""The registry of the GANs (mttgan_min.gans): every command reads it, and a variant is one entry."""
import json

import numpy as np
import pytest

from mttgan_min import gan_step, gans, reproduce, train
from mttgan_min.evaluation import tables, trainsets
from mttgan_min.run.checkpoint import load_checkpoint
from mttgan_min.run.loop import plan_stages

QUICK = ["--preset", "tiny", "--seed", "3", "--pretrain-epochs", "1", "--finetune-epochs", "1",
         "--max-iters-per-epoch", "2", "--checkpoint-minutes", "0"]


def test_the_commands_read_the_registry():
    assert gans.modes() == ("baseline", "transfer", "mtt")
    mode_action = next(a for a in train.build_parser()._actions if a.dest == "mode")
    assert tuple(mode_action.choices) == gans.modes()
    assert trainsets.GANS == tuple(gans.GANS) == ("baseline", "baseline_aug", "transfer", "mtt")
    assert tables.ROWS == tuple(r for r in trainsets.ROW_SOURCES if r != "real_only")
    assert set(tables.ROWS) == set(tables.PAPER["binary"]) == set(tables.ROW_LABELS)
    # reproduce trains a GAN after the one whose pretraining it shares, and each GAN with its own options
    order = [name for name, _ in reproduce.GAN_STEPS]
    assert sorted(order) == sorted(gans.GANS)
    for gan in gans.GANS.values():
        if gan.shares_pretraining_of:
            assert order.index(gan.shares_pretraining_of) < order.index(gan.name)
    argv = dict(reproduce.GAN_STEPS)
    assert argv["baseline_aug"] == ["--mode", "baseline", "--augment-factor", "50"]
    assert argv["mtt"] == ["--mode", "mtt", "--pretrained", "{gans}/transfer"]


@pytest.mark.parametrize("mode, factor, stages, teachers", [
    ("baseline", 1, ["train"], [False]), ("transfer", 50, ["pretrain", "finetune"], [False, False]),
    ("mtt", 50, ["pretrain", "finetune"], [False, True])])
def test_a_mode_takes_its_gans_stages_and_defaults(tmp_path, mode, factor, stages, teachers):
    cfg = train.resolve_options(train.build_parser().parse_args(["--mode", mode, "--out", str(tmp_path)]))
    assert cfg["covid_factor"] == factor and (cfg["ema_decay"] is not None) == (mode == "mtt")
    plan = plan_stages(cfg)
    assert [st["name"] for st in plan] == stages and [st["teachers"] for st in plan] == teachers


def test_register_refuses_a_taken_name_and_a_teacher_sampler_without_a_teacher_g():
    with pytest.raises(ValueError, match="already"):
        gans.register(gans.GAN("mtt", "mtt", pretrain=True))
    with pytest.raises(ValueError, match="teacher G"):
        gans.register(gans.GAN("d_teacher_only", "d_teacher_only", pretrain=True, teachers=("D",),
                               samples_from="teacher"))
    assert "d_teacher_only" not in gans.GANS


CALLS = []


def g_teacher_step(state, real):
    """A toy variant's step: the paper's D and G steps, then an EMA step of the G teacher only."""
    CALLS.append(len(state.teachers or ()))
    cfg, rng = state.cfg, state.noise_rng
    state.D.set_rng(rng)
    d_loss, d_real, d_fake = gan_step.discriminator_step(state.G, state.D, state.opt_D, real, rng, cfg["latent"])
    g_loss = gan_step.generator_step(state.G, state.D, state.opt_G, 2 * len(real), rng, cfg["latent"], real.dtype)
    for teacher in state.teachers or ():
        teacher.update(cfg["ema_decay"])
    return {k: float(v) for k, v in dict(d_loss=d_loss, g_loss=g_loss, d_real=d_real, d_fake=d_fake).items()}


@pytest.fixture
def g_teacher_gan():
    """A variant "a teacher for G only", registered for one test and removed afterwards."""
    gan = gans.register(gans.GAN("g_teacher", "g_teacher", pretrain=True, step=g_teacher_step,
                                 teachers=("G",), samples_from="teacher"))
    CALLS.clear()
    yield gan
    del gans.GANS[gan.name]


def test_a_registered_variant_trains_through_the_real_loop(tmp_path, g_teacher_gan, capsys):
    run = tmp_path / "run"
    assert train.main(QUICK + ["--mode", "g_teacher", "--ema-decay", "0.5", "--out", str(run)]) == 0
    assert CALLS == [0, 0, 1, 1]  # its own step, 2 iterations a stage; the teacher in fine-tuning only
    groups, meta = load_checkpoint(run / "checkpoint.npz")
    assert "G_teacher" in groups and "D_teacher" not in groups and meta["mode"] == "g_teacher"
    exported, exported_meta = load_checkpoint(run / "generator.npz")
    assert exported_meta["generator"] == "teacher"
    for k, v in groups["G_teacher"].items():  # the teacher G is the result, and it is not the student
        np.testing.assert_array_equal(exported["G"][k], v, err_msg=k)
    assert any(not np.array_equal(groups["G"][k], v) for k, v in groups["G_teacher"].items())
    options = json.loads((run / "config.json").read_text())["options"]
    assert options["mode"] == "g_teacher" and options["ema_decay"] == 0.5
    # --resume of the finished run reads the variant back from config.json
    assert train.main(["--resume", str(run)]) == 0 and "already finished" in capsys.readouterr().out
