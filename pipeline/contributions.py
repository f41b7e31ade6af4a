"""integrate_contributed_data: validate contributed files against the model schema, drop
duplicates and benchmark rows, hash, and join them to the base data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import DataError
from pipeline.models import sha256_hex
from pipeline.tables import Schema, content_sha256, read_table

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.inputs import Inputs

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
class Contribution:
    """What one contributed file brought, after validation."""

    file: str
    wallet: str | None
    file_sha256: str
    content_sha256: str
    rows_in: int
    rows_kept: int
    duplicates_dropped: int
    benchmark_rows_dropped: int


@dataclass(frozen=True)
class Integration:
    training_data: Any  # pd.DataFrame: schema columns + ORIGIN
    contributions: list[Contribution]

    def manifest(self) -> dict[str, Any]:
        return {"schema": "hokusai.manifest/v1", "contributions": [asdict(c) for c in self.contributions]}


def normalise_wallet(wallet: str, where: str) -> str:
    """EIP-55 form of a wallet; mixed case must already be a valid checksum."""
    from eth_utils import is_address, is_checksum_address, to_checksum_address

    body = wallet[2:]
    if not is_address(wallet) or not (body.islower() or body.isupper() or is_checksum_address(wallet)):
        raise DataError(
            f"{where}: wallet {wallet!r} is not a valid EIP-55 address; copy it from your wallet app."
        )
    if wallet.lower() == ZERO_ADDRESS:
        raise DataError(f"{where}: the zero address cannot receive credit; use your own wallet.")
    return to_checksum_address(wallet)


def _rows(mask: Any) -> str:
    """'rows 3, 9 (2 rows)': 1-based data-row numbers of a boolean mask, first few shown."""
    import numpy as np

    positions = np.flatnonzero(np.asarray(mask)) + 1
    shown = ", ".join(str(p) for p in positions[:_SHOW_ROWS])
    more = ", …" if len(positions) > _SHOW_ROWS else ""
    if len(positions) == 1:
        return f"row {shown}"
    return f"rows {shown}{more} ({len(positions)} rows)"


def _label_text(value: Any) -> str:
    """A label as text, whole floats as integers: 1, 1.0 and "1" all read "1" (a baseline
    trained on labels written 0.0/1.0 has float classes)."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def conform(frame: pd.DataFrame, schema: Schema, name: str, classes: list[Any] | None) -> pd.DataFrame:
    """Check `frame` against the schema and return its schema columns, features as float.

    Raises DataError naming the file, the column and the rows for: missing columns,
    non-numeric or missing feature values, missing labels, labels the baseline does not know."""
    import numpy as np
    import pandas as pd

    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{name}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"the model needs {', '.join(schema.columns)}."
        )
    out = frame[schema.columns].copy()
    for column in schema.features:
        numeric = pd.to_numeric(out[column], errors="coerce").astype("float64")
        bad = numeric.isna() & out[column].notna()
        if bad.any():
            raise DataError(f"{name}: column {column!r} has non-numeric values in {_rows(bad)}; fix or remove them.")
        if numeric.isna().any() or np.isinf(numeric).any():
            bad = numeric.isna() | np.isinf(numeric)
            raise DataError(f"{name}: column {column!r} is empty or infinite in {_rows(bad)}; fill or remove them.")
        out[column] = numeric
    labels = out[schema.target]
    if labels.isna().any():
        raise DataError(f"{name}: column {schema.target!r} has no label in {_rows(labels.isna())}; label or remove them.")
    if classes is not None:
        known = {_label_text(c) for c in classes}
        as_text = labels.map(_label_text)
        unknown = ~as_text.isin(known)
        if unknown.any():
            seen = ", ".join(sorted(set(as_text[unknown]))[:_SHOW_ROWS])
            raise DataError(
                f"{name}: column {schema.target!r} has labels the baseline does not know ({seen}) in "
                f"{_rows(unknown)}; use one of {', '.join(sorted(known))}."
            )
        lookup = {_label_text(c): i for i, c in enumerate(classes)}
        out[schema.target] = np.asarray(classes)[as_text.map(lookup).to_numpy(dtype=int)]
    return out.reset_index(drop=True)


def integrate_contributions(
    base: pd.DataFrame,
    benchmark: pd.DataFrame,
    files: list[ContributionFile],
    schema: Schema,
    classes: list[Any],
    max_rows: int | None = None,
) -> Integration:
    """Validate each file, drop exact duplicates (within and across files, and of base rows;
    the first file to bring a row keeps it) and rows whose features appear in the benchmark,
    then join the kept rows to the base data."""
    import pandas as pd

    if not files:
        raise DataError("No contributed data was given; pass at least one file with --contrib FILE[:WALLET].")
    feature_keys = lambda f: pd.util.hash_pandas_object(f[list(schema.features)], index=False)  # noqa: E731
    row_keys = lambda f: pd.util.hash_pandas_object(f[schema.columns], index=False)  # noqa: E731
    benchmark_keys = set(feature_keys(benchmark))
    seen = set(row_keys(base))
    kept_frames = [base[schema.columns].assign(**{ORIGIN: -1})]
    contributions = []
    for index, item in enumerate(files):
        wallet = normalise_wallet(item.wallet, item.name) if item.wallet else None
        frame = conform(read_table(item.name, item.data, max_rows), schema, item.name, classes)
        in_benchmark = feature_keys(frame).isin(benchmark_keys).to_numpy()
        keys = row_keys(frame).to_numpy()
        duplicate = []
        for key, contaminated in zip(keys, in_benchmark):
            duplicate.append(not contaminated and key in seen)
            if not contaminated:
                seen.add(key)
        keep = ~in_benchmark & ~pd.Series(duplicate).to_numpy(dtype=bool)
        kept_frames.append(frame[keep].assign(**{ORIGIN: index}))
        contributions.append(
            Contribution(
                file=item.name,
                wallet=wallet,
                file_sha256=sha256_hex(item.data),
                content_sha256=content_sha256(frame),
                rows_in=len(frame),
                rows_kept=int(keep.sum()),
                duplicates_dropped=int(sum(duplicate)),
                benchmark_rows_dropped=int(in_benchmark.sum()),
            )
        )
    if not any(c.rows_kept for c in contributions):
        raise DataError(
            "No contributed row is new: every row duplicates the base data or appears in the "
            "benchmark; contribute rows the model has not seen."
        )
    return Integration(pd.concat(kept_frames, ignore_index=True), contributions)


def integrate_contributed_data(
    inputs: Inputs, schema: Schema, classes: list[Any], base: pd.DataFrame, max_rows: int | None
) -> tuple[Integration, pd.DataFrame]:
    """Step `integrate_contributed_data`: read the benchmark (contamination is judged
    against it) and integrate every contributed file."""
    name, data = inputs.benchmark
    benchmark = conform(read_table(name, data, max_rows), schema, name, classes)
    integration = integrate_contributions(base, benchmark, list(inputs.contributions), schema, classes, max_rows)
    return integration, benchmark
