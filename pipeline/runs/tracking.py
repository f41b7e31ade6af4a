"""monitor_and_log: record the evaluation in MLflow (params, metrics, dataset, the stored
model files and the evidence) so it can be found and checked later."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    path.parent.mkdir(parents=True, exist_ok=True)
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


def log_evaluation(
    *,
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    artifacts: dict[str, bytes],
    training_data: Any = None,
    target: str | None = None,
) -> dict[str, str]:
    """One MLflow run with everything given; returns its run id, experiment id and URI."""
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    prepare_store(tracking_uri)
    with store_lock(tracking_uri):
        return _log(mlflow, tracking_uri, experiment, run_name, tags, params, metrics, artifacts, training_data, target)


def _log(mlflow: Any, tracking_uri: str, experiment: str, run_name: str, tags: dict[str, str],
         params: dict[str, Any], metrics: dict[str, float], artifacts: dict[str, bytes], training_data: Any,
         target: str | None) -> dict[str, str]:
    mlflow.set_tracking_uri(tracking_uri)
    exp = mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        if training_data is not None:
            dataset = mlflow.data.from_pandas(training_data, targets=target, name="training_data")
            mlflow.log_input(dataset, context="training")
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in artifacts.items():
                (Path(tmp) / name).write_bytes(data)
            mlflow.log_artifacts(tmp)
    return {"run_id": run.info.run_id, "experiment_id": exp.experiment_id, "tracking_uri": tracking_uri}


def log_run(
    *, settings: Settings, project_dir: Path, dry_run: bool, pathspec: str, delta: Delta,
    attestation: dict[str, Any], manifest: dict[str, Any], baseline_info: ModelInfo,
    models: dict[str, bytes], training_data: Any,
) -> dict[str, str]:
    """Step `monitor_and_log`: the MLflow record of one evaluation, and a summary log line."""
    import rfc8785

    from pipeline.config import mlflow_uri
    from pipeline.logs import get_logger

    uri = mlflow_uri(settings, project_dir)
    metrics: dict[str, float] = {"deltaone_bps": delta.deltaone_bps}
    for m in delta.metrics:
        metrics |= {f"baseline_{m.metric}": m.baseline, f"candidate_{m.metric}": m.candidate,
                    f"delta_{m.metric}_bps": m.delta_bps}
    tracking = log_evaluation(
        tracking_uri=uri,
        experiment=experiment_name(settings.tracking.experiment, dry_run),
        run_name=pathspec.replace("/", "-"),
        tags={"hokusai.pathspec": pathspec, "hokusai.dry_run": str(dry_run).lower(),
              "hokusai.gate": "passed" if delta.passed else "failed",
              "hokusai.attestation_hash": attestation["attestationHash"]},
        params={"model_id": settings.model.id, "estimator": baseline_info.estimator,
                "baseline_source": baseline_info.source, "seed": settings.evaluation.seed,
                "primary_metric": delta.primary_metric,
                "min_improvement_bps": settings.evaluation.min_improvement_bps,
                "contributors": len(delta.contributors)},
        metrics=metrics,
        artifacts={"evidence.json": rfc8785.dumps(attestation["evidence"]),
                   "manifest.json": rfc8785.dumps(manifest), **models},
        training_data=training_data,
        target=settings.model.target,
    )
    get_logger().info("mlflow.logged", **tracking)
    return tracking
