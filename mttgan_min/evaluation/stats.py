"""Exact statistics for a classifier's test predictions (paper, Sec. VI, Tables I and II).

Every number comes from SciPy: Clopper-Pearson intervals from ``scipy.stats.binomtest``, Fisher's exact
test from ``scipy.stats.fisher_exact``, exact McNemar as a binomial test on the discordant pairs, a
bootstrap interval for macro-F1 from ``scipy.stats.bootstrap``. SciPy has no Holm correction
(``false_discovery_control`` is Benjamini-Hochberg), so ``holm`` is Holm's step-down written over
SciPy's p-values (docs/design.md, "Holm correction").

Labels are int class indices into a ``classes`` tuple, e.g. ("normal", "covid") or
("normal", "bacterial", "viral", "covid"); y_true and y_pred are int arrays (n,).
"""
import csv

import numpy as np
from scipy import stats


def clopper_pearson(k, n, confidence=0.95):
    """Exact (Clopper-Pearson) interval for k successes in n trials -> (lo, hi); (nan, nan) when n == 0."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def proportion(k, n, confidence=0.95):
    """{"k", "n", "value", "low", "high"}: k/n with its exact interval."""
    lo, hi = clopper_pearson(k, n, confidence)
    return {"k": int(k), "n": int(n), "value": float(k / n) if n else float("nan"), "low": lo, "high": hi}


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts (K, K) int: entry [i, j] = images of true class i predicted as j (rows true, cols predicted)."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes,
                                                                                            n_classes)


def macro_f1(y_true, y_pred, n_classes):
    """Unweighted mean over classes of F1 = 2 TP / (2 TP + FP + FN); a class with no true and no
    predicted image counts as F1 = 0 (it cannot be scored)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(float)
    denom = 2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def macro_f1_interval(y_true, y_pred, n_classes, confidence=0.95, n_resamples=999, seed=0):
    """Percentile bootstrap interval of macro-F1 over test images (scipy.stats.bootstrap, paired)."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    if len(y_true) < 2 or np.all(y_true == y_true[0]) and np.all(y_pred == y_true):
        value = macro_f1(y_true, y_pred, n_classes)
        return value, value
    res = stats.bootstrap((y_true, y_pred), lambda t, p: macro_f1(t, p, n_classes), paired=True,
                          vectorized=False, n_resamples=n_resamples, confidence_level=confidence,
                          method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(y_true, y_pred, classes, positive="covid", confidence=0.95, seed=0):
    """Accuracy, per-class recall, macro-F1 (and sensitivity/specificity for two classes), flat for CSV.

    Returns {k, n, accuracy, acc_low, acc_high, recall_<c>, recall_<c>_low, recall_<c>_high for every
    class c, macro_f1, macro_f1_low, macro_f1_high} and, when len(classes) == 2, sensitivity and
    specificity with _low/_high, ``positive`` being the positive class (COVID, Sec. VI).
    """
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    K = len(classes)
    cm = confusion_matrix(y_true, y_pred, K)
    out = {}
    acc = proportion(np.trace(cm), cm.sum(), confidence)
    out.update(k=acc["k"], n=acc["n"], accuracy=acc["value"], acc_low=acc["low"], acc_high=acc["high"])
    for i, c in enumerate(classes):
        r = proportion(cm[i, i], cm[i].sum(), confidence)
        out.update({f"recall_{c}": r["value"], f"recall_{c}_low": r["low"], f"recall_{c}_high": r["high"]})
    if K == 2:
        pos = list(classes).index(positive)
        for name, cls in (("sensitivity", pos), ("specificity", 1 - pos)):
            r = proportion(cm[cls, cls], cm[cls].sum(), confidence)
            out.update({name: r["value"], f"{name}_low": r["low"], f"{name}_high": r["high"]})
    lo, hi = macro_f1_interval(y_true, y_pred, K, confidence, seed=seed)
    out.update(macro_f1=macro_f1(y_true, y_pred, K), macro_f1_low=lo, macro_f1_high=hi)
    return out


def fisher_2x2(k_a, n_a, k_b, n_b):
    """Fisher's exact test (two-sided) on [[k_a, n_a - k_a], [k_b, n_b - k_b]] -> {"odds_ratio", "p"}.

    With k = correct predictions this compares two accuracies as if the test sets were independent;
    with k = COVID images recognised it compares COVID recalls (the comparison the paper's p-values
    reproduce, docs/design.md, "Which test the paper's p-values are").
    """
    res = stats.fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]])
    return {"odds_ratio": float(res.statistic), "p": float(res.pvalue)}


def mcnemar_exact(correct_a, correct_b):
    """Exact McNemar test for paired per-image outcomes (bool (n,) each).

    b = images only A gets right, c = images only B gets right; under H0 b ~ Binomial(b + c, 1/2),
    two-sided binomial test (scipy.stats.binomtest). Returns {"b", "c", "p"} (p = 1 when b + c = 0).
    """
    a, b_ = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise ValueError(f"McNemar needs paired predictions; got {a.shape} and {b_.shape}")
    b, c = int(np.sum(a & ~b_)), int(np.sum(~a & b_))
    p = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p": p}


def holm(pvalues):
    """Holm's step-down adjusted p-values, same order as ``pvalues``.

    Sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j)); reject where adjusted < alpha.
    SciPy offers only Benjamini-Hochberg/Yekutieli (``false_discovery_control``), so these few lines
    are ours; nan p-values are left out of the family and stay nan.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def mean_sd(values):
    """(mean, sample sd with ddof=1) of a list of numbers; sd is nan for a single value."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def write_confusion_csv(path, cm, classes):
    """CSV with a header row "true\\predicted, <classes...>" and one row per true class."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["true\\predicted", *classes])
        for c, row in zip(classes, np.asarray(cm)):
            w.writerow([c, *(int(x) for x in row)])


def plot_confusion(path, cm, classes, title=""):
    """PNG of the confusion matrix (rows true, columns predicted) with the count in every cell."""
    from matplotlib.figure import Figure  # no pyplot: works under any backend, leaves no open figure
    cm = np.asarray(cm)
    fig = Figure(figsize=(1.2 * len(classes) + 1.8, 1.2 * len(classes) + 1.2))
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues", vmin=0)
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if cm[i, j] > top / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
