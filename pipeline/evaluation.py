"""evaluate_on_benchmark: both models scored on the same benchmark rows, one definition per
metric for binary and multiclass targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from pipeline.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pipeline.tables import Schema

#: Metric names, the same in artifacts, MLflow, evidence and the CLI. All are "higher is better".
METRICS = ("accuracy", "precision", "recall", "f1", "auroc")


@dataclass(frozen=True)
class BenchmarkInfo:
    name: str
    sha256: str
    rows: int
    classes: list[Any]


def score(y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray, classes: list[Any]) -> dict[str, float]:
    """Every metric in METRICS. Binary: precision/recall/F1 of the positive class (the
    second of the sorted classes), AUROC of its probability. Multiclass: macro averages,
    AUROC one-vs-rest macro."""
    from sklearn import metrics

    binary = len(classes) == 2
    average: dict[str, Any] = {"pos_label": classes[1], "average": "binary"} if binary else {"average": "macro"}
    present = set(y_true.tolist())
    if len(present) < 2:
        raise DataError("The benchmark holds a single class; AUROC needs at least two: add rows of the other classes.")
    absent = [str(c) for c in classes if c not in present]
    if absent:  # one-vs-rest AUROC of a class with no row is NaN, which no score can carry
        raise DataError(
            f"The benchmark has no rows of class(es) {', '.join(absent)}; one-vs-rest AUROC needs "
            "every class: add rows of them."
        )
    auroc = (
        metrics.roc_auc_score(y_true, proba[:, 1])
        if binary
        else metrics.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
    )
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0, **average)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0, **average)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0, **average)),
        "auroc": float(auroc),
    }


def evaluate_models(
    baseline: Any, candidate: Any, benchmark: pd.DataFrame, schema: Schema, classes: list[Any]
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Metrics of baseline and candidate on the same rows, plus the per-row predictions
    (kept for a paired bootstrap)."""
    X, y = benchmark[list(schema.features)], benchmark[schema.target].to_numpy()
    results = []
    predictions: dict[str, Any] = {"y_true": y}
    for label, model in (("baseline", baseline), ("candidate", candidate)):
        proba = model.predict_proba(X)
        y_pred = model.classes_[proba.argmax(axis=1)]
        predictions[label] = {"y_pred": y_pred, "proba": proba}
        results.append(score(y, y_pred, proba, classes))
    return results[0], results[1], predictions


def evaluate_on_benchmark(
    baseline: Any, candidate: Any, benchmark: pd.DataFrame, benchmark_file: tuple[str, bytes],
    schema: Schema, classes: list[Any],
) -> tuple[BenchmarkInfo, dict[str, float], dict[str, float], dict[str, Any]]:
    """Step `evaluate_on_benchmark`: benchmark facts plus both models' metrics."""
    from pipeline.models import sha256_hex

    name, data = benchmark_file
    info = BenchmarkInfo(name=PurePath(name).name, sha256=sha256_hex(data), rows=len(benchmark), classes=classes)
    return (info, *evaluate_models(baseline, candidate, benchmark, schema, classes))
