"""The MLflow Model Registry, as Hokusai's pipeline uses it: aliases, not stages.

Every real run (not a dry-run) registers its candidate model as a new version of
`hokusai-<[model] id>` (`[tracking] registered_model`), tagged with the evidence hash, DeltaOne,
the gate's verdict and the Metaflow run; `hokusai promote RUN` moves an alias (`production`)
to the version of a run whose gate passed and tags `lifecycle_stage` (Production on it,
Archived on the version it replaces), as upstream's `promote_model_to_production`; and
`[data] baseline = "models:/hokusai-<id>@production"` makes the next run start from the
promoted model: the lineage a team runs week after week."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.scoring.delta import Delta

#: The logged model of a run that is registered (`tracking.log_run` logs "baseline" and "candidate").
CANDIDATE = "candidate"
#: The version tag upstream's registry readers and rollbacks use.
LIFECYCLE_TAG = "lifecycle_stage"
ARCHIVED = "Archived"
DEFAULT_ALIAS = "production"
T = TypeVar("T")
#: `models:/NAME@ALIAS` or `models:/NAME/VERSION`.
MODEL_URI = re.compile(r"^models:/(?P<name>[^@/]+)(?:@(?P<alias>[\w\-]+)|/(?P<version>\d+))$")


def registered_name(settings: Settings) -> str:
    """The registered model of a project: `[tracking] registered_model`, else `hokusai-<[model] id>`
    (upstream's `hokusai-{token_id}`)."""
    return settings.tracking.registered_model or f"hokusai-{settings.model.id}"


def version_tags(attestation: dict[str, Any], delta: Delta, pathspec: str) -> dict[str, str]:
    """A registered version's tags: ours (the evidence hash, DeltaOne in bps, the gate's verdict,
    the Metaflow run) and upstream's registration tags (`hokusai_token_id`, `benchmark_metric`,
    `benchmark_value` = the candidate's raw primary score, `benchmark_spec_id`)."""
    evidence = attestation["evidence"]
    primary = next(m for m in delta.metrics if m.metric == delta.primary_metric)
    return {"hokusai.attestation_hash": attestation["attestationHash"], "hokusai.deltaone_bps": str(delta.deltaone_bps),
            "hokusai.gate": "passed" if delta.passed else "failed", "hokusai.pathspec": pathspec,
            "hokusai_token_id": evidence["modelId"], "benchmark_metric": delta.primary_metric,
            "benchmark_value": repr(float(primary.candidate)), "benchmark_spec_id": evidence["benchmark"]["specId"]}


def _version_of_run(client: Any, name: str, run_id: str) -> Any | None:
    """The newest version of `name` registered from MLflow run `run_id`, else None."""
    found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return max(found, key=lambda v: int(v.version), default=None)


def register_candidate(
    client: Any, experiment_id: str, run_id: str, *, settings: Settings, pathspec: str, delta: Delta,
    attestation: dict[str, Any],
) -> dict[str, str]:
    """Register the candidate model logged in MLflow run `run_id` as a new version of the project's
    registered model (created on first use), at most once: a version already registered from this
    run is returned as it is. Returns its name, version and `models:/` URI."""
    from mlflow.exceptions import MlflowException

    from pipeline.errors import TrackingError

    name = registered_name(settings)
    version = _version_of_run(client, name, run_id)
    if version is None:
        models = client.search_logged_models(
            [experiment_id], filter_string=f"source_run_id = '{run_id}' AND name = '{CANDIDATE}'")
        ready = [m for m in models if str(m.status) == "READY"]
        if not ready:
            raise TrackingError(f"MLflow run {run_id} holds no logged candidate model to register.")
        try:
            client.create_registered_model(name, description="Candidates of hokusai evaluations (hokusai promote).")
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(name, f"models:/{ready[0].model_id}", run_id=run_id,
                                              tags=version_tags(attestation, delta, pathspec),
                                              model_id=ready[0].model_id)
    return {"name": name, "version": str(version.version), "uri": f"models:/{name}/{version.version}"}


def baseline_run_id(client: Any, source: str) -> str | None:
    """The MLflow run that registered a baseline read from the registry (`ModelInfo.source`
    `models:/NAME/VERSION`): upstream's `baseline_run_id`. None for any other baseline."""
    match = MODEL_URI.match(source)
    if match is None or match["version"] is None:
        return None
    try:
        return client.get_model_version(match["name"], match["version"]).run_id
    except Exception:  # noqa: BLE001 - a version deleted since: the tag falls back to this run
        return None


def _version(client: Any, uri: str) -> Any:
    """The model version a `models:/NAME@ALIAS` or `models:/NAME/VERSION` URI names now."""
    match = MODEL_URI.match(uri)
    assert match is not None  # the config's pattern
    if match["alias"]:
        return client.get_model_version_by_alias(match["name"], match["alias"])
    return client.get_model_version(match["name"], match["version"])


def registered_baseline(settings: Settings, project_dir: Path) -> tuple[str, bytes] | None:
    """Step `load_baseline_model`: the baseline `[data] baseline` names in the Model Registry, as
    (`models:/NAME/VERSION`, its stored skops bytes), pinned to the version the alias names now
    (the evidence's `baseline.source`); None when no registry baseline is configured."""
    from pipeline.errors import ModelError

    uri = settings.data.baseline
    if not uri:
        return None

    def skops(folder: Path) -> bytes | None:
        model = folder / "model.skops"
        return model.read_bytes() if model.is_file() else None

    version, data = read_registered_folder(settings, project_dir, uri, skops)
    if data is None:
        raise ModelError(f"[data] baseline {uri} (version {version.version}) holds no model.skops: it was not "
                         "registered by hokusai; name a version a hokusai run registered.")
    return f"models:/{version.name}/{version.version}", data


def read_registered_folder(settings: Settings, project_dir: Path, uri: str, read: Callable[[Path], T]) -> tuple[Any, T]:
    """(the version `uri` names now, `read` of its model folder as MLflow downloads it): the one
    way a registered folder is read, for the baseline's bytes (`load_baseline_model`) and for its
    `mlflow-merkle-v1` commitment (`generate_attestation_output`, with the pinned
    `models:/NAME/VERSION`, so an alias moved meanwhile changes nothing), so both see the same files.
    The registry's failures are one sentence each (ModelError / TrackingError, exit 2)."""
    import tempfile

    import mlflow
    from mlflow.exceptions import MlflowException

    from pipeline.config import mlflow_uri
    from pipeline.errors import ModelError, TrackingError
    from pipeline.runs.store import mlflow_client

    tracking_uri = mlflow_uri(settings, project_dir)
    try:
        with mlflow_client(tracking_uri) as client:
            version = _version(client, uri)
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{version.name}/{version.version}", dst_path=tmp))
                return version, read(folder)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            match = MODEL_URI.match(uri)
            what = (f"no version of {match['name']} holds @{match['alias']}" if exc.error_code == "INVALID_PARAMETER_VALUE"
                    else f"there is no {match['name']}" + (f" version {match['version']}" if match["version"] else ""))
            raise ModelError(f"[data] baseline {uri}: {what} in the Model Registry at {tracking_uri}; promote a run "
                             "with `hokusai promote RUN`, or empty [data] baseline.") from None
        raise TrackingError(f"[data] baseline {uri}: MLflow at {tracking_uri} failed ({_short(exc)}); check that the "
                            "tracking server is up, then run again.") from None


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200].rstrip(".") or type(exc).__name__


# --- moving an alias (`hokusai promote`: pipeline.runs.promotion) ---------------------------

def check_alias(alias: str) -> None:
    """An alias MLflow accepts: letters, digits, _ and -, neither `latest` nor `v<number>`."""
    from pipeline.errors import InputError

    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,255}", alias) or alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise InputError(f"--alias {alias!r} is not an alias MLflow accepts; use letters, digits, _ and - (not "
                         "'latest' nor v<number>), e.g. production.")


def refuse_unpromotable(evidence: dict[str, Any], pathspec: str, alias: str) -> None:
    """Only a real run whose gate passed may move an alias: one sentence why not (RunError, exit 2)."""
    from pipeline.errors import RunError

    if evidence["dryRun"]:
        raise RunError(f"Run {pathspec} is a dry-run, so it registered no model to promote; promote a run of "
                       "`hokusai run`.")
    if not evidence["gate"]["passed"]:
        failed = ", ".join(f"{c['name']} {c['value']} (threshold {c['threshold']})"
                           for c in evidence["gate"]["conditions"] if not c["passed"] and c.get("blocking", True))
        raise RunError(f"Run {pathspec} failed the DeltaOne gate on {failed}, so its model cannot be promoted to "
                       f"@{alias}; only a run whose gate passed can be.")


def move_alias(client: Any, name: str, run_id: str, alias: str) -> dict[str, Any] | None:
    """Move `alias` of registered model `name` to the version MLflow run `run_id` registered, tag
    it `lifecycle_stage` = the alias capitalised (Production), and the version that held the alias
    before `Archived` (unless it still holds another alias), as upstream's
    `promote_model_to_production`. Idempotent: the alias's own version again changes nothing.
    None when no version of `name` comes from `run_id`."""
    version = _version_of_run(client, name, run_id)
    if version is None:
        return None
    previous = _holder(client, name, alias)
    already = previous is not None and previous.version == version.version
    if not already:
        client.set_registered_model_alias(name, alias, version.version)
    client.set_model_version_tag(name, version.version, LIFECYCLE_TAG, alias[:1].upper() + alias[1:])
    archived = None
    if previous is not None and not already and not client.get_model_version(name, previous.version).aliases:
        client.set_model_version_tag(name, previous.version, LIFECYCLE_TAG, ARCHIVED)
        archived = str(previous.version)
    return {"model": name, "version": str(version.version), "alias": alias, "model_uri": f"models:/{name}@{alias}",
            "previous": None if previous is None else str(previous.version), "archived": archived, "already": already}


def _holder(client: Any, name: str, alias: str) -> Any | None:
    """The version holding `alias` now, else None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
