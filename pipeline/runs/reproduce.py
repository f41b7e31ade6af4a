"""`hokusai reproduce RUN`: run a finished evaluation again from what it recorded and say
whether the evidence is the same, and if not, where it first differs and why it may.

The recorded settings are used as they were (not the project's hokusai.toml of today, and no
HOKUSAI_* variable), the input files are checked against their recorded sha256 before
anything runs, and the flow runs with the same seeds in a scratch folder (its own Metaflow
store and MLflow file), so the project's runs and experiments are untouched. Then the
artifacts are compared in the order the flow makes them: baseline model bytes, candidate
model bytes, benchmark predictions, attribution, metrics, delta, evidence hash."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from pipeline.data.tables import sha256_hex
from pipeline.errors import DataError, RunError

REPRODUCE_SCHEMA = "hokusai.reproduce/v1"


@dataclass(frozen=True)
class Comparison:
    """One recorded artifact against its reproduction (`recorded`/`reproduced` are short
    digests or values for display; `detail` says how they differ)."""

    name: str
    recorded: str
    reproduced: str
    same: bool
    detail: str = ""


@dataclass
class Reproduction:
    """What `reproduce` found: identical, or the first difference and the environments."""

    run: str
    reproduced_run: str | None
    inputs: list[Comparison]
    artifacts: list[Comparison]
    environment_differences: list[str] = field(default_factory=list)
    recorded_environment: dict[str, Any] | None = None
    current_environment: dict[str, Any] | None = None
    scratch: str | None = None

    @property
    def identical(self) -> bool:
        return all(c.same for c in self.inputs) and bool(self.artifacts) and all(c.same for c in self.artifacts)

    @property
    def first_difference(self) -> Comparison | None:
        return next((c for c in [*self.inputs, *self.artifacts] if not c.same), None)

    def to_json(self) -> dict[str, Any]:
        first = self.first_difference
        return {
            "schema": REPRODUCE_SCHEMA, "run": self.run, "reproduced_run": self.reproduced_run,
            "identical": self.identical, "first_difference": None if first is None else first.name,
            "inputs": [c.__dict__ for c in self.inputs], "artifacts": [c.__dict__ for c in self.artifacts],
            "environment_differences": self.environment_differences,
            "recorded_environment": self.recorded_environment, "current_environment": self.current_environment,
            "scratch": self.scratch,
        }


def _short(value: str) -> str:
    return value if len(value) <= 20 else f"{value[:10]}…{value[-8:]}"


def predictions_digest(predictions: dict[str, Any]) -> str:
    """sha256 over every per-row array the scoring reads (labels, and each model's predicted
    labels and probabilities), with dtypes and shapes, so equal digests mean equal inputs
    to every metric."""
    import numpy as np

    digest = hashlib.sha256()
    arrays = [predictions["y_true"]] + [predictions[label][key] for label in ("baseline", "candidate")
                                        for key in ("y_pred", "proba")]
    for array in arrays:
        array = np.ascontiguousarray(array)
        if array.dtype == object:
            array = array.astype(str)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return "0x" + digest.hexdigest()


def _canonical_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def model_differences(recorded: bytes, reproduced: bytes) -> str:
    """How two skops files of one estimator differ: how many learned values, and whether each
    by one rounding quantum (a value lay on a rounding boundary of `numerics`: the two
    machines' fits agreed to ~2^-44 but rounded apart) or by more (the fit itself differs:
    another library version, or another estimator)."""
    import io
    import zipfile

    import numpy as np

    from pipeline.modelling.numerics import SIGNIFICANT_BITS

    def arrays(data: bytes) -> dict[str, Any]:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: np.load(io.BytesIO(archive.read(n)), allow_pickle=False)
                    for n in archive.namelist() if n.endswith(".npy")}

    try:
        left, right = arrays(recorded), arrays(reproduced)
    except (zipfile.BadZipFile, ValueError, OSError):
        return "the files are not comparable skops files"
    if sorted(left) != sorted(right) or any(left[n].shape != right[n].shape for n in left):
        return "the models have a different structure (another estimator or library version)"
    changed, within_quantum = 0, 0
    for name, a in left.items():
        b = right[name]
        fields = a.dtype.names or (None,)
        for part in fields:
            x, y = (a, b) if part is None else (a[part], b[part])
            if x.dtype.kind != "f":
                changed += int(np.count_nonzero(x != y))
                continue
            differ = ~((x == y) | (np.isnan(x) & np.isnan(y)))
            count = int(np.count_nonzero(differ))
            changed += count
            if count:
                gap = np.abs(x[differ] - y[differ])
                quantum = np.abs(x[differ]) * 2.0 ** -SIGNIFICANT_BITS
                within_quantum += int(np.count_nonzero(gap <= quantum * 1.000001))
    if changed == 0:
        return "same learned values; the files differ elsewhere (metadata or library version)"
    if within_quantum == changed:
        return (f"{changed} learned value(s) differ by one rounding quantum (2^-{SIGNIFICANT_BITS}): a value lay "
                "on a rounding boundary, the rare case docs/attestation.md describes")
    return f"{changed} learned value(s) differ, {changed - within_quantum} by more than one rounding quantum: the fit differs"


def predictions_differences(recorded: dict[str, Any], reproduced: dict[str, Any]) -> str:
    """How two runs' benchmark predictions differ: labels, and probabilities one rounding
    quantum apart (a boundary case of `numerics`) or more."""
    import numpy as np

    from pipeline.modelling.numerics import SIGNIFICANT_BITS

    parts = []
    for label in ("baseline", "candidate"):
        a, b = recorded[label], reproduced[label]
        if np.shape(a["proba"]) != np.shape(b["proba"]):
            parts.append(f"{label}: the benchmark rows differ")
            continue
        x, y = np.asarray(a["proba"], dtype=float), np.asarray(b["proba"], dtype=float)
        differ = x != y
        if differ.any():
            near = np.abs(x[differ] - y[differ]) <= np.abs(x[differ]) * 2.0 ** -SIGNIFICANT_BITS * 1.000001
            kind = "all by one rounding quantum" if near.all() else f"{int((~near).sum())} by more than one quantum"
            parts.append(f"{label}: {int(differ.sum())} probabilities differ, {kind}")
        labels = int(np.count_nonzero(np.asarray(a["y_pred"]) != np.asarray(b["y_pred"])))
        if labels:
            parts.append(f"{label}: {labels} predicted labels differ")
    return "; ".join(parts) or "the true labels differ (another benchmark)"


# --- inputs -------------------------------------------------------------------------------


def _contrib_specs(data: Any, project_dir: Path) -> list[str]:
    """The contributed files as the run was given them (the demo's when a dry-run got none)."""
    from pipeline.data.inputs import DEMO_CONTRIBUTIONS, _is_demo, split_contribs

    specs = split_contribs(data.contrib_files or "")
    config_file = Path(data.config_file) if getattr(data, "config_file", "") else None
    if not specs and _is_demo(project_dir, bool(data.dry_run), config_file):
        specs = list(DEMO_CONTRIBUTIONS)
    return specs


def check_inputs(data: Any, project_dir: Path, run_id: str) -> list[Comparison]:
    """Every input file of the run found again and hashed: the project's base, benchmark and
    baseline model (recorded as bytes) and each contributed file (recorded by its sha256).
    A file that cannot be found is bad input (RunError); a changed one is a difference."""
    from pipeline.data.inputs import DEMO_CONTRIBUTIONS, find_contribution, parse_contrib, read_project_file
    from pipeline.data.inputs import contribution_name

    out = []
    recorded_files = data.project_files
    for key, what in (("base", "data.base"), ("benchmark", "data.benchmark"), ("baseline_model", "data.baseline_model")):
        recorded = recorded_files.get(key)
        if recorded is None:
            continue
        name, recorded_bytes = recorded
        try:
            _, current = read_project_file(project_dir, name, what)
        except DataError as exc:
            raise RunError(f"{exc.message} It is an input of run {run_id}.") from None
        out.append(_compare_file(f"{what} ({PurePath(name).name})", sha256_hex(recorded_bytes), sha256_hex(current)))
    recorded_contribs = {c["file"]: c["file_sha256"] for c in data.contributions}
    specs = _contrib_specs(data, project_dir)
    demo = any(spec in DEMO_CONTRIBUTIONS for spec in specs)
    for spec in specs:
        path, _ = parse_contrib(spec)
        try:
            full = find_contribution(project_dir, path, cwd=project_dir)
        except DataError as exc:
            raise RunError(f"{exc.message} It is an input of run {run_id}.") from None
        name = full.name if demo else contribution_name(project_dir, full)
        if name not in recorded_contribs:
            continue
        out.append(_compare_file(f"contribution ({PurePath(name).name})", recorded_contribs[name], sha256_hex(full.read_bytes())))
    return out


def _compare_file(name: str, recorded: str, current: str) -> Comparison:
    same = recorded == current
    detail = "" if same else f"the file's sha256 is {current}, the run recorded {recorded}: the input changed"
    return Comparison(name, _short(recorded), _short(current), same, detail)


# --- running again ------------------------------------------------------------------------


@contextmanager
def _recorded_settings_only() -> Iterator[None]:
    """HOKUSAI_* variables of this shell would override the recorded settings: hide them."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("HOKUSAI_")}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


def _scratch_settings(recorded: dict[str, Any], scratch: Path) -> Path:
    """The recorded settings as a JSON config file, tracked to an MLflow file in `scratch`
    and stored locally (tracking and storage are not part of the evidence)."""
    settings = json.loads(json.dumps(recorded))
    settings["tracking"] = {**settings.get("tracking", {}), "mlflow_uri": f"sqlite:///{scratch / 'mlflow.db'}"}
    settings.pop("metaflow", None)
    path = scratch / "settings.json"
    path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return path


def _artifacts(data: Any) -> dict[str, tuple[str, Any]]:
    """The compared artifacts of a run: name -> (value to compare, text to show)."""
    base, cand = data.baseline_info["sha256"], data.candidate_info["sha256"]
    preds = predictions_digest(data.predictions)
    attribution = _canonical_text(data.attribution_values)
    metrics = _canonical_text({"baseline": data.baseline_metrics, "candidate": data.candidate_metrics})
    delta = _canonical_text(data.delta)
    evidence = data.attestation["attestationHash"]
    return {
        "baseline model bytes": (base, base),
        "candidate model bytes": (cand, cand),
        "benchmark predictions": (preds, preds),
        "attribution": (attribution, sha256_hex(attribution.encode())),
        "metrics": (metrics, sha256_hex(metrics.encode())),
        "delta": (delta, f"{data.delta['deltaone_bps']:+d} bps"),
        "evidence": (evidence, evidence),
    }


def _compare_artifacts(recorded: Any, reproduced: Any) -> list[Comparison]:
    left, right = _artifacts(recorded), _artifacts(reproduced)
    out = []
    for name, (value, shown) in left.items():
        other, other_shown = right[name]
        same = value == other
        detail = ""
        if not same and name.endswith("model bytes"):
            key = "baseline_model_bytes" if name.startswith("baseline") else "candidate_model_bytes"
            detail = model_differences(getattr(recorded, key), getattr(reproduced, key))
        elif not same and name == "benchmark predictions":
            detail = predictions_differences(recorded.predictions, reproduced.predictions)
        elif not same and name == "metrics":
            a, b = json.loads(value), json.loads(other)
            detail = "; ".join(f"{side} {m}: {a[side][m]!r} -> {b[side].get(m)!r}"
                               for side in a for m in a[side] if a[side][m] != b[side].get(m))
        if shown == other_shown and not same:
            shown, other_shown = sha256_hex(value.encode()), sha256_hex(other.encode())
        out.append(Comparison(name, _short(shown), _short(other_shown), same, detail))
    return out


def reproduce(
    project_dir: Path, ref: str | None, *, scratch: Path | None = None, keep: bool = False,
    on_line: Callable[[str], None] = lambda line: None, on_start: Callable[[Any], None] = lambda run: None,
) -> Reproduction:
    """Check the inputs of run `ref` (default: the latest successful one must be named or be
    the latest), run it again from its recorded settings in a scratch folder and compare.
    A changed input is reported without running (the evaluation could not be the same)."""
    import shutil
    import tempfile

    from pipeline.runs.artifacts import stored
    from pipeline.runs.runner import execute, finished_run, use_project

    origin = finished_run(project_dir, ref)
    recorded = stored(origin)
    on_start(origin)
    inputs = check_inputs(recorded, project_dir, origin.id)
    recorded_env = getattr(recorded, "environment", None)
    result = Reproduction(origin.pathspec, None, inputs, [], recorded_environment=recorded_env)
    if not all(c.same for c in inputs):
        return result
    # read everything compared now: running the flow switches this process's Metaflow store
    snapshot = _Snapshot.of(recorded)
    folder = Path(scratch) if scratch else Path(tempfile.mkdtemp(prefix="hokusai-reproduce-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        config = _scratch_settings(recorded.settings, folder)
        params = {"contrib_files": ",".join(_contrib_specs(recorded, project_dir)), "dry_run": bool(recorded.dry_run),
                  "project_dir": str(project_dir), "config_file": str(config)}
        with _recorded_settings_only():
            run = execute(folder, lambda runner: runner.async_run(**params), "reproduction", False, on_line)
        again = stored(run)
        result.reproduced_run = run.pathspec
        result.artifacts = _compare_artifacts(snapshot, _Snapshot.of(again))
        result.current_environment = getattr(again, "environment", None)
        from pipeline.runs.provenance import differences

        result.environment_differences = differences(recorded_env, result.current_environment)
    finally:
        use_project(project_dir)  # the Runner pointed this process's Client at the scratch store
        if keep or scratch:
            result.scratch = str(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


@dataclass
class _Snapshot:
    """The artifacts `reproduce` compares, read out of a run's datastore."""

    baseline_info: dict[str, Any]
    candidate_info: dict[str, Any]
    baseline_model_bytes: bytes
    candidate_model_bytes: bytes
    predictions: dict[str, Any]
    attribution_values: Any
    baseline_metrics: dict[str, float]
    candidate_metrics: dict[str, float]
    delta: dict[str, Any]
    attestation: dict[str, Any]

    @classmethod
    def of(cls, data: Any) -> _Snapshot:
        return cls(**{name: getattr(data, name) for name in cls.__dataclass_fields__})
