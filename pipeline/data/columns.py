"""Typed feature columns: what each feature is (numeric, boolean, categorical, date), decided
once from the base data, and how a column of any file is turned into that type.

Users bring tables as published: text columns, yes/no columns, dates, gaps. The kind of each
feature is inferred from the base data the same way for every format (a CSV's text and a
Parquet file's strings read alike), `[model] categorical` forces columns to be categories
(codes written as numbers), and a column no model can use (a different text in every row:
an ID or free text; nothing but gaps) is refused with every such column named at once. After
`convert`, numeric, boolean and date features are float64 (booleans 0/1, dates as days since
1970-01-01) and categorical ones are text; a gap is NaN in either. The estimator
(`pipeline.modelling.models.make_estimator`) encodes categories and imputes gaps itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

NUMERIC, BOOLEAN, CATEGORICAL, DATE = "numeric", "boolean", "categorical", "date"
KINDS = (NUMERIC, BOOLEAN, CATEGORICAL, DATE)
#: Text read as booleans (case-insensitive); any other text makes a column categorical.
_TRUE, _FALSE = frozenset({"true", "yes"}), frozenset({"false", "no"})
#: A text column with a different value in every row is an ID or free text once it has this
#: many rows: too few rows to tell otherwise.
_UNIQUE_MIN_ROWS = 20
_SHOW = 5


def label_text(value: Any) -> str:
    """A label, category or id as text: whole floats as integers (1, 1.0 and "1" all read
    "1"), so a value written as a number in one file and as text in another is one value."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def label_keys(labels: pd.Series) -> Any:
    """A label column in one form for matching rows (duplicate keys): each label as its
    `label_text`, so a class read as 1 in one file and as 1.0 (or "1") in another is one
    label. Each distinct label is converted once (labels repeat a lot); an object array."""
    import pandas as pd

    return labels.map({value: label_text(value) for value in pd.unique(labels)}).to_numpy(dtype=object)


def text_values(values: pd.Series) -> Any:
    """A column as text values (ids, categories): whole floats as integers, gaps NaN."""
    import numpy as np

    return values.map(label_text, na_action="ignore").to_numpy(dtype=object, na_value=np.nan)


def _is_missing(values: pd.Series) -> Any:
    return values.isna().to_numpy()


def _boolean_values(values: pd.Series) -> pd.Series:
    """`values` as 1.0/0.0: booleans, and text reading true/false/yes/no (any case); gaps and
    anything else NaN."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("float64")

    def truth(value: Any) -> float:
        if isinstance(value, (bool, np.bool_)):
            return float(value)
        text = str(value).strip().lower() if isinstance(value, str) else None
        return 1.0 if text in _TRUE else 0.0 if text in _FALSE else float("nan")

    return values.map(truth, na_action="ignore").astype("float64")


def _date_values(values: pd.Series) -> pd.Series:
    """`values` as days since 1970-01-01: a date dtype, or ISO 8601 text (2024-03-01,
    2024-03-01T10:00); gaps and anything else NaN."""
    import pandas as pd

    if values.dtype.kind == "M":
        stamps = values
    else:
        text = values.map(lambda v: v if isinstance(v, str) else None)
        iso = text.str.match(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$").fillna(False).astype(bool)
        stamps = pd.to_datetime(text.where(iso), errors="coerce", format="ISO8601")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return ((stamps - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).astype("float64")


def _all_read(values: pd.Series, converted: pd.Series) -> bool:
    """Every present value of `values` was read by a conversion (and there is one)."""
    present = values.notna().to_numpy()
    return bool(present.any()) and not bool((converted.isna().to_numpy() & present).any())


def numbers(values: pd.Series) -> pd.Series:
    """Numbers as they are, numeric text read as numbers, anything else NaN."""
    import pandas as pd

    if values.dtype.kind in "mM":
        return pd.Series(float("nan"), index=values.index, dtype="float64")
    return pd.to_numeric(values, errors="coerce").astype("float64")


def infer_kinds(base: pd.DataFrame, features: tuple[str, ...], categorical: list[str], name: str) -> tuple[str, ...]:
    """The kind of every feature, from the base data: `categorical` as listed; a numeric
    column (every present value a number) is numeric; true/false text is boolean; ISO dates
    are dates; other text is categorical. Raises one DataError naming every column that
    cannot be used (no values, or a different text in every row) and the fix."""
    unknown = [c for c in categorical if c not in features]
    if unknown:
        raise DataError(f"[model] categorical lists {', '.join(map(repr, unknown))}, which "
                        f"{'is not a feature' if len(unknown) == 1 else 'are not features'} of {name}; list only features.")
    kinds, unusable = [], []
    for column in features:
        values = base[column]
        present = values.dropna()
        if column in categorical:
            kinds.append(CATEGORICAL)
            continue
        if present.empty:
            unusable.append(f"{column!r} (no values)")
            kinds.append(NUMERIC)
            continue
        if values.dtype.kind in "fiu" or (values.dtype.kind == "O" and not numbers(present).isna().any()):
            kinds.append(NUMERIC)
        elif _all_read(values, _boolean_values(values)):
            kinds.append(BOOLEAN)
        elif _all_read(values, _date_values(values)):
            kinds.append(DATE)
        else:
            if len(present) >= _UNIQUE_MIN_ROWS and present.map(label_text).nunique() == len(present):
                unusable.append(f"{column!r} (a different text in every row: an ID or free text)")
            kinds.append(CATEGORICAL)
    if unusable:
        shown = ", ".join(unusable[:_SHOW]) + (", …" if len(unusable) > _SHOW else "")
        noun = "column" if len(unusable) == 1 else "columns"
        raise DataError(
            f"{name}: {noun} {shown} cannot be used as {'a feature' if len(unusable) == 1 else 'features'}; "
            f"list [model] features without {'it' if len(unusable) == 1 else 'them'} (or drop "
            f"{'it' if len(unusable) == 1 else 'them'} from the file)."
        )
    return tuple(kinds)


def convert(frame: pd.DataFrame, features: tuple[str, ...], kinds: tuple[str, ...], name: str,
            rows: Any) -> dict[str, Any]:
    """Every feature of `frame` as its kind's values (see the module docstring); `rows(mask)`
    words row numbers for errors. Raises a DataError naming the file, column and rows of a
    value that is not of its column's kind."""
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for column, kind in zip(features, kinds):
        values = frame[column]
        missing = _is_missing(values)
        if kind == CATEGORICAL:
            out[column] = text_values(values)
            continue
        if kind == BOOLEAN:
            converted, expected = _boolean_values(values), "true/false (or yes/no)"
        elif kind == DATE:
            converted, expected = _date_values(values), "dates (ISO 8601, e.g. 2024-03-01)"
        else:
            converted, expected = numbers(values), "numbers"
        bad = converted.isna().to_numpy() & ~missing
        if bad.any():
            noun = "non-numeric values" if kind == NUMERIC else f"values that are not {expected}"
            raise DataError(f"{name}: column {column!r} has {noun} in {rows(pd.Series(bad, index=frame.index))}; "
                            "fix or remove them.")
        out[column] = converted.to_numpy(dtype=np.float64) + 0.0  # -0.0 -> 0.0, as in the content hash
    return out


def kinds_by_column(features: tuple[str, ...], kinds: tuple[str, ...]) -> dict[str, str]:
    """{feature: kind}; a schema without kinds (an older run) is all numeric."""
    return dict(zip(features, kinds or (NUMERIC,) * len(features)))


def has_gaps(features: tuple[str, ...], *frames: pd.DataFrame) -> bool:
    """Whether any feature value of any of `frames` is empty (the estimator must impute)."""
    return any(bool(frame[list(features)].isna().to_numpy().any()) for frame in frames if len(features))
