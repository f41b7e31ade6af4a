"""A baseline's checks remembered by content, so a run need not import scikit-learn and
skops twice.

`load_baseline_model` loads the baseline's skops file only to check it (a fitted classifier
or regressor, as many features as the schema, predicts a base row) and to learn its
estimator and classes; `train_new_model` loads it again to use it. The first load costs
~2.3 s of imports in a step that otherwise needs none of them. So once a baseline passes,
what was learnt is kept in `<project>/.hokusai/model-checks/`, keyed by everything the checks
read: the sha256 of the model's bytes, the schema (features, kinds, task), the content hash
of the base row it predicted, and the code (hokusai's version, a digest of
`pipeline/modelling`, the scikit-learn, skops and numpy versions). A later run with the same
key takes the estimator and classes from the record.

A record is never trusted with a model: `train_new_model` loads the bytes with every skops
check as always, repeats the checks (`baseline.check_model`) and compares the estimator and
classes with what the run used, refusing the run on a difference. Records are tiny JSON files,
written to a temporary name and renamed; the newest `MAX_ENTRIES` are kept. A run whose
project folder has no `.hokusai` (a step on Kubernetes) neither reads nor writes one.
Deleting the folder is always safe."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import STATE_DIR

if TYPE_CHECKING:
    from pipeline.data.tables import Schema

FORMAT = "hokusai.model-check/v1"
FOLDER = "model-checks"
MAX_ENTRIES = 256
#: A temporary file older than this is a killed writer's; younger ones may be being written.
STALE_SECONDS = 3600


@dataclass(frozen=True)
class Checked:
    """What a passed check learnt about a baseline."""

    estimator: str
    classes: list[Any]


@lru_cache(maxsize=1)
def code_version() -> str:
    """What the checks depend on in code, read without importing scikit-learn or skops."""
    from importlib.metadata import version

    from pipeline import __version__

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    packages = "; ".join(f"{name} {version(name)}" for name in ("scikit-learn", "skops", "numpy"))
    return f"hokusai {__version__}; pipeline/modelling {digest.hexdigest()[:16]}; {packages}"


def key_of(model_sha256: str, schema: Schema, checked_row_sha256: str) -> dict[str, Any]:
    """Everything the checks of `load_baseline_model` read."""
    return {"format": FORMAT, "model_sha256": model_sha256, "features": list(schema.features),
            "kinds": list(schema.kinds), "task": schema.task, "checked_row": checked_row_sha256,
            "code": code_version()}


def _path(project_dir: Path, key: dict[str, Any]) -> Path:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return Path(project_dir) / STATE_DIR / FOLDER / (hashlib.sha256(text.encode()).hexdigest() + ".json")


def recall(project_dir: Path, key: dict[str, Any]) -> Checked | None:
    """The record of `key`, or None (none, unreadable, or written for another key)."""
    try:
        record = json.loads(_path(project_dir, key).read_text())
        if record["key"] != key:
            return None
        return Checked(str(record["estimator"]), list(record["classes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(project_dir: Path, key: dict[str, Any], checked: Checked) -> None:
    """Keep `checked` under `key`: atomically, never failing the run (a record only saves
    time), only in a project that has its `.hokusai` folder, and only classes JSON gives
    back exactly (same values and types)."""
    state = Path(project_dir) / STATE_DIR
    try:
        text = json.dumps({"key": key, "estimator": checked.estimator, "classes": checked.classes})
    except (TypeError, ValueError):
        return
    back = json.loads(text)["classes"]
    if not state.is_dir() or back != checked.classes or list(map(type, back)) != list(map(type, checked.classes)):
        return
    path = _path(project_dir, key)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(text)
        os.replace(tmp, path)
        _prune(path.parent)
    except OSError:
        tmp.unlink(missing_ok=True)


def _prune(folder: Path) -> None:
    """Delete the oldest records beyond `MAX_ENTRIES`, and temporary files a killed writer
    left over an hour ago (another run may delete one first)."""
    import time

    def modified(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    records = sorted(folder.glob("*.json"), key=modified, reverse=True)
    stale = [tmp for tmp in folder.glob(".*.tmp") if 0 < modified(tmp) < time.time() - STALE_SECONDS]
    for old in records[MAX_ENTRIES:] + stale:
        old.unlink(missing_ok=True)
