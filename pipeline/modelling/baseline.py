"""load_baseline_model: the model to beat, from a skops file or trained from the base data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from pipeline.errors import ModelError
from pipeline.data.tables import resolve_schema, sha256_hex
from pipeline.modelling.models import REFIT, dump_model, estimator_name, fit, load_model

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import ModelSection, Settings
    from pipeline.data.tables import Schema


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a model artifact. `sha256` is of the stored skops bytes, which are kept."""

    source: str
    estimator: str
    sha256: str
    classes: list[Any]
    training_rows: int | None


def _classes(model: Any) -> list[Any]:
    return [c.item() if hasattr(c, "item") else c for c in model.classes_]


def load_baseline_model(
    model_file: tuple[str, bytes] | None,
    base: pd.DataFrame,
    schema: Schema,
    spec: ModelSection,
    seed: int,
    missing: bool = False,
) -> tuple[Any, bytes, ModelInfo]:
    """Load `model_file` (name, bytes) when given, else fit the configured estimator on
    `base` (`missing`: some table of the run has an empty feature value, so it must impute).
    Returns the model, its stored bytes and its info."""
    if model_file is None:
        from pipeline.data.columns import kinds_by_column

        _check_trainable(base, schema)
        model = fit(spec.estimator, dict(spec.params), seed, base[list(schema.features)], base[schema.target],
                    kinds_by_column(schema.features, schema.kinds), missing)
        data = dump_model(model)
        info = ModelInfo(f"trained:{spec.estimator}", spec.estimator, sha256_hex(data), _classes(model), len(base))
        return model, data, info
    name, data = model_file
    model = load_model(data, name)
    expected = getattr(model, "n_features_in_", None)
    if not hasattr(model, "predict_proba") or not hasattr(model, "classes_"):
        raise ModelError(f"{name}: the model is not a fitted classifier; fit it before saving.")
    if expected != len(schema.features):
        raise ModelError(
            f"{name}: the model expects {expected} features but the schema has "
            f"{len(schema.features)}; set [model] features to the model's columns."
        )
    _check_predicts(model, base[list(schema.features)].iloc[:1], name)
    return model, data, ModelInfo(f"file:{PurePath(name).name}", estimator_name(model), sha256_hex(data),
                                  _classes(model), None)


#: A numeric target with more distinct values than this, some with fractions or more than
#: one per two rows, is a quantity (regression), not classes.
CONTINUOUS_DISTINCT = 20


def check_class_target(base: pd.DataFrame, schema: Schema, name: str) -> None:
    """A target of numbers with fractions and many distinct values is a quantity to predict
    (regression), not classes: say so in one sentence instead of listing every value as an
    unknown label later."""
    import numpy as np

    from pipeline.errors import DataError

    values = base[schema.target]
    if values.dtype.kind not in "fiu":
        return
    present = values.dropna().to_numpy()
    distinct = np.unique(present)
    fractions = not np.all(np.mod(distinct, 1) == 0)
    if len(distinct) > CONTINUOUS_DISTINCT and (fractions or len(distinct) > len(present) / 2):
        raise DataError(
            f"{name}: the target {schema.target!r} holds {len(distinct)} different numbers in {len(present)} rows, a "
            "quantity rather than classes; hokusai evaluates classifiers only (regression is not supported yet): set "
            "[model] target to a column of classes."
        )


def _check_trainable(base: pd.DataFrame, schema: Schema) -> None:
    if base[schema.target].nunique() < 2:
        from pipeline.errors import DataError

        raise DataError(
            f"The base data holds a single class in {schema.target!r}; a classifier needs at "
            "least two: add rows of the other classes."
        )


def _check_predicts(model: Any, rows: Any, name: str) -> None:
    """Try a loaded model on a base row. load_model has checked its parts one by one (nothing
    in it can crash predict()); parts that disagree with each other (a forest whose trees know
    other classes, a coefficient matrix of the wrong shape) still fail in predict_proba, and
    should fail here, as a sentence naming the file, not later as a failed run."""
    import warnings

    if not len(rows):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a model fitted on a table warns on a bare array
            proba = model.predict_proba(rows)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        detail = " ".join(str(exc).split()).rstrip(".")
        raise ModelError(f"{name}: the model fails to predict a row of the base data ({detail}); {REFIT}.") from None
    if getattr(proba, "shape", None) != (len(rows), len(model.classes_)):
        raise ModelError(f"{name}: the model's probabilities do not match its {len(model.classes_)} classes; {REFIT}.")


@dataclass(frozen=True)
class Baseline:
    """What `load_baseline_model` knows. A baseline trained from the base data is fitted in
    `train_new_model` (`baseline_for_training`), where scikit-learn is loaded anyway: until
    then `model_bytes` and `info` are None, and `classes` are what the fit will give (the
    sorted labels of the base data)."""

    model_bytes: bytes | None
    info: ModelInfo | None
    schema: Schema
    base_data: Any  # pd.DataFrame, schema columns
    classes: list[Any]


def prepare_baseline(settings: Settings, base_file: tuple[str, bytes], model_file: tuple[str, bytes] | None) -> Baseline:
    """Step `load_baseline_model`: read the base data, fix the schema, load and check
    `model_file`; with no file, check the base data can train one (fitted later)."""
    import numpy as np

    from pipeline.data.contributions import check_columns, conform
    from pipeline.data.tables import read_table

    from dataclasses import replace

    from pipeline.data.columns import infer_kinds

    name, data = base_file
    raw = read_table(name, data, settings.data.max_rows)
    schema = resolve_schema(raw, settings.model, name, settings.data.id_column)
    check_columns(raw, schema, name)
    schema = replace(schema, kinds=infer_kinds(raw, schema.features, settings.model.categorical, name))
    check_class_target(raw, schema, name)
    base = conform(raw, schema, name, classes=None, allow_missing=settings.data.missing == "impute")
    if model_file is not None:
        _, model_bytes, info = load_baseline_model(model_file, base, schema, settings.model, settings.evaluation.seed)
        return Baseline(model_bytes, info, schema, base, info.classes)
    _check_trainable(base, schema)
    labels = np.unique(base[schema.target].to_numpy())  # what a fit's classes_ will be
    return Baseline(None, None, schema, base, [c.item() if hasattr(c, "item") else c for c in labels])


def baseline_for_training(
    model_bytes: bytes | None, info: ModelInfo | None, base: pd.DataFrame, schema: Schema, spec: ModelSection, seed: int,
    missing: bool = False,
) -> tuple[Any, bytes, ModelInfo]:
    """Step `train_new_model`, first: the baseline as a model. The stored file's (checked
    again as it is loaded), or the configured estimator fitted on `base` now (`missing`: some
    table of the run has an empty feature value)."""
    if model_bytes is None:
        return load_baseline_model(None, base, schema, spec, seed, missing)
    return load_model(model_bytes, "baseline"), model_bytes, info
