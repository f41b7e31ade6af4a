"""Model commitments as the chain knows them. DeltaVerifier requires the signed
`baselineCommitment` to equal the model's current head, and Hokusai's own pipeline commits a
model as `sha256-merkle-v1` over its MLflow model folder (hokusai-data-pipeline
`src/lineage/weight_commitment.py`). To extend a lineage that pipeline started, hokusai must
commit the same way; `skops-sha256` (the sha256 of the stored skops bytes) stays our default."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.config import Settings

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


def logged_folder_commitment(data: bytes, trusted_types: list[str]) -> str:
    """The `mlflow-merkle-v1` root of the folder hokusai logs for a model (model.skops,
    requirements.txt, conda.yaml, python_env.yaml; its MLmodel left out), written by the very
    function logging uses (`runs.tracking.save_model_folder`) in a temporary folder: the
    registered version of the model, downloaded, gives the same root."""
    import tempfile

    from pipeline.runs.tracking import save_model_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        save_model_folder(folder, data, trusted_types)
        return folder_commitment(folder).root


def run_commitments(settings: Settings, project_dir: Path, baseline_source: str, baseline_bytes: bytes,
                    candidate_bytes: bytes, model_types: dict[str, list[str]]) -> dict[str, str] | None:
    """Step `generate_attestation_output`: {"scheme", "baseline", "candidate"} for the evidence
    under `[attestation] commitment = "mlflow-merkle-v1"`, None under the default (the evidence
    then commits the skops sha256, as always). The candidate, and a baseline read from a file
    or trained, are committed as the folder this run logs for them; a baseline from the Model
    Registry (`models:/NAME/VERSION`) as its registered folder, downloaded: the commitment the
    run that registered it made of its candidate, i.e. the lineage's head."""
    from pipeline.runs.registry import read_registered_folder

    if settings.attestation.commitment != MERKLE_V1:
        return None
    if baseline_source.startswith("models:/"):
        _, baseline = read_registered_folder(settings, project_dir, baseline_source, lambda f: folder_commitment(f).root)
    else:
        baseline = logged_folder_commitment(baseline_bytes, model_types["baseline.skops"])
    return {"scheme": MERKLE_V1, "baseline": baseline,
            "candidate": logged_folder_commitment(candidate_bytes, model_types["candidate.skops"])}
