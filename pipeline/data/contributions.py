"""Contributed data: load (parse, PII, wallets), validate against the model schema, drop
invalid rows, duplicates and benchmark rows, hash, and join to the base data.

Two stages, so raw bytes never travel as an artifact:

- `load_contribution` (flow step `start`, and `hokusai validate`): hash the file's bytes,
  parse them, apply the PII policy, keep only the schema columns and the wallet column. The
  result (`LoadedContribution`) holds the cleaned table, hashes and counts, not the bytes.
- `integrate_contributions` (flow step `integrate_contributed_data`): check types and labels,
  drop or reject invalid rows, check the minimum rows, group rows by wallet, drop duplicates
  and benchmark rows, hash the content, and build the manifest.

Duplicates: rows are taken file by file in the order given, then row by row; the first row
to bring a given (features, label) keeps it and every later copy is dropped as a duplicate,
whoever brings it (a base-data row is always first). A class label is keyed in one form
(`duplicate_keys`: 1, 1.0 and "1" are one label). A row whose features appear in the
benchmark (with any label) is dropped as contamination, never kept and never credited."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline.data import pii
from pipeline.data.columns import label_text
from pipeline.config import DataSection
from pipeline.errors import DataError
from pipeline.data.content_hash import canonical_order, content_sha256, subset_sha256
from pipeline.data.tables import (
    Schema,
    TableInfo,
    read_table,
    read_table_info,
    sha256_hex,
)

if TYPE_CHECKING:
    import pandas as pd


MANIFEST_SCHEMA = "hokusai.manifest/v1"

#: Column of `training_data` saying where each row came from: -1 base, else contribution index.
ORIGIN = "_hokusai_origin"
ZERO_ADDRESS = "0x" + "0" * 40
_SHOW_ROWS = 5


@dataclass(frozen=True)
class ContributionFile:
    """One contributed file as handed in: its name, its bytes, and the wallet it credits."""

    name: str
    data: bytes
    wallet: str | None = None


@dataclass(frozen=True)
class LoadedContribution:
    """A contributed file after `load_contribution`: the cleaned table (PII handled, extra
    columns dropped once the schema is known), the sha256 of the raw bytes and what was
    found. The raw bytes themselves are not kept."""

    name: str
    wallet: str | None  # the FILE:WALLET tag, EIP-55
    file_sha256: str
    frame: Any  # pd.DataFrame; index = data row number - 1
    table: TableInfo
    rows_read: int
    pii_policy: str
    pii: tuple[pii.Finding, ...] = ()
    wallet_column: str | None = None  # the column crediting each row, when the file has one
    extra_columns: tuple[str, ...] = ()  # dropped: not used by the model


@dataclass(frozen=True)
class Inputs:
    """What a run uses: the project's files as (name, bytes), and every contribution loaded
    (cleaned table, hashes, counts; never its raw bytes)."""

    base: tuple[str, bytes]
    benchmark: tuple[str, bytes]
    baseline_model: tuple[str, bytes] | None
    contributions: tuple[LoadedContribution, ...]


@dataclass(frozen=True)
class Contribution:
    """What one contributor brought in one file, after validation: a file credited by a
    FILE:WALLET tag (or no wallet) is one contribution; a file with a wallet column gives one
    per wallet. rows_in = rows_kept + duplicates + benchmark rows + invalid rows dropped."""

    file: str
    wallet: str | None
    file_sha256: str
    content_sha256: str
    rows_in: int
    rows_kept: int
    duplicates_dropped: int
    benchmark_rows_dropped: int
    invalid_rows_dropped: int = 0


@dataclass(frozen=True)
class ColumnRows:
    """A column and the rows (1-based data rows; the first few) where something was found."""

    column: str
    count: int
    rows: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "count": self.count, "rows": list(self.rows)}


@dataclass(frozen=True)
class FileReport:
    """Everything validation found in one file (counts, column names, row numbers; never a
    cell value)."""

    file: str
    file_sha256: str
    content_sha256: str  # of its usable rows (after invalid rows), before duplicates/benchmark
    table: TableInfo
    wallet: str | None
    wallet_column: str | None
    rows_read: int
    rows_kept: int
    duplicates_dropped: int
    benchmark_rows_dropped: int
    invalid_rows_dropped: int
    invalid_rows: tuple[ColumnRows, ...]
    extra_columns: tuple[str, ...]
    pii_policy: str
    pii: tuple[pii.Finding, ...]
    missing_values: tuple[ColumnRows, ...] = ()  # empty features kept for the estimator to impute
    unseen_categories: tuple[ColumnRows, ...] = ()  # categories the base data lacks: kept, the model ignores them

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "file_sha256": self.file_sha256, "content_sha256": self.content_sha256,
            **self.table.to_dict(), "wallet": self.wallet, "wallet_column": self.wallet_column,
            "rows_read": self.rows_read, "rows_kept": self.rows_kept,
            "rows_dropped": {"duplicate": self.duplicates_dropped, "benchmark": self.benchmark_rows_dropped,
                             "invalid": self.invalid_rows_dropped},
            "invalid_rows": [c.to_dict() for c in self.invalid_rows],
            "missing_values": [c.to_dict() for c in self.missing_values],
            "unseen_categories": [c.to_dict() for c in self.unseen_categories],
            "extra_columns_dropped": list(self.extra_columns),
            "pii": {"policy": self.pii_policy, "findings": [f.to_dict() for f in self.pii]},
        }


@dataclass(frozen=True)
class Integration:
    training_data: Any  # pd.DataFrame: schema columns + ORIGIN (index into `contributions`)
    contributions: list[Contribution]
    files: list[FileReport] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)
    features: dict[str, str] = field(default_factory=dict)  # each feature's kind (`pipeline.data.columns`)
    benchmark_rows: int = 0
    benchmark_distinct: int = 0  # distinct feature vectors (or ids) among the benchmark rows

    def contributors(self) -> list[dict[str, Any]]:
        """Counts per wallet over every file (first appearance order; None = no wallet)."""
        totals: dict[str | None, dict[str, Any]] = {}
        for c in self.contributions:
            t = totals.setdefault(c.wallet, {"wallet": c.wallet, "files": 0, "rows_in": 0, "rows_kept": 0,
                                             "duplicates_dropped": 0, "benchmark_rows_dropped": 0,
                                             "invalid_rows_dropped": 0})
            t["files"] += 1
            for key in ("rows_in", "rows_kept", "duplicates_dropped", "benchmark_rows_dropped", "invalid_rows_dropped"):
                t[key] += getattr(c, key)
        return list(totals.values())

    def notes(self) -> list[str]:
        notes = []
        unattributed = [f.file for f in self.files if f.wallet is None and f.wallet_column is None]
        if unattributed:
            notes.append(f"{', '.join(unattributed)}: no wallet, so its rows are unattributable (fine for a dry-run "
                         "or a check; a real run needs FILE:WALLET or a wallet column).")
        dropped = sum(f.benchmark_rows_dropped for f in self.files)
        read = sum(f.rows_read for f in self.files)
        if "id_column" not in self.rules and dropped and self.benchmark_distinct < self.benchmark_rows:
            notes.append(
                f"The benchmark's feature values repeat ({self.benchmark_rows} rows, {self.benchmark_distinct} "
                f"distinct), so matching contributed rows to it by values can drop honest rows: {dropped} of {read} "
                f"contributed rows ({dropped * 100 // max(read, 1)}%) were dropped as benchmark rows; if rows are "
                "about different people or things with equal values, set [data] id_column to match by id."
            )
        return notes

    def manifest(self) -> dict[str, Any]:
        """The data manifest (`hokusai.manifest/v1`): rules applied, each file (hashes, how it
        was read, rows in/kept/dropped by reason, invalid rows and PII by column, extra columns
        dropped), each contribution, and totals per contributor. No cell values."""
        from pipeline import __version__

        return {
            "schema": MANIFEST_SCHEMA,
            "tool": {"name": "hokusai-pipeline", "version": __version__},
            "rules": dict(self.rules),
            "features": dict(self.features),
            "files": [f.to_dict() for f in self.files],
            "contributions": [asdict(c) for c in self.contributions],
            "contributors": self.contributors(),
            "notes": self.notes(),
        }


def checked_wallet(wallet: str) -> str | None:
    """EIP-55 form of a wallet, or None when it is not a valid address (mixed case must
    already be a valid checksum; all-lower and all-upper are normalised)."""
    from eth_utils import is_address, is_checksum_address, to_checksum_address

    if not isinstance(wallet, str) or not wallet.startswith(("0x", "0X")):
        return None
    body = wallet[2:]
    if not is_address(wallet) or not (body.islower() or body.isupper() or is_checksum_address(wallet)):
        return None
    return to_checksum_address(wallet)


def normalise_wallet(wallet: str, where: str) -> str:
    """EIP-55 form of a wallet; mixed case must already be a valid checksum."""
    checked = checked_wallet(wallet)
    if checked is None:
        raise DataError(
            f"{where}: wallet {wallet!r} is not a valid EIP-55 address; copy it from your wallet app."
        )
    if checked.lower() == ZERO_ADDRESS:
        raise DataError(f"{where}: the zero address cannot receive credit; use your own wallet.")
    return checked


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


def check_columns(frame: pd.DataFrame, schema: Schema, name: str) -> None:
    """Every schema column is present, else a DataError naming the missing ones."""
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise DataError(
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


def _wallet_text(values: pd.Series) -> pd.Series:
    """A wallet column as stripped text, vectorised: a missing cell stays missing; a number,
    a list or an object becomes its text, which is never an address; a categorical column
    reads as its values."""
    import pandas as pd

    try:
        return values.astype("str").str.strip()
    except (TypeError, ValueError):  # e.g. bytes that are not UTF-8 (Parquet binary): cell by cell
        missing = values.isna().to_numpy()
        text = [None if gone else value if isinstance(value, str) else repr(value)
                for value, gone in zip(values.tolist(), missing)]
        return pd.Series(text, index=values.index, dtype="str").str.strip()


def row_wallets(frame: pd.DataFrame, column: str, name: str) -> Any:
    """The EIP-55 wallet of every row of a wallet column (an object array). Empty cells,
    invalid addresses and the zero address are DataErrors naming the rows: money follows
    these cells, so they are never guessed nor dropped."""
    import pandas as pd

    text = _wallet_text(frame[column])
    empty = text.isna() | (text == "")
    if empty.any():
        raise DataError(
            f"{name}: column {column!r} has no wallet in {_rows(empty)}; fill in the wallet to credit "
            "or remove those rows."
        )
    checked = {value: checked_wallet(value) for value in pd.unique(text)}  # each distinct cell once
    wallets = pd.Series(text.map(checked).to_numpy(dtype=object), index=text.index)
    bad = wallets.isna()
    if bad.any():
        raise DataError(
            f"{name}: column {column!r} has invalid wallet addresses in {_rows(bad)}; use EIP-55 "
            "addresses (copy them from your wallet app)."
        )
    zero = wallets == ZERO_ADDRESS  # (its EIP-55 form: digits have no case)
    if zero.any():
        raise DataError(
            f"{name}: column {column!r} holds the zero address in {_rows(zero)}; it cannot receive "
            "credit: use real wallets."
        )
    return wallets.to_numpy()


def load_contribution(
    item: ContributionFile, rules: DataSection | None = None, columns: list[str] | None = None,
    file_sha256: str | None = None,
) -> LoadedContribution:
    """Stage one (step `start`): sha256 of the bytes, parse (format by suffix, CSV encoding
    and delimiter sniffed), check the FILE:WALLET tag, apply the PII policy (the wallet column
    is not scanned), and, when the schema `columns` are known, drop every other column but the
    wallet column (they are reported). Raises DataError; never keeps the raw bytes.
    `file_sha256`: the bytes' `sha256_hex` when the caller has it already (not hashed twice)."""
    rules = rules or DataSection()
    tag = normalise_wallet(item.wallet, item.name) if item.wallet else None
    frame, table = read_table_info(item.name, item.data, rules.max_rows)
    wallet_column = rules.wallet_column if rules.wallet_column in frame.columns else None
    if wallet_column and tag:
        raise DataError(
            f"{item.name}: has a wallet column {wallet_column!r} and a wallet tag ({tag}); credit its "
            "rows one way: drop the :WALLET tag or the column."
        )
    frame, findings = pii.apply_policy(frame, item.name, rules.pii, skip=(wallet_column,) if wallet_column else ())
    loaded = LoadedContribution(
        name=item.name, wallet=tag, file_sha256=file_sha256 or sha256_hex(item.data), frame=frame, table=table,
        rows_read=len(frame), pii_policy=rules.pii, pii=tuple(findings), wallet_column=wallet_column,
    )
    return select_columns(loaded, columns) if columns is not None else loaded


def select_columns(loaded: LoadedContribution, columns: list[str]) -> LoadedContribution:
    """Keep the schema `columns` (those present; missing ones are reported later) and the
    wallet column; record every other column as dropped."""
    wanted = set(columns) | ({loaded.wallet_column} if loaded.wallet_column else set())
    extra = tuple(str(c) for c in loaded.frame.columns if c not in wanted)
    if not extra:
        return loaded
    keep = [c for c in loaded.frame.columns if c in wanted]
    return replace(loaded, frame=loaded.frame[keep], extra_columns=loaded.extra_columns + extra)


def _usable_rows(
    item: LoadedContribution, schema: Schema, classes: list[Any], rules: DataSection
) -> tuple[Any, Any, Any, tuple[ColumnRows, ...], tuple[ColumnRows, ...]]:
    """Validate one loaded file: its conformed usable rows, the wallet of every row read,
    which rows read are usable, the invalid rows dropped and the empty values kept (both by
    column)."""
    import numpy as np

    frame = item.frame
    check_columns(frame, schema, item.name)
    if item.wallet_column:
        wallets = row_wallets(frame, item.wallet_column, item.name)
    else:
        wallets = np.full(len(frame), item.wallet, dtype=object)
    dropped: tuple[ColumnRows, ...] = ()
    usable_mask = np.ones(len(frame), dtype=bool)
    allow_missing = rules.missing == "impute"
    if rules.invalid_rows == "drop":
        invalid, dropped = invalid_rows(frame, schema, allow_missing)
        usable_mask = ~invalid
    kept = frame if usable_mask.all() else frame[usable_mask]
    usable = conform(kept, schema, item.name, classes, droppable=True, allow_missing=allow_missing)
    gaps = gap_rows(kept, schema.features) if allow_missing else ()
    if len(usable) < rules.min_rows:
        noun = "row" if len(usable) == 1 else "rows"
        raise DataError(
            f"{item.name}: has {len(usable)} usable {noun}, fewer than [data] min_rows = {rules.min_rows}; "
            "add rows or lower min_rows."
        )
    return usable, wallets, usable_mask, dropped, gaps


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


def duplicate_keys(frame: pd.DataFrame, schema: Schema) -> Any:
    """The key of every row for duplicate detection (a uint64 array): its id when `[data]
    id_column` is set, else its schema columns, with a class label in one form whatever its
    type (`columns.label_keys`: the base data keeps its labels as read, a contribution's are
    the baseline's classes, so 1.0 and 1 must be one label). Regression targets are floats
    in every table already (`conform`)."""
    import pandas as pd

    from pipeline.data.columns import label_keys

    if schema.id_column:
        return pd.util.hash_pandas_object(frame[[schema.id_column]], index=False).to_numpy()
    rows = frame[schema.columns]
    if schema.task != "regression":
        rows = rows.assign(**{schema.target: label_keys(rows[schema.target])})
    return pd.util.hash_pandas_object(rows, index=False).to_numpy()


def integrate_contributions(
    base: pd.DataFrame,
    benchmark: pd.DataFrame,
    files: list[ContributionFile] | list[LoadedContribution],
    schema: Schema,
    classes: list[Any],
    max_rows: int | None = None,
    rules: DataSection | None = None,
) -> Integration:
    """Stage two (step `integrate_contributed_data`). Per file: schema columns, wallets, invalid
    rows (dropped or rejected by `[data] invalid_rows`), types and labels, `[data] min_rows`.
    Then drop rows whose features appear in the benchmark, and exact duplicates (within and
    across files, and of base rows: the first row to bring them keeps them, see the module
    docstring); group rows by wallet; hash; join the kept rows to the base data. Raw
    `ContributionFile`s are loaded first (`load_contribution`)."""
    import numpy as np
    import pandas as pd

    rules = rules or DataSection()
    if max_rows is not None:
        rules = rules.model_copy(update={"max_rows": max_rows})
    if not files:
        raise DataError("No contributed data was given; pass at least one file with --contrib FILE[:WALLET].")
    # with `[data] id_column`, a row is in the benchmark, or a duplicate, when its id is; else by its values
    match = [schema.id_column] if schema.id_column else list(schema.features)
    feature_keys = lambda f: pd.util.hash_pandas_object(f[match], index=False).to_numpy()  # noqa: E731
    known_categories = {c: set(base[c].dropna()) for c, kind in zip(schema.features, schema.kinds) if kind == "categorical"}
    benchmark_keys = np.unique(feature_keys(benchmark))
    benchmark_shape = {"benchmark_rows": len(benchmark), "benchmark_distinct": len(benchmark_keys)}
    seen = np.unique(duplicate_keys(base, schema))
    kept_frames = [base[schema.columns].assign(**{ORIGIN: -1})]
    contributions: list[Contribution] = []
    reports: list[FileReport] = []
    for number, raw in enumerate(files, start=1):
        item = raw if isinstance(raw, LoadedContribution) else load_contribution(raw, rules)
        item = select_columns(item, schema.columns)
        frame, wallets, usable_mask, dropped, gaps = _usable_rows(item, schema, classes, rules)
        in_benchmark = np.isin(feature_keys(frame), benchmark_keys)
        keys = duplicate_keys(frame, schema)
        fresh = ~in_benchmark
        # the first copy of a row keeps it: base rows and earlier files are in `seen`
        duplicate = fresh & (pd.Series(keys).duplicated().to_numpy() | np.isin(keys, seen))
        keep = fresh & ~duplicate
        if number < len(files):  # (a sort of every key so far: ~0.7 s at 1M rows, needless after the last file)
            seen = np.union1d(seen, keys[keep])
        file_order = canonical_order(frame)  # once per file: its content hash and its groups'
        file_hash = content_sha256(frame, order=file_order)
        group_wallets = list(pd.unique(pd.Series(wallets, dtype=object)))  # first-appearance order
        if len(group_wallets) > 1:  # a wallet column: every cell holds a checked wallet
            codes = pd.Series(wallets, dtype=object).map({w: i for i, w in enumerate(group_wallets)}).to_numpy(dtype=int)
        else:
            codes = np.zeros(len(wallets), dtype=int)
        usable_codes = codes[usable_mask]
        for code, wallet in enumerate(group_wallets):
            read, usable = codes == code, usable_codes == code
            contributions.append(Contribution(
                file=item.name, wallet=wallet, file_sha256=item.file_sha256,
                content_sha256=file_hash if len(group_wallets) == 1 else subset_sha256(frame, usable, file_order),
                rows_in=int(read.sum()), rows_kept=int((keep & usable).sum()),
                duplicates_dropped=int((duplicate & usable).sum()),
                benchmark_rows_dropped=int((in_benchmark & usable).sum()),
                invalid_rows_dropped=int((read & ~usable_mask).sum()),
            ))
            kept = frame[keep & usable]  # a copy: the origin column goes in without another
            kept.insert(len(kept.columns), ORIGIN, len(contributions) - 1)
            kept_frames.append(kept)
        reports.append(FileReport(
            file=item.name, file_sha256=item.file_sha256, content_sha256=file_hash, table=item.table,
            wallet=item.wallet, wallet_column=item.wallet_column, rows_read=item.rows_read,
            rows_kept=int(keep.sum()), duplicates_dropped=int(duplicate.sum()),
            benchmark_rows_dropped=int(in_benchmark.sum()), invalid_rows_dropped=int((~usable_mask).sum()),
            invalid_rows=dropped, extra_columns=item.extra_columns, pii_policy=item.pii_policy, pii=item.pii,
            missing_values=gaps, unseen_categories=unseen_rows(frame, schema, known_categories),
        ))
    if not any(c.rows_kept for c in contributions):
        hint = ("" if schema.id_column or len(benchmark_keys) == len(benchmark) else
                f" (the benchmark's {len(benchmark)} rows have only {len(benchmark_keys)} distinct feature values: if "
                "rows are about different people or things with equal values, set [data] id_column to match by id)")
        raise DataError(
            "No contributed row is new: every row duplicates the base data or appears in the "
            f"benchmark{hint}; contribute rows the model has not seen."
        )
    frame = kept = None  # (memory: the last file's tables are in `kept_frames` or not needed)
    training = pd.concat(kept_frames, ignore_index=True)
    kept_frames.clear()  # (memory: the parts are copied into `training`)
    # Canonical order: the candidate (and every attribution retraining, on rows filtered from
    # this frame) depends on the set of rows, not on file order, row order or format.
    order = canonical_order(training[schema.columns], training[ORIGIN].to_numpy())
    training = training.take(order).reset_index(drop=True)
    used = {key: getattr(rules, key) for key in ("invalid_rows", "missing", "min_rows", "pii", "wallet_column", "max_rows")}
    if rules.id_column:
        used["id_column"] = rules.id_column
    from pipeline.data.columns import kinds_by_column

    return Integration(training, contributions, reports, used, kinds_by_column(schema.features, schema.kinds),
                       **benchmark_shape)


def integrate_contributed_data(
    inputs: Inputs, schema: Schema, classes: list[Any], base: pd.DataFrame, rules: DataSection
) -> tuple[Integration, pd.DataFrame]:
    """Step `integrate_contributed_data`: read the benchmark (contamination is judged
    against it) and integrate every loaded contribution."""
    name, data = inputs.benchmark
    benchmark = conform(read_table(name, data, rules.max_rows), schema, name, classes,
                        allow_missing=rules.missing == "impute")
    integration = integrate_contributions(base, benchmark, list(inputs.contributions), schema, classes, rules=rules)
    return integration, benchmark
