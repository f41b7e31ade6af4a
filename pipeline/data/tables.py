"""Reading tables from bytes (format by suffix; CSV encoding and delimiter sniffed), writing
them back, and (re-exported from `pipeline.data.content_hash`) the content hash of a table.

Contributed files are read into bytes once (in the flow's `start`), hashed, parsed here and
cleaned; only the cleaned table travels on as an artifact, never the raw bytes."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.data.content_hash_v2 import HASH_BLOCK_V2, row_digests_v2
from pipeline.data.content_hash_v2 import _fixed_block as _fixed_block  # noqa: F401 - re-export (v2)
from pipeline.data.content_hash_v2 import _row_digests as _row_digests  # noqa: F401 - re-export (v2)
from pipeline.data.content_hash_v2 import _text_cells as _text_cells  # noqa: F401 - re-export (v2)
from pipeline.data.content_hash_v2 import canonical_order_v2 as canonical_order  # noqa: F401 - re-export (v2)
from pipeline.data.content_hash_v2 import digests_sha256_v2 as digests_sha256
from pipeline.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import ModelSection

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def sha256_hex(data: bytes) -> str:
    """`0x` + lowercase sha256: the one hash format of the evidence."""
    return "0x" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Schema:
    """What a table must hold: feature columns (in model order) and the target, and the kind
    of each feature (`pipeline.data.columns`; empty: all numeric, as in runs made before
    kinds existed)."""

    features: tuple[str, ...]
    target: str
    kinds: tuple[str, ...] = ()
    id_column: str = ""  # `[data] id_column`: who each row is about; not a feature
    task: str = ""  # "binary" | "multiclass" | "regression" (`modelling.task`); "" = a classification (older runs)

    @property
    def columns(self) -> list[str]:
        """Every column a table must hold: features, target, and the id column when set."""
        return [*self.features, self.target, *([self.id_column] if self.id_column else [])]


def table_format(name: str) -> str:
    """The format of a file from its suffix, or a DataError naming the supported ones."""
    suffix = name[name.rfind("."):].lower() if "." in name else ""
    if suffix not in FORMATS:
        raise DataError(
            f"{name}: unsupported file type {suffix or '(none)'!r}; use one of "
            f"{', '.join(sorted(FORMATS))}."
        )
    return FORMATS[suffix]


def resolve_schema(base: pd.DataFrame, spec: ModelSection, name: str, id_column: str = "") -> Schema:
    """The configured features, or every base column but the target (and the id column)."""
    if spec.target not in base.columns:
        problem = header_problem(name, list(base.columns), [spec.target, *spec.features],
                                 f", the target {spec.target!r} among them")
        raise problem or DataError(
            f"{name}: has no target column {spec.target!r}; set [model] target to one of "
            f"{', '.join(map(str, base.columns[:8]))}."
        )
    if id_column and id_column in spec.features:
        raise DataError(f"[data] id_column {id_column!r} is also listed in [model] features; an id is not a "
                        "feature: remove it from features.")
    features = spec.features or [str(c) for c in base.columns if c not in (spec.target, id_column)]
    return Schema(tuple(features), spec.target, id_column=id_column)


@dataclass(frozen=True)
class TableInfo:
    """How a file was read: its format and, for CSV/TSV, the encoding and delimiter found."""

    format: str
    encoding: str | None = None
    delimiter: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"format": self.format, "encoding": self.encoding, "delimiter": self.delimiter}


#: Encodings tried, in order: UTF-8 with a byte-order mark, UTF-8, else Latin-1 (which reads
#: any byte, so it is the fallback; Windows-1252 exports read as Latin-1 but for € and quotes).
ENCODINGS = ("utf-8-sig", "utf-8", "latin-1")
DELIMITERS = (",", ";", "\t")
_SNIFF_BYTES = 64 * 1024
_CHUNK = 1 << 20
_SHOW_NAMES = 5


def sniff_encoding(name: str, data: bytes) -> str:
    """`utf-8-sig` (BOM), `utf-8` (valid throughout), else `latin-1`. UTF-16 is refused."""
    import codecs

    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{name}: is encoded as UTF-16; save it as UTF-8 (or Latin-1) and try again.")
    if data.isascii():  # ASCII is UTF-8: one C pass (0.02 s at 292 MB against 0.3 s decoding)
        return "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHUNK):  # chunked: no full decoded copy in memory
            decoder.decode(view[start:start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def sniff_delimiter(sample: str) -> str:
    """The delimiter among `,` `;` tab that splits the first lines into the same number (> 1)
    of fields, the most fields winning; else the one giving the header the most fields; ties
    go to the earlier of `,` `;` tab. Quotes are respected."""
    import csv

    # Lines end at \n, \r or \r\n only, as in the CSV parser: not `str.splitlines`, which
    # also breaks at \x85 (a Windows-1252 `…` read as Latin-1), \x0b, \x1c-\x1e, \u2028…
    lines = io.StringIO(sample, newline="").readlines()
    if len(sample) >= _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample may be partial
    lines = [line for line in lines[:20] if line.strip()]
    if not lines:
        return ","
    consistent, header = {}, {}
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        header[delimiter] = counts[0] if counts else 0
        if counts and min(counts) == max(counts) > 1:
            consistent[delimiter] = counts[0]
    pool = consistent or header
    return max(DELIMITERS, key=lambda d: (pool.get(d, 0), -DELIMITERS.index(d)))


_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"


def is_number_text(value: Any) -> bool:
    """Whether a header cell is written as a number (`178`, `-1.5e3`): a sign that the first
    line is data, or a count line, not column names."""
    import re

    return isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()) is not None


def header_problem(name: str, columns: list[Any], wanted: list[str], naming: str) -> DataError | None:
    """Why a file lacks the columns it needs, when its header is not a header: read as one
    column whose name splits at spaces into wanted names (`Chins Situps Jumps`: the values are
    separated by spaces, which hokusai does not read, as a space inside a text value would be
    ambiguous), or every column named by a number (no header line: the first row was taken for
    names). `naming` ends the fix ("add a first line naming the columns…"). Else None."""
    names = [str(c) for c in columns]
    parts = names[0].split() if len(names) == 1 else []
    if len(parts) > 1 and set(parts) & set(wanted):
        return DataError(f"{name}: reads as one column named {names[0]!r}: its values seem separated by spaces, and "
                         "hokusai reads commas, semicolons or tabs; save it as CSV (commas) or TSV (tabs).")
    if names and all(is_number_text(c) for c in names):
        return DataError(f"{name}: has no header line (its first line holds only numbers); add a first line naming the "
                         f"columns{naming}.")
    return None


def duplicated_columns(name: str, columns: list[Any]) -> None:
    """A DataError naming every column name that occurs more than once (with its 1-based
    positions) and the fix. Empty names are not compared: a CSV reader names them itself."""
    positions: dict[str, list[int]] = {}
    for position, column in enumerate(columns, start=1):
        if column != "":
            positions.setdefault(str(column), []).append(position)
    repeated = [(column, where) for column, where in positions.items() if len(where) > 1]
    if not repeated:
        return

    def where(numbers: list[int]) -> str:
        return f"columns {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"

    shown = ", ".join(f"{column!r} ({where(numbers)})" for column, numbers in repeated[:_SHOW_NAMES])
    more = ", …" if len(repeated) > _SHOW_NAMES else ""
    noun, extra = ("name", "column") if len(repeated) == 1 else ("names", "columns")
    raise DataError(
        f"{name}: duplicated column {noun} {shown}{more}; rename or remove the extra {extra} so each "
        "name appears once."
    )


def _read_delimited(name: str, data: bytes, tab: bool, max_rows: int | None) -> tuple[Any, TableInfo]:
    import warnings

    import pandas as pd

    encoding = sniff_encoding(name, data)
    if tab:
        delimiter = "\t"
    else:
        delimiter = sniff_delimiter(data[:_SNIFF_BYTES].decode(encoding, errors="replace"))
    # The header as written (pandas renames a repeated `x` to `x.1`, so a second column of the
    # same name would pass unnoticed and be dropped as an extra column): same parser, one row.
    header = pd.read_csv(io.BytesIO(data), sep=delimiter, encoding=encoding, header=None, nrows=1,
                         dtype=str, na_filter=False, index_col=False)
    duplicated_columns(name, header.iloc[0].tolist() if len(header) else [])
    # index_col=False: pandas would otherwise take the first field of rows one field longer
    # than the header as the index, shifting every value one column to the left (a file with a
    # delimiter ending each row). Fields beyond the header's, when not empty, are an error.
    def parse(whole_file: bool) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(data), sep=delimiter, encoding=encoding, nrows=max_rows, index_col=False,
                           low_memory=not whole_file)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("error", pd.errors.ParserWarning)
        warnings.simplefilter("always", pd.errors.DtypeWarning)
        try:
            frame = parse(whole_file=False)
            # In chunks (~260k rows) pandas gives a column ints in one chunk and text in the
            # next (and warns), so a cell's type, and the content hash, would depend on where
            # the row sits: such a file is read again with each column typed over the whole
            # file. Not always: that costs ~20% more memory (+215 MB at 1M x 32).
            if any(issubclass(w.category, pd.errors.DtypeWarning) for w in caught):
                frame = parse(whole_file=True)
        except pd.errors.ParserWarning as warning:
            if "Length of header" not in str(warning):
                raise
            cells = header.iloc[0].tolist() if len(header) else []
            count = len(cells)
            # scikit-learn's raw files start with a count line (`178,13,class_0,class_1,class_2`)
            hint = ""
            if any(is_number_text(cell) for cell in cells):
                line = delimiter.join(map(str, cells))
                hint = f" (its first line, {line!r}, holds numbers: if it is not the column names, replace it with them)"
            raise DataError(
                f"{name}: has rows with more fields than its header has column names ({count}); name "
                f"every column in the header or remove the extra fields{hint}."
            ) from None
    return frame, TableInfo("tsv" if tab else "csv", encoding, delimiter)


def read_table(name: str, data: bytes, max_rows: int | None = None) -> pd.DataFrame:
    """Parse `data` (the bytes of file `name`) into a DataFrame; errors name the file."""
    return read_table_info(name, data, max_rows)[0]


def read_table_info(name: str, data: bytes, max_rows: int | None = None) -> tuple[pd.DataFrame, TableInfo]:
    """Parse `data` (the bytes of file `name`) into a DataFrame (index 0..n-1, so row r+1 of
    the data is index r), and say how it was read. CSV: encoding and delimiter are sniffed
    (see `sniff_encoding`, `sniff_delimiter`); TSV: tab. Errors name the file."""
    import pandas as pd

    kind = table_format(name)
    if not data or data.isspace():  # (no copy: `strip()` would copy a large file)
        raise DataError(f"{name}: has no data rows; add rows or drop the file.")
    info = TableInfo(kind)
    try:
        if kind in ("csv", "tsv"):
            frame, info = _read_delimited(name, data, kind == "tsv", max_rows)
        elif kind == "parquet":
            import pyarrow.parquet as pq

            try:  # two columns of one name: pandas would fail with a riddle ("Multiple matches")
                names = pq.read_schema(io.BytesIO(data)).names
            except Exception:  # noqa: BLE001 - not Parquet: pandas says why, below
                names = []
            duplicated_columns(name, names)
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            # dtype=False: keep JSON's own types; else pandas turns numbers in columns named
            # like `*_time`, `*_at` or `date` into datetimes, unlike the same file as CSV.
            # precise_float: without it pandas' JSON parser rounds 0.1088 to 0.10880000000000001
            # convert_axes=False: JSON keys are text; pandas would turn a key "0" into the number 0
            frame = pd.read_json(io.BytesIO(data), orient="records", lines=kind == "jsonl", dtype=False,
                                 precise_float=True, convert_axes=False)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every parser failure is the file's fault
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{name}: cannot be read as {kind} ({first}); check the file's format.") from None
    if frame.empty:
        raise DataError(f"{name}: has no data rows; add rows or drop the file.")
    duplicated_columns(name, list(frame.columns))  # any format: two columns, one name
    frame = frame.head(max_rows) if max_rows else frame
    return frame.reset_index(drop=True), info


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` in the format of `path`'s suffix (CSV: UTF-8, comma), atomically: a
    temporary file in the same folder is renamed over `path`, so it is never half-written."""
    import os
    import tempfile

    kind = table_format(path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        if kind in ("csv", "tsv"):
            frame.to_csv(tmp, index=False, sep="\t" if kind == "tsv" else ",")
        elif kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:  # Python's json: shortest round-trip floats (pandas' to_json keeps 10-15 digits)
            import json

            records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
            with open(tmp, "w", encoding="utf-8") as out:
                if kind == "jsonl":
                    out.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
                else:
                    json.dump(records, out, ensure_ascii=False, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the content hash: `pipeline.data.content_hash` ------------------------------------------
# These names are `hokusai.content/v2`, as before; v3 is `content_hash.content_sha256`. Kept
# here so callers and pinned evidence stay as they are until v3 is wired in.

#: Rows hashed per block by `row_digests` / `content_sha256` (v2): bounds their memory.
_HASH_BLOCK = HASH_BLOCK_V2


def row_digests(frame: pd.DataFrame) -> Any:
    """v2 row digests (`content_hash.row_digests_v2`), hashed in blocks of `_HASH_BLOCK` rows."""
    return row_digests_v2(frame, _HASH_BLOCK)


def content_sha256(frame: pd.DataFrame) -> str:
    """`hokusai.content/v2` of a table (`content_hash.content_sha256_v2`, whose docstring has
    the definition), in blocks of `_HASH_BLOCK` rows."""
    return digests_sha256(frame.columns, row_digests(frame))
