"""MLflow logging interrupted for real, and a table too wide for MLflow's dataset schema.

- The run SIGKILLed in `monitor_and_log` once its MLflow run holds the metrics (local SQLite
  store): `hokusai resume` completes that MLflow run instead of logging a second one.
- A real `mlflow server` SIGKILLed while the run logs to it (the first model is being logged):
  the run succeeds with tracking failed, the MLflow run stays RUNNING on the server, and
  `hokusai track` completes it once the server is back, saying so.
- 20,000 feature columns: the dataset schema is summarised (column count, counts by type, the
  first columns, the sha256 of the full schema) and the run is logged."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, make_project
from tests.runs.test_tracking import Server, free_port, hokusai, runs_on

CLI = [sys.executable, "-m", "hokusai_cli"]
CONTRIBS = ["--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}"]
ARTIFACTS = ["attribution_report.json", "baseline.skops", "candidate.skops", "deltaone_acceptance_event.json",
             "evidence.json", "hem", "manifest.json"]


def sentence(stderr: str) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(stderr.split())


def start(*args: str, cwd: Path, uri: str | None = None) -> subprocess.Popen:
    """The CLI in its own process group (so the whole group can be stopped and killed)."""
    env = {**os.environ, "COLUMNS": "200", **({"HOKUSAI_TRACKING__MLFLOW_URI": uri} if uri else {})}
    return subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def query(db: Path, sql: str) -> list[tuple]:
    """`sql` on an MLflow SQLite store, read-only; [] while the store is being created or written."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as connection:
            return connection.execute(sql).fetchall()
    except sqlite3.OperationalError:  # no tables yet, or locked by the writer for a moment
        return []


def wait_in_store(db: Path, sql: str, proc: subprocess.Popen, seconds: float = 600) -> None:
    """Poll the store until `sql` returns rows (the logging has reached that point)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if query(db, sql):
            return
        if proc.poll() is not None:
            raise AssertionError(f"ended (exit {proc.returncode}) before {sql!r} held: {proc.stderr.read()[-3000:]}")
        time.sleep(0.01)
    raise AssertionError(f"{sql!r} never held in {db}")


def client(uri: str):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=uri)


def all_runs(uri: str) -> list:
    c = client(uri)
    experiment = c.get_experiment_by_name("tests")
    return c.search_runs([experiment.experiment_id]) if experiment else []


def models_of(uri: str, run) -> list[tuple[str, str]]:
    """(name, status) of the run's logged models, deleted ones aside."""
    found = client(uri).search_logged_models([run.info.experiment_id],
                                             filter_string=f"source_run_id = '{run.info.run_id}'")
    return sorted((m.name, str(m.status)) for m in found)


def assert_complete(uri: str, run) -> None:
    """Everything logged, and nothing twice: one value per metric, three datasets, two models."""
    c = client(uri)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["deltaone_bps"] == 700 and run.data.metrics["delta_accuracy_bps"] == 700
    assert {k: len(c.get_metric_history(run.info.run_id, k)) for k in run.data.metrics} == {
        k: 1 for k in run.data.metrics}
    assert sorted(d.dataset.name for d in run.inputs.dataset_inputs) == [
        "data/contrib_alice.csv:" + ALICE, "data/contrib_bob.parquet:" + BOB, "training_data"]
    assert sorted(a.path for a in c.list_artifacts(run.info.run_id)) == ARTIFACTS
    assert models_of(uri, run) == [("baseline", "READY"), ("candidate", "READY")]


@pytest.mark.timeout(1200)
def test_a_run_killed_while_logging_is_completed_by_resume_not_logged_twice(tmp_path):
    project = make_project(tmp_path / "project")
    db = project / ".hokusai" / "mlflow.db"
    uri = f"sqlite:///{db}"
    proc = start("run", "--project", str(project), *CONTRIBS, cwd=project)
    # log_batch has written the metrics: the MLflow run exists, RUNNING, and is far from done
    wait_in_store(db, "SELECT 1 FROM metrics", proc)
    os.killpg(proc.pid, signal.SIGSTOP)  # frozen at once: nothing more is written
    assert query(db, "SELECT status FROM runs") == [("RUNNING",)]
    os.killpg(proc.pid, signal.SIGKILL)  # the OOM killer, a CI cancel: no handler runs
    proc.wait(timeout=60)
    time.sleep(0.5)  # let the kernel reap the orphaned runtime
    [partial] = all_runs(uri)
    origin = partial.data.tags["hokusai.pathspec"]
    run_id = origin.split("/")[1]
    assert partial.info.status == "RUNNING" and partial.data.metrics["deltaone_bps"] == 700

    resumed = hokusai("resume", run_id, "--project", str(project), "--json", cwd=project, uri=uri, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout)
    note = (f"MLflow run {partial.info.run_id} had been left RUNNING by an interrupted logging of {origin}; it "
            "was completed, so the evaluation has one MLflow run.")
    assert summary["mlflow"] | {"notes": None, "hem": None} == {
        "status": "logged", "run_id": partial.info.run_id, "experiment_id": partial.info.experiment_id,
        "tracking_uri": uri, "ui_url": None, "existing": False, "completed": "RUNNING", "closed": [], "notes": None,
        "hem": None, "model_version": {"name": "hokusai-7", "version": "1", "uri": "models:/hokusai-7/1"},
        "acceptance_event": "deltaone_acceptance_event.json"}
    assert summary["mlflow"]["hem"]["artifact"] == "hem/manifest.json"  # pipeline.runs.hem, tests/runs/test_hem.py
    assert summary["mlflow"]["notes"] == [note]
    # one MLflow run for the evaluation, finished, now naming the run that completed it
    [record] = all_runs(uri)
    assert record.info.run_id == partial.info.run_id
    assert record.data.tags["hokusai.pathspec"] == summary["pathspec"] != origin
    assert record.data.tags["hokusai.resumed_from"] == origin
    assert record.info.run_name == summary["pathspec"].replace("/", "-")
    # what the killed logging had, and each candidate metric under its own name (pipeline.runs.hem)
    assert set(record.data.metrics) == set(partial.data.metrics) | {
        k.removeprefix("candidate_") for k in partial.data.metrics if k.startswith("candidate_")}
    assert_complete(uri, record)
    assert query(db, "SELECT status, count(*) FROM runs GROUP BY status") == [("FINISHED", 1)]

    again = hokusai("track", summary["run_id"], "--project", str(project), cwd=project, uri=uri)
    assert again.returncode == 0, again.stderr
    assert sentence(again.stderr).endswith(
        f"Run {summary['pathspec']} was already logged as MLflow run {record.info.run_id} ({uri})")
    assert [r.info.run_id for r in all_runs(uri)] == [record.info.run_id]


@pytest.mark.timeout(1200)
def test_a_server_killed_while_logging_leaves_a_run_that_track_completes(tmp_path):
    server = Server(tmp_path / "server", free_port()).start()
    db = server.root / "server.db"
    try:
        project = make_project(tmp_path / "project")
        proc = start("run", "--project", str(project), *CONTRIBS, "--json", cwd=project, uri=server.url)
        # the first model is being logged: metrics, params and datasets are on the server
        wait_in_store(db, "SELECT 1 FROM logged_models", proc)
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=30)
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        summary = json.loads(stdout)
        assert summary["mlflow"]["status"] == "failed" and summary["mlflow"]["run_id"] is None
        [(partial_id, status)] = query(db, "SELECT run_uuid, status FROM runs")
        assert status == "RUNNING"  # the orphan: before the fix `track` logged a second run beside it
        # killed inside the baseline's Model.log: its logged model stays PENDING (status 1)
        [(pending, *state)] = query(db, "SELECT model_id, name, status, lifecycle_stage FROM logged_models")
        assert state == ["baseline", 1, "active"]

        server.start()
        tracked = hokusai("track", summary["run_id"], "--project", str(project), "--json", cwd=project,
                          uri=server.url)
        assert tracked.returncode == 0, tracked.stderr[-3000:]
        mlflow = json.loads(tracked.stdout)["mlflow"]
        assert (mlflow["run_id"], mlflow["existing"], mlflow["completed"], mlflow["closed"]) == (
            partial_id, False, "RUNNING", [])
        ui = f"{server.url}/#/experiments/{mlflow['experiment_id']}/runs/{partial_id}"
        assert sentence(tracked.stderr).endswith(
            f"Run {summary['pathspec']} logged as MLflow run {partial_id} ({ui}) MLflow run {partial_id} had been "
            f"left RUNNING by an interrupted logging of {summary['pathspec']}; it was completed, so the evaluation "
            "has one MLflow run.")
        [record] = runs_on(server.url, summary["pathspec"])
        assert record.info.run_id == partial_id
        assert_complete(server.url, record)
        assert [(r.info.run_id, r.info.status) for r in all_runs(server.url)] == [(partial_id, "FINISHED")]
        # the half-logged model was deleted and logged again: two models in the store, one per name
        assert sorted(query(db, f"SELECT name, status, lifecycle_stage, model_id = '{pending}' FROM logged_models")) == [
            ("baseline", 1, "deleted", 1), ("baseline", 2, "active", 0), ("candidate", 2, "active", 0)]

        again = hokusai("track", summary["run_id"], "--project", str(project), cwd=project, uri=server.url)
        assert again.returncode == 0, again.stderr
        assert sentence(again.stderr).endswith(
            f"Run {summary['pathspec']} was already logged as MLflow run {partial_id} ({ui})")
        assert len(all_runs(server.url)) == 1
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_a_table_too_wide_for_mlflows_schema_is_logged_with_a_summarised_schema(tmp_path):
    import numpy as np
    import pandas as pd
    from mlflow.utils.validation import MAX_DATASET_SCHEMA_SIZE

    from pipeline.runs.tracking import (
        MAX_SCHEMA_CHARS,
        PATHSPEC_TAG,
        dataset_schema,
        log_evaluation,
    )

    assert MAX_SCHEMA_CHARS == MAX_DATASET_SCHEMA_SIZE == 1048575
    rng = np.random.default_rng(0)
    names = [f"feature_{i:05d}" for i in range(20000)]
    table = pd.DataFrame(rng.normal(size=(40, 20000)), columns=names)
    table["feature_00007"] = table["feature_00007"].mask(table.index == 3)  # one column with a gap
    table["target"] = rng.integers(0, 2, 40)
    specs = [{"type": "double", "name": n, "required": n != "feature_00007"} for n in names]
    specs.append({"type": "long", "name": "target", "required": True})
    full = json.dumps({"mlflow_colspec": specs})
    assert len(full) == 1_260_075 > MAX_DATASET_SCHEMA_SIZE  # what MLflow refused on every try

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logged = log_evaluation(
        tracking_uri=uri, experiment="tests", run_name="wide", tags={PATHSPEC_TAG: "HokusaiEvaluationFlow/1",
                                                                    "hokusai.attestation_hash": "0x01"},
        params={"features": 20000}, metrics={"deltaone_bps": 0.0}, artifacts={"evidence.json": b"{}"},
        training_data=table, target="target", datasets=[("wide.csv:" + ALICE, table.head(10), "ab" * 16)])
    [record] = all_runs(uri)
    assert (record.info.run_id, record.info.status) == (logged["run_id"], "FINISHED")
    summary = {"hokusai_schema_summary": {
        "columns": 20001, "types": {"double": 20000, "long": 1}, "first_columns": specs[:100],
        "schema_sha256": hashlib.sha256(full.encode()).hexdigest()}}
    # the first ten rows hold the gap too: both tables have the same full schema
    schemas = {d.dataset.name: d.dataset.schema for d in record.inputs.dataset_inputs}
    assert {name: json.loads(schema) for name, schema in schemas.items()} == {
        "training_data": summary, "wide.csv:" + ALICE: summary}
    assert {len(s) for s in schemas.values()} == {len(json.dumps(summary))} and len(json.dumps(summary)) < 7000
    # a table whose full schema fits keeps it, every column
    assert dataset_schema(table.iloc[:, :1000]) == json.dumps({"mlflow_colspec": specs[:1000]})
