"""monitor_and_log and `hokusai track`: record the evaluation in MLflow (params, metrics, the
training dataset, both models in MLflow's scikit-learn format and as the stored skops bytes,
the evidence, the manifest and the attribution report) so it can be found and checked later.

Tracking never costs the evaluation: a server that is down or errors fails within seconds
(short timeout, one retry), the failure is recorded in the `tracking` artifact, and
`hokusai track RUN` logs the run later. One evaluation has exactly one MLflow run: logging
looks for the runs tagged with its pathspec (and, in a resumed run, with the pathspecs of the
runs it resumed) first, reuses a finished one, completes one an interrupted logging left
behind (a SIGKILL, a tracking server that died mid-way), and closes any other left RUNNING as
FAILED, saying so. Then what Hokusai's own pipeline reads is written to that run: the HEM
manifest and run tags (`runs.hem`) and the candidate's Model Registry version (`runs.registry`).
The store itself (its lock, its preparation, the client) is `runs.store`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.data.contributions import ORIGIN
from pipeline.runs.store import mlflow_client, sqlite_path
from pipeline.runs.store import prepare_store_early  # noqa: F401 - the runner reads it from here

if TYPE_CHECKING:
    from pipeline.modelling.baseline import ModelInfo
    from pipeline.config import Settings
    from pipeline.scoring.delta import Delta

DRY_RUN_SUFFIX = "-dry-run"


def experiment_name(experiment: str, dry_run: bool) -> str:
    """Dry-runs go to their own experiment so they never touch the real one."""
    return experiment + DRY_RUN_SUFFIX if dry_run else experiment


PATHSPEC_TAG = "hokusai.pathspec"


def ui_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI page of a run on a tracking server (None for a local store)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def log_evaluation(
    *,
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: dict[str, bytes],
    models: dict[str, Any] | None = None,
    training_data: Any = None,
    target: str | None = None,
    datasets: list[tuple[str, Any, str]] | None = None,
    origins: Sequence[str] = (),
) -> dict[str, Any]:
    """The one MLflow run of an evaluation, with everything given; returns its ids, URI, UI
    URL, whether it was there already (`existing`), the status of the partial run it
    completed (`completed`: "RUNNING"/"FAILED"/…, else None), the runs it closed as FAILED
    (`closed`) and a sentence for each (`notes`).

    The runs tagged with `tags[PATHSPEC_TAG]` or one of `origins` (the pathspecs of the runs a
    resumed run continues, nearest first) are looked up first. Those carrying the same
    attestation hash record this evaluation: a FINISHED one is reused, else the newest
    partial one (left RUNNING by a killed logging, or FAILED) is completed with what it lacks
    (metrics, params, datasets and models it has are not logged twice; the artifacts are
    written again), so logging twice never makes a second run. Any other run of them left
    RUNNING is closed as FAILED. A run found through an origin is re-tagged with this run's
    pathspec (`hokusai.resumed_from` keeps the one it had)."""
    import mlflow

    with mlflow_client(tracking_uri) as client:
        exp = _experiment(mlflow, tracking_uri, experiment)
        pathspec = tags[PATHSPEC_TAG]
        found = [r for p in dict.fromkeys([pathspec, *origins]) for r in client.search_runs(
            [exp.experiment_id], filter_string=f"tags.`{PATHSPEC_TAG}` = '{p}'", max_results=1000)]
        same = [r for r in found if r.data.tags.get(HASH_TAG) == tags.get(HASH_TAG)]
        finished = [r for r in same if r.info.status == "FINISHED"]
        kept = finished[0] if finished else max(same, key=lambda r: r.info.start_time or 0, default=None)
        notes, closed = [], []
        for run in found:
            if run is not kept and run.info.status in OPEN_STATUSES:
                notes.append(_close(client, run, kept, run in same))
                closed.append(run.info.run_id)
        completed = kept.info.status if kept is not None and kept.info.status != "FINISHED" else None
        if kept is not None and completed is None:
            run_id = kept.info.run_id
            _retag(client, kept, tags)
        else:
            run_id = _log(mlflow, exp.experiment_id, run_name, tags, params, metrics, artifacts, models or {},
                          training_data, target, datasets or [], partial=kept)
        if completed is not None:
            notes.insert(0, f"MLflow run {run_id} had been left {completed} by an interrupted logging of "
                            f"{kept.data.tags[PATHSPEC_TAG]}; it was completed, so the evaluation has one MLflow run.")
    return {"run_id": run_id, "experiment_id": exp.experiment_id, "tracking_uri": tracking_uri,
            "ui_url": ui_url(tracking_uri, exp.experiment_id, run_id), "existing": bool(finished),
            "completed": completed, "closed": closed, "notes": notes}


#: Tag holding the attestation hash: runs of one evaluation carry the same.
HASH_TAG = "hokusai.attestation_hash"
#: Tag naming the pathspec a run was logged under before a resumed run completed it.
RESUMED_FROM_TAG = "hokusai.resumed_from"
#: Tag on a run closed as FAILED, with the sentence saying why.
CLOSED_TAG = "hokusai.closed"
#: MLflow statuses of a run whose logging has not ended.
OPEN_STATUSES = ("RUNNING", "SCHEDULED")


def _close(client: Any, run: Any, kept: Any, same: bool) -> str:
    """Close `run`, left RUNNING by an interrupted logging, as FAILED; the sentence why."""
    from mlflow.entities import RunStatus

    why = (f"MLflow run {kept.info.run_id} records the same evaluation" if same and kept is not None
           else f"it records another evaluation (attestation {run.data.tags.get(HASH_TAG, 'unknown')})")
    note = (f"MLflow run {run.info.run_id} had been left {run.info.status} by an interrupted logging of "
            f"{run.data.tags.get(PATHSPEC_TAG)}; it was closed as FAILED: {why}.")
    client.set_tag(run.info.run_id, CLOSED_TAG, note)
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
    return note


def _retag(client: Any, run: Any, tags: dict[str, str]) -> None:
    """A run found through a resumed run's origin now names the run that completed it."""
    old = run.data.tags.get(PATHSPEC_TAG)
    if old != tags[PATHSPEC_TAG]:
        client.set_tag(run.info.run_id, RESUMED_FROM_TAG, old)
        for key, value in tags.items():
            client.set_tag(run.info.run_id, key, value)


def _experiment(mlflow: Any, tracking_uri: str, name: str) -> Any:
    """The experiment `name`, created when missing; on a local store its artifacts go under
    the store's folder (`.hokusai/mlruns`), not `./mlruns` in the current folder."""
    exp = mlflow.get_experiment_by_name(name)
    if exp is None:
        path = sqlite_path(tracking_uri)
        location = (path.parent / "mlruns").resolve().as_uri() if path is not None else None
        mlflow.create_experiment(name, artifact_location=location)
        exp = mlflow.get_experiment_by_name(name)
    return exp


def _log(mlflow: Any, experiment_id: str, run_name: str, tags: dict[str, str], params: dict[str, Any],
         metrics: dict[str, float], artifacts: dict[str, bytes], models: dict[str, Any], training_data: Any,
         target: str | None, datasets: list[tuple[str, Any, str]], partial: Any = None) -> str:
    """The MLflow run, written through the client: the fluent `start_run` would also probe
    for notebooks and git (IPython alone is a 0.5 s import), for tags no one reads here.
    With `partial` (a run an interrupted logging left behind) that run is completed: only
    the metrics, params, datasets and models it lacks are logged (a model whose logging
    never finished is deleted first), the tags and artifacts are written again."""
    import getpass
    import time

    from mlflow.entities import Metric, Param, RunStatus

    client = mlflow.MlflowClient()
    have: dict[str, set] = {"metrics": set(), "params": set(), "inputs": set(), "models": set()}
    if partial is None:
        run_id = client.create_run(experiment_id, run_name=run_name, tags={
            "mlflow.user": os.environ.get("METAFLOW_USER") or getpass.getuser(), "mlflow.source.type": "JOB",
            "mlflow.source.name": "hokusai", **tags}).info.run_id
    else:
        run_id = partial.info.run_id
        have = {"metrics": set(partial.data.metrics), "params": set(partial.data.params),
                "inputs": {(d.dataset.name, d.dataset.digest) for d in partial.inputs.dataset_inputs},
                "models": _finished_models(client, experiment_id, run_id)}
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING), name=run_name)
        _retag(client, partial, tags)
    try:
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()
                                          if k not in have["metrics"]],
                         params=[Param(k, str(v)) for k, v in params.items() if k not in have["params"]])
        inputs = []
        if training_data is not None:
            inputs.append(_dataset_input(training_data, "training_data", target, None, "training"))
        for name, frame, digest in datasets:  # each contribution, its content hash as the digest
            inputs.append(_dataset_input(frame, name, target, digest, "contribution"))
        inputs = [i for i in inputs if (i.dataset.name, i.dataset.digest) not in have["inputs"]]
        if inputs:
            client.log_inputs(run_id, datasets=inputs)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in artifacts.items():
                (Path(tmp) / name).write_bytes(data)
            client.log_artifacts(run_id, tmp)
        features = [c for c in (training_data.columns if training_data is not None else []) if c != target]
        mlflow.set_experiment(experiment_id=experiment_id)  # where Model.log puts a logged model
        for name, model in models.items():
            if name not in have["models"]:
                _log_model(run_id, name, model, training_data[features].head(5) if features else None)
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id


def _finished_models(client: Any, experiment_id: str, run_id: str) -> set[str]:
    """The names of the run's logged models whose logging finished (READY); the others (a
    logging killed mid-way leaves one PENDING) are deleted, to be logged again."""
    names, token = set(), None
    while True:
        page = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'",
                                           page_token=token)
        for model in page:
            if str(model.status) == "READY":
                names.add(model.name)
            else:
                client.delete_logged_model(model.model_id)
        token = page.token
        if not token:
            return names


#: MLflow column types by numpy dtype kind (what `mlflow.data.from_pandas` would infer).
_COLUMN_TYPES = {"f": "double", "i": "long", "u": "long", "b": "boolean", "M": "datetime"}
#: The longest dataset schema MLflow accepts (`mlflow.utils.validation.MAX_DATASET_SCHEMA_SIZE`):
#: ~19,000 columns of MLflow's column specs.
MAX_SCHEMA_CHARS = 1048575
#: Columns a summarised schema lists in full.
SUMMARY_COLUMNS = 100
#: The key of a summarised schema (in place of MLflow's `mlflow_colspec`).
SUMMARY_KEY = "hokusai_schema_summary"


def dataset_schema(frame: Any) -> str:
    """A dataset's schema JSON for MLflow: `{"mlflow_colspec": [...]}`, every column's MLflow
    type, name and whether it is required (no missing value), from the dtypes.
    `mlflow.data.from_pandas` infers the same by looking at every cell in Python (86 s for
    1M rows x 32 columns); this takes milliseconds.

    A table too wide for MLflow (the JSON over MAX_SCHEMA_CHARS, ~19,000 columns) gets a
    summary instead, `{"hokusai_schema_summary": {"columns": the column count, "types":
    {MLflow type: count}, "first_columns": the first SUMMARY_COLUMNS column specs,
    "schema_sha256": sha256 of the full schema JSON}}`: the full JSON is what this returns
    for a narrower table, so it can be rebuilt from the table and checked against the hash."""
    import hashlib
    import json
    from collections import Counter

    missing = frame.isna().any()
    columns = [{"type": _COLUMN_TYPES.get(dtype.kind, "string"), "name": str(column),
                "required": not bool(missing.iloc[i])} for i, (column, dtype) in enumerate(frame.dtypes.items())]
    full = json.dumps({"mlflow_colspec": columns})
    if len(full) <= MAX_SCHEMA_CHARS:
        return full
    return json.dumps({SUMMARY_KEY: {
        "columns": len(columns), "types": dict(sorted(Counter(c["type"] for c in columns).items())),
        "first_columns": columns[:SUMMARY_COLUMNS], "schema_sha256": hashlib.sha256(full.encode()).hexdigest()}})


def _dataset_input(frame: Any, name: str, target: str | None, digest: str | None, context: str) -> Any:
    """An MLflow dataset input for `frame`: the schema from its dtypes (`dataset_schema`)
    and the profile from its shape."""
    import json

    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    source = CodeDatasetSource(tags={})
    dataset = Dataset(
        name=name, digest=digest or _frame_digest(frame), source_type=source._get_source_type(),
        source=source.to_json(), schema=dataset_schema(frame),
        profile=json.dumps({"num_rows": len(frame), "num_elements": int(frame.size)}),
    )
    return DatasetInput(dataset, tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]
                        + ([InputTag("mlflow.data.targets", target)] if target else []))


def _frame_digest(frame: Any) -> str:
    """8 hex digits naming a table's rows in order: sha256 of pandas' vectorised row hashes
    (MLflow's own `compute_pandas_digest` converts every cell in Python: 8 s at 1M rows)."""
    import hashlib

    import pandas as pd

    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    names = "\x1f".join(map(str, frame.columns)).encode()
    return hashlib.sha256(names + b"\n" + rows.tobytes()).hexdigest()[:8]


def save_model_folder(path: str | Path, data: bytes, trusted_types: list[str], mlflow_model: Any = None,
                      signature: Any = None) -> None:
    """Write a model's MLflow folder from its stored skops bytes: model.skops, MLmodel,
    requirements.txt, conda.yaml and python_env.yaml. The one writer of that folder: logging
    (`_StoredSkops`) and the `mlflow-merkle-v1` commitment (`attest.commitment`) both call it,
    so the root committed in the evidence is the root of the folder MLflow keeps."""
    import yaml
    from importlib.metadata import version

    from mlflow import pyfunc
    from mlflow.models import Model
    from mlflow.utils.environment import _PythonEnv, _mlflow_conda_env

    mlflow_model = Model() if mlflow_model is None else mlflow_model
    model_file, requirements = "model.skops", [f"scikit-learn=={version('scikit-learn')}", f"skops=={version('skops')}"]
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / model_file).write_bytes(data)
    if signature is not None:
        mlflow_model.signature = signature
    pyfunc.add_to_model(mlflow_model, loader_module="mlflow.sklearn", model_path=model_file,
                        conda_env="conda.yaml", python_env="python_env.yaml", code=None, predict_fn="predict")
    mlflow_model.add_flavor("sklearn", pickled_model=model_file, sklearn_version=version("scikit-learn"),
                            serialization_format="skops", code=None, skops_trusted_types=trusted_types)
    mlflow_model.model_size_bytes = len(data)
    mlflow_model.save(str(folder / "MLmodel"))
    (folder / "requirements.txt").write_text("\n".join(requirements))
    (folder / "conda.yaml").write_text(yaml.safe_dump(_mlflow_conda_env(additional_pip_deps=requirements)))
    _PythonEnv.current().to_yaml(str(folder / "python_env.yaml"))


class _StoredSkops:
    """An MLflow model flavor (for `Model.log`) that writes a model's stored skops bytes as
    they are, in MLflow's scikit-learn format (`save_model_folder`): `mlflow.sklearn.load_model`
    reads it back, and logging needs neither scikit-learn nor skops in this process."""

    __name__ = "sklearn"

    def __init__(self, data: bytes, trusted_types: list[str]) -> None:
        self.data, self.trusted_types = data, trusted_types

    def save_model(self, path: str, mlflow_model: Any, signature: Any = None, **_: Any) -> None:
        save_model_folder(path, self.data, self.trusted_types, mlflow_model, signature)


def _log_model(run_id: str, name: str, model: dict[str, Any], example: Any) -> None:
    """A model in MLflow's scikit-learn format from its stored skops bytes (safe to load),
    with a signature from an input example and the model's own benchmark predictions."""
    from mlflow.models import Model, infer_signature

    signature = infer_signature(example, model["y_pred"][: len(example)]) if example is not None else None
    Model.log(None, _StoredSkops(model["data"], model["trusted_types"]), name=name, signature=signature, run_id=run_id)


def log_run(
    *, settings: Settings, project_dir: Path, dry_run: bool, pathspec: str, delta: Delta,
    attestation: dict[str, Any], manifest: dict[str, Any], baseline_info: ModelInfo,
    models: dict[str, dict[str, Any]], training_data: Any,
) -> dict[str, Any]:
    """Step `monitor_and_log` (and `hokusai track`): the MLflow record of one evaluation.
    Never raises: a tracking failure comes back as `{"status": "failed", "reason": ...}`
    and the evaluation stands. `models` holds, by file name, each model's stored skops bytes
    ("data"), the types its file names ("trusted_types") and its benchmark labels ("y_pred").
    The artifacts include `attribution_report.json`, exactly what `hokusai attest RUN --format
    attribution-report` prints for the run (`attribution_report_artifact`). Then what Hokusai's
    pipeline reads: the HEM manifest and run tags (`hem.log_hem`), and, for a real run, the
    candidate registered in the Model Registry (`registry.register_candidate`)."""
    import rfc8785

    from pipeline.attest.attribution_report import ARTIFACT
    from pipeline.config import mlflow_uri
    from pipeline.logs import get_logger
    from pipeline.runs.hem import log_hem, model_id_text
    from pipeline.runs.registry import baseline_run_id, register_candidate

    uri = mlflow_uri(settings, project_dir)
    metrics: dict[str, float] = {"deltaone_bps": delta.deltaone_bps}
    for m in delta.metrics:
        metrics |= {f"baseline_{m.metric}": m.baseline, f"candidate_{m.metric}": m.candidate,
                    f"delta_{m.metric}_bps": m.delta_bps}
    report = attribution_report_artifact(project_dir, pathspec)
    origins = resumed_from(project_dir, pathspec)
    try:
        tracking = log_evaluation(
            tracking_uri=uri,
            experiment=experiment_name(settings.tracking.experiment, dry_run),
            run_name=pathspec.replace("/", "-"),
            tags={PATHSPEC_TAG: pathspec, "hokusai.dry_run": str(dry_run).lower(),
                  "hokusai.model_id": model_id_text(settings),
                  "hokusai.gate": "passed" if delta.passed else "failed",
                  HASH_TAG: attestation["attestationHash"]},
            params={"model_id": settings.model.id, "estimator": baseline_info.estimator,
                    "baseline_source": baseline_info.source, "seed": settings.evaluation.seed,
                    "primary_metric": delta.primary_metric,
                    "min_improvement_bps": settings.evaluation.min_improvement_bps,
                    "contributors": len(delta.contributors)},
            metrics=metrics,
            artifacts={"evidence.json": rfc8785.dumps(attestation["evidence"]),
                       "manifest.json": rfc8785.dumps(manifest), **{n: m["data"] for n, m in models.items()},
                       **report},
            models={name.removesuffix(".skops"): m for name, m in models.items()},
            training_data=training_data.drop(columns=[ORIGIN], errors="ignore"),
            target=settings.model.target,
            datasets=contribution_datasets(training_data, manifest),
            origins=origins,
        )
        with mlflow_client(uri) as client:
            tracking["hem"] = log_hem(
                client, tracking["run_id"], settings=settings, project_dir=project_dir, pathspec=pathspec, delta=delta,
                attestation=attestation, attribution_report=report.get(ARTIFACT),
                baseline_run_id=baseline_run_id(client, baseline_info.source))
            tracking["model_version"] = None if dry_run else register_candidate(
                client, tracking["experiment_id"], tracking["run_id"], settings=settings, pathspec=pathspec,
                delta=delta, attestation=attestation)
            tracking["acceptance_event"] = None if dry_run or not delta.passed else log_acceptance_event(
                client, tracking["run_id"], settings=settings, project_dir=project_dir, pathspec=pathspec,
                attestation=attestation)
    except Exception as exc:  # noqa: BLE001 - whatever the tracker says, the evaluation stands
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        get_logger().warning("mlflow.failed", reason=reason, tracking_uri=uri)
        return {"status": "failed", "reason": reason, "tracking_uri": uri, "run_id": None, "experiment_id": None,
                "ui_url": None}
    for note in tracking["notes"]:
        get_logger().warning("mlflow.partial_run", note=note)
    get_logger().info("mlflow.logged", **{k: v for k, v in tracking.items() if k != "notes"})
    return {"status": "logged", **tracking}


def log_acceptance_event(
    client: Any, run_id: str, *, settings: Settings, project_dir: Path, pathspec: str, attestation: dict[str, Any],
) -> str | None:
    """Log `deltaone_acceptance_event.json`, the event `hokusai attest RUN --format acceptance-event`
    prints (the same bytes), to MLflow run `run_id`; its artifact path, or None when the run has
    no event (e.g. nobody to pay). Idempotent: the event holds no time of its own."""
    import tempfile
    import time

    from metaflow import Run, metadata, namespace

    from pipeline.attest.acceptance import ARTIFACT, event_json, event_of_run
    from pipeline.errors import AttestationError
    from pipeline.runs.hem import COST_STEP

    metadata(f"local@{Path(project_dir).resolve()}")  # as runner.use_project: a run's metadata is local
    namespace(None)
    cpu = getattr(Run(pathspec)[COST_STEP].task.data, "task_cpu_seconds", None)
    try:
        event = event_of_run(attestation, settings.attestation, pathspec=pathspec, mlflow_run_id=run_id,
                             task_cpu_seconds=cpu, now=int(time.time()))
    except AttestationError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ARTIFACT
        path.write_text(event_json(event), encoding="utf-8")
        client.log_artifact(run_id, str(path))
    return ARTIFACT


def resumed_from(project_dir: Path, pathspec: str, limit: int = 100) -> list[str]:
    """The pathspecs of the runs `pathspec` resumed, nearest first (a resume of a resume
    gives two), from the `origin-run-id` Metaflow records on the `start` task of a resumed
    run; [] for a run that resumed nothing or cannot be read (only the run's own pathspec is
    then looked up in MLflow)."""
    from pipeline.logs import get_logger

    origins: list[str] = []
    try:
        from metaflow import Run, metadata, namespace

        metadata(f"local@{Path(project_dir).resolve()}")  # as runner.use_project: a run's metadata is local
        namespace(None)
        flow, run_id = pathspec.split("/")[:2]
        while len(origins) < limit:
            origin = Run(f"{flow}/{run_id}")["start"].task.metadata_dict.get("origin-run-id")
            if origin in (None, "", "None", run_id) or f"{flow}/{origin}" in origins:
                break
            run_id = origin
            origins.append(f"{flow}/{origin}")
    except Exception as exc:  # noqa: BLE001 - whatever the Client says, the run's own pathspec is looked up
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        get_logger().warning("mlflow.origins_unknown", reason=reason, pathspec=pathspec)
    return origins


def attribution_report_artifact(project_dir: Path, pathspec: str) -> dict[str, bytes]:
    """{"attribution_report.json": the run's `attribution_report/v1`} for `log_run`: the text
    `hokusai attest RUN --format attribution-report` prints (and its final newline), read
    through the Metaflow Client from the run's `generate_attestation_output` task, which
    exists both inside the flow's `monitor_and_log` and after the run (`hokusai track`);
    created_at is the run's start, known in both. Empty (and a warning) when the run cannot
    be read: the report never costs the rest of the record."""
    from pipeline.attest.attribution_report import ARTIFACT, report_json, report_of_run
    from pipeline.logs import get_logger

    try:
        from metaflow import Run, metadata, namespace

        metadata(f"local@{Path(project_dir).resolve()}")  # as runner.use_project: a run's metadata is local
        namespace(None)
        return {ARTIFACT: (report_json(report_of_run(Run(pathspec))) + "\n").encode()}
    except Exception as exc:  # noqa: BLE001 - whatever the Client says, the rest is logged
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        get_logger().warning("mlflow.attribution_report_skipped", reason=reason, pathspec=pathspec)
        return {}


def tracked_models(model_bytes: dict[str, bytes], predictions: dict[str, Any],
                   model_types: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """`log_run`'s `models` from a run's artifacts: by file name, the stored bytes, the types
    the file names and the benchmark labels (for the signature), of "baseline" and "candidate"."""
    return {f"{name}.skops": {"data": model_bytes[name], "y_pred": predictions[name]["y_pred"],
                              "trusted_types": model_types[f"{name}.skops"]}
            for name in ("baseline", "candidate")}


def contribution_datasets(training_data: Any, manifest: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(name, kept rows, digest) of each contribution: the digest is the first 32 hex digits of
    its content sha256 (MLflow keeps at most 36 characters), so MLflow's dataset view
    matches the manifest and the evidence."""
    out = []
    for index, c in enumerate(manifest.get("contributions", [])):
        rows = training_data[training_data[ORIGIN] == index].drop(columns=[ORIGIN])
        name = f"{c['file']}:{c['wallet']}" if c.get("wallet") else c["file"]
        out.append((name, rows, c["content_sha256"].removeprefix("0x")[:32]))
    return out


#: Run tag added by `hokusai track` once a run whose tracking failed is logged.
TRACKED_TAG = "hokusai:mlflow:"
