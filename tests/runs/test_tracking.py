"""MLflow for real: a tracking server started here on 127.0.0.1, a server that is down (the
run still succeeds and says so), and `hokusai track` logging the run later, exactly once."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, make_project

CLI = [sys.executable, "-m", "hokusai_cli"]
CONTRIBS = ["--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}"]
pytestmark = pytest.mark.timeout(900)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`mlflow server` on 127.0.0.1 with a SQLite backend and a temp artifact root."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port, self.url = root, port, f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}",
             "--artifacts-destination", str(self.root / "artifacts"), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "server.log", "w"), start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
            assert self.proc.poll() is None, (self.root / "server.log").read_text()[-2000:]
        raise AssertionError(f"mlflow server did not start: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=30)


def hokusai(*args: str, cwd: Path, uri: str, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "HOKUSAI_TRACKING__MLFLOW_URI": uri}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def runs_on(uri: str, pathspec: str) -> list:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tests")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`hokusai.pathspec` = '{pathspec}'")


def test_a_run_logs_to_the_tracking_server_and_nowhere_local(tmp_path):
    import mlflow
    import pandas as pd

    server = Server(tmp_path / "server", free_port()).start()
    try:
        project = make_project(tmp_path / "project")
        done = hokusai("run", "--project", str(project), *CONTRIBS, "--json", cwd=project, uri=server.url)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        [record] = runs_on(server.url, summary["pathspec"])
        assert summary["mlflow"]["status"] == "logged" and summary["mlflow"]["run_id"] == record.info.run_id
        assert summary["mlflow"]["ui_url"] == (
            f"{server.url}/#/experiments/{record.info.experiment_id}/runs/{record.info.run_id}")
        assert record.data.tags["hokusai.model_id"] == "7" and record.data.tags["hokusai.dry_run"] == "false"
        assert record.data.metrics["deltaone_bps"] == 700 and record.data.metrics["delta_accuracy_bps"] == 700
        # the input datasets: training rows, and each contribution with its content hash as digest
        inputs = {d.dataset.name: d.dataset.digest for d in record.inputs.dataset_inputs}
        manifest = json.loads(Path(mlflow.MlflowClient(tracking_uri=server.url).download_artifacts(
            record.info.run_id, "manifest.json", str(tmp_path))).read_text())
        assert inputs.pop("training_data")
        assert inputs == {f"{c['file']}:{c['wallet']}": c["content_sha256"][2:34] for c in manifest["contributions"]}
        # both models in MLflow's scikit-learn format, predicting like the stored skops bytes
        benchmark = pd.read_csv(project / "data" / "benchmark.csv").drop(columns="target")
        mlflow.set_tracking_uri(server.url)
        for name in ("baseline", "candidate"):
            model = mlflow.sklearn.load_model(f"runs:/{record.info.run_id}/{name}")
            assert model.predict(benchmark).shape == (200,)
        client = mlflow.MlflowClient(tracking_uri=server.url)
        evidence = Path(client.download_artifacts(record.info.run_id, "evidence.json", str(tmp_path))).read_bytes()
        assert "0x" + hashlib.sha256(evidence).hexdigest() == summary["attestation_hash"]
        assert not (project / ".hokusai" / "mlflow.db").exists() and not (project / "mlruns").exists()
        inspected = json.loads(hokusai("inspect", "--project", str(project), "--json", cwd=project,
                                       uri=server.url).stdout)
        assert inspected["mlflow"]["ui_url"] == summary["mlflow"]["ui_url"]
    finally:
        server.stop()


def test_a_tracking_outage_costs_nothing_and_track_logs_the_run_once(tmp_path):
    port = free_port()
    server = Server(tmp_path / "server", port)
    project = make_project(tmp_path / "project")
    # bounded: MLflow's default retries would take minutes; the run must give up in seconds
    done = hokusai("run", "--project", str(project), *CONTRIBS, "--json", cwd=project, uri=server.url, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["mlflow"]["status"] == "failed" and summary["mlflow"]["run_id"] is None
    assert "Connection refused" in summary["mlflow"]["reason"] or "Max retries" in summary["mlflow"]["reason"]
    message = " ".join(done.stderr.split())
    assert (f"Tracking: failed ({summary['mlflow']['reason']}); the evaluation is complete. Log it to MLflow later "
            f"with: hokusai track {summary['run_id']}") in message
    listed = json.loads(hokusai("runs", "--project", str(project), "--json", cwd=project, uri=server.url).stdout)
    assert listed["runs"][0]["tracking"] == f"failed ({summary['mlflow']['reason']})"
    assert listed["runs"][0]["status"] == "successful"
    attested = hokusai("attest", "--project", str(project), cwd=project, uri=server.url)  # needs no tracking
    assert attested.returncode == 0, attested.stderr
    server.start()
    try:
        first = hokusai("track", summary["run_id"], "--project", str(project), "--json", cwd=project, uri=server.url)
        assert first.returncode == 0, first.stderr[-3000:]
        logged = json.loads(first.stdout)["mlflow"]
        assert f"Run {summary['pathspec']} logged as MLflow run {logged['run_id']}" in " ".join(first.stderr.split())
        second = hokusai("track", summary["run_id"], "--project", str(project), cwd=project, uri=server.url)
        assert second.returncode == 0, second.stderr
        assert (f"Run {summary['pathspec']} was already logged as MLflow run {logged['run_id']}"
                in " ".join(second.stderr.split()))
        [record] = runs_on(server.url, summary["pathspec"])
        assert record.info.run_id == logged["run_id"]
        listed = json.loads(hokusai("runs", "--project", str(project), "--json", cwd=project, uri=server.url).stdout)
        assert listed["runs"][0]["tracking"] == "logged"
    finally:
        server.stop()
