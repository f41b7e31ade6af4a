"""The classical test of each metric family (Hokusai's comparators), reported beside the
paired bootstrap: known answers, and scipy's own results on the same rows."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from pipeline.scoring.significance import classical_test


def test_two_proportion_z_on_the_demo_numbers() -> None:
    predictions = {"y_true": np.zeros(200), "classes": [0, 1]}
    test = classical_test("proportion", "accuracy", 0.91, 0.98, predictions)
    se = math.sqrt(0.91 * 0.09 / 200 + 0.98 * 0.02 / 200)
    assert test.method == "two_proportion_z" and test.family == "proportion"
    assert test.p_value == f"{0.5 * math.erfc(0.07 / se / math.sqrt(2)):.6g}" == "0.000944096"
    assert classical_test("proportion", "accuracy", 0.98, 0.91, predictions).p_value == "0.999056"
    assert classical_test("proportion", "accuracy", 1.0, 1.0, predictions).p_value == "1"  # no spread, no gain


def test_welch_t_on_per_row_squared_errors_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=80)
    base, cand = y + rng.normal(scale=1.0, size=80), y + rng.normal(scale=0.7, size=80)
    predictions = {"y_true": y, "classes": [], "baseline": {"y_pred": base}, "candidate": {"y_pred": cand}}
    expected = stats.ttest_ind(-(cand - y) ** 2, -(base - y) ** 2, equal_var=False, alternative="greater").pvalue
    assert classical_test("continuous", "r2", 0.1, 0.4, predictions).p_value == f"{expected:.6g}"
    mae = stats.ttest_ind(-abs(cand - y), -abs(base - y), equal_var=False, alternative="greater").pvalue
    assert classical_test("continuous", "mae", 0.8, 0.6, predictions).p_value == f"{mae:.6g}"


def test_mann_whitney_on_the_true_class_probability_matches_scipy() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    base = np.array([[.6, .4], [.5, .5], [.3, .7], [.5, .5], [.6, .4], [.7, .3], [.4, .6], [.5, .5]])
    cand = np.array([[.8, .2], [.2, .8], [.1, .9], [.7, .3], [.3, .7], [.9, .1], [.2, .8], [.3, .7]])
    predictions = {"y_true": y, "classes": [0, 1], "baseline": {"proba": base}, "candidate": {"proba": cand}}
    rows = np.arange(len(y))
    expected = stats.mannwhitneyu(cand[rows, y], base[rows, y], alternative="greater").pvalue
    test = classical_test("rank_or_ordinal", "auroc", 0.7, 0.9, predictions)
    assert (test.method, test.p_value) == ("mann_whitney_u", f"{expected:.6g}")


def test_no_test_for_an_unknown_family_or_a_custom_continuous_metric() -> None:
    predictions = {"y_true": np.zeros(10), "classes": [0, 1]}
    assert classical_test("zero_inflated_continuous", "accuracy", 0.5, 0.6, predictions) is None
    assert classical_test("continuous", "my_metric", 0.5, 0.6, predictions) is None
