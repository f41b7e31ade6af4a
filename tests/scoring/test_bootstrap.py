"""pipeline.scoring.bootstrap: vectorised metrics equal scikit-learn on the resampled rows; the CI is
seeded, integer and paired."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from pipeline.scoring.bootstrap import BootstrapCI, paired_bootstrap, resample_counts, weighted_metric

RNG = np.random.default_rng(0)


def predictions(n: int, k: int):
    y = RNG.integers(0, k, n)
    proba = RNG.dirichlet(np.ones(k), n)
    return y, proba.argmax(axis=1), proba


def sklearn_metric(name, y, pred, proba, classes, average):
    binary = len(classes) == 2
    kw = {"average": "binary", "pos_label": classes[1]} if binary else {"average": average}
    return {
        "accuracy": lambda: metrics.accuracy_score(y, pred),
        "balanced_accuracy": lambda: metrics.balanced_accuracy_score(y, pred),
        "precision": lambda: metrics.precision_score(y, pred, zero_division=0, **kw),
        "recall": lambda: metrics.recall_score(y, pred, zero_division=0, **kw),
        "f1": lambda: metrics.f1_score(y, pred, zero_division=0, **kw),
        "auroc": lambda: (metrics.roc_auc_score(y, proba[:, 1]) if binary
                          else metrics.roc_auc_score(y, proba, multi_class="ovr", labels=classes)),
    }[name]()


@pytest.mark.parametrize("k,average", [(2, "macro"), (3, "macro"), (3, "weighted"), (4, "macro")])
@pytest.mark.parametrize("name", ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc"])
def test_weighted_metric_equals_sklearn_on_resampled_rows(name, k, average):
    y, pred, proba = predictions(250, k)
    proba[:20] = proba[20:40]  # tied scores
    classes = list(range(k))
    counts = next(resample_counts(len(y), 4, seed=3))
    got = weighted_metric(name, counts, y, pred, proba, classes, average)
    for i, row in enumerate(counts):
        rows = np.repeat(np.arange(len(y)), row.astype(int))
        expected = sklearn_metric(name, y[rows], pred[rows], proba[rows], classes, average)
        assert got[i] == pytest.approx(expected, abs=1e-12)


def test_resample_counts_are_seeded_and_sum_to_n():
    first = np.concatenate(list(resample_counts(100, 70, seed=9)))
    again = np.concatenate(list(resample_counts(100, 70, seed=9)))
    other = np.concatenate(list(resample_counts(100, 70, seed=10)))
    assert first.shape == (70, 100)
    assert (first.sum(axis=1) == 100).all()
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_paired_bootstrap_interval():
    y, pred, proba = predictions(400, 2)
    better = pred.copy()
    wrong = np.flatnonzero(pred != y)[:40]
    better[wrong] = y[wrong]  # the candidate fixes 40 errors: +1000 bps exactly
    base = {"y_pred": pred, "proba": proba}
    cand = {"y_pred": better, "proba": proba}
    ci = paired_bootstrap("accuracy", y, base, cand, [0, 1], resamples=500, confidence=0.95, seed=1)
    assert isinstance(ci.low_bps, int) and isinstance(ci.high_bps, int)
    assert 0 < ci.low_bps < 1000 < ci.high_bps < 2000
    assert ci == paired_bootstrap("accuracy", y, base, cand, [0, 1], resamples=500, confidence=0.95, seed=1)
    same = paired_bootstrap("accuracy", y, base, base, [0, 1], resamples=200, confidence=0.9, seed=1)
    assert same == BootstrapCI(0, 0, 200, 0.9, 1)


def test_custom_metric_bootstrap_matches_builtin():
    y, pred, proba = predictions(120, 2)
    other = np.where(RNG.random(len(y)) < 0.2, 1 - pred, pred)
    base, cand = {"y_pred": pred, "proba": proba}, {"y_pred": other, "proba": proba}
    builtin = paired_bootstrap("accuracy", y, base, cand, [0, 1], resamples=64, confidence=0.9, seed=5)
    custom = paired_bootstrap("mine", y, base, cand, [0, 1], resamples=64, confidence=0.9, seed=5,
                              custom=lambda t, p, _: float(np.mean(t == p)))
    assert custom == BootstrapCI(builtin.low_bps, builtin.high_bps, 64, 0.9, 5)


def test_secondary_metric_cis_measure_the_improvement() -> None:
    """Lower-is-better metrics: the CI is of baseline - candidate; errors: relative to the
    baseline's, in bps, as their delta_bps."""
    import numpy as np

    from pipeline.scoring.bootstrap import paired_bootstrap

    rng = np.random.default_rng(3)
    y = rng.normal(size=120)
    worse = {"y_pred": y + rng.normal(scale=1.0, size=120), "proba": None}
    better = {"y_pred": y + rng.normal(scale=0.5, size=120), "proba": None}
    rmse = paired_bootstrap("rmse", y, worse, better, [], resamples=200, confidence=0.9, seed=1,
                            lower_is_better=True, relative=True)
    assert 0 < rmse.low_bps < rmse.high_bps < 10000  # the error fell by a share of itself
    r2 = paired_bootstrap("r2", y, worse, better, [], resamples=200, confidence=0.9, seed=1)
    assert r2.low_bps > 0
    labels = np.array([0, 1] * 50)
    sure = np.where(labels[:, None] == np.array([0, 1]), 0.9, 0.1)
    unsure = np.full((100, 2), 0.5)
    loss = paired_bootstrap("log_loss", labels, {"y_pred": labels, "proba": unsure}, {"y_pred": labels, "proba": sure},
                            [0, 1], resamples=100, confidence=0.9, seed=1, lower_is_better=True)
    expected = round((np.log(2) - -np.log(0.9)) * 10000)  # every resample scores the same improvement
    assert abs(loss.low_bps - expected) <= 1 and abs(loss.high_bps - expected) <= 1
