"""The per-epoch diversity record of a run: RUN/diversity.csv and RUN/diversity.png."""
import numpy as np
from scipy.special import ndtr

from mttgan_min import train
from mttgan_min.run import diversity_log


class Constant:
    """A stand-in generator that draws the same image for every latent (a collapsed G)."""
    input_shape = (100,)

    def __init__(self, image):
        self.image = image


def test_collapsed_generator_is_flagged_and_rows_are_replaced(tmp_path):
    rng = np.random.default_rng(0)
    real = rng.random((40, 8, 8, 1)).astype(np.float32)
    varied = Constant(None)

    def generate(G, z):
        if G.image is None:  # a varied generator: uniform pixels like the real set, a function of z
            return ndtr(z[:, :64]).reshape(-1, 8, 8, 1)
        return np.repeat(G.image[None], len(z), axis=0)

    results = diversity_log.measure([("student", Constant(real[0])), ("teacher", varied)], real, generate)
    assert results["student"]["spread_ratio"] < 1e-3 and results["student"]["near_duplicate_rate"] == 1.0
    assert results["teacher"]["spread_ratio"] > 0.5 and results["teacher"]["near_duplicate_rate"] < 0.05
    assert results["student"]["layout_spread_ratio"] < 1e-3 and results["student"]["layout_near_duplicate_rate"] == 1.0
    diversity_log.record(tmp_path, "finetune", 1, results)
    rows = diversity_log.record(tmp_path, "finetune", 1, results)  # the same epoch again (a resume)
    assert [(r["stage"], r["epoch"], r["generator"]) for r in rows] == \
        [("finetune", 1, "student"), ("finetune", 1, "teacher")]
    first = diversity_log.read_rows(tmp_path / "diversity.csv")[0]
    assert first["near_duplicate_rate"] == 1.0 and first["layout_near_duplicate_rate"] == 1.0
    assert (tmp_path / "diversity.png").stat().st_size > 1000


def test_a_tiny_run_records_diversity_every_epoch(tmp_path):
    run = tmp_path / "run"
    assert train.main(["--preset", "tiny", "--max-iters-per-epoch", "2", "--pretrain-epochs", "1",
                       "--finetune-epochs", "2", "--seed", "1", "--out", str(run)]) == 0
    rows = diversity_log.read_rows(run / "diversity.csv")
    assert [(r["stage"], r["epoch"], r["generator"]) for r in rows] == [
        ("pretrain", 1, "student"), ("finetune", 1, "student"), ("finetune", 1, "teacher"),
        ("finetune", 2, "student"), ("finetune", 2, "teacher")]
    for r in rows:  # after 2-6 iterations: finite, positive, a rate in [0, 1]
        assert 0.0 < r["spread_ratio"] < 3.0 and 0.0 <= r["near_duplicate_rate"] <= 1.0
    assert (run / "diversity.png").is_file()




def test_realism_is_recorded_and_measuring_changes_no_weight(tmp_path, monkeypatch):
    """RUN/realism.csv gets a row per generator and epoch; a run that measures nothing ends with the same weights."""
    from mttgan_min.run import session
    argv = ["--preset", "tiny", "--max-iters-per-epoch", "2", "--pretrain-epochs", "1", "--finetune-epochs", "1",
            "--seed", "2"]
    assert train.main(argv + ["--out", str(tmp_path / "measured")]) == 0
    rows = diversity_log.read_rows(tmp_path / "measured" / "realism.csv", diversity_log.REALISM)
    assert [(r["stage"], r["generator"]) for r in rows] == [
        ("pretrain", "student"), ("finetune", "student"), ("finetune", "teacher")]
    for r in rows:   # barely trained generators: told apart from the held-out films, far from the data, and
        # without the films' fine detail (the tiny preset's smooth start draws flat films, Keras' start grain)
        assert r["two_sample_accuracy"] > 0.8 and r["nn_distance_ratio"] > 1.5
        assert not 0.5 < r["high_frequency_ratio"] < 2
    assert (tmp_path / "measured" / "realism.png").is_file()
    assert "realism, finetune epoch 1, teacher" in (tmp_path / "measured" / "README.txt").read_text()

    monkeypatch.setattr(session, "held_out_films", lambda prepared, pools: {})
    monkeypatch.setattr(diversity_log, "diversity", lambda generated, real: {k: 0.5 for k in diversity_log.MEASURES})
    assert train.main(argv + ["--out", str(tmp_path / "unmeasured")]) == 0
    assert not (tmp_path / "unmeasured" / "realism.csv").exists()
    with np.load(tmp_path / "measured" / "checkpoint.npz") as a, np.load(tmp_path / "unmeasured" / "checkpoint.npz") as b:
        weights = [k for k in a.files if k.startswith(("G", "D"))]
        assert weights and all(np.array_equal(a[k], b[k]) for k in weights)
