"""The classical test Hokusai's pipeline runs for each metric family, reported beside
DeltaOne's paired bootstrap (which stays the gate: a paired comparison on the same rows is the
stronger test). Upstream's comparators (UPSTREAM.md, section 1), one-sided (the candidate must
beat the baseline):

- `proportion` (accuracy-like rates): `two_proportion_z`, unpaired Wald z on the two scores
  with the benchmark's row count, unpooled standard error;
- `continuous` (r2, errors): `welch_t` on the per-row scores (the negative squared error for
  r2 / rmse / explained variance, the negative absolute error for mae, the negative absolute
  percentage error for mape);
- `rank_or_ordinal` (auroc): `mann_whitney_u` on each row's probability of its true class.

The p-value travels as a decimal string of 6 significant digits: the evidence holds no floats."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: The test upstream runs for each statistical family.
TESTS = {"proportion": "two_proportion_z", "continuous": "welch_t", "rank_or_ordinal": "mann_whitney_u"}


@dataclass(frozen=True)
class ClassicalTest:
    method: str  # two_proportion_z | welch_t | mann_whitney_u
    family: str
    p_value: str  # one-sided, 6 significant digits


def _text(p: float) -> str:
    return f"{min(max(p, 0.0), 1.0):.6g}"


def _row_scores(metric: str, y_true: Any, side: dict[str, Any], classes: list[Any]) -> Any:
    """Per-row scores of one model, higher = better, for the continuous and rank tests."""
    import numpy as np

    if metric == "auroc":
        column = np.searchsorted(np.array(sorted(classes)), y_true)
        return np.asarray(side["proba"])[np.arange(len(y_true)), column]
    error = np.asarray(side["y_pred"], dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    if metric == "mae":
        return -np.abs(error)
    if metric == "mape":
        return -np.abs(error) / np.maximum(np.abs(np.asarray(y_true, dtype=np.float64)), np.finfo(np.float64).eps)
    return -(error**2)


def classical_test(
    family: str, metric: str, baseline_score: float, candidate_score: float, predictions: dict[str, Any],
) -> ClassicalTest | None:
    """The family's test of candidate > baseline on the benchmark, or None when it does not
    apply (a custom metric of a family with per-row scores, too few rows)."""
    method = TESTS.get(family)
    y_true = predictions["y_true"]
    n = len(y_true)
    if method is None or n < 2:
        return None
    if method == "two_proportion_z":
        pb, pc = baseline_score, candidate_score
        se = math.sqrt(max(pb * (1 - pb), 0.0) / n + max(pc * (1 - pc), 0.0) / n)
        p = (0.0 if pc > pb else 1.0) if se == 0 else 0.5 * math.erfc((pc - pb) / se / math.sqrt(2))
        return ClassicalTest(method, family, _text(p))
    from pipeline.config import REGRESSION_METRICS

    if metric not in (*REGRESSION_METRICS, "auroc"):
        return None
    classes = predictions.get("classes") or []
    base, cand = (_row_scores(metric, y_true, predictions[side], classes) for side in ("baseline", "candidate"))
    from scipy import stats

    if method == "welch_t":
        if float(base.std()) == 0.0 and float(cand.std()) == 0.0:
            return ClassicalTest(method, family, _text(0.0 if cand.mean() > base.mean() else 1.0))
        p = float(stats.ttest_ind(cand, base, equal_var=False, alternative="greater").pvalue)
    else:
        p = float(stats.mannwhitneyu(cand, base, alternative="greater").pvalue)
    return ClassicalTest(method, family, _text(p if math.isfinite(p) else 1.0))
