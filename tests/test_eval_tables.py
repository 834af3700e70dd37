"""The paper's tables: recovered k/n, recomputed intervals, the printed slips, our tables and tests.csv."""
import csv

import numpy as np
import pytest

from mttgan_min.evaluation import stats, tables


def test_every_cell_recovers_a_k_over_n():
    checks = tables.paper_checks()
    assert len(checks) == 24
    for c in checks:
        assert c["n"] == tables.TASK_N[c["task"]]
        assert abs(c["implied_accuracy"] - c["printed_accuracy"]) <= 50 / c["n"]   # the nearest k/n
        assert c["low"] <= c["k"] / c["n"] <= c["high"]
    by = {(c["task"], c["row"], c["classifier"]): c for c in checks}
    assert by[("binary", "baseline", "vgg19")]["k"] == 101
    assert by[("multiclass", "mtt_real_gen", "vgg19")]["k"] == 231


def test_slips_are_found():
    by = {(c["task"], c["row"], c["classifier"]): c for c in tables.paper_checks()}
    # 100% printed with "(1, 1)": the exact interval of 136/136 starts at 0.973.
    hundred = by[("binary", "mtt_real_gen", "alexnet")]
    assert hundred["k"] == 136 and round(hundred["low"], 3) == 0.973
    assert any("(1, 1)" in n for n in hundred["notes"])
    # Two four-class accuracies are no k/272 at all.
    no_kn = {k for k, c in by.items() if c["printing"] == "no k/n"}
    assert no_kn == {("multiclass", "transfer_real_gen", "alexnet"), ("multiclass", "mtt_real_gen", "alexnet")}
    # Truncation versus rounding: 94.11% is 128/136 = 94.1176% cut, 84.93% is 231/272 rounded.
    assert by[("binary", "mtt_gen", "alexnet")]["printing"] == "truncated"
    assert by[("multiclass", "mtt_real_gen", "vgg19")]["printing"] == "rounded"
    clean = [c for c in by.values() if c["printing"] == "rounded or truncated"]
    assert all(not c["notes"] for c in clean if c["printed_ci"] is None)


def _preds(rng, n_per_class, n_classes, accuracy):
    y_true = np.repeat(np.arange(n_classes), n_per_class)
    wrong = (y_true + rng.integers(1, n_classes, len(y_true))) % n_classes
    return y_true, np.where(rng.random(len(y_true)) < accuracy, y_true, wrong)


def test_compare_rows_family_and_holm():
    rng = np.random.default_rng(3)
    y_true, good = _preds(rng, 68, 2, 0.97)
    _, bad = _preds(rng, 68, 2, 0.70)
    preds = {"baseline": bad, "transfer_gen": good.copy(), "mtt_gen": good, "mtt_real_gen": good}
    recs = tables.compare_rows(y_true, preds, ("normal", "covid"))
    pairs = [(r["reference"], r["other"]) for r in recs]
    # Each MTT row against every other row, the MTT pair once.
    assert pairs == [("mtt_gen", "baseline"), ("mtt_gen", "transfer_gen"), ("mtt_gen", "mtt_real_gen"),
                     ("mtt_real_gen", "baseline"), ("mtt_real_gen", "transfer_gen")]
    r = recs[0]
    assert r["k_ref"] == int((good == y_true).sum()) and r["n_covid"] == 68
    assert r["fisher_acc_p"] == stats.fisher_2x2(r["k_ref"], 136, r["k_other"], 136)["p"]
    assert r["fisher_recall_p"] == stats.fisher_2x2(r["covid_ref"], 68, r["covid_other"], 68)["p"]
    assert r["mcnemar_p"] < 1e-4 and r["mcnemar_p_holm"] < 0.01
    assert recs[1]["mcnemar_p"] == 1.0 and recs[1]["mcnemar_b"] == recs[1]["mcnemar_c"] == 0
    for key in ("fisher_acc_p", "fisher_recall_p", "mcnemar_p"):
        assert np.allclose([x[key + "_holm"] for x in recs], stats.holm([x[key] for x in recs]))


def test_table_markdown_places_ours_beside_the_paper():
    results = [{"task": "binary", "row": "baseline", "classifier": "vgg19", "seed": s, "k": k, "n": 136}
               for s, k in enumerate((101, 103))]
    results.append({"task": "binary", "row": "mtt_gen", "classifier": "alexnet", "seed": 0, "k": 60, "n": 136})
    md = tables.table_markdown("binary", results)
    lines = {l.split(" | ")[0].strip("| "): l for l in md.splitlines() if l.startswith("| ")}
    base = lines[tables.ROW_LABELS["baseline"]]
    assert "74.26 (66.07-81.37)" in base
    assert "75.00 +- 1.04" in base and "yes (2/2 seeds)" in base
    mtt = lines[tables.ROW_LABELS["mtt_gen"]]
    assert "| no" in mtt and "not run" in mtt
    assert "(1, 1)" in md and "not k/" not in md          # Table I has no no-k/n slip
    only_alexnet = tables.table_markdown("binary", results[2:])
    assert "VGG-19" not in only_alexnet and "AlexNet ours" in only_alexnet
    assert "VGG-19 paper" in tables.table_markdown("binary", [])
    assert "not k/272" in tables.table_markdown("multiclass", [])
    assert md.splitlines()[0].endswith("the paper's 136 held-out test images; ours 136")
    short = [dict(r, n=130, k=100) for r in results]      # a split that fell short of 68 per class
    assert tables.table_markdown("binary", short).splitlines()[0].endswith("test images; ours 130")
    assert "not the paper's" in md


def test_write_outputs(tmp_path):
    rng = np.random.default_rng(0)
    preds, results = {}, []
    for task, K, n in (("binary", 2, 68), ("multiclass", 4, 68)):
        for row in ("baseline", "mtt_gen", "mtt_real_gen"):
            y_true, y_pred = _preds(rng, n, K, 0.8)
            preds[(task, row, "vgg19", 0)] = {"y_true": y_true, "y_pred": y_pred}
            results.append({"task": task, "row": row, "classifier": "vgg19", "seed": 0,
                            "k": int((y_true == y_pred).sum()), "n": len(y_true)})
    recs = tables.write_outputs(results, preds, tmp_path)
    assert (tmp_path / "table1.md").exists() and (tmp_path / "table2.md").exists()
    assert not (tmp_path / tables.CONTROLS_FILE).exists()    # no controls were run
    rows = list(csv.DictReader(open(tmp_path / "tests.csv")))
    assert len(rows) == len(recs) == 2 * 3 and set(rows[0]) == set(tables.TEST_COLUMNS)
    assert (tmp_path / "confusion" / "multiclass_mtt_gen_vgg19_seed0.png").exists()
    cm = list(csv.reader(open(tmp_path / "confusion" / "binary_baseline_vgg19_seed0.csv")))
    assert sum(int(x) for r in cm[1:] for x in r[1:]) == 136
    # Test images in another order: McNemar cannot pair them.
    bad = dict(preds)
    p = bad[("binary", "baseline", "vgg19", 0)]
    bad[("binary", "baseline", "vgg19", 0)] = {"y_true": p["y_true"][::-1], "y_pred": p["y_pred"]}
    with pytest.raises(ValueError, match="same test images"):
        tables.write_outputs(results, bad, tmp_path / "again")


def test_controls_markdown_puts_the_pixel_models_and_the_probe_beside_the_networks():
    results = [
        # two seeds of VGG-19 on the MTT-GAN generated row: 100/136 and 110/136; the probe 30/100 and 50/100
        {"task": "binary", "row": "mtt_gen", "classifier": "vgg19", "seed": 0, "k": 100, "n": 136,
         "probe_k": 30, "probe_n": 100},
        {"task": "binary", "row": "mtt_gen", "classifier": "vgg19", "seed": 1, "k": "110", "n": "136",
         "probe_k": "50", "probe_n": "100"},                  # as read back from results.csv
        {"task": "binary", "row": "mtt_gen", "classifier": "pixel4x4", "seed": 0, "k": 120, "n": 136},
        {"task": "binary", "row": "real_only", "classifier": "vgg19", "seed": 0, "k": 130, "n": 136,
         "probe_k": 90, "probe_n": 100},
        {"task": "multiclass", "row": "real_only", "classifier": "vgg19", "seed": 0, "k": 200, "n": 272,
         "probe_k": "", "probe_n": ""},
    ]
    text = tables.controls_markdown(results)
    binary = text.split("## Table II")[0]
    line = next(x for x in binary.splitlines() if x.startswith("| MTT-GAN") and "(generated)" in x)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1].startswith("77.21 +- 5.20 (") and cells[1].endswith("[210/272]")      # (100 + 110) / 272
    assert cells[2].startswith("88.24 (") and cells[2].endswith("[120/136]")              # the 4x4 pixel model
    assert cells[3].startswith("40.00 +- 14.14 (") and cells[3].endswith("[80/200]")      # the probe
    real = next(x for x in binary.splitlines() if x.startswith("| Real COVID images only"))
    assert "[130/136]" in real and "[90/100]" in real and real.count("not run") == 1       # no pixel model run
    table2 = text.split("## Table II")[1]
    assert "COVID %" not in table2.splitlines()[2] and "[200/272]" in table2                 # no probe in Table II
    assert tables.controls_markdown([r for r in results if r["row"] != "real_only"
                                     and r["classifier"] == "vgg19"]) == ""
