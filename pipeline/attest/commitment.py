"""Model commitments as the chain knows them. DeltaVerifier requires the signed
`baselineCommitment` to equal the model's current head, and Hokusai's own pipeline commits a
model as `sha256-merkle-v1` over its MLflow model folder (hokusai-data-pipeline
`src/lineage/weight_commitment.py`). To extend a lineage that pipeline started, hokusai must
commit the same way; `skops-sha256` (the sha256 of the stored skops bytes) stays our default."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import InputError

MERKLE_V1 = "mlflow-merkle-v1"
SKOPS_SHA256 = "skops-sha256"
#: Upstream's algorithm id for MERKLE_V1.
UPSTREAM_ALGORITHM = "sha256-merkle-v1"
#: MLflow files that change with each save (timestamps, uuids), left out of the commitment.
VOLATILE = ("MLmodel",)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FolderCommitment:
    """A folder's `sha256-merkle-v1` root (0x + 64 hex), the files it covers as (posix path,
    sha256 hex, size) in leaf order, and the paths left out."""

    root: str
    files: tuple[tuple[str, str, int], ...]
    excluded: tuple[str, ...]


def excluded(relative: str) -> bool:
    """MLflow-volatile paths: `MLmodel` at the top, anything under `metadata/`, and any path
    naming `registered_model_meta`."""
    return relative in VOLATILE or relative.startswith("metadata/") or "registered_model_meta" in relative


def merkle_root(leaves: list[bytes]) -> bytes:
    """Parents are sha256(left || right) of the raw digests; an odd last node is paired with
    itself; a single leaf is the root."""
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def folder_commitment(folder: Path) -> FolderCommitment:
    """`sha256-merkle-v1` of an MLflow model folder: each included file's sha256 is a leaf, in
    the byte order of its POSIX path relative to `folder`; symlinks and volatile paths are left
    out. An empty (or all-excluded) folder is an InputError."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of an MLflow model; give the folder that holds its MLmodel file.")
    files, skipped = [], []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or (path.is_file() and excluded(relative)):
            skipped.append(relative)
        elif path.is_file():
            files.append((relative, path))
    if not files:
        raise InputError(f"{folder} holds no file to commit (MLmodel and metadata/ are left out); "
                         "give the folder of a saved MLflow model.")
    files.sort(key=lambda item: item[0].encode("utf-8"))
    covered = []
    for relative, path in files:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        covered.append((relative, digest.hexdigest(), path.stat().st_size))
    root = merkle_root([bytes.fromhex(d) for _, d, _ in covered])
    return FolderCommitment("0x" + root.hex(), tuple(covered), tuple(sorted(skipped)))
