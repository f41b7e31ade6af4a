"""The pre-check's parse handed to the flow: cleaned contributions cached by content.

The CLI's pre-check (`pipeline.validation.check_run`) parses and PII-checks every contributed
file before any run exists; the flow's `start` would then parse each file again. Instead the
pre-check stores what it made of each file (the `LoadedContribution`: the cleaned table, with
PII handled and extra columns dropped, and its small metadata) here, and `start` reads it back
when, and only when, it is the parse `start` would make itself:

- **Keyed by content.** An entry's key is the sha256 of the raw bytes plus everything else that
  shapes the cleaned table: the name the file is recorded under, its wallet tag, the settings
  that `load_contribution` reads (`max_rows`, `pii`, `wallet_column`), the schema columns kept,
  and the code (the package version, a hash of `pipeline/data`'s sources, the pandas, pyarrow
  and numpy versions). `start` reads and hashes the file again (hashing is far cheaper than
  parsing), so a file changed since the pre-check has another key and is parsed again, and the
  recorded `file_sha256` is always that of the bytes `start` read.
- **Only cleaned tables.** An entry holds what `start` stores as an artifact anyway, never the
  raw bytes: a file whose PII policy rejects it fails and leaves no entry.
- **Exact or nothing.** A table is stored only when it reads back equal to what the parser made
  (values, dtypes, column labels, index); anything else (e.g. an `object` column, which Arrow
  reads back as `str`) is not stored, and `start` parses the file itself. Any entry that cannot
  be read, or whose metadata is not the key asked for, is a miss.
- **Atomic.** An entry is one Arrow IPC file (the table; the metadata in its schema metadata),
  written to a temporary name in the same folder and renamed into place: a reader sees a whole
  entry or none, whatever else writes or evicts at the same time.
- **Bounded.** Entries live in `<project>/.hokusai/parse-cache/`. After each write the oldest
  entries (by last use) are deleted until at most `MAX_ENTRIES` files and `MAX_BYTES` remain;
  the entry just written is always kept. Deleting the folder is always safe.

A run without the pre-check (`python -m pipeline.flow run`, a step on Kubernetes where the
project's folder is not there) finds no entry and parses the file itself, as before."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pipeline.config import STATE_DIR

if TYPE_CHECKING:
    from pipeline.config import DataSection
    from pipeline.data.contributions import LoadedContribution

#: The entry format; a new one makes every older entry a miss.
FORMAT = "hokusai.parse-cache/v1"
FOLDER = "parse-cache"
SUFFIX = ".arrow"
MAX_ENTRIES = 32
MAX_BYTES = 2 * 1024**3
#: A temporary file older than this is a crashed writer's; younger ones may be being written.
STALE_SECONDS = 3600
_META = b"hokusai.parse_cache"

#: `use`: read entries (the flow's `start`); `fill`: read, and store what was parsed (the
#: CLI's pre-check); `off`: neither.
Mode = Literal["use", "fill", "off"]


def cache_dir(project_dir: Path) -> Path:
    return Path(project_dir) / STATE_DIR / FOLDER


@lru_cache(maxsize=1)
def code_version() -> str:
    """What the parse depends on in code: the package version, a sha256 of the sources of
    `pipeline/data` (parsing, PII, columns), and the pandas, pyarrow and numpy versions."""
    import numpy
    import pandas
    import pyarrow

    from pipeline import __version__

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return (f"hokusai {__version__}; pipeline/data {digest.hexdigest()[:16]}; pandas {pandas.__version__}; "
            f"pyarrow {pyarrow.__version__}; numpy {numpy.__version__}")


def key_of(file_sha256: str, name: str, wallet: str | None, rules: DataSection,
           columns: list[str] | None) -> dict[str, Any]:
    """Everything that shapes `load_contribution`'s result for these bytes."""
    return {
        "format": FORMAT,
        "file_sha256": file_sha256,
        "name": name,
        "wallet": wallet,
        "max_rows": rules.max_rows,
        "pii": rules.pii,
        "wallet_column": rules.wallet_column,
        "columns": None if columns is None else [str(c) for c in columns],
        "code": code_version(),
    }


def entry_path(project_dir: Path, key: dict[str, Any]) -> Path:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return cache_dir(project_dir) / (hashlib.sha256(text.encode()).hexdigest() + SUFFIX)


def _metadata(loaded: LoadedContribution) -> dict[str, Any]:
    return {
        "name": loaded.name, "wallet": loaded.wallet, "file_sha256": loaded.file_sha256,
        "table": loaded.table.to_dict(), "rows_read": loaded.rows_read, "pii_policy": loaded.pii_policy,
        "pii": [f.to_dict() for f in loaded.pii], "wallet_column": loaded.wallet_column,
        "extra_columns": list(loaded.extra_columns),
    }


def _loaded(meta: dict[str, Any], frame: Any) -> LoadedContribution:
    from pipeline.data.contributions import LoadedContribution
    from pipeline.data.pii import Finding
    from pipeline.data.tables import TableInfo

    return LoadedContribution(
        name=meta["name"], wallet=meta["wallet"], file_sha256=meta["file_sha256"], frame=frame,
        table=TableInfo(**meta["table"]), rows_read=meta["rows_read"], pii_policy=meta["pii_policy"],
        pii=tuple(Finding(kind=f["type"], column=f["column"], count=f["count"], rows=tuple(f["rows"]))
                  for f in meta["pii"]),
        wallet_column=meta["wallet_column"], extra_columns=tuple(meta["extra_columns"]),
    )


def _to_pandas(table: Any) -> Any:
    # split_blocks: one array per column, no copy into 2-D blocks (a memory-mapped float
    # column stays where it is until something writes it)
    return table.to_pandas(split_blocks=True)


def same_frame(a: Any, b: Any) -> bool:
    """The two tables are the same: values (NaN equal to NaN), dtypes, column labels and
    their types, index (type, dtype and values)."""
    return (
        type(a.index) is type(b.index) and a.index.dtype == b.index.dtype and a.index.equals(b.index)
        and list(a.columns) == list(b.columns) and [type(c) for c in a.columns] == [type(c) for c in b.columns]
        and a.columns.dtype == b.columns.dtype
        and all(x == y for x, y in zip(a.dtypes, b.dtypes, strict=True))
        and a.equals(b)
    )


def arrow_table(frame: Any) -> Any | None:
    """`frame` as an Arrow table that reads back as exactly `frame`, or None."""
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
        return table if same_frame(_to_pandas(table), frame) else None
    except (pa.ArrowException, TypeError, ValueError, NotImplementedError):
        return None


def store(project_dir: Path, key: dict[str, Any], loaded: LoadedContribution) -> Path | None:
    """Store `loaded` under `key` (atomically), then evict; returns the entry, or None when
    the table does not read back exactly or the folder cannot be written (the flow then
    parses the file itself)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = arrow_table(loaded.frame)
    if table is None:
        return None
    meta = {"key": key, "contribution": _metadata(loaded)}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META: json.dumps(meta).encode()})
    path = entry_path(project_dir, key)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)  # atomic: readers see the whole entry or none
    except (OSError, pa.ArrowException):
        tmp.unlink(missing_ok=True)
        return None
    evict(path.parent, keep=path)
    return path


def fetch(project_dir: Path, key: dict[str, Any]) -> LoadedContribution | None:
    """The entry stored under `key`, or None (absent, unreadable, or not for this key). The
    table is memory-mapped; the entry's last use is recorded (its mtime) for eviction."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    path = entry_path(project_dir, key)
    try:
        with pa.memory_map(str(path)) as source:
            table = ipc.open_file(source).read_all()
        meta = json.loads(table.schema.metadata[_META])
        if meta.get("key") != key or meta["contribution"]["file_sha256"] != key["file_sha256"]:
            return None
        loaded = _loaded(meta["contribution"], _to_pandas(table))
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - an entry that cannot be read is a miss: the file is parsed
        return None
    try:
        os.utime(path)
    except OSError:
        pass
    return loaded


def evict(folder: Path, keep: Path | None = None, max_entries: int | None = None, max_bytes: int | None = None) -> None:
    """Delete the least recently used entries beyond `max_entries` or `max_bytes` (default
    `MAX_ENTRIES`, `MAX_BYTES`; never `keep`), and temporary files older than
    `STALE_SECONDS` (a crashed writer's)."""
    max_entries = MAX_ENTRIES if max_entries is None else max_entries
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    now = time.time()
    entries = []
    for path in folder.iterdir():
        try:
            stat = path.stat()
        except OSError:  # deleted meanwhile by another run
            continue
        if path.name.endswith(".tmp"):
            if now - stat.st_mtime > STALE_SECONDS:
                path.unlink(missing_ok=True)
        elif path.suffix == SUFFIX:
            entries.append((stat.st_mtime, stat.st_size, path))
    entries.sort(key=lambda e: (e[2] == keep, e[0]), reverse=True)  # `keep` first, then newest first
    count = total = 0
    for _, size, path in entries:
        count, total = count + 1, total + size
        if path != keep and (count > max_entries or total > max_bytes):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass


def load(project_dir: Path, full: Path, name: str, wallet: str | None, rules: DataSection,
         columns: list[str] | None, mode: Mode = "use") -> tuple[LoadedContribution, bool]:
    """The contributed file `full` loaded as `load_contribution` loads it, and whether that
    came from the cache: its bytes are hashed; an entry for them (and for these settings and
    this code) is used when there is one, else the bytes are parsed (and, in mode `fill`,
    the result stored).

    Mode `use` (`start`, which expects an entry) hashes the file as a stream, so a hit never
    holds the raw bytes in memory; on a miss the file is read and hashed again, so the
    recorded `file_sha256` is that of the very bytes parsed. The other modes read the bytes
    once and hash them once."""
    from pipeline.data.contributions import ContributionFile, load_contribution
    from pipeline.data.tables import sha256_hex

    if mode == "use":
        with full.open("rb") as stream:
            digest = "0x" + hashlib.file_digest(stream, "sha256").hexdigest()
        cached = fetch(project_dir, key_of(digest, name, wallet, rules, columns))
        if cached is not None:
            return cached, True
        return load_contribution(ContributionFile(name, full.read_bytes(), wallet), rules, columns), False
    raw = full.read_bytes()
    digest = sha256_hex(raw)
    key = key_of(digest, name, wallet, rules, columns)
    if mode == "fill":
        cached = fetch(project_dir, key)
        if cached is not None:
            return cached, True
    loaded = load_contribution(ContributionFile(name, raw, wallet), rules, columns, file_sha256=digest)
    del raw
    if mode == "fill":
        store(project_dir, key, loaded)
    return loaded, False
