"""load_baseline_model: the model to beat, from a skops file, from the MLflow Model Registry
(`[data] baseline`, read by `pipeline.runs.registry.registered_baseline`), or trained from the
base data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
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
    """A classifier's classes as plain values; none for a regressor."""
    from pipeline.modelling.task import plain_labels

    return plain_labels(getattr(model, "classes_", []))


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
                    kinds_by_column(schema.features, schema.kinds), missing, schema.task or "binary")
        data = dump_model(model)
        name = estimator_name(model)  # the resolved name, never "auto"
        info = ModelInfo(f"trained:{name}", name, sha256_hex(data), _classes(model), len(base))
        return model, data, info
    name, data = model_file
    model = load_model(data, name)
    check_model(model, name, base, schema)
    return model, data, ModelInfo(model_source(name), estimator_name(model), sha256_hex(data), _classes(model), None)


def check_model(model: Any, name: str, base: pd.DataFrame, schema: Schema) -> None:
    """A loaded baseline fits the run: a fitted classifier (or regressor, for a regression),
    as many features as the schema, and it predicts the first base row."""
    expected = getattr(model, "n_features_in_", None)
    regression = schema.task == "regression"
    if regression and (hasattr(model, "classes_") or not hasattr(model, "predict")):
        raise ModelError(f"{name}: the model is not a fitted regressor, but the task is regression; save a regressor "
                         "(or set [model] task to the classifier's task).")
    if not regression and (not hasattr(model, "predict_proba") or not hasattr(model, "classes_")):
        raise ModelError(f"{name}: the model is not a fitted classifier; fit it before saving.")
    if expected != len(schema.features):
        raise ModelError(
            f"{name}: the model expects {expected} features but the schema has "
            f"{len(schema.features)}; set [model] features to the model's columns."
        )
    _check_predicts(model, base[list(schema.features)].iloc[:1], name)


def model_source(name: str) -> str:
    """`ModelInfo.source` of a baseline read from `name`: a registry version as its pinned URI
    (`models:/hokusai-1/3`, what `[data] baseline` resolved to), a file as `file:<its name>`."""
    return name if name.startswith("models:/") else f"file:{PurePath(name).name}"


def _check_trainable(base: pd.DataFrame, schema: Schema) -> None:
    if schema.task == "regression" and base[schema.target].nunique() < 2:
        from pipeline.errors import DataError

        raise DataError(f"The base data's target {schema.target!r} holds a single value; a regression needs at least "
                        "two different values: add rows.")
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
    classifier = hasattr(model, "classes_")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a model fitted on a table warns on a bare array
            proba = model.predict_proba(rows) if classifier else model.predict(rows)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        detail = " ".join(str(exc).split()).rstrip(".")
        raise ModelError(f"{name}: the model fails to predict a row of the base data ({detail}); {REFIT}.") from None
    if not classifier:
        return
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
    settings: Any = None  # Settings with [model] task, estimator and primary_metric resolved (`modelling.task`)
    task_reason: str = ""  # why the task is what it is ("auto: 'medv' holds 229 different numbers …")


def prepare_baseline(settings: Settings, base_file: tuple[str, bytes], model_file: tuple[str, bytes] | None,
                     project_dir: Path | None = None) -> Baseline:
    """Step `load_baseline_model`: read the base data, fix the schema and the task (with the
    settings it implies: `modelling.task`), load and check `model_file`; with no file, check
    the base data can train one (fitted later). `project_dir`: where a baseline's passed
    checks are remembered (`model_checks`), so the same baseline is not loaded to be checked
    again (train_new_model still loads and checks it)."""
    from dataclasses import replace

    from pipeline.data.columns import infer_kinds
    from pipeline.data.conform import check_columns, conform
    from pipeline.data.tables import read_table
    from pipeline.modelling.task import classes_of, resolve_settings, resolve_task

    name, data = base_file
    raw = read_table(name, data, settings.data.max_rows)
    schema = resolve_schema(raw, settings.model, name, settings.data.id_column)
    check_columns(raw, schema, name)
    task, why = resolve_task(settings.model.task, raw[schema.target], name, schema.target)
    settings = resolve_settings(settings, task)
    schema = replace(schema, kinds=infer_kinds(raw, schema.features, settings.model.categorical, name), task=task)
    base = conform(raw, schema, name, classes=None, allow_missing=settings.data.missing == "impute")
    if model_file is not None:
        info = _recalled_or_checked(model_file, base, schema, settings, project_dir)
        return Baseline(model_file[1], info, schema, base, info.classes, settings, why)
    _check_trainable(base, schema)
    return Baseline(None, None, schema, base, classes_of(base[schema.target], task), settings, why)


def _recalled_or_checked(model_file: tuple[str, bytes], base: pd.DataFrame, schema: Schema, settings: Settings,
                         project_dir: Path | None) -> ModelInfo:
    """The baseline's info from the record of a passed check (`model_checks`), else from
    loading and checking it now (and recording that)."""
    from pipeline.data.content_hash import content_sha256
    from pipeline.modelling import model_checks

    name, data = model_file
    key = None
    if project_dir is not None:
        key = model_checks.key_of(sha256_hex(data), schema, content_sha256(base[list(schema.features)].iloc[:1]))
        known = model_checks.recall(project_dir, key)
        if known is not None:
            from pipeline.logs import get_logger

            get_logger().info("baseline.check_reused", model=name)
            return ModelInfo(model_source(name), known.estimator, sha256_hex(data), known.classes, None)
    _, _, info = load_baseline_model(model_file, base, schema, settings.model, settings.evaluation.seed)
    if key is not None:
        model_checks.remember(project_dir, key, model_checks.Checked(info.estimator, info.classes))
    return info


def baseline_for_training(
    model_bytes: bytes | None, info: ModelInfo | None, base: pd.DataFrame, schema: Schema, spec: ModelSection, seed: int,
    missing: bool = False,
) -> tuple[Any, bytes, ModelInfo]:
    """Step `train_new_model`, first: the baseline as a model. The stored file's (checked
    again as it is loaded), or the configured estimator fitted on `base` now (`missing`: some
    table of the run has an empty feature value)."""
    if model_bytes is None:
        return load_baseline_model(None, base, schema, spec, seed, missing)
    name = info.source.removeprefix("file:")
    model = load_model(model_bytes, name)
    # load_baseline_model may have taken estimator and classes from a record (`model_checks`):
    # the model itself must pass the same checks and agree with what the run has used
    check_model(model, name, base, schema)
    if (estimator_name(model), _classes(model)) != (info.estimator, list(info.classes)):
        from pipeline.modelling.model_checks import FOLDER

        raise ModelError(
            f"{name}: the model is a {estimator_name(model)} of classes {_classes(model)}, but the run used "
            f"{info.estimator} of classes {list(info.classes)} from a damaged record of its checks; delete "
            f".hokusai/{FOLDER} and run again."
        )
    return model, model_bytes, info
