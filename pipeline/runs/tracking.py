"""monitor_and_log and `hokusai track`: record the evaluation in MLflow (params, metrics, the
training dataset, both models in MLflow's scikit-learn format and as the stored skops bytes,
the evidence, the manifest and the attribution report) so it can be found and checked later.

Tracking never costs the evaluation: a server that is down or errors fails within seconds
(short timeout, one retry), the failure is recorded in the `tracking` artifact, and
`hokusai track RUN` logs the run later. One pipeline run has at most one MLflow run: logging
looks for the run tagged with its pathspec first."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.data.contributions import ORIGIN

if TYPE_CHECKING:
    from pipeline.modelling.baseline import ModelInfo
    from pipeline.config import Settings
    from pipeline.scoring.delta import Delta

DRY_RUN_SUFFIX = "-dry-run"


def experiment_name(experiment: str, dry_run: bool) -> str:
    """Dry-runs go to their own experiment so they never touch the real one."""
    return experiment + DRY_RUN_SUFFIX if dry_run else experiment


#: Seconds a run waits for another run's MLflow write to the same SQLite store.
STORE_LOCK_TIMEOUT = 300


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file of a `sqlite:///…` tracking URI, else None (a server or another store)."""
    return Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """An inter-process lock on a local SQLite store (`<store>.lock` beside it): creating,
    migrating and writing it happen one run at a time, so two runs never damage it."""
    from filelock import FileLock, Timeout

    path = sqlite_path(tracking_uri)
    if path is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from pipeline.errors import StoreError

        raise StoreError(
            f"Cannot create the folder of the MLflow store {path} ({exc.strerror}: {exc.filename}); move what is "
            "in the way, or set [tracking] mlflow_uri."
        ) from None
    lock = FileLock(f"{path}.lock", timeout=STORE_LOCK_TIMEOUT)
    try:
        lock.acquire()
    except Timeout:
        from pipeline.errors import StoreError

        raise StoreError(
            f"The MLflow store {path} stayed locked for {STORE_LOCK_TIMEOUT} s by another run; wait for it to "
            f"finish, or if no hokusai run is alive, delete {path}.lock."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _store_version() -> str:
    from importlib.metadata import version

    return f"mlflow {version('mlflow')}"


def prepare_store(tracking_uri: str) -> None:
    """Create and migrate a local SQLite store once, under the store lock, before any step
    needs it (two runs starting at once would both migrate it and damage it). A marker file
    beside the store records that it is ready for this MLflow version, so later runs skip
    the ~2 s of MLflow imports and checks. A store that cannot be opened is named, with
    its fix. Servers and other stores are left to MLflow."""
    path = sqlite_path(tracking_uri)
    if path is None:
        return
    marker = path.with_name(path.name + ".ready")
    with store_lock(tracking_uri):
        if path.is_file() and marker.is_file() and marker.read_text() == _store_version():
            return
        import logging

        for name in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(tracking_uri, str(path.parent / "mlruns"))
        except Exception as exc:  # noqa: BLE001 - whatever MLflow or SQLite says, the store is unusable
            from pipeline.errors import StoreError

            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise StoreError(
                f"The MLflow store {path} is damaged ({reason}); move it aside (mv {path} {path}.damaged) and run "
                "again: a new store is created, and every run stays in Metaflow."
            ) from None
        marker.write_text(_store_version())


def prepare_store_early(tracking_uri: str) -> Any:
    """`prepare_store` before a run. A store that exists is checked now: a damaged one
    stops the run before it starts. A new store (the first run of a project) is created
    on a thread while the flow runs: nothing in it can be damaged, its ~5 s of MLflow
    imports and migrations overlap the steps, and `monitor_and_log` waits on the store
    lock until it is ready. Returns the thread to join (None when done already)."""
    import threading

    path = sqlite_path(tracking_uri)
    if path is None or path.exists():
        prepare_store(tracking_uri)
        return None

    def create() -> None:
        try:
            prepare_store(tracking_uri)
        except Exception:  # noqa: BLE001 - monitor_and_log meets the same fault and records it
            pass

    thread = threading.Thread(target=create, name="mlflow-store")
    thread.start()
    return thread


#: MLflow's HTTP client retries 7 times with backoff by default (minutes when a server is
#: down); a run must learn of an outage in seconds. Users may still set these themselves.
#: Also: no "View run … at" line on stdout (stdout carries only the requested data).
FAST_FAIL_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
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
) -> dict[str, Any]:
    """One MLflow run with everything given, or the existing run tagged with the same
    pathspec (so logging twice never makes a second run); returns its ids, URI and UI URL."""
    for key, value in FAST_FAIL_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    prepare_store(tracking_uri)
    with store_lock(tracking_uri):
        mlflow.set_tracking_uri(tracking_uri)
        exp = _experiment(mlflow, tracking_uri, experiment)
        pathspec = tags[PATHSPEC_TAG]
        found = mlflow.MlflowClient().search_runs(
            [exp.experiment_id], filter_string=f"tags.`{PATHSPEC_TAG}` = '{pathspec}' and attributes.status = 'FINISHED'",
            max_results=1)
        if found:
            run_id = found[0].info.run_id
        else:
            run_id = _log(mlflow, exp.experiment_id, run_name, tags, params, metrics, artifacts, models or {},
                          training_data, target, datasets or [])
    return {"run_id": run_id, "experiment_id": exp.experiment_id, "tracking_uri": tracking_uri,
            "ui_url": ui_url(tracking_uri, exp.experiment_id, run_id), "existing": bool(found)}


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
         target: str | None, datasets: list[tuple[str, Any, str]]) -> str:
    """The MLflow run, written through the client: the fluent `start_run` would also probe
    for notebooks and git (IPython alone is a 0.5 s import), for tags no one reads here."""
    import getpass
    import time

    from mlflow.entities import Metric, Param, RunStatus

    client = mlflow.MlflowClient()
    run_id = client.create_run(experiment_id, run_name=run_name, tags={
        "mlflow.user": os.environ.get("METAFLOW_USER") or getpass.getuser(), "mlflow.source.type": "JOB",
        "mlflow.source.name": "hokusai", **tags}).info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                         params=[Param(k, str(v)) for k, v in params.items()])
        inputs = []
        if training_data is not None:
            inputs.append(_dataset_input(training_data, "training_data", target, None, "training"))
        for name, frame, digest in datasets:  # each contribution, its content hash as the digest
            inputs.append(_dataset_input(frame, name, target, digest, "contribution"))
        if inputs:
            client.log_inputs(run_id, datasets=inputs)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in artifacts.items():
                (Path(tmp) / name).write_bytes(data)
            client.log_artifacts(run_id, tmp)
        features = [c for c in (training_data.columns if training_data is not None else []) if c != target]
        mlflow.set_experiment(experiment_id=experiment_id)  # where Model.log puts a logged model
        for name, model in models.items():
            _log_model(run_id, name, model, training_data[features].head(5) if features else None)
    except BaseException:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id


#: MLflow column types by numpy dtype kind (what `mlflow.data.from_pandas` would infer).
_COLUMN_TYPES = {"f": "double", "i": "long", "u": "long", "b": "boolean", "M": "datetime"}


def _dataset_input(frame: Any, name: str, target: str | None, digest: str | None, context: str) -> Any:
    """An MLflow dataset input for `frame`: the schema from its dtypes and the profile from
    its shape. `mlflow.data.from_pandas` infers the same schema by looking at every cell in
    Python (86 s for 1M rows x 32 columns); this takes milliseconds."""
    import json

    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.types import ColSpec, Schema
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    columns = [ColSpec(_COLUMN_TYPES.get(dtype.kind, "string"), str(column), required=not frame[column].hasnans)
               for column, dtype in frame.dtypes.items()]
    source = CodeDatasetSource(tags={})
    dataset = Dataset(
        name=name, digest=digest or _frame_digest(frame), source_type=source._get_source_type(),
        source=source.to_json(), schema=json.dumps({"mlflow_colspec": Schema(columns).to_dict()}),
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


class _StoredSkops:
    """An MLflow model flavor (for `Model.log`) that writes a model's stored skops bytes as
    they are, in MLflow's scikit-learn format: `mlflow.sklearn.load_model` reads it back,
    and logging needs neither scikit-learn nor skops in this process."""

    __name__ = "sklearn"

    def __init__(self, data: bytes, trusted_types: list[str]) -> None:
        self.data, self.trusted_types = data, trusted_types

    def save_model(self, path: str, mlflow_model: Any, signature: Any = None, **_: Any) -> None:
        import yaml
        from importlib.metadata import version

        from mlflow import pyfunc
        from mlflow.utils.environment import _PythonEnv, _mlflow_conda_env

        model_file, requirements = "model.skops", [f"scikit-learn=={version('scikit-learn')}",
                                                   f"skops=={version('skops')}"]
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / model_file).write_bytes(self.data)
        if signature is not None:
            mlflow_model.signature = signature
        pyfunc.add_to_model(mlflow_model, loader_module="mlflow.sklearn", model_path=model_file,
                            conda_env="conda.yaml", python_env="python_env.yaml", code=None, predict_fn="predict")
        mlflow_model.add_flavor("sklearn", pickled_model=model_file, sklearn_version=version("scikit-learn"),
                                serialization_format="skops", code=None, skops_trusted_types=self.trusted_types)
        mlflow_model.model_size_bytes = len(self.data)
        mlflow_model.save(str(folder / "MLmodel"))
        (folder / "requirements.txt").write_text("\n".join(requirements))
        (folder / "conda.yaml").write_text(yaml.safe_dump(_mlflow_conda_env(additional_pip_deps=requirements)))
        _PythonEnv.current().to_yaml(str(folder / "python_env.yaml"))


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
    attribution-report` prints for the run (`attribution_report_artifact`)."""
    import rfc8785

    from pipeline.config import mlflow_uri
    from pipeline.logs import get_logger

    uri = mlflow_uri(settings, project_dir)
    metrics: dict[str, float] = {"deltaone_bps": delta.deltaone_bps}
    for m in delta.metrics:
        metrics |= {f"baseline_{m.metric}": m.baseline, f"candidate_{m.metric}": m.candidate,
                    f"delta_{m.metric}_bps": m.delta_bps}
    report = attribution_report_artifact(project_dir, pathspec)
    try:
        tracking = log_evaluation(
            tracking_uri=uri,
            experiment=experiment_name(settings.tracking.experiment, dry_run),
            run_name=pathspec.replace("/", "-"),
            tags={PATHSPEC_TAG: pathspec, "hokusai.dry_run": str(dry_run).lower(),
                  "hokusai.model_id": str(settings.model.id),
                  "hokusai.gate": "passed" if delta.passed else "failed",
                  "hokusai.attestation_hash": attestation["attestationHash"]},
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
        )
    except Exception as exc:  # noqa: BLE001 - whatever the tracker says, the evaluation stands
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        get_logger().warning("mlflow.failed", reason=reason, tracking_uri=uri)
        return {"status": "failed", "reason": reason, "tracking_uri": uri, "run_id": None, "experiment_id": None,
                "ui_url": None}
    get_logger().info("mlflow.logged", **tracking)
    return {"status": "logged", **tracking}


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
