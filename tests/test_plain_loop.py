"""The plain training loop (run.loop.train_plain) is the loop the train command runs: on the CPU both
end with the same weights."""
import json

import numpy as np
import pytest

from mttgan_min import train
from mttgan_min.run.checkpoint import load_checkpoint
from mttgan_min.run.loop import plan_stages, train_plain
from mttgan_min.run.session import load_pools, run_training
from mttgan_min.run.state import TrainState


@pytest.mark.parametrize("mode", ["mtt", "baseline"])
def test_the_plain_loop_ends_with_the_weights_of_the_train_command(tmp_path, mode, capsys):
    run = tmp_path / mode
    argv = ["--mode", mode, "--preset", "tiny", "--seed", "5", "--finetune-epochs", "2",
            "--max-iters-per-epoch", "2", "--out", str(run)]
    if mode != "baseline":
        argv += ["--pretrain-epochs", "1"]
    # run_training is train.main after its options, without the CPU settings of the command (threads
    # change the order of float sums), so that both loops below run with the same ones
    assert run_training(train.resolve_options(train.build_parser().parse_args(argv)), run, resume=False) == 0
    cfg = json.loads((run / "config.json").read_text())["options"]
    state = TrainState(cfg, np)
    _, pools = load_pools(cfg, plan_stages(cfg), resume=False, typed=())
    G = train_plain(cfg, state, pools)
    assert "finetune epoch 2/2" in capsys.readouterr().out or mode == "baseline"
    exported, _ = load_checkpoint(run / "generator.npz")
    saved, _ = load_checkpoint(run / "checkpoint.npz")
    assert G is (state.teachers[0].network if mode == "mtt" else state.G)
    for group, net in [("G", G)] + [("D", state.D)]:
        want = exported["G"] if group == "G" else saved["D"]
        got = net.state_dict()
        assert want.keys() == got.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{group} {k}")
