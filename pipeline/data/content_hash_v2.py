"""`hokusai.content/v2`: one sha256 per row, sorted digests. What evidence recorded before v3,
kept unchanged as the verifier of that evidence (`content_hash.verify_content_sha256`) and
re-exported under its old names by `pipeline.data.tables`. Its cell bytes are v3's too."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

CONTENT_V2 = "hokusai.content/v2"

#: Cell tags, shared with v3 (the first byte of a cell's canonical bytes).
_MISSING, _NUMBER, _BOOL, _TEXT = 0, 1, 2, 3

# --- v2: the verifier for evidence made before v3 (unchanged) ----------------------------------

#: Rows hashed per block: bounds the memory of `content_sha256_v2` whatever the table size.
HASH_BLOCK_V2 = 65536


def _fixed_kind(dtype: Any) -> int | None:
    """_NUMBER or _BOOL when every cell of a column of this dtype has a fixed-size form."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(dtype):
        return _BOOL if dtype == bool else None  # nullable booleans may hold NA: cell by cell
    return _NUMBER if pd.api.types.is_numeric_dtype(dtype) else None


def _fixed_block(part: Any, columns: list[Any], kinds: list[int]) -> Any:
    """(n, 9 * k) uint8: the cells of k numeric/boolean columns, row by row."""
    import numpy as np

    values = part[columns].to_numpy(dtype=np.float64, na_value=np.nan) + 0.0  # + 0.0: -0.0 -> 0.0
    n, k = values.shape
    cells = np.zeros((n, k, 9), dtype=np.uint8)
    missing = np.isnan(values)
    if not missing.any() and _BOOL not in kinds:  # the common case: plain numbers
        cells[:, :, 0] = _NUMBER
        cells[:, :, 1:] = np.ascontiguousarray(values, dtype=">f8").view(np.uint8).reshape(n, k, 8)
        return cells.reshape(n, k * 9)
    tag = np.where(missing, _MISSING, np.asarray(kinds, dtype=np.uint8)[None, :]).astype(np.uint8)
    cells[:, :, 0] = tag
    number = tag == _NUMBER
    cells[:, :, 1:] = np.ascontiguousarray(np.where(number, values, 0.0), dtype=">f8").view(np.uint8).reshape(n, k, 8) * number[:, :, None]
    cells[:, :, 1] += ((tag == _BOOL) & (values != 0)).astype(np.uint8)
    return cells.reshape(n, k * 9)


def _text_cells(column: Any) -> list[bytes]:
    """Cell by cell, for columns that may hold text (or mixed values)."""
    import numpy as np
    import pandas as pd

    out: list[bytes] = []
    missing = bytes(9)
    for value in column.tolist():
        if isinstance(value, (bool, np.bool_)):
            out.append(bytes([_BOOL, int(value)]) + bytes(7))
        elif value is None or value is pd.NA or (isinstance(value, float) and value != value):
            out.append(missing)
        elif isinstance(value, (int, float, np.number)):
            out.append(bytes([_NUMBER]) + np.array([float(value) + 0.0], dtype=">f8").tobytes())
        else:
            text = str(value).encode("utf-8")
            out.append(bytes([_TEXT]) + len(text).to_bytes(4, "big") + text)
    return out


def _row_digests(part: Any, columns: list[Any]) -> list[bytes]:
    """sha256 of each row's canonical bytes (its cells in column order, concatenated)."""
    runs: list[tuple[list[Any], list[int]] | list[bytes]] = []  # fixed-size column runs, or text cells
    for column in columns:
        kind = _fixed_kind(part[column].dtype)
        if kind is None:
            runs.append(_text_cells(part[column]))
        elif runs and isinstance(runs[-1], tuple):
            runs[-1][0].append(column)
            runs[-1][1].append(kind)
        else:
            runs.append(([column], [kind]))
    sha = hashlib.sha256
    parts = []
    for run in runs:
        if isinstance(run, tuple):
            block = _fixed_block(part, *run)
            width, data = block.shape[1], block.tobytes()
            if len(runs) == 1:  # slices of a memoryview: no copy of each row's bytes
                view = memoryview(data)
                return [sha(view[i:i + width]).digest() for i in range(0, len(data), width)]
            parts.append([data[i:i + width] for i in range(0, len(data), width)])
        else:
            parts.append(run)
    return [sha(b"".join(row)).digest() for row in zip(*parts)]


def row_digests_v2(frame: pd.DataFrame, block: int | None = None) -> Any:
    """The v2 digest of every row (steps 1-3 of `content_sha256_v2`: cells of the columns
    sorted by name), as a numpy array of 32-byte items (`V32`), in row order. Hashed in blocks
    of `block` rows (default `HASH_BLOCK_V2`), so memory stays bounded (32 bytes per row kept)."""
    import numpy as np

    block = block or HASH_BLOCK_V2
    columns = sorted(frame.columns, key=str)
    blocks = [np.frombuffer(b"".join(_row_digests(frame.iloc[start:start + block], columns)), dtype="V32")
              for start in range(0, len(frame), block)]
    return np.concatenate(blocks) if blocks else np.empty(0, dtype="V32")


def digests_sha256_v2(columns: Any, digests: Any) -> str:
    """Step 4 of `content_sha256_v2`: the hash of a table with these columns from its row
    digests (`row_digests_v2`, or a subset of them: a subset of rows)."""
    import numpy as np

    names = sorted(columns, key=str)
    digest = hashlib.sha256(json.dumps([str(c) for c in names]).encode() + b"\n")
    digest.update(np.sort(np.asarray(digests, dtype="V32")).tobytes())  # numpy sorts `V32` items bytewise
    return "0x" + digest.hexdigest()


def canonical_order_v2(digests: Any, tie: Any = None) -> Any:
    """v2's canonical row order: by row digest (`row_digests_v2`), bytewise, then by `tie`
    (e.g. where each row came from), then by position (only rows equal cell for cell tie on
    the digest, so this last tie-break cannot change the table's values)."""
    import numpy as np

    digests = np.ascontiguousarray(digests, dtype="V32")
    words = digests.view(">u8").reshape(len(digests), 4)  # big-endian: their order is the bytes' order
    ties = [] if tie is None else [np.asarray(tie)]
    order = np.lexsort([*ties, words[:, 0].astype(np.uint64)])  # stable; the last key sorts first
    first = words[order, 0]
    same = np.flatnonzero(first[1:] == first[:-1])
    if len(same) and (digests[order[same]] != digests[order[same + 1]]).any():
        # two different digests share their first 8 bytes (about 1 in 2**64 per pair): all 32
        order = np.lexsort([*ties, *(words[:, i].astype(np.uint64) for i in (3, 2, 1, 0))])
    return order


def content_sha256_v2(frame: pd.DataFrame, block: int | None = None) -> str:
    """`0x` + sha256 of the canonical form of a table's rows (`hokusai.content/v2`), the
    definition of evidence made before v3; kept to verify it.

    The same rows give the same hash whatever the file format (CSV, TSV, JSON, JSON Lines,
    Parquet), the encoding or delimiter, the column order and the row order:

    1. Columns are sorted by name; `header` = their names as a JSON array (`json.dumps`
       defaults: ASCII, `", "` between items), e.g. `["a", "b", "target"]`.
    2. Each cell becomes bytes by its value, not by the column's type: a number (integer or
       float, so `1`, `1.0` and `"1"` read as 1 are equal) is `0x01` + its float64 in
       big-endian order (-0.0 as 0.0); a boolean is `0x02` + `0x00`/`0x01` + 7 zero bytes;
       a missing value (empty, NaN, null) is 9 zero bytes; anything else is text: `0x03` +
       the length of its UTF-8 bytes (4 bytes, big-endian) + those bytes.
    3. A row's bytes are its cells in column order; its digest is their sha256.
    4. The hash is sha256(header UTF-8 + `\\n` + the row digests sorted bytewise and
       concatenated). Duplicate rows count as often as they occur.

    Rows are hashed in blocks, so memory stays bounded (about 32 bytes per row)."""
    return digests_sha256_v2(frame.columns, row_digests_v2(frame, block))
