"""evaluate_on_benchmark: both models scored on the same benchmark rows, one definition per
metric for binary and multiclass targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from pipeline.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pipeline.config import CustomMetricSection, EvaluationSection
    from pipeline.data.tables import Schema



@dataclass(frozen=True)
class CustomMetric:
    """A user metric: `function(y_true, y_pred, y_proba) -> float` found by dotted path."""

    name: str
    function: str  # "package.module:function" or "package.module.function"
    direction: str = "higher"  # or "lower"
    bounded: bool = True  # value in [0, 1]


def load_metric(path: str, project_dir: str | None = None) -> Any:
    """Import `package.module:function` (or dotted) from the project folder or the path."""
    import importlib
    import sys

    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if project_dir and project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise DataError(
            f"Custom metric {path!r} cannot be imported ({exc}); give module:function on the "
            "project's Python path."
        ) from None
    if not callable(function):
        raise DataError(f"Custom metric {path!r} is not a function; give module:function.")
    return function


def metric_value(metric: CustomMetric, function: Callable[..., Any], y_true: np.ndarray, y_pred: np.ndarray,
                 proba: np.ndarray) -> float:
    """What custom metric `metric` (imported as `function`) gives on these rows, as a float:
    every call of a custom metric goes through here (scores, bootstrap resamples, attribution
    retrainings). A value that is not a number, or one outside [0, 1] from a metric declared
    `bounded = true`, is a DataError naming the metric, the value and the fix: it must never
    become basis points."""
    value = function(y_true, y_pred, proba)
    try:
        number = float(value)
    except (TypeError, ValueError):
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:39] + "…"
        raise DataError(f"Custom metric {metric.name!r} returned {shown}, not a number; return one float.") from None
    if metric.bounded and not 0.0 <= number <= 1.0:  # (NaN fails both comparisons)
        raise DataError(
            f"Custom metric {metric.name!r} returned {number!r}, outside [0, 1], but it is declared bounded = true; "
            "return a value in [0, 1] or set bounded = false."
        )
    return number


def checked_metric(metric: CustomMetric, function: Callable[..., Any]) -> Callable[..., float]:
    """`function(y_true, y_pred, y_proba)` with its value checked by `metric_value`."""
    return partial(metric_value, metric, function)


def load_custom_metric(name: str, section: CustomMetricSection, project_dir: str | None) -> Callable[..., float]:
    """The configured custom metric `name`, imported from the project (`load_metric`) and
    checked on every call (`metric_value`)."""
    metric = CustomMetric(name, section.function, section.direction, section.bounded)
    return checked_metric(metric, load_metric(section.function, project_dir))


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    sha256: str
    rows: int
    classes: list[Any]


def check_classes(y_true: np.ndarray, classes: list[Any]) -> None:
    """Every class must be present: a class with no row leaves AUROC undefined."""
    present = set(y_true.tolist())
    if len(present) < 2:
        raise DataError("The benchmark holds a single class; AUROC needs at least two: add rows of the other classes.")
    absent = [str(c) for c in classes if c not in present]
    if absent:  # one-vs-rest AUROC of a class with no row is NaN, which no score can carry
        raise DataError(
            f"The benchmark has no rows of class(es) {', '.join(absent)}; one-vs-rest AUROC needs "
            "every class: add rows of them."
        )


def score(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, classes: list[Any],
    average: str = "macro", custom: tuple[tuple[CustomMetric, Any], ...] = (),
) -> dict[str, float]:
    """Every metric in config.METRICS (plus custom ones); with no `classes` (a regression)
    every one in config.REGRESSION_METRICS instead. Binary: precision/recall/F1 of the
    positive class (the second of the sorted classes), AUROC of its probability.
    Multiclass: precision/recall/F1 averaged by `average` (macro or weighted), AUROC
    one-vs-rest macro. Log loss over the model's probabilities for `classes`.

    The definitions are the paired bootstrap's (`weighted_metric`, every row counted once),
    so a point estimate and its resamples are computed the same way; they equal
    scikit-learn's (tested against it), and scoring imports numpy only."""
    import numpy as np

    from pipeline.scoring.bootstrap import weighted_metric

    once = np.ones((1, len(y_true)))
    if not classes:  # a regression: errors of the predicted values
        from pipeline.config import REGRESSION_METRICS
        from pipeline.scoring.bootstrap import weighted_regression_metric

        values = {m: weighted_regression_metric(m, once, y_true, y_pred)[0] for m in REGRESSION_METRICS}
        for metric, function in custom:
            values[metric.name] = metric_value(metric, function, y_true, y_pred, proba)
        return {name: float(value) for name, value in values.items()}
    check_classes(y_true, classes)
    values = {metric: weighted_metric(metric, once, y_true, y_pred, proba, classes, average)[0]
              for metric in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc")}
    values["log_loss"] = log_loss(y_true, proba, classes)
    for metric, function in custom:
        values[metric.name] = metric_value(metric, function, y_true, y_pred, proba)
    return {name: float(value) for name, value in values.items()}


def score_metric(
    metric: str, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, classes: list[Any], average: str = "macro",
) -> float:
    """One built-in metric, as `score` computes it (attribution scores thousands of retrainings
    and reads only the primary metric)."""
    import numpy as np

    from pipeline.scoring.bootstrap import weighted_metric, weighted_regression_metric

    once = np.ones((1, len(y_true)))
    if not classes:
        return float(weighted_regression_metric(metric, once, y_true, y_pred)[0])
    if metric == "log_loss":
        return log_loss(y_true, proba, classes)
    return float(weighted_metric(metric, once, y_true, y_pred, proba, classes, average)[0])


def log_loss(y_true: np.ndarray, proba: np.ndarray, classes: list[Any]) -> float:
    """Mean negative log of each row's probability for its true class, clipped to [eps,
    1 - eps] as scikit-learn does (`proba`'s columns are the sorted `classes`)."""
    import numpy as np

    eps = np.finfo(proba.dtype).eps
    column = np.searchsorted(np.array(sorted(classes)), y_true)
    return float(np.mean(-np.log(np.clip(proba, eps, 1 - eps)[np.arange(len(y_true)), column])))


def score_predictions(
    predictions: dict[str, Any], classes: list[Any], average: str = "macro",
    custom: tuple[tuple[CustomMetric, Any], ...] = (),
) -> tuple[dict[str, float], dict[str, float]]:
    """Metrics of baseline and candidate from their per-row predictions on the same rows
    (`predict`'s output under "baseline" and "candidate", the labels under "y_true")."""
    y = predictions["y_true"]
    return tuple(score(y, predictions[label]["y_pred"], predictions[label]["proba"], classes, average, custom)
                 for label in ("baseline", "candidate"))


def evaluate_models(
    baseline: Any, candidate: Any, benchmark: pd.DataFrame, schema: Schema, classes: list[Any],
    average: str = "macro", custom: tuple[tuple[CustomMetric, Any], ...] = (),
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Metrics of baseline and candidate on the same rows, plus the per-row predictions
    (kept for a paired bootstrap)."""
    from pipeline.modelling.training import predict

    predictions = {"y_true": benchmark[schema.target].to_numpy(),
                   "baseline": predict(baseline, benchmark, schema), "candidate": predict(candidate, benchmark, schema)}
    return (*score_predictions(predictions, classes, average, custom), predictions)


def custom_metrics(evaluation: EvaluationSection | None, project_dir: str | None) -> tuple[tuple[CustomMetric, Any], ...]:
    """The configured custom metrics with their functions, imported from the project."""
    if evaluation is None:
        return ()
    return tuple(
        (CustomMetric(n, m.function, m.direction, m.bounded), load_metric(m.function, project_dir))
        for n, m in evaluation.custom_metrics.items()
    )


def evaluate_on_benchmark(
    predictions: dict[str, Any], benchmark_file: tuple[str, bytes], classes: list[Any],
    evaluation: EvaluationSection | None = None, project_dir: str | None = None,
) -> tuple[BenchmarkInfo, dict[str, float], dict[str, float]]:
    """Step `evaluate_on_benchmark`: benchmark facts plus both models' metrics (built-in
    ones and the configured custom metrics), from the predictions `train_new_model` made;
    no model is loaded here."""
    from pipeline.data.tables import sha256_hex

    name, data = benchmark_file
    rows = len(predictions["y_true"])
    info = BenchmarkInfo(name=PurePath(name).name, sha256=sha256_hex(data), rows=rows, classes=classes)
    average = evaluation.average if evaluation is not None else "macro"
    return (info, *score_predictions(predictions, classes, average, custom_metrics(evaluation, project_dir)))
