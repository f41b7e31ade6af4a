"""Paired bootstrap of the primary metric's delta on the benchmark.

Resample benchmark rows with replacement (seeded), score baseline and candidate on the SAME
resample, and take percentiles of the per-resample delta. Vectorised: a resample is a vector
of row counts, and every built-in proportion metric is a ratio of count-weighted sums, so a
block of resamples is a few matrix products instead of a loop over scikit-learn calls. All
sums are of integers (exact in float64), so results do not depend on BLAS or the machine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Metrics at most 1 but unbounded below (r2): their bps are clipped at 0, as on chain.
CLIPPED_AT_ZERO = frozenset({"r2", "explained_variance"})
#: Resamples per block: bounds memory at about 2 x BLOCK x rows x 8 bytes.
BLOCK = 32
METHOD = "paired-percentile"


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile interval of the primary metric's delta (candidate - baseline), in bps."""

    low_bps: int
    high_bps: int
    resamples: int
    confidence: float
    seed: int
    method: str = METHOD


def resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of (block, n) row-count matrices: row i of a block counts how often each
    benchmark row was drawn in that resample."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    done = 0
    while done < resamples:
        size = min(BLOCK, resamples - done)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size)[:, None] * n)
        yield np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        done += size


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _auroc(w: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted Mann-Whitney AUROC for each row of `w` (ties count one half)."""
    import numpy as np

    order = np.argsort(score, kind="stable")
    sorted_scores = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ws, pos = w[:, order], positive[order].astype(np.float64)
    pos_w = np.add.reduceat(ws * pos, starts, axis=1)
    neg_w = np.add.reduceat(ws * (1.0 - pos), starts, axis=1)
    below = np.cumsum(neg_w, axis=1) - neg_w
    pairs = (pos_w * (below + 0.5 * neg_w)).sum(axis=1)
    return _ratio(pairs, pos_w.sum(axis=1) * neg_w.sum(axis=1))


def weighted_regression_metric(metric: str, w: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """A regression metric (r2, explained_variance, rmse, mae, mape) for each row of count
    matrix `w`; equals scikit-learn's on the resampled rows (a constant target scores r2 and
    explained variance 1 when predicted exactly, else 0, as scikit-learn's `force_finite`).
    Sums are elementwise products summed by numpy, not BLAS products."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.float64)
    error = np.asarray(y_pred, dtype=np.float64) - y
    n = w.sum(axis=1)

    def mean(values: np.ndarray) -> np.ndarray:
        return (w * values).sum(axis=1) / n

    if metric == "rmse":
        return np.sqrt(mean(error**2))
    if metric == "mae":
        return mean(np.abs(error))
    if metric == "mape":
        return mean(np.abs(error) / np.maximum(np.abs(y), np.finfo(np.float64).eps))
    spread = (w * (y - mean(y)[:, None]) ** 2).sum(axis=1)
    if metric == "r2":
        residual = (w * error**2).sum(axis=1)
    else:  # explained_variance
        residual = (w * (error - mean(error)[:, None]) ** 2).sum(axis=1)
    safe = np.where(spread > 0, spread, 1.0)
    return np.where(spread > 0, 1.0 - residual / safe, np.where(residual == 0, 1.0, 0.0))


def weighted_metric(
    metric: str, w: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray,
    classes: list[Any], average: str = "macro",
) -> np.ndarray:
    """`metric` for each row of count matrix `w`; equals scikit-learn's on the resampled rows."""
    import numpy as np

    from pipeline.config import REGRESSION_METRICS

    if metric in REGRESSION_METRICS:
        return weighted_regression_metric(metric, w, y_true, y_pred)
    n_rows = w.sum(axis=1)
    if metric == "log_loss":  # as `evaluation.log_loss`: each row's probability of its true class, clipped
        eps = np.finfo(np.float64).eps
        column = np.searchsorted(np.array(sorted(classes)), y_true)
        losses = -np.log(np.clip(np.asarray(proba, dtype=np.float64), eps, 1 - eps)[np.arange(len(y_true)), column])
        return (w * losses).sum(axis=1) / n_rows
    if metric == "accuracy":
        return (w @ (y_true == y_pred).astype(np.float64)) / n_rows
    if metric == "auroc":
        if len(classes) == 2:
            return _auroc(w, y_true == classes[1], proba[:, 1])
        return np.mean([_auroc(w, y_true == c, proba[:, i]) for i, c in enumerate(classes)], axis=0)
    truth = np.stack([(y_true == c) for c in classes], axis=1).astype(np.float64)
    predicted = np.stack([(y_pred == c) for c in classes], axis=1).astype(np.float64)
    tp, actual, said = w @ (truth * predicted), w @ truth, w @ predicted
    per_class = {
        "precision": _ratio(tp, said),
        "recall": _ratio(tp, actual),
        "f1": _ratio(2 * tp, said + actual),
        "balanced_accuracy": _ratio(tp, actual),
    }[metric]
    if metric == "balanced_accuracy":
        present = actual > 0
        return (per_class * present).sum(axis=1) / present.sum(axis=1)
    if len(classes) == 2:
        return per_class[:, 1]
    present = (actual + said) > 0  # scikit-learn averages over labels seen in truth or prediction
    if average == "weighted":
        return _ratio((per_class * actual).sum(axis=1), actual.sum(axis=1))
    return (per_class * present).sum(axis=1) / present.sum(axis=1)


def paired_bootstrap(
    metric: str, y_true: np.ndarray, baseline: dict[str, np.ndarray], candidate: dict[str, np.ndarray],
    classes: list[Any], *, resamples: int, confidence: float, seed: int, average: str = "macro",
    custom: Callable[..., float] | None = None, lower_is_better: bool = False, relative: bool = False,
) -> BootstrapCI:
    """Percentile CI of candidate - baseline on the same resamples, in integer bps.

    Each resample's scores are rounded to bps (half-even) before subtracting, and the
    percentiles are taken with the inverted-CDF rule, so the bounds are observed integers.
    `lower_is_better` makes it baseline - candidate (the improvement, as `delta_bps`);
    `relative` (an error in the target's units, rmse) the improvement relative to the
    baseline's score, in bps, as such a metric's `delta_bps`."""
    import numpy as np

    deltas = []
    for w in resample_counts(len(y_true), resamples, seed):
        if custom is None:
            b, c = (weighted_metric(metric, w, y_true, m["y_pred"], m["proba"], classes, average)
                    for m in (baseline, candidate))
        else:  # a custom metric is a black box: score each resample's rows with it
            rows = [np.repeat(np.arange(len(y_true)), counts.astype(int)) for counts in w]
            b, c = (np.array([custom(y_true[r], m["y_pred"][r], m["proba"][r]) for r in rows])
                    for m in (baseline, candidate))
        if metric in CLIPPED_AT_ZERO:  # as its bps on chain (`delta.metric_bps`)
            b, c = np.maximum(b, 0.0), np.maximum(c, 0.0)
        sign = -1 if lower_is_better else 1
        if relative:
            change = np.divide(sign * (c - b), b, out=np.zeros_like(b), where=b != 0)
            deltas.append(np.rint(change * 10000).astype(np.int64))
        else:
            deltas.append(sign * (np.rint(c * 10000).astype(np.int64) - np.rint(b * 10000).astype(np.int64)))
    delta = np.concatenate(deltas)
    tail = (1 - confidence) / 2 * 100
    low = int(np.percentile(delta, tail, method="inverted_cdf"))
    high = int(np.percentile(delta, 100 - tail, method="inverted_cdf"))
    return BootstrapCI(low, high, resamples, confidence, seed)
