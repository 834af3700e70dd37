"""Statistics of the evaluation against values known without SciPy: binomial tails summed by hand,
textbook Fisher and McNemar examples, a worked Holm example, and the paper's own k/n."""
import csv
from math import comb

import numpy as np
import pytest

from mttgan_min.evaluation import stats


def binom_cdf(k, n, p):
    """P(X <= k) for X ~ Binomial(n, p), summed with exact integer binomial coefficients."""
    return sum(comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize("k,n", [(101, 136), (131, 136), (135, 136), (179, 272), (231, 272), (3, 10)])
def test_clopper_pearson_solves_the_tail_equations(k, n):
    lo, hi = stats.clopper_pearson(k, n)
    assert 0 < lo < k / n < hi < 1
    # The exact interval's ends are where each binomial tail equals 2.5%.
    assert abs((1 - binom_cdf(k - 1, n, lo)) - 0.025) < 1e-6
    assert abs(binom_cdf(k, n, hi) - 0.025) < 1e-6


def test_clopper_pearson_closed_forms_at_the_ends():
    # k = n: lower end (alpha/2)^(1/n); the paper's 100% row (136/136) is (0.973, 1), not (1, 1).
    lo, hi = stats.clopper_pearson(136, 136)
    assert hi == 1.0 and abs(lo - 0.025 ** (1 / 136)) < 1e-9 and round(lo, 3) == 0.973
    lo, hi = stats.clopper_pearson(0, 10)
    assert lo == 0.0 and abs(hi - (1 - 0.025 ** (1 / 10))) < 1e-9


def test_paper_baseline_row_interval():
    # Table I, baseline VGG-19: 74.26% = 101/136.
    p = stats.proportion(101, 136)
    assert p["k"] == 101 and round(100 * p["value"], 2) == 74.26
    assert (round(p["low"], 4), round(p["high"], 4)) == (0.6607, 0.8137)


def test_fisher_lady_tasting_tea():
    # Fisher (1935): 3 of 4 cups right each way; two-sided p = 34/70, one-sided 17/70.
    res = stats.fisher_2x2(3, 4, 1, 4)
    assert abs(res["p"] - 34 / 70) < 1e-12
    assert res["odds_ratio"] == 9.0


def test_fisher_hypergeometric_by_hand():
    # [[8, 2], [1, 5]]: two-sided p sums the tables no likelier than the observed one.
    a_obs, r1, c1, N = 8, 10, 9, 16
    prob = lambda a: comb(c1, a) * comb(N - c1, r1 - a) / comb(N, r1)
    p_obs = prob(a_obs)
    want = sum(prob(a) for a in range(max(0, r1 + c1 - N), min(r1, c1) + 1) if prob(a) <= p_obs * (1 + 1e-7))
    assert abs(stats.fisher_2x2(8, 10, 1, 6)["p"] - want) < 1e-12


def test_mcnemar_exact_counts_only_discordant_pairs():
    # b = 2 images only A gets right, c = 8 only B; p = 2 P(X <= 2 | 10, 1/2) = 2 * 56 / 1024.
    a = np.array([1] * 2 + [0] * 8 + [1] * 30 + [0] * 5, bool)
    b = np.array([0] * 2 + [1] * 8 + [1] * 30 + [0] * 5, bool)
    res = stats.mcnemar_exact(a, b)
    assert (res["b"], res["c"]) == (2, 8)
    assert abs(res["p"] - 2 * 56 / 1024) < 1e-12
    assert stats.mcnemar_exact(b, a)["p"] == res["p"]
    # 0 vs 5 discordant: p = 2 / 2^5; no discordant pair: p = 1.
    assert abs(stats.mcnemar_exact(np.zeros(5, bool), np.ones(5, bool))["p"] - 0.0625) < 1e-12
    assert stats.mcnemar_exact(a, a)["p"] == 1.0
    with pytest.raises(ValueError):
        stats.mcnemar_exact(a, b[:-1])


def test_holm_worked_example():
    # Sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06.
    adj = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert np.allclose(adj, [0.03, 0.06, 0.06, 0.02])
    # Capped at 1, nan left out of the family.
    adj = stats.holm([0.5, np.nan, 0.4])
    assert np.isnan(adj[1]) and np.allclose(adj[[0, 2]], [0.8, 0.8])
    # Holm never rejects less than Bonferroni and never more than the raw p.
    p = np.random.default_rng(0).uniform(0, 0.2, 12)
    adj = stats.holm(p)
    assert np.all(adj >= p - 1e-15) and np.all(adj <= np.minimum(1, 12 * p) + 1e-15)


def test_summarize_binary_counts():
    # 68 normal (60 right), 68 COVID (50 right).
    y_true = np.repeat([0, 1], 68)
    y_pred = y_true.copy()
    y_pred[:8] = 1
    y_pred[68:86] = 0
    s = stats.summarize(y_true, y_pred, ("normal", "covid"))
    assert (s["k"], s["n"]) == (110, 136)
    assert s["sensitivity"] == s["recall_covid"] == 50 / 68
    assert s["specificity"] == s["recall_normal"] == 60 / 68
    assert (s["sensitivity_low"], s["sensitivity_high"]) == stats.clopper_pearson(50, 68)
    assert (s["acc_low"], s["acc_high"]) == stats.clopper_pearson(110, 136)
    f1_covid = 2 * 50 / (2 * 50 + 8 + 18)
    f1_normal = 2 * 60 / (2 * 60 + 18 + 8)
    assert abs(s["macro_f1"] - (f1_covid + f1_normal) / 2) < 1e-12
    assert s["macro_f1_low"] < s["macro_f1"] < s["macro_f1_high"]


def test_summarize_four_classes_and_confusion_layout(tmp_path):
    classes = ("normal", "bacterial", "viral", "covid")
    y_true = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    y_pred = np.array([0, 3, 1, 2, 2, 2, 3, 3, 0])
    cm = stats.confusion_matrix(y_true, y_pred, 4)
    assert cm[0, 3] == 1 and cm[3, 0] == 1 and cm[1, 2] == 1 and cm.sum() == 9   # rows true, cols predicted
    s = stats.summarize(y_true, y_pred, classes)
    assert s["recall_covid"] == 2 / 3 and s["recall_viral"] == 1.0 and "sensitivity" not in s
    stats.write_confusion_csv(tmp_path / "cm.csv", cm, classes)
    rows = list(csv.reader(open(tmp_path / "cm.csv")))
    assert rows[0] == ["true\\predicted", *classes] and rows[4] == ["covid", "1", "0", "0", "2"]
    stats.plot_confusion(tmp_path / "cm.png", cm, classes, "test")
    assert (tmp_path / "cm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mean_sd():
    assert stats.mean_sd([0.8, 0.9, 1.0]) == pytest.approx((0.9, 0.1))
    m, sd = stats.mean_sd([0.5])
    assert m == 0.5 and np.isnan(sd)
