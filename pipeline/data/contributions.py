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
from pipeline.config import DataSection
from pipeline.data.conform import ColumnRows, check_columns, conform, gap_rows, invalid_rows, unseen_rows
from pipeline.data.wallets import normalise_wallet, row_wallets
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
    check_columns(frame, schema, item.name, item.extra_columns)
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
