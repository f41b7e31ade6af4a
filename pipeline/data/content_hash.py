"""The content hash of a table: `hokusai.content/v3` (vectorised; what evidence records, field
`contentHash`), with `hokusai.content/v2` (one sha256 per row: what older evidence recorded,
kept as its verifier in `content_hash_v2`; `pipeline.data.tables` re-exports it under its old names).

Both hash a table by its values: the same rows give the same hash in any row order, column
order and file format (CSV, TSV, JSON, JSON Lines, Parquet), a one-cell change gives another,
and duplicate rows count as often as they occur. Cells are canonical by value in both
(`1`, `1.0` and a CSV `1` are one number; -0.0 is 0.0; a gap is missing; text by UTF-8).

v3 (`content_sha256`) in short, exact rules in `docs/data.md`:

1. Each cell has canonical bytes, as in v2: `0x01` + float64 big-endian (a number), `0x02` +
   `0x00`/`0x01` + 7 zero bytes (a boolean), 9 zero bytes (missing), `0x03` + 4-byte
   big-endian length + UTF-8 (text). These are prefix-free, so comparing two rows' cells
   column by column equals comparing their concatenated bytes.
2. Canonical row order: rows sorted bytewise by their canonical bytes (columns by name).
   Computed without building any row's bytes: each cell maps to a 64-bit *ordinal* whose
   integer order is the bytewise order of its canonical bytes (numbers: their IEEE bits + 1;
   text: its rank by length then bytes), and rows are sorted by column 1's ordinal, then
   rows still tied by column 2's, and so on (`canonical_order`): usually one argsort.
3. Hash: sha256 of a header (version, column names, row count) then, column by column,
   every cell's canonical bytes in canonical row order, streamed in blocks of `BLOCK` rows
   (one `update` per block and column, never one per row).

Why this shape: the order is defined by the values alone, so anyone can recompute it (sort
the rows' bytes); the bytes are the v2 cell bytes, so "by value" means exactly what it meant;
and the work is a few numpy passes per column plus sha256 over ~9 bytes per cell (the floor:
a hash must read every cell). A subset of rows keeps its order inside the whole table's order,
so one `canonical_order` serves the hash of a file and of each wallet's rows (`subset_sha256`).

`row_keys` gives 128-bit keys per row (equal canonical rows, equal keys, across tables whatever
their dtypes) for duplicate and benchmark detection; `row_ids` gives exact classes instead.

This module imports nothing from the project (so `pipeline.data.tables` can re-export it)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.data.content_hash_v2 import _BOOL, _MISSING, _NUMBER, _TEXT, CONTENT_V2, content_sha256_v2

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    import pandas as pd

CONTENT_V3 = "hokusai.content/v3"


# --- v3: canonical cells ----------------------------------------------------------------------

#: Rows per block when streaming a column's bytes into sha256: memory stays ~9 bytes x BLOCK
#: per column (plus the block's text) whatever the table size; one sha256 update per block.
BLOCK = 1 << 16

# Ordinals (one uint64 per cell, ordered as the cells' canonical bytes): missing 0 < number
# (IEEE bits + 1; the largest non-NaN pattern, -inf, is 0xFFF0000000000000) < false < true < text.
_ORD_FALSE = 0xFFF0000000000002
_ORD_TEXT = 0xFFF0000000000004


@dataclass(frozen=True)
class _Canon:
    """The canonical cells of a column (or of some of its rows)."""

    tag: np.ndarray  # uint8: _MISSING / _NUMBER / _BOOL / _TEXT
    bits: np.ndarray  # uint64: the 8 payload bytes of a fixed cell read big-endian (0 for missing and text)
    text: Any  # the str of each text cell (object ndarray, anything where tag != _TEXT; or a pyarrow
    # large_string array, null where tag != _TEXT), or None: no text cell


def _arrow_text(canon: _Canon) -> Any:
    """The text cells as a pyarrow large_string array, null where a cell is not text."""
    import numpy as np
    import pyarrow as pa

    if isinstance(canon.text, pa.Array):
        return canon.text
    return pa.array(np.where(canon.tag == _TEXT, canon.text, None), type=pa.large_string(), from_pandas=True)


def _raw(series: pd.Series) -> Any:
    """A column's values as one array: numpy float64 (numbers, NaN for gaps), bool or object,
    or a pyarrow large_string array (text and gaps only: pandas' `str` columns stay in Arrow,
    object columns of str go there once). The dtype picks the fast path; values decide."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy() if dtype == bool else series.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(dtype, pd.StringDtype):
        text = pa.array(series.array)
        text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
        return text.cast(pa.large_string())
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        try:
            return pa.array(values, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):  # e.g. NaT among the gaps: cell by cell
            pass
    return values


def _take(raw: Any, rows: np.ndarray) -> Any:
    import pyarrow as pa

    return raw.take(rows) if isinstance(raw, pa.Array) else raw[rows]


def _numbers(values: np.ndarray) -> _Canon:
    import numpy as np

    values = np.asarray(values, dtype=np.float64) + 0.0  # a new array; -0.0 + 0.0 is 0.0
    bits = values.view(np.uint64)
    missing = np.isnan(values)
    if missing.any():
        bits[missing] = 0
        return _Canon(np.where(missing, _MISSING, _NUMBER).astype(np.uint8), bits, None)
    return _Canon(np.full(len(values), _NUMBER, dtype=np.uint8), bits, None)


def _is_missing(value: Any) -> bool:
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(value != value)
    return isinstance(value, (np.datetime64, np.timedelta64)) and bool(np.isnat(value))


def _cell_by_cell(values: np.ndarray) -> _Canon:
    """Mixed columns (numbers and text, odd objects): classified one cell at a time in Python
    (no hashing here; such columns are rare after conforming)."""
    import numpy as np

    n = len(values)
    tag = np.zeros(n, dtype=np.uint8)
    numbers = np.zeros(n, dtype=np.float64)
    bits = np.zeros(n, dtype=np.uint64)
    text = np.full(n, None, dtype=object)
    for i, value in enumerate(values.tolist()):
        if isinstance(value, (bool, np.bool_)):
            tag[i], bits[i] = _BOOL, int(value) << 56
        elif _is_missing(value):
            pass
        elif isinstance(value, (int, float, np.number)):
            tag[i], numbers[i] = _NUMBER, float(value)
        else:
            tag[i], text[i] = _TEXT, str(value)
    number = tag == _NUMBER
    bits[number] = (numbers[number] + 0.0).view(np.uint64)
    return _Canon(tag, bits, text if (tag == _TEXT).any() else None)


def _canon(values: Any) -> _Canon:
    """The canonical cells of `values` (from `_raw`, or rows of it): by value, whatever the path."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = len(values)
    if isinstance(values, pa.Array):  # text and gaps
        missing = values.is_null().to_numpy(zero_copy_only=False)
        return _Canon(np.where(missing, _MISSING, _TEXT).astype(np.uint8), np.zeros(n, dtype=np.uint64), values)
    if values.dtype == bool:
        return _Canon(np.full(n, _BOOL, dtype=np.uint8), values.astype(np.uint64) << np.uint64(56), None)
    if values.dtype.kind in "fiu":
        return _numbers(values)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "string":  # str and gaps (None, NaN, NA): the common text column
        missing = pd.isna(values)
        return _Canon(np.where(missing, _MISSING, _TEXT).astype(np.uint8), np.zeros(n, dtype=np.uint64), values)
    if kind == "empty":
        return _Canon(np.zeros(n, dtype=np.uint8), np.zeros(n, dtype=np.uint64), None)
    if kind in ("integer", "floating", "mixed-integer-float"):
        try:
            return _numbers(pd.to_numeric(values).astype(np.float64))
        except (TypeError, ValueError, OverflowError):
            pass
    if kind == "boolean":
        missing = pd.isna(values)
        true = ~missing & (values == True)  # noqa: E712 - elementwise, object array
        return _Canon(np.where(missing, _MISSING, _BOOL).astype(np.uint8), true.astype(np.uint64) << np.uint64(56), None)
    return _cell_by_cell(values)


def _text_codes(canon: _Canon) -> tuple[np.ndarray, Any]:
    """(codes, distinct texts): `distinct.take(codes)` is each cell's text (codes meaningful
    where tag == _TEXT only), the distinct texts a pyarrow large_string array."""
    import numpy as np

    encoded = _arrow_text(canon).dictionary_encode()
    codes = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary


def _text_ranks(texts: Any) -> np.ndarray:
    """The rank of each of these distinct texts (pyarrow) in canonical-bytes order: UTF-8
    length, then UTF-8 bytes (Arrow compares binary bytewise, unsigned)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    utf8 = texts.cast(pa.large_binary())
    order = pc.sort_indices(pa.table({"length": pc.binary_length(utf8), "bytes": utf8}),
                            sort_keys=[("length", "ascending"), ("bytes", "ascending")]).to_numpy()
    ranks = np.empty(len(texts), dtype=np.uint64)
    ranks[order] = np.arange(len(texts), dtype=np.uint64)
    return ranks


def _ordinals(canon: _Canon) -> np.ndarray:
    """One uint64 per cell, ordered as the cells' canonical bytes compare, and equal only for
    equal cells (missing < numbers by IEEE bits < false < true < text by length then bytes)."""
    import numpy as np

    tag = canon.tag
    out = canon.bits + np.uint64(1)  # numbers; the others are overwritten below
    out[tag == _MISSING] = 0
    boolean = tag == _BOOL
    if boolean.any():
        out[boolean] = np.uint64(_ORD_FALSE) + (canon.bits[boolean] >> np.uint64(56))
    if canon.text is not None:
        text = tag == _TEXT
        codes, distinct = _text_codes(canon)
        out[text] = np.uint64(_ORD_TEXT) + _text_ranks(distinct)[codes[text]]
    return out


#: A fixed cell as numpy packs it: 1 + 8 bytes, no padding; and a cell's first 5 bytes.
_CELL = [("tag", "u1"), ("bits", ">u8")]
_HEAD = [("tag", "u1"), ("word", ">u4")]


def _cell_bytes(canon: _Canon) -> np.ndarray:
    """The canonical bytes of these cells, concatenated (uint8), built without a Python loop.
    Fixed cells: a packed numpy record each. With text, every cell is a 5-byte head (tag +
    a text's length, or the first 4 payload bytes) joined by Arrow to a tail (the UTF-8, or
    the last 4 payload bytes): `binary_join_element_wise`, one call per block."""
    import numpy as np

    n = len(canon.tag)
    if canon.text is None:
        packed = np.empty(n, dtype=_CELL)  # one pass per field (a (n, 9) uint8 matrix is ~10x slower)
        packed["tag"] = canon.tag
        packed["bits"] = canon.bits
        return packed.view(np.uint8)
    return _concatenated(_text_cell_array(canon))


def _text_cell_array(canon: _Canon) -> Any:
    """The canonical bytes of each cell of a column holding text, as a pyarrow large_binary array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(canon.tag)
    text = canon.tag == _TEXT
    utf8 = _arrow_text(canon).cast(pa.large_binary())
    lengths = pc.binary_length(utf8).fill_null(0).to_numpy(zero_copy_only=False)
    head = np.empty(n, dtype=_HEAD)
    head["tag"] = canon.tag
    head["word"] = np.where(text, lengths, canon.bits >> np.uint64(32))
    if not utf8.null_count:
        tail = utf8
    elif not (canon.bits[~text]).any():  # missing (or false) cells: their last 4 bytes are zero
        tail = utf8.fill_null(pa.scalar(bytes(4), pa.large_binary()))
    else:
        low = (canon.bits & np.uint64(0xFFFFFFFF)).astype(">u4")
        tail = pc.if_else(pa.array(text), utf8, _fixed_width(low.view(np.uint8), 4, n))
    return pc.binary_join_element_wise(_fixed_width(head.view(np.uint8), 5, n), tail, pa.scalar(b"", pa.large_binary()))


def _concatenated(cells: Any) -> np.ndarray:
    """The bytes of a pyarrow large_binary array's values, concatenated (no copy)."""
    import numpy as np

    ends = np.frombuffer(cells.buffers()[1], dtype=np.int64)[cells.offset:cells.offset + len(cells) + 1]
    data = cells.buffers()[2]
    return np.frombuffer(data, dtype=np.uint8)[ends[0]:ends[-1]] if data is not None else np.empty(0, np.uint8)


def _fixed_width(data: np.ndarray, width: int, n: int) -> Any:
    """n binary values of `width` bytes each, from `data` (Arrow large_binary, no copy)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.arange(0, width * n + 1, width, dtype=np.int64)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


# --- v3: order, hash, keys ---------------------------------------------------------------------

def _columns(frame: pd.DataFrame) -> list[tuple[str, int]]:
    """(name, position) of each column, sorted by name (as text), as in v2."""
    return sorted(((str(c), i) for i, c in enumerate(frame.columns)), key=lambda item: item[0])


def _groups(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(order, first): `order` sorts the rows by their canonical bytes (ties by position);
    `first[i]` says whether `order[i]` differs from the row before it (starts a group of
    equal rows). Column by column, only rows still tied are sorted again, so a table whose
    first column (by name) is distinct is sorted by one argsort."""
    import numpy as np

    n = len(frame)
    order = np.arange(n, dtype=np.int64)
    first = np.zeros(n, dtype=bool)
    first[:1] = True
    for _, position in _columns(frame):
        group = np.cumsum(first) - 1
        tied = np.bincount(group)[group] > 1
        if not tied.any():
            break
        raw = _raw(frame.iloc[:, position])
        if tied.all() and group[-1] == 0:  # one group: all rows, no previous key
            key = _ordinals(_canon(raw))
            local = np.argsort(key, kind="stable")
            order, key = order[local], key[local]
            first[1:] = key[1:] != key[:-1]
            continue
        at = np.flatnonzero(tied)
        rows, group = order[at], group[at]
        key = _ordinals(_canon(_take(raw, rows)))  # ordinals of the tied rows only: their order is all we need
        local = _sort_within(group, key)
        rows, key, group = rows[local], key[local], group[local]
        order[at] = rows
        change = np.ones(len(at), dtype=bool)
        change[1:] = (key[1:] != key[:-1]) | (group[1:] != group[:-1])
        first[at] = change
    return order, first


def _sort_within(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions sorting by (group, key), stably; `group` is non-decreasing (so groups stay
    where they are). With fewer than 65536 groups the group pass is a radix sort."""
    import numpy as np

    dense = np.zeros(len(group), dtype=np.int64)
    np.cumsum(group[1:] != group[:-1], out=dense[1:])
    if len(dense) and dense[-1] < 1 << 16:
        local = np.argsort(key, kind="stable")
        return local[np.argsort(dense[local].astype(np.uint16), kind="stable")]
    return np.lexsort((key, group))


def canonical_order(frame: pd.DataFrame, tie: Any = None) -> np.ndarray:
    """Positions putting rows in canonical order (v3): bytewise by their canonical bytes (the
    columns sorted by name, each cell by value), then rows equal cell for cell by `tie` (e.g.
    where each row came from), then by position. Defined by the values alone, so the same rows
    in any order, format or column order come out in one order; the order of a subset of rows
    is this order restricted to them (what `subset_sha256` relies on)."""
    import numpy as np

    order, first = _groups(frame)
    if tie is not None and len(order) and not first.all():
        local = _sort_within(np.cumsum(first), np.asarray(tie)[order])
        order = order[local]
    return order


def _header(frame: pd.DataFrame, rows: int) -> bytes:
    names = [name for name, _ in _columns(frame)]
    return f"{CONTENT_V3}\n{json.dumps(names)}\n{rows}\n".encode("utf-8")


def _repetitive(text: Any) -> bool:
    """Whether a text column (pyarrow) is longer than a block and its first block is at most
    half distinct: then working through its distinct values pays."""
    import pyarrow.compute as pc

    return len(text) > BLOCK and 2 * pc.count_distinct(text.slice(0, BLOCK)).as_py() <= BLOCK


def _column_bytes(raw: Any, rows: np.ndarray) -> Iterator[np.ndarray]:
    """A column's canonical bytes for these rows, in order, block by block. A text column
    whose first block repeats values (at most half distinct) goes through its dictionary: each
    distinct text's cell is built once, and blocks are `take`s of them (2-3x faster)."""
    import pyarrow as pa

    if isinstance(raw, pa.Array) and _repetitive(raw):
        encoded = raw.dictionary_encode()
        cells = pa.concat_arrays([_text_cell_array(_canon(encoded.dictionary)), pa.array([bytes(9)], pa.large_binary())])
        codes = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy(zero_copy_only=False)  # a gap: the last
        for start in range(0, len(rows), BLOCK):
            yield _concatenated(cells.take(codes[rows[start:start + BLOCK]]))
        return
    for start in range(0, len(rows), BLOCK):
        yield _cell_bytes(_canon(_take(raw, rows[start:start + BLOCK])))


def _stream(frame: pd.DataFrame, rows: np.ndarray) -> str:
    digest = hashlib.sha256(_header(frame, len(rows)))
    for _, position in _columns(frame):
        for block in _column_bytes(_raw(frame.iloc[:, position]), rows):
            digest.update(block)
    return "0x" + digest.hexdigest()


def content_sha256(frame: pd.DataFrame, order: np.ndarray | None = None) -> str:
    """`0x` + sha256 of a table's canonical form (`hokusai.content/v3`, `docs/data.md`): the
    header, then column by column (sorted by name) every cell's canonical bytes in canonical
    row order. `order`: `canonical_order(frame)` when already computed (it is the costly part)."""
    import numpy as np

    rows = canonical_order(frame) if order is None else np.asarray(order, dtype=np.int64)
    return _stream(frame, rows)


def subset_sha256(frame: pd.DataFrame, rows: Any, order: np.ndarray | None = None) -> str:
    """The v3 content hash of some rows of `frame` (a boolean mask or positions), equal to
    `content_sha256` of those rows as a table. With the whole table's `order` (compute it once
    per file), each subset (e.g. one wallet's usable rows) costs one pass over its own rows."""
    import numpy as np

    order = canonical_order(frame) if order is None else np.asarray(order, dtype=np.int64)
    rows = np.asarray(rows)
    mask = rows if rows.dtype == bool else np.isin(np.arange(len(frame)), rows)
    if len(mask) != len(frame):
        raise ValueError(f"a row mask of {len(mask)} for a table of {len(frame)} rows")
    if rows.dtype != bool and len(np.unique(rows)) != len(rows):
        raise ValueError("subset_sha256: positions repeat; pass each row once (or a mask)")
    return _stream(frame, order[mask[order]])


def row_ids(*frames: pd.DataFrame) -> list[np.ndarray]:
    """Exact row classes across tables with the same columns: one int64 per row, equal exactly
    when the rows are equal cell for cell by value (`1` == `1.0`, gaps equal), and ordered as
    the canonical order. No collision at all; costs a canonical sort of the tables together."""
    import numpy as np
    import pandas as pd

    if not frames:
        return []
    names = [sorted(map(str, f.columns)) for f in frames]
    if any(n != names[0] for n in names):
        raise ValueError("row_ids: the tables must have the same columns")
    columns = list(frames[0].columns)
    together = pd.concat([f[columns] for f in frames], ignore_index=True) if len(frames) > 1 else frames[0]
    order, first = _groups(together)
    ids = np.empty(len(together), dtype=np.int64)
    ids[order] = np.cumsum(first) - 1
    return np.split(ids, np.cumsum([len(f) for f in frames])[:-1])


def verify_content_sha256(frame: pd.DataFrame, recorded: str) -> str | None:
    """Which definition gives `recorded` for `frame`: `hokusai.content/v3`, `…/v2`, or None
    (neither: the rows differ). For evidence of either age: v3 is tried first (it is cheap)."""
    if content_sha256(frame) == recorded:
        return CONTENT_V3
    if content_sha256_v2(frame) == recorded:
        return CONTENT_V2
    return None
