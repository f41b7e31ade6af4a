"""Tables a step hands to another travel as Arrow files, not pickles.

Metaflow stores every artifact as a gzip-compressed pickle: about 8 s for one 1M x 32 table,
paid again by each reader. Here each pandas table (and each large numpy array) an artifact
holds is written once as an Arrow IPC file in the run's datastore (the local `.metaflow`
folder or S3, wherever Metaflow's datastore is), content-addressed by its sha256, and the
artifact keeps only a small plain reference (a dict marked `hokusai.table/v1`: path, sha256,
rows, columns, datastore and its root). Readers
memory-map the file (local) or fetch it once (S3). A resumed run reuses the files it
references; the reference is plain data, so a later version of hokusai reads it.

A table whose columns Arrow cannot give back with the same dtypes (an object column of mixed
values) stays in the pickle: correctness first, speed where it is safe."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

#: The marker of a reference (a dict key no artifact of ours uses otherwise).
MARK = "hokusai.table/v1"
#: numpy arrays smaller than this stay in the pickle (a file per tiny array costs more than it saves).
ARRAY_MIN_BYTES = 64 * 1024
_CHUNK = 1 << 24


def holds_tables(value: Any) -> bool:
    """Whether `value` (plain data: dicts, lists, tuples) holds a table or a large array. Imports
    nothing: without numpy loaded no array or table can exist (a step that only passes plain
    data does not pay pandas' import here)."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    if np is None:
        return False
    if pd is not None and isinstance(value, pd.DataFrame):
        return True
    if isinstance(value, np.ndarray):
        return value.nbytes >= ARRAY_MIN_BYTES
    if isinstance(value, dict):
        return not is_ref(value) and any(holds_tables(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_tables(v) for v in value)
    return False


def holds_refs(value: Any) -> bool:
    """Whether `value` holds a reference written by `to_files`."""
    if isinstance(value, dict):
        return is_ref(value) or any(holds_refs(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_refs(v) for v in value)
    return False


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and value.get("format") == MARK


def to_files(value: Any, storage: Any, prefix: str) -> Any:
    """`value` with each table and large array written to `storage` (a Metaflow
    `DataStoreStorage`) under `<prefix>/tables/` and replaced by its reference."""
    import numpy as np
    import pandas as pd

    if isinstance(value, pd.DataFrame) or (isinstance(value, np.ndarray) and value.nbytes >= ARRAY_MIN_BYTES):
        return _write(value, storage, prefix) or value
    if isinstance(value, dict) and not is_ref(value):
        return {k: to_files(v, storage, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [to_files(v, storage, prefix) for v in value]
    if isinstance(value, tuple):
        return tuple(to_files(v, storage, prefix) for v in value)
    return value


def from_files(value: Any, storage: Any = None) -> Any:
    """`value` with each reference replaced by its table or array (read from `storage` when it
    is the datastore the reference names, else from that datastore)."""
    if is_ref(value):
        return _read(value, storage)
    if isinstance(value, dict):
        return {k: from_files(v, storage) for k, v in value.items()}
    if isinstance(value, list):
        return [from_files(v, storage) for v in value]
    if isinstance(value, tuple):
        return tuple(from_files(v, storage) for v in value)
    return value


def refs(value: Any) -> Iterator[dict[str, Any]]:
    """Every reference in `value`, in order."""
    if is_ref(value):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from refs(v)


def _arrow_table(value: Any) -> Any | None:
    """The Arrow table of a frame or array, or None when Arrow would not give it back as it is."""
    import numpy as np
    import pyarrow as pa

    try:
        if isinstance(value, np.ndarray):
            if value.ndim not in (1, 2) or value.dtype.kind not in "biufUO":
                return None
            columns = [value] if value.ndim == 1 else [value[:, i] for i in range(value.shape[1])]
            return pa.table({str(i): pa.array(c) for i, c in enumerate(columns)})
        if not all(isinstance(c, str) for c in value.columns) or value.columns.has_duplicates:
            return None
        table = pa.Table.from_pandas(value)
    except (pa.ArrowException, TypeError, ValueError):
        return None
    # the dtypes a reader will get, found without reading (a categorical's categories travel in the file)
    restored = table.schema.empty_table().to_pandas().dtypes
    if list(restored.index) != list(value.columns) or any(str(restored[c]) != str(value[c].dtype) for c in value.columns):
        return None
    return table


def _write(value: Any, storage: Any, prefix: str) -> dict[str, Any] | None:
    """Write `value` once, named by the sha256 of its Arrow IPC bytes; its reference, or None
    when it must stay in the pickle."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = _arrow_table(value)
    if table is None:
        return None
    local = storage.TYPE == "local"
    folder = Path(storage.full_uri(storage.path_join(prefix, "tables"))) if local else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".table-", suffix=".part")
    os.close(handle)
    try:
        with pa.OSFile(tmp, "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        digest = _sha256(tmp)
        path = storage.path_join(prefix, "tables", digest[:2], digest + ".arrow")
        if local:
            final = Path(storage.full_uri(path))
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)  # same bytes if it was there: content-addressed
        else:
            with open(tmp, "rb") as data:
                storage.save_bytes(iter([(path, data)]), overwrite=False)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    ref = {"format": MARK, "path": path, "sha256": digest, "rows": table.num_rows,
           "columns": table.column_names, "bytes": os.path.getsize(final) if local else None,
           "datastore": storage.TYPE, "root": storage.datastore_root}
    if isinstance(value, np.ndarray):
        ref.update(kind="array", shape=list(value.shape), dtype=value.dtype.str)
    else:
        ref["kind"] = "frame"
    return ref


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read(ref: dict[str, Any], storage: Any) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from pipeline.errors import DamagedTable

    if storage is None or storage.TYPE != ref["datastore"] or storage.datastore_root != ref["root"]:
        storage = storage_for(ref["datastore"], ref["root"])
    with storage.load_bytes([ref["path"]]) as loaded:
        for _, local_path, _ in loaded:
            if local_path is None:
                raise DamagedTable(ref, "is missing")
            if _sha256(local_path) != ref["sha256"]:
                raise DamagedTable(ref, "does not hold the bytes its sha256 names (it was changed or cut)")
            try:
                table = ipc.open_file(pa.memory_map(local_path)).read_all()
            except (pa.ArrowException, OSError) as exc:
                raise DamagedTable(ref, "cannot be read (" + " ".join(str(exc).split()) + ")") from None
    if ref["kind"] == "frame":
        return table.to_pandas()
    columns = [c.to_numpy(zero_copy_only=False) for c in table.columns]
    array = columns[0] if len(ref["shape"]) == 1 else np.column_stack(columns) if columns else np.empty(ref["shape"])
    return array.astype(np.dtype(ref["dtype"]), copy=False).reshape(ref["shape"])


def storage_for(datastore: str, root: str) -> Any:
    """The Metaflow storage of datastore type `datastore` at `root` (how the Client reads it)."""
    from metaflow.plugins import DATASTORES

    impl = next((d for d in DATASTORES if d.TYPE == datastore), None)
    if impl is None:
        raise ValueError(f"this Metaflow has no {datastore!r} datastore")
    return impl(root)
