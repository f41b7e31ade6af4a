"""A table against the model's schema: columns present, each feature as its kind, labels the
baseline knows, no empty or infinite values unless allowed; and the rows where something was
found, numbered as in the file (`ColumnRows`, `_rows`). Used for base, benchmark and
contributed tables alike (`pipeline.data.contributions` drops or rejects what it finds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.data.columns import label_text
from pipeline.data.tables import header_problem
from pipeline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.data.tables import Schema

_SHOW_ROWS = 5


@dataclass(frozen=True)
class ColumnRows:
    """A column and the rows (1-based data rows; the first few) where something was found."""

    column: str
    count: int
    rows: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "count": self.count, "rows": list(self.rows)}


def _row_numbers(mask: Any) -> Any:
    """1-based data-row numbers where `mask` holds: from a Series' integer index (so rows keep
    their file numbers after others were dropped), else from positions."""
    import numpy as np

    flags = np.asarray(mask, dtype=bool)
    index = getattr(mask, "index", None)
    if index is not None and index.dtype.kind in "iu":
        return np.asarray(index)[flags] + 1
    return np.flatnonzero(flags) + 1


def _rows(mask: Any) -> str:
    """'rows 3, 9 (2 rows)': 1-based data-row numbers of a boolean mask, first few shown."""
    positions = _row_numbers(mask)
    shown = ", ".join(str(p) for p in positions[:_SHOW_ROWS])
    more = ", …" if len(positions) > _SHOW_ROWS else ""
    if len(positions) == 1:
        return f"row {shown}"
    return f"rows {shown}{more} ({len(positions)} rows)"


def check_columns(frame: pd.DataFrame, schema: Schema, name: str, dropped: tuple[str, ...] = ()) -> None:
    """Every schema column is present, else a DataError naming the missing ones, or why the
    file's header is not one (`tables.header_problem`, over every column it was read with:
    `dropped` are those already dropped as extra)."""
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        problem = header_problem(name, [*frame.columns, *dropped], schema.columns, f": {', '.join(schema.columns)}")
        raise problem or DataError(
            f"{name}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"the model needs {', '.join(schema.columns)}."
        )


#: Appended to the "empty or infinite" and "no label" sentences of contributed files.
DROP_HINT = ', or set [data] invalid_rows = "drop"'


def conform(
    frame: pd.DataFrame, schema: Schema, name: str, classes: list[Any] | None, droppable: bool = False,
    allow_missing: bool = False,
) -> pd.DataFrame:
    """Check `frame` against the schema and return its schema columns, each feature as its
    kind (`pipeline.data.columns.convert`: numbers as float, categories as text).

    Raises DataError naming the file, the column and the rows for: missing columns, values
    not of their column's kind, infinite numbers, missing feature values unless
    `allow_missing` (`[data] missing = "impute"`), missing labels, labels the baseline does
    not know. Row numbers come from the frame's index (index + 1). `droppable`: the file is
    contributed data, whose invalid rows `[data] invalid_rows = "drop"` would drop (said in
    the sentence)."""
    import numpy as np
    import pandas as pd

    from pipeline.data.columns import NUMERIC, convert

    check_columns(frame, schema, name)
    hint = DROP_HINT if droppable else ""
    kinds = schema.kinds or (NUMERIC,) * len(schema.features)
    numeric_only = all(kind == NUMERIC for kind in kinds)
    columns: dict[str, Any] = {}
    block = _finite_block(frame, schema.features, allow_missing) if numeric_only else None
    if block is None:
        columns = convert(frame, schema.features, kinds, name, _rows)
        for column, kind in zip(schema.features, kinds):
            values = columns[column]
            gap = pd.isna(values) if kind != NUMERIC else np.isnan(values)
            infinite = np.isinf(values) if kind != "categorical" else np.zeros(len(values), dtype=bool)
            if infinite.any() and allow_missing:
                where = _rows(pd.Series(infinite, index=frame.index))
                raise DataError(f"{name}: column {column!r} is infinite in {where}; fix or remove them{hint}.")
            if (gap.any() and not allow_missing) or infinite.any():
                where = _rows(pd.Series(gap | infinite, index=frame.index))
                raise DataError(f"{name}: column {column!r} is empty or infinite in {where}; fill or remove them{hint}.")
    labels = frame[schema.target]
    if labels.isna().any():
        raise DataError(f"{name}: column {schema.target!r} has no label in {_rows(labels.isna())}; label or remove them{hint}.")
    ids = None
    if schema.id_column:
        from pipeline.data.columns import text_values

        raw_ids = frame[schema.id_column]
        if raw_ids.isna().any():
            raise DataError(f"{name}: column {schema.id_column!r} has no id in {_rows(raw_ids.isna())}; fill or remove "
                            f"them{hint}.")
        ids = text_values(raw_ids)
    if schema.task == "regression":
        from pipeline.data.columns import numbers

        values = numbers(labels)
        bad = (values.isna() & labels.notna()) | np.isinf(values)
        if bad.any():
            raise DataError(f"{name}: column {schema.target!r} has values that are not finite numbers in {_rows(bad)}; "
                            "a regression target must be numbers: fix or remove them.")
        columns[schema.target] = values.to_numpy() + 0.0
        distinct, classes = None, None
    else:
        distinct = _distinct_labels(labels, schema.target, name, classes)
    if classes is not None:
        known = {label_text(c) for c in classes}
        # text of each distinct label once, then a vectorised lookup (labels repeat a lot)
        as_text = labels.map({value: label_text(value) for value in distinct})
        unknown = ~as_text.isin(known)
        if unknown.any():
            seen = ", ".join(sorted(set(as_text[unknown]))[:_SHOW_ROWS])
            raise DataError(
                f"{name}: column {schema.target!r} has labels the baseline does not know ({seen}) in "
                f"{_rows(unknown)}; use one of {', '.join(sorted(known))}."
            )
        lookup = {label_text(c): i for i, c in enumerate(classes)}
        columns[schema.target] = np.asarray(classes)[as_text.map(lookup).to_numpy(dtype=int)]
    elif schema.task != "regression":
        columns[schema.target] = labels.reset_index(drop=True)
    if ids is not None:
        columns[schema.id_column] = ids
    if block is not None:  # the features' own block (column-major, as pandas keeps it): no copy
        out = pd.DataFrame(block, columns=list(schema.features), copy=False)
        out[schema.target] = columns[schema.target]
        if ids is not None:
            out[schema.id_column] = ids
        return out
    return pd.DataFrame(columns)  # one consolidation, index 0..n-1


def _finite_block(frame: pd.DataFrame, features: tuple[str, ...], allow_missing: bool = False) -> Any:
    """The features as one float64 array (-0.0 as 0.0) when every one is a plain numeric
    column with only finite values (or NaN gaps, when `allow_missing`), else None. One pass
    over a 2-D array instead of a conversion, two checks and a copy per column: same values,
    a fifth of the time."""
    import numpy as np

    if not features or any(frame[c].dtype.kind not in "fiu" for c in features):
        return None
    # filled column by column in Fortran order: one copy (a row-major `to_numpy` then
    # `asfortranarray` made two, ~0.3 s more at 1M x 30)
    block = np.empty((len(frame), len(features)), dtype=np.float64, order="F")
    for position, column in enumerate(features):
        block[:, position] = frame[column].to_numpy()
    ok = np.isfinite(block)
    if not ok.all() and not (allow_missing and (ok | np.isnan(block)).all()):
        return None
    block += 0.0  # -0.0 -> 0.0: one value, as in the content hash
    return block


def _distinct_labels(labels: pd.Series, column: str, name: str, classes: list[Any] | None) -> Any:
    """The distinct labels of a column; a DataError naming the rows when cells hold lists or
    objects (JSON, Parquet), which cannot be labels."""
    import pandas as pd

    try:
        return pd.unique(labels)
    except TypeError:  # unhashable cells: find them (only on this error path, so row by row)
        from collections.abc import Hashable

        bad = labels.map(lambda value: not isinstance(value, Hashable))
        use = f"one of {', '.join(sorted(label_text(c) for c in classes))}" if classes is not None else "one label"
        raise DataError(
            f"{name}: column {column!r} has lists or objects instead of labels in {_rows(bad)}; write {use} "
            "in each cell."
        ) from None


def invalid_rows(frame: pd.DataFrame, schema: Schema, allow_missing: bool = False) -> tuple[Any, tuple[ColumnRows, ...]]:
    """Rows with an infinite number, an empty (missing) feature unless `allow_missing`, or no
    label: a boolean mask and, per column, the count and first rows. A value of the wrong
    kind is not "invalid" here: `conform` rejects it (a mistake to fix, not a gap to drop)."""
    import numpy as np
    import pandas as pd

    from pipeline.data.columns import kinds_by_column, numbers

    kinds = kinds_by_column(schema.features, schema.kinds)
    mask = np.zeros(len(frame), dtype=bool)
    found = []
    for column in schema.columns:
        values = frame[column]
        bad = values.isna().to_numpy()
        if column not in (schema.target, schema.id_column):
            bad = bad & (not allow_missing)
            if kinds[column] == "numeric":
                bad = bad | np.isinf(numbers(values).to_numpy(dtype=np.float64, na_value=np.nan))
        if bad.any():
            rows = _row_numbers(pd.Series(bad, index=frame.index))
            found.append(ColumnRows(column, int(bad.sum()), tuple(int(r) for r in rows[:_SHOW_ROWS])))
            mask |= bad
    return mask, tuple(found)


def unseen_rows(frame: pd.DataFrame, schema: Schema, known: dict[str, set[Any]]) -> tuple[ColumnRows, ...]:
    """Per categorical feature: usable rows (1-based, among the file's usable rows) whose
    category the base data does not hold. They are kept: the estimator ignores an unseen
    category (one-hot) or treats it as a gap (trees)."""
    found = []
    for column, categories in known.items():
        unseen = frame[column].notna() & ~frame[column].isin(categories)
        if unseen.any():
            rows = _row_numbers(unseen.reset_index(drop=True))
            found.append(ColumnRows(column, int(unseen.sum()), tuple(int(r) for r in rows[:_SHOW_ROWS])))
    return tuple(found)


def gap_rows(frame: pd.DataFrame, features: tuple[str, ...]) -> tuple[ColumnRows, ...]:
    """Per feature with empty values: how many, and the first rows (file row numbers)."""
    found = []
    for column in features:
        gap = frame[column].isna()
        if gap.any():
            rows = _row_numbers(gap)
            found.append(ColumnRows(column, int(gap.sum()), tuple(int(r) for r in rows[:_SHOW_ROWS])))
    return tuple(found)
