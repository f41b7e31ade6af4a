"""The task of an evaluation (binary, multiclass or regression), decided once from the base
data's target when `[model] task = "auto"`, and the `[model]` settings it implies: the
estimator (`auto`: logistic_regression or ridge) and the primary metric (`auto`: accuracy or
r2), and the metric family (`auto`: the primary metric's). The run records the resolved
settings, so its evidence names what was really used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import Settings

CLASSIFIERS = ("logistic_regression", "random_forest", "hist_gradient_boosting")
REGRESSORS = ("ridge", "random_forest", "hist_gradient_boosting")
#: A numeric target is a quantity (regression), not classes, when it holds fractions and more
#: than two values (magnitudes 4.0 .. 6.4), or more than this many whole numbers, over one per
#: two rows (disease progression 25 .. 346).
CONTINUOUS_DISTINCT = 20


def is_quantity(values: pd.Series) -> tuple[bool, int, int]:
    """Whether a target column holds a quantity rather than classes; with its distinct and
    present counts."""
    import numpy as np

    present = values.dropna()
    if values.dtype.kind not in "fiu":
        return False, int(present.nunique()), len(present)
    distinct = np.unique(present.to_numpy())
    fractions = not np.all(np.mod(distinct, 1) == 0)
    quantity = (fractions and len(distinct) > 2) or (len(distinct) > CONTINUOUS_DISTINCT
                                                     and len(distinct) > len(present) / 2)
    return bool(quantity), len(distinct), len(present)


def resolve_task(setting: str, target: pd.Series, name: str, column: str) -> tuple[str, str]:
    """(task, why): `setting` when given (checked against the target), else decided from it."""
    quantity, distinct, rows = is_quantity(target)
    if setting == "auto":
        if quantity:
            return "regression", f"auto: {column!r} holds {distinct} different numbers in {rows} rows, a quantity"
        task = "binary" if distinct == 2 else "multiclass"
        return task, f"auto: {column!r} holds {distinct} classes"
    if setting != "regression" and quantity:
        raise DataError(
            f"{name}: the target {column!r} holds {distinct} different numbers in {rows} rows, a quantity rather "
            f'than classes, but [model] task = "{setting}"; set task = "regression" (or "auto"), or set [model] '
            "target to a column of classes."
        )
    if setting == "regression" and target.dtype.kind not in "fiu":
        raise DataError(
            f'{name}: the target {column!r} holds text, not numbers, but [model] task = "regression"; set task = '
            '"auto" (or "binary"/"multiclass"), or set [model] target to a numeric column.'
        )
    if setting == "binary" and distinct > 2:
        raise DataError(f'{name}: the target {column!r} holds {distinct} classes, but [model] task = "binary"; set '
                        'task = "multiclass" (or "auto").')
    return setting, "set in [model] task"


def resolve_settings(settings: Settings, task: str) -> Settings:
    """`settings` with `[model] task`, `estimator` and `primary_metric` made explicit for
    `task`; a ConfigError names a setting that does not suit the task."""
    from pipeline.config import METRICS, REGRESSION_METRICS

    spec, evaluation = settings.model, settings.evaluation
    regression = task == "regression"
    estimator = spec.estimator if spec.estimator != "auto" else "ridge" if regression else "logistic_regression"
    suitable = REGRESSORS if regression else CLASSIFIERS
    if estimator not in suitable:
        raise ConfigError(
            f"[model] estimator {estimator} does not suit a {task} task; use one of {', '.join(suitable)} "
            '(or "auto").'
        )
    primary = spec.primary_metric if spec.primary_metric != "auto" else "r2" if regression else "accuracy"
    built_in = REGRESSION_METRICS if regression else METRICS
    other = METRICS if regression else REGRESSION_METRICS
    for where, metric in (("[model] primary_metric", primary),
                          *(("[[evaluation.guardrails]] metric", g.metric) for g in evaluation.guardrails)):
        if metric in other:
            raise ConfigError(
                f"{where} {metric} is a metric of {'classification' if regression else 'regression'}, but the task "
                f"is {task}; use one of {', '.join(built_in)} (or a custom metric)."
            )
    model = spec.model_copy(update={"task": task, "estimator": estimator, "primary_metric": primary})
    attestation = settings.attestation
    if attestation.metric_family == "auto":
        from pipeline.config import METRIC_FAMILIES

        attestation = attestation.model_copy(update={"metric_family": METRIC_FAMILIES.get(primary, "proportion")})
    return settings.model_copy(update={"model": model, "attestation": attestation})


def plain_labels(values: Any) -> list[Any]:
    """Class labels as plain Python values (numpy scalars unwrapped), as artifacts hold them."""
    return [c.item() if hasattr(c, "item") else c for c in values]


def classes_of(target: pd.Series, task: str) -> list[Any]:
    """The sorted labels a classifier's `classes_` will be; none for a regression."""
    import numpy as np

    return [] if task == "regression" else plain_labels(np.unique(target.to_numpy()))
