"""The paper's Tables I and II beside ours, and the tests of MTT-GAN against every other row (Sec. VI).

Table I is the binary task (normal vs COVID, 136 test images), Table II the four-class task (272 test
images). Each row names what the COVID class was trained on; VGG-19 and AlexNet are the two columns.
The paper prints accuracy % with a 95% interval; ``paper_check`` recovers the number of correct test
images k = round(accuracy * n), recomputes the exact Clopper-Pearson interval of k/n and notes where
the printed numbers cannot come from any k/n (docs/design.md, "The paper's printed numbers").
"""
import csv
from pathlib import Path

import numpy as np

from . import stats
from .. import gans

# The rows of the GANs of the registry (mttgan_min.gans), in the paper's order, and their labels.
ROWS = tuple(r.name for g in gans.GANS.values() for r in g.rows)
ROW_LABELS = {r.name: r.label for g in gans.GANS.values() for r in g.rows}
CLASSIFIERS = ("vgg19", "alexnet")
CLASSIFIER_LABELS = {"vgg19": "VGG-19", "alexnet": "AlexNet"}
TASKS = ("binary", "multiclass")
TASK_N = {"binary": 136, "multiclass": 272}
TABLE_FILES = {"binary": "table1.md", "multiclass": "table2.md"}
TABLE_TITLES = {"binary": "Table I: binary (normal vs COVID)",
                "multiclass": "Table II: four classes (normal, bacterial, viral, COVID)"}
REFERENCES = tuple(r.name for r in gans.GANS["mtt"].rows)  # the rows every other row is tested against

# Accuracy % as printed in the paper (Tables I and II), {task: {row: (VGG-19, AlexNet)}}.
PAPER = {
    "binary": {"baseline": (74.26, 77.20), "baseline_aug": (91.91, 82.35), "transfer_gen": (95.58, 93.38),
               "transfer_real_gen": (99.26, 99.26), "mtt_gen": (96.32, 94.11), "mtt_real_gen": (99.26, 100.0)},
    "multiclass": {"baseline": (76.10, 65.80), "baseline_aug": (79.41, 76.47), "transfer_gen": (84.19, 82.72),
                   "transfer_real_gen": (84.92, 83.89), "mtt_gen": (83.45, 84.19),
                   "mtt_real_gen": (84.93, 85.61)},
}
# Printed intervals we can quote; the others are recomputed only (docs/design.md, "The paper's printed numbers").
PAPER_PRINTED_CI = {("binary", "mtt_real_gen", "alexnet"): (1.0, 1.0)}


def paper_accuracy(task, row, classifier):
    """The paper's printed accuracy % for one cell."""
    return PAPER[task][row][CLASSIFIERS.index(classifier)]


def paper_check(task, row, classifier):
    """Recover k/n behind one printed accuracy and recompute its exact 95% interval.

    Returns {task, row, classifier, printed_accuracy, n, k, implied_accuracy, printing ("rounded",
    "truncated", "rounded or truncated" or "no k/n"), low, high, printed_ci (or None), notes [str]}.
    """
    n = TASK_N[task]
    acc = paper_accuracy(task, row, classifier)
    k = int(round(acc * n / 100))
    implied = 100.0 * k / n
    rounded = f"{implied:.2f}" == f"{acc:.2f}"
    truncated = f"{np.floor(implied * 100 + 1e-9) / 100:.2f}" == f"{acc:.2f}"
    printing = {(True, True): "rounded or truncated", (True, False): "rounded",
                (False, True): "truncated", (False, False): "no k/n"}[(rounded, truncated)]
    lo, hi = stats.clopper_pearson(k, n)
    notes = []
    if printing == "no k/n":
        below, above = int(np.floor(acc * n / 100)), int(np.ceil(acc * n / 100))
        notes.append(f"{acc:.2f}% is not k/{n} for any k ({below}/{n} = {100 * below / n:.2f}%, "
                     f"{above}/{n} = {100 * above / n:.2f}%); the nearest, {k}/{n}, is used")
    elif printing == "truncated":
        notes.append(f"{k}/{n} = {implied:.4f}% is printed truncated, not rounded")
    printed = PAPER_PRINTED_CI.get((task, row, classifier))
    if printed is not None and (abs(printed[0] - lo) > 0.005 or abs(printed[1] - hi) > 0.005):
        notes.append(f"printed interval ({printed[0]:g}, {printed[1]:g}) is not the exact interval of "
                     f"{k}/{n}, which is ({lo:.3f}, {hi:.3f})")
    return {"task": task, "row": row, "classifier": classifier, "printed_accuracy": acc, "n": n, "k": k,
            "implied_accuracy": implied, "printing": printing, "low": lo, "high": hi,
            "printed_ci": printed, "notes": notes}


def paper_checks(task=None):
    """paper_check for every cell of one task (or both), in table order."""
    return [paper_check(t, r, c) for t in ((task,) if task else TASKS) for r in ROWS for c in CLASSIFIERS]


def compare_rows(y_true, preds, classes, references=REFERENCES, positive="covid"):
    """Test each MTT-GAN row in ``references`` against every other row of one task x classifier x seed.

    preds: {row: y_pred (n,)} all on the same test images ``y_true`` (n,). For each (reference, other):
    Fisher's exact test on overall accuracy, Fisher's exact test on COVID recall, exact McNemar on the
    paired per-image outcomes; Holm-adjusted p per test kind over this call's family (all pairs).
    Returns a list of dicts (reference, other, k_ref, k_other, n, covid_ref, covid_other, n_covid,
    fisher_acc_p, fisher_recall_p, mcnemar_b, mcnemar_c, mcnemar_p, and *_holm).
    """
    y_true = np.asarray(y_true, dtype=int)
    pos = list(classes).index(positive)
    is_pos = y_true == pos
    correct = {r: np.asarray(p, dtype=int) == y_true for r, p in preds.items()}
    out = []
    for ref in (r for r in references if r in preds):
        for other in (r for r in preds if r != ref and not (r in references and
                                                           references.index(r) < references.index(ref))):
            a, b = correct[ref], correct[other]
            n, n_pos = len(y_true), int(is_pos.sum())
            rec = {"reference": ref, "other": other, "n": n, "k_ref": int(a.sum()), "k_other": int(b.sum()),
                   "n_covid": n_pos, "covid_ref": int(a[is_pos].sum()), "covid_other": int(b[is_pos].sum())}
            rec["fisher_acc_p"] = stats.fisher_2x2(rec["k_ref"], n, rec["k_other"], n)["p"]
            rec["fisher_recall_p"] = stats.fisher_2x2(rec["covid_ref"], n_pos, rec["covid_other"], n_pos)["p"]
            m = stats.mcnemar_exact(a, b)
            rec.update(mcnemar_b=m["b"], mcnemar_c=m["c"], mcnemar_p=m["p"])
            out.append(rec)
    for key in ("fisher_acc_p", "fisher_recall_p", "mcnemar_p"):
        for rec, adj in zip(out, stats.holm([r[key] for r in out])):
            rec[key + "_holm"] = float(adj)
    return out


def _group(results, task):
    """{(row, classifier): [accuracy of each seed]} and the matching per-seed (k, n) for one task."""
    cells = {}
    for r in results:
        if r.get("task") == task and r.get("row") in ROWS and r.get("classifier") in CLASSIFIERS:
            cells.setdefault((r["row"], r["classifier"]), []).append((int(r["k"]), int(r["n"])))
    return cells


def _ours(kn):
    """Markdown cell for our seeds: mean accuracy % (+- sd), and the envelope of the per-seed intervals."""
    accs = [100.0 * k / n for k, n in kn]
    cis = [stats.clopper_pearson(k, n) for k, n in kn]
    mean, sd = stats.mean_sd(accs)
    lo, hi = min(c[0] for c in cis), max(c[1] for c in cis)
    value = f"{mean:.2f}" if len(accs) == 1 else f"{mean:.2f} +- {sd:.2f}"
    return mean, f"{value} ({100 * lo:.2f}-{100 * hi:.2f})"


def table_markdown(task, results):
    """The paper's table for ``task`` in markdown, ours beside the paper's, with the notes under it.

    results: iterable of dicts with at least task, row, classifier, k, n (one per seed; extra keys ignored).
    A classifier with no result for this task gets no columns; a missing row of a run classifier
    reads "not run".
    """
    cells = _group(results, task)
    n = TASK_N[task]
    # Only the classifiers that were run get columns (all of them when nothing was run: the paper alone).
    run = [c for c in CLASSIFIERS if any(key[1] == c for key in cells)] or list(CLASSIFIERS)
    head = ["COVID training images"]
    for c in run:
        lab = CLASSIFIER_LABELS[c]
        head += [f"{lab} paper % (exact 95% CI)", f"{lab} ours % (95% CI)", f"{lab} ours inside paper's CI"]
    ours_n = sorted({nn for ks in cells.values() for _, nn in ks})
    tested = (f"the paper's {n} held-out test images; ours "
              + (", ".join(str(m) for m in ours_n) if ours_n else "not run"))
    lines = [f"# {TABLE_TITLES[task]}: {tested}", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    notes = []
    for row in ROWS:
        line = [ROW_LABELS[row]]
        for c in run:
            chk = paper_check(task, row, c)
            line.append(f"{chk['printed_accuracy']:.2f} ({100 * chk['low']:.2f}-{100 * chk['high']:.2f})")
            notes += [f"{ROW_LABELS[row]}, {CLASSIFIER_LABELS[c]}: {s}." for s in chk["notes"]]
            if (row, c) in cells:
                mean, text = _ours(cells[(row, c)])
                inside = [chk["low"] <= k / nn <= chk["high"] for k, nn in cells[(row, c)]]
                line += [text, f"{'yes' if 100 * chk['low'] <= mean <= 100 * chk['high'] else 'no'}"
                               + (f" ({sum(inside)}/{len(inside)} seeds)" if len(inside) > 1 else "")]
            else:
                line += ["not run", ""]
        lines.append("| " + " | ".join(line) + " |")
    lines += ["", f"Paper intervals: exact Clopper-Pearson 95% intervals of k/{n}, k = round(accuracy x {n}), "
              "recomputed with SciPy. Ours: mean over classifier seeds (+- sample sd when several) with the "
              "envelope of the per-seed exact intervals; \"inside\" compares our mean with the paper's interval.",
              "", "Our test images are this code's patient-level split of the data it was given, not the "
              "paper's (the paper does not list them, and the public COVID set has grown since: 427 films "
              "of 257 patients where the paper had 227), so every comparison is of the same protocol on "
              "other images.",
              "", "Notes on the paper's printed numbers:", ""]
    lines += [f"- {s}" for s in notes] or ["- none"]
    return "\n".join(lines) + "\n"


CONTROL_ROWS = ROWS + ("real_only",)
CONTROL_LABELS = dict(ROW_LABELS, real_only="Real COVID images only (control)")
CONTROL_COLUMNS = (("vgg19", "VGG-19 %"), ("alexnet", "AlexNet %"), ("pixel4x4", "pixels 4x4 %"),
                   ("pixel8x8", "pixels 8x8 %"))
CONTROLS_FILE = "controls.md"


def _rate_cell(kn):
    """Markdown cell for a rate over seeds: mean % (+- sd) (envelope of the exact intervals) [sum k/sum n]."""
    kn = [(k, n) for k, n in kn if n]
    if not kn:
        return ""
    _, text = _ours(kn)
    return f"{text} [{sum(k for k, _ in kn)}/{sum(n for _, n in kn)}]"


def controls_markdown(results):
    """controls.md: where the accuracy comes from (docs/design.md, "Evaluation controls").

    Per task, for every training set (each GAN row and the real-only control): the networks' accuracy
    beside that of the pixel-shortcut logistic regressions on the same training set, and (binary) the
    share of the adult non-COVID probe films each network calls COVID. Returns "" without controls.
    """
    results = list(results)
    if not any(r.get("row") == "real_only" or str(r.get("classifier", "")).startswith("pixel") for r in results):
        return ""
    lines = ["# Controls: where the accuracy comes from", ""]
    for task in TASKS:
        mine = [r for r in results if r.get("task") == task]
        if not mine:
            continue
        cells = {}
        probe = {}
        for r in mine:
            cells.setdefault((r["row"], r["classifier"]), []).append((int(r["k"]), int(r["n"])))
            if str(r.get("probe_n", "")) not in ("", "0"):
                probe.setdefault((r["row"], r["classifier"]), []).append((int(r["probe_k"]), int(r["probe_n"])))
        columns = [(c, label) for c, label in CONTROL_COLUMNS if any(key[1] == c for key in cells)]
        probes = [c for c in CLASSIFIERS if any(key[1] == c for key in probe)]
        head = ["training set"] + [label for _, label in columns]
        head += [f"{CLASSIFIER_LABELS[c]} calls adult non-COVID films COVID %" for c in probes]
        lines += [f"## {TABLE_TITLES[task]}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in CONTROL_ROWS:
            if not any(key[0] == row for key in cells):
                continue
            line = [CONTROL_LABELS[row]] + [_rate_cell(cells.get((row, c), [])) or "not run" for c, _ in columns]
            line += [_rate_cell(probe.get((row, c), [])) or "not run" for c in probes]
            lines.append("| " + " | ".join(line) + " |")
        lines.append("")
    lines += ["Accuracy on the held-out test images of each task; mean over classifier seeds (+- sample sd when "
              "several), the envelope of the per-seed exact 95% intervals, and the counts summed over seeds "
              "[k/n]. The pixel columns are multinomial logistic regressions on 4x4 and 8x8 mean-pooled "
              "pixels trained on the same images as the networks: where they score as high as a network, the "
              "task can be solved from coarse brightness alone. The probe films are adult chest X-rays without "
              "COVID-19 from the COVID-19 collection: a network that calls them COVID has learned \"adult "
              "film\" (or \"from this collection\") rather than COVID-19."]
    return "\n".join(lines) + "\n"


TEST_COLUMNS = ("task", "classifier", "seed", "reference", "other", "n", "k_ref", "k_other", "n_covid",
                "covid_ref", "covid_other", "fisher_acc_p", "fisher_acc_p_holm", "fisher_recall_p",
                "fisher_recall_p_holm", "mcnemar_b", "mcnemar_c", "mcnemar_p", "mcnemar_p_holm")


def write_tests_csv(path, records):
    """tests.csv: one line per comparison (records from compare_rows plus task, classifier, seed)."""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=TEST_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def classes_for(task):
    """Class names of a task, index order: ("normal", "covid") or ("normal", "bacterial", "viral", "covid")."""
    return ("normal", "covid") if task == "binary" else ("normal", "bacterial", "viral", "covid")


def write_outputs(results, predictions, out_dir, confusion=True):
    """Write table1.md / table2.md (tasks present in ``results``), controls.md (when the controls ran),
    tests.csv and confusion matrices.

    results: list of dicts (rows of results.csv) with task, row, classifier, seed, k, n.
    predictions: {(task, row, classifier, seed): {"y_true": (n,), "y_pred": (n,), ...}}; every key of
    one task shares the test images in the same order (McNemar pairs them; a mismatch raises ValueError).
    confusion: also write confusion/<task>_<row>_<classifier>_seed<seed>.csv and .png.
    Returns the list of test records written to tests.csv.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = list(results)
    for task in TASKS:
        if any(r.get("task") == task for r in results):
            (out_dir / TABLE_FILES[task]).write_text(table_markdown(task, results))
    controls_text = controls_markdown(results)
    if controls_text:
        (out_dir / CONTROLS_FILE).write_text(controls_text)
    groups = {}
    for (task, row, clf, seed), p in predictions.items():
        groups.setdefault((task, clf, seed), {})[row] = p
    records = []
    for (task, clf, seed), rows in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        y_true = np.asarray(next(iter(rows.values()))["y_true"])
        for row, p in rows.items():
            if not np.array_equal(np.asarray(p["y_true"]), y_true):
                raise ValueError(f"{task}/{row}/{clf}/seed {seed} was tested on other images than its "
                                 "neighbours; McNemar needs the same test images in the same order")
        recs = compare_rows(y_true, {r: p["y_pred"] for r, p in rows.items()}, classes_for(task))
        records += [{"task": task, "classifier": clf, "seed": seed, **r} for r in recs]
    write_tests_csv(out_dir / "tests.csv", records)
    if confusion:
        (out_dir / "confusion").mkdir(exist_ok=True)
        for (task, row, clf, seed), p in predictions.items():
            classes = classes_for(task)
            cm = stats.confusion_matrix(p["y_true"], p["y_pred"], len(classes))
            stem = out_dir / "confusion" / f"{task}_{row}_{clf}_seed{seed}"
            stats.write_confusion_csv(stem.with_suffix(".csv"), cm, classes)
            stats.plot_confusion(stem.with_suffix(".png"), cm, classes, f"{task}, {row}, {clf}, seed {seed}")
    return records
