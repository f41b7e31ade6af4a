"""The MLflow store of a project: the local SQLite file prepared and locked so that two runs
never damage it, and the one way every MLflow write gets a client (`mlflow_client`), with
settings that make a tracking server that is down fail in seconds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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


@contextmanager
def mlflow_client(tracking_uri: str) -> Iterator[Any]:
    """An MlflowClient of `tracking_uri` (also the fluent API's URI), the store prepared and
    locked (`store_lock`), with the fast-fail HTTP settings: every MLflow write goes through it."""
    for key, value in FAST_FAIL_ENV.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    prepare_store(tracking_uri)
    with store_lock(tracking_uri):
        mlflow.set_tracking_uri(tracking_uri)
        yield mlflow.MlflowClient(tracking_uri)
