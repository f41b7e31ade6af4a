"""train_new_model: the candidate is the baseline's own estimator, same hyper-parameters and
seed (a scikit-learn clone), fitted on base + contributed rows; both models' benchmark
predictions are made here, where the models are live, so no later step loads a model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.modelling.baseline import ModelInfo, _classes
from pipeline.data.tables import sha256_hex
from pipeline.modelling.models import dump_model

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.data.tables import Schema


def train_candidate(
    baseline_model: Any, baseline_info: ModelInfo, training_data: pd.DataFrame, schema: Schema
) -> tuple[Any, bytes, ModelInfo]:
    """Fit a clone of the baseline on `training_data`; return model, stored bytes, info."""
    model = fit_clone(baseline_model, training_data, schema)
    data = dump_model(model)
    info = ModelInfo(
        source="candidate", estimator=baseline_info.estimator, sha256=sha256_hex(data),
        classes=_classes(model), training_rows=len(training_data),
    )
    return model, data, info


def fit_clone(baseline_model: Any, rows: pd.DataFrame, schema: Schema) -> Any:
    """The baseline's estimator, hyper-parameters and seed, fitted on `rows`; its learned
    floats made canonical (`numerics`), so it is the same model on every machine."""
    from sklearn.base import clone

    from pipeline.modelling.numerics import canonicalise

    try:
        model = clone(baseline_model).fit(rows[list(schema.features)], rows[schema.target])
    except ValueError as exc:
        if "NaN" not in str(exc):
            raise
        from pipeline.errors import DataError

        raise DataError(
            "The baseline model file cannot take empty feature values, and this run's data has some; fill them "
            '(set [data] missing = "refuse" to have each one named), or train the baseline from the base data '
            "(empty [data] baseline_model)."
        ) from None
    return canonicalise(model)


def predict(model: Any, benchmark: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    """`model`'s per-row labels and class probabilities on the benchmark (a regressor's
    predicted values, and no probabilities): all that scoring,
    the paired bootstrap and attribution need of a model. Probabilities are rounded
    (`numerics.canonical_predictions`) before anything reads them."""
    from pipeline.modelling.numerics import canonical_predictions

    rows = benchmark[list(schema.features)]
    if not hasattr(model, "classes_"):  # a regressor: its predicted values, rounded the same way
        return {"y_pred": canonical_predictions(model.predict(rows).astype("float64")), "proba": None}
    proba = canonical_predictions(model.predict_proba(rows))
    return {"y_pred": model.classes_[proba.argmax(axis=1)], "proba": proba}
