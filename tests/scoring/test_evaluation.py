"""pipeline.scoring.evaluation: one definition per metric, equal to scikit-learn's own."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from pipeline.errors import DataError
from pipeline.config import METRICS
from pipeline.scoring.evaluation import BenchmarkInfo, evaluate_models, evaluate_on_benchmark, score
from pipeline.modelling.models import fit
from pipeline.modelling.numerics import canonical_predictions
from pipeline.data.tables import Schema

Y_BIN = np.array([0, 1, 1, 0, 1, 0])
PRED_BIN = np.array([0, 1, 0, 0, 1, 1])
P1 = np.array([0.2, 0.9, 0.4, 0.3, 0.8, 0.6])
PROBA_BIN = np.c_[1 - P1, P1]

Y_3 = np.array([0, 1, 2, 0, 1, 2, 2])
PRED_3 = np.array([0, 2, 2, 0, 1, 1, 2])
PROBA_3 = np.array(
    [[.7, .2, .1], [.1, .3, .6], [.2, .2, .6], [.5, .3, .2], [.2, .5, .3], [.1, .5, .4], [.1, .1, .8]]
)


def test_binary_scores_equal_sklearn() -> None:
    scores = score(Y_BIN, PRED_BIN, PROBA_BIN, [0, 1])

    assert list(scores) == list(METRICS)
    assert scores == {
        "accuracy": metrics.accuracy_score(Y_BIN, PRED_BIN),
        "balanced_accuracy": metrics.balanced_accuracy_score(Y_BIN, PRED_BIN),
        "precision": metrics.precision_score(Y_BIN, PRED_BIN),
        "recall": metrics.recall_score(Y_BIN, PRED_BIN),
        "f1": metrics.f1_score(Y_BIN, PRED_BIN),
        # AUROC as the share of positive/negative pairs ranked right, one division: exact where
        # scikit-learn's trapezoid sum is a few ulps off (0.888888888888889 here)
        "auroc": pytest.approx(metrics.roc_auc_score(Y_BIN, P1), abs=1e-15),
        "log_loss": metrics.log_loss(Y_BIN, PROBA_BIN),
    }
    # by hand: 4 of 6 right; TP 2, FP 1, FN 1; 8 of 9 positive/negative pairs ranked right
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["auroc"] == 8 / 9
    assert all(type(value) is float for value in scores.values())


def test_binary_positive_class_is_the_second_class() -> None:
    y = np.array(["no", "yes", "yes", "no"])
    pred = np.array(["no", "yes", "no", "no"])
    proba = np.array([[.8, .2], [.1, .9], [.6, .4], [.7, .3]])

    scores = score(y, pred, proba, ["no", "yes"])

    assert scores == {
        "accuracy": 0.75,
        "balanced_accuracy": 0.75,
        "precision": metrics.precision_score(y, pred, pos_label="yes"),
        "recall": metrics.recall_score(y, pred, pos_label="yes"),
        "f1": metrics.f1_score(y, pred, pos_label="yes"),
        "auroc": metrics.roc_auc_score(y == "yes", proba[:, 1]),
        "log_loss": metrics.log_loss(y, proba, labels=["no", "yes"]),
    }
    assert (scores["precision"], scores["recall"], scores["auroc"]) == (1.0, 0.5, 1.0)


def test_three_class_scores_equal_sklearn_macro() -> None:
    scores = score(Y_3, PRED_3, PROBA_3, [0, 1, 2])

    assert scores == {
        "accuracy": metrics.accuracy_score(Y_3, PRED_3),
        "balanced_accuracy": metrics.balanced_accuracy_score(Y_3, PRED_3),
        "precision": metrics.precision_score(Y_3, PRED_3, average="macro"),
        "recall": metrics.recall_score(Y_3, PRED_3, average="macro"),
        "f1": metrics.f1_score(Y_3, PRED_3, average="macro"),
        "auroc": pytest.approx(metrics.roc_auc_score(Y_3, PROBA_3, multi_class="ovr", average="macro"), abs=1e-15),
        "log_loss": metrics.log_loss(Y_3, PROBA_3),
    }
    assert scores["accuracy"] == pytest.approx(5 / 7)
    # per class precision 1, 1/2, 2/3 and recall 1, 1/2, 2/3
    assert scores["precision"] == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)
    assert scores["recall"] == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)


def sklearn_scores(y, pred, proba, classes, average):
    binary = len(classes) == 2
    kw = {"pos_label": classes[1], "average": "binary"} if binary else {"average": average}
    return {
        "accuracy": metrics.accuracy_score(y, pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y, pred),
        "precision": metrics.precision_score(y, pred, zero_division=0, **kw),
        "recall": metrics.recall_score(y, pred, zero_division=0, **kw),
        "f1": metrics.f1_score(y, pred, zero_division=0, **kw),
        "auroc": metrics.roc_auc_score(y, proba[:, 1]) if binary else
        metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes),
        "log_loss": metrics.log_loss(y, proba, labels=classes),
    }


@pytest.mark.parametrize("k, average", [(2, "macro"), (3, "macro"), (3, "weighted"), (5, "macro")])
def test_scores_equal_sklearn_on_random_benchmarks_in_bps_exactly(k, average) -> None:
    """What the evidence holds, integer bps, equals scikit-learn's on 300 random benchmarks
    (ties in the probabilities included); the floats agree to 1e-12 (bitwise but AUROC)."""
    from pipeline.scoring.delta import to_bps

    rng = np.random.default_rng(k)
    for _ in range(300):
        n = int(rng.integers(2 * k, 120))
        y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
        proba = rng.dirichlet(np.ones(k), n).round(int(rng.integers(1, 4)))
        proba = proba / proba.sum(axis=1, keepdims=True)
        pred = proba.argmax(axis=1)
        ours, theirs = score(y, pred, proba, list(range(k)), average), sklearn_scores(y, pred, proba, list(range(k)), average)
        assert {m: to_bps(v) for m, v in ours.items()} == {m: to_bps(v) for m, v in theirs.items()}
        assert ours == {m: pytest.approx(v, abs=1e-12) for m, v in theirs.items()}
        assert {m: v for m, v in ours.items() if m != "auroc"} == {m: v for m, v in theirs.items() if m != "auroc"}


def test_weighted_average_and_custom_metric() -> None:
    def top_class_recall(y_true, y_pred, y_proba):
        return float(np.mean(y_pred[y_true == 2] == 2))

    from pipeline.scoring.evaluation import CustomMetric

    custom = ((CustomMetric("recall_of_2", "x:y"), top_class_recall),)
    scores = score(Y_3, PRED_3, PROBA_3, [0, 1, 2], average="weighted", custom=custom)

    assert scores["f1"] == metrics.f1_score(Y_3, PRED_3, average="weighted")
    assert scores["precision"] == metrics.precision_score(Y_3, PRED_3, average="weighted")
    assert scores["recall_of_2"] == pytest.approx(2 / 3)


def test_load_metric_from_project_folder(tmp_path) -> None:
    from pipeline.scoring.evaluation import load_metric

    (tmp_path / "my_metrics.py").write_text("def half(y_true, y_pred, y_proba):\n    return 0.5\n")
    assert load_metric("my_metrics:half", str(tmp_path))(None, None, None) == 0.5
    assert load_metric("my_metrics.half", str(tmp_path))(None, None, None) == 0.5
    with pytest.raises(DataError) as caught:
        load_metric("my_metrics:nope", str(tmp_path))
    assert str(caught.value) == (
        "Custom metric 'my_metrics:nope' cannot be imported (module 'my_metrics' has no attribute 'nope'); "
        "give module:function on the project's Python path."
    )


def test_no_positive_prediction_scores_zero_not_an_error() -> None:
    scores = score(np.array([0, 1]), np.array([0, 0]), np.array([[.9, .1], [.6, .4]]), [0, 1])

    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)
    assert (scores["accuracy"], scores["auroc"]) == (0.5, 1.0)


def test_single_class_benchmark() -> None:
    with pytest.raises(DataError) as caught:
        score(np.array([1, 1]), np.array([1, 0]), np.array([[.1, .9], [.6, .4]]), [0, 1])

    assert str(caught.value) == (
        "The benchmark holds a single class; AUROC needs at least two: add rows of the other classes."
    )


def test_multiclass_benchmark_missing_a_class() -> None:
    with pytest.raises(DataError) as caught:
        score(np.array([0, 1, 0, 1]), np.array([0, 2, 0, 1]), PROBA_3[:4], [0, 1, 2])

    assert str(caught.value) == (
        "The benchmark has no rows of class(es) 2; one-vs-rest AUROC needs every class: add rows of them."
    )


FEATURES = {"a": [0, 0, 1, 1, 2, 2, 3, 3.0], "b": [0, 1, 0, 1, 2, 3, 2, 3.0]}
TRAIN = pd.DataFrame({**FEATURES, "target": [0, 0, 0, 1, 1, 1, 1, 1]})
BENCH = pd.DataFrame({"a": [0.5, 2.5, 1.0, 3.0], "b": [0.5, 2.5, 1.5, 0.0], "target": [0, 1, 1, 0]})
SCHEMA = Schema(("a", "b"), "target")


def models() -> tuple:
    baseline = fit("logistic_regression", {}, 1, TRAIN[["a", "b"]], TRAIN["target"])
    candidate = fit("random_forest", {"n_estimators": 5}, 1, TRAIN[["a", "b"]], TRAIN["target"])
    return baseline, candidate


def test_evaluate_models_returns_metrics_and_per_row_predictions() -> None:
    baseline, candidate = models()

    base_scores, cand_scores, predictions = evaluate_models(baseline, candidate, BENCH, SCHEMA, [0, 1])

    assert predictions["y_true"].tolist() == [0, 1, 1, 0]
    for label, model, scores in (("baseline", baseline, base_scores), ("candidate", candidate, cand_scores)):
        proba = canonical_predictions(model.predict_proba(BENCH[["a", "b"]]))  # rounded before any metric
        assert np.array_equal(predictions[label]["proba"], proba)
        assert not np.array_equal(proba, model.predict_proba(BENCH[["a", "b"]]))
        assert predictions[label]["y_pred"].tolist() == model.predict(BENCH[["a", "b"]]).tolist()
        assert len(predictions[label]["y_pred"]) == 4
        assert scores == score(BENCH["target"].to_numpy(), predictions[label]["y_pred"], proba, [0, 1])
    assert base_scores["accuracy"] == metrics.accuracy_score(
        BENCH["target"], baseline.predict(BENCH[["a", "b"]])
    )


def test_evaluate_on_benchmark_records_the_benchmark() -> None:
    baseline, candidate = models()
    data = BENCH.to_csv(index=False).encode()

    _, _, predictions = evaluate_models(baseline, candidate, BENCH, SCHEMA, [0, 1])
    info, base_scores, cand_scores = evaluate_on_benchmark(predictions, ("data/bench.csv", data), [0, 1])

    assert info == BenchmarkInfo(
        name="bench.csv", sha256="0x" + hashlib.sha256(data).hexdigest(), rows=4, classes=[0, 1]
    )
    assert (base_scores, cand_scores) == evaluate_models(baseline, candidate, BENCH, SCHEMA, [0, 1])[:2]
    assert predictions["y_true"].tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("classes", [[0, 1], [0, 1, 2], []])
def test_score_metric_equals_scores_own_value(classes):
    """Attribution scores only the primary metric: it must be exactly what `score` gives."""
    import numpy as np

    from pipeline.scoring.evaluation import score, score_metric

    rng = np.random.default_rng(0)
    if classes:
        y = rng.integers(0, len(classes), 300)
        proba = rng.random((300, len(classes)))
        proba /= proba.sum(axis=1, keepdims=True)
        predicted = proba.argmax(axis=1)
    else:
        y, proba = rng.random(100), None
        predicted = y + rng.normal(0, 0.1, 100)
    full = score(y, predicted, proba, classes, "macro")
    assert {m: score_metric(m, y, predicted, proba, classes, "macro") for m in full} == full
