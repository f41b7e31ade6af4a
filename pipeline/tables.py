"""Reading tables from bytes, and the content hash of a table.

Files are read into bytes once (in the flow's `start`, so they travel as artifacts to any
compute) and parsed here; the file's byte sha256 and its content sha256 both come from
those same bytes."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class Schema:
    """What a table must hold: feature columns (in model order) and the target."""

    features: tuple[str, ...]
    target: str

    @property
    def columns(self) -> list[str]:
        return [*self.features, self.target]


def table_format(name: str) -> str:
    """The format of a file from its suffix, or a DataError naming the supported ones."""
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise DataError(
            f"{name}: unsupported file type {suffix or '(none)'!r}; use one of "
            f"{', '.join(sorted(FORMATS))}."
        )
    return FORMATS[suffix]


def read_table(name: str, data: bytes, max_rows: int | None = None) -> pd.DataFrame:
    """Parse `data` (the bytes of file `name`) into a DataFrame; errors name the file."""
    import pandas as pd

    kind = table_format(name)
    if not data.strip():
        raise DataError(f"{name}: has no data rows; add rows or drop the file.")
    try:
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(io.BytesIO(data), sep="\t" if kind == "tsv" else ",", nrows=max_rows)
        elif kind == "parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        elif kind == "json":
            # dtype=False: keep JSON's own types; else pandas turns numbers in columns named
            # like `*_time`, `*_at` or `date` into datetimes, unlike the same file as CSV.
            frame = pd.read_json(io.BytesIO(data), orient="records", dtype=False)
        else:
            frame = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
    except Exception as exc:  # noqa: BLE001 - every parser failure is the file's fault
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{name}: cannot be read as {kind} ({first}); check the file's format.") from None
    if frame.empty:
        raise DataError(f"{name}: has no data rows; add rows or drop the file.")
    return frame.head(max_rows) if max_rows else frame


def content_sha256(frame: pd.DataFrame) -> str:
    """`0x` + sha256 of a canonical form of the rows: columns sorted by name, each value
    written as JSON (numbers as float64 repr), rows as lines sorted bytewise. The same rows
    give the same hash whatever the file format or row order."""
    import json

    columns = sorted(frame.columns, key=str)
    values = frame[columns].astype(object).itertuples(index=False, name=None)

    def canon(value: object) -> object:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) or hasattr(value, "dtype"):
            return repr(float(value))
        return str(value)

    header = json.dumps([str(c) for c in columns])
    lines = sorted(json.dumps([canon(v) for v in row]) for row in values)
    digest = hashlib.sha256(header.encode())
    for line in lines:
        digest.update(b"\n" + line.encode())
    return "0x" + digest.hexdigest()
