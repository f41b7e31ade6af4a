"""Row keys: 128 bits per row, equal for rows equal by value (`content_hash`'s canonical
cells) whatever the columns' dtypes, for duplicate and benchmark detection across tables
without a hash call per row. Not cryptographic: see `row_keys` for the odds, and
`content_hash.row_ids` for exact classes where a crafted collision matters."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pipeline.data.content_hash import _arrow_text, _canon, _columns, _raw, _repetitive, _text_codes
from pipeline.data.content_hash_v2 import _BOOL, _MISSING, _TEXT

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB  # splitmix64's finalizer (a bijection of 64 bits)
#: Fixed, so keys are comparable across runs and machines; not secret (see `row_keys`).
_FIXED_SEED, _TEXT_SEED = 0x243F6A8885A308D3, 0x13198A2E03707344
_TEXT_KEYS = ("hokusai-rowkey-1", "hokusai-rowkey-2")  # SipHash keys (16 bytes), one per lane
#: NaN patterns no number can have (a NaN is missing): the codes of a gap, and of false (true: + 1).
_CODE_MISSING, _CODE_FALSE = 0x7FF8000000000001, 0x7FF8000000000002


def _mix(x: np.ndarray) -> np.ndarray:
    import numpy as np

    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(_MIX1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_MIX2)
    x ^= x >> np.uint64(31)
    return x


def row_keys(frame: pd.DataFrame) -> np.ndarray:
    """A 128-bit key per row (numpy `V16`), equal for rows equal cell for cell by value (so
    across tables, whatever each column's dtype), seeded by the column names: for duplicate and
    benchmark detection without a per-row hash call (`keys_isin`, `keys_duplicated`).

    Each cell gets a 64-bit hash per lane: a number its IEEE bits, a gap or a boolean a NaN
    pattern no number has, mixed by splitmix64 (a bijection: distinct fixed cells never share
    it); text a keyed SipHash of its UTF-8 (`pandas.util.hash_array`, another key per lane),
    mixed likewise. Each of the two 64-bit lanes is the sum of the row's cell hashes times odd
    multipliers drawn per column and lane from the column names, mixed again. Modelled as random, N distinct rows
    share a key with probability about N**2 / 2**129 (1e7 rows: ~1e-25). Not cryptographic:
    someone who studies these functions can craft a colliding row on purpose; `row_ids` is
    exact when that matters."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = len(frame)
    columns = _columns(frame)
    seed = hashlib.sha256(json.dumps([name for name, _ in columns]).encode()).digest()
    stream = hashlib.shake_256(seed).digest(16 * (len(columns) + 1))
    words = np.frombuffer(stream, dtype=">u8").astype(np.uint64).reshape(-1, 2)
    multipliers = words[:-1] | np.uint64(1)  # odd: multiplying is a bijection
    lanes = np.zeros((2, n), dtype=np.uint64)
    for (_, position), multiplier in zip(columns, multipliers):
        canon = _canon(_raw(frame.iloc[:, position]))
        code = canon.bits.copy()  # numbers: their IEEE bits (injective: -0.0 is 0.0, no NaN)
        code[canon.tag == _MISSING] = _CODE_MISSING
        boolean = canon.tag == _BOOL
        code[boolean] = np.uint64(_CODE_FALSE) + (canon.bits[boolean] >> np.uint64(56))
        code ^= np.uint64(_FIXED_SEED)
        cells = [_mix(code)]  # one hash for both lanes: injective on fixed cells
        if canon.text is not None:  # text: two independent 64-bit SipHashes, one per lane
            text = canon.tag == _TEXT
            utf8 = _arrow_text(canon)
            codes = None
            if _repetitive(utf8):  # hash each distinct text once
                codes, distinct = _text_codes(canon)
                codes, values = codes[text], distinct.to_numpy(zero_copy_only=False).astype(object)
            else:  # mostly distinct (ids, free text): a dictionary would cost more than it saves
                values = utf8.filter(pa.array(text)).to_numpy(zero_copy_only=False).astype(object)
            cells = [cells[0], cells[0].copy()]
            for lane, key in enumerate(_TEXT_KEYS):
                hashed = _mix(pd.util.hash_array(values, hash_key=key, categorize=False) ^ np.uint64(_TEXT_SEED))
                cells[lane][text] = hashed if codes is None else hashed[codes]
        lanes[0] += cells[0] * multiplier[0]
        lanes[1] += cells[-1] * multiplier[1]
    lanes ^= words[-1][:, None]
    keys = np.stack([_mix(lanes[0]), _mix(lanes[1])], axis=1)
    return np.ascontiguousarray(keys).view("V16").reshape(n)


def _lanes(keys: Any) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    pairs = np.ascontiguousarray(keys, dtype="V16").view(np.uint64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def keys_isin(keys: Any, pool: Any) -> np.ndarray:
    """Which `keys` (from `row_keys`) occur in `pool` (e.g. the benchmark's keys): a bool mask.
    The first lane filters (hash-based, fast); only its matches compare all 128 bits."""
    import numpy as np

    high, low = _lanes(keys)
    pool_high, pool_low = _lanes(pool)
    out = np.isin(high, pool_high)
    if out.any():
        at = np.flatnonzero(out)
        candidates = np.isin(pool_high, high[at])
        out[at] = np.isin(np.asarray(keys, dtype="V16")[at], np.asarray(pool, dtype="V16")[candidates])
    return out


def keys_duplicated(keys: Any) -> np.ndarray:
    """True for every row whose key occurred earlier in `keys` (the first copy is False)."""
    import numpy as np
    import pandas as pd

    high, low = _lanes(keys)
    out = pd.Series(high).duplicated(keep=False).to_numpy().copy()
    if out.any():
        at = np.flatnonzero(out)
        out[at] = pd.DataFrame({"high": high[at], "low": low[at]}).duplicated().to_numpy()
    return out
