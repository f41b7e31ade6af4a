"""The real flow, run once through metaflow.Runner (session fixture), checked through the
Client API on its named artifacts, against the MLflow store, and against recomputation."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from pipeline.attest.eip712 import attestation_hash, canonical_json
from pipeline.modelling.models import load_model
from pipeline.runs.artifacts import rebuild
from pipeline.runs.table_files import from_files
from pipeline.runs.runner import STEPS
from tests.conftest import ALICE, BOB, FIXTURES

pytestmark = pytest.mark.timeout(300)


def test_every_step_finished(project_run):
    _, run = project_run
    assert run.successful and run.finished
    assert [step.id for step in run][::-1] == list(STEPS)
    assert all(task.successful for step in run for task in step)


def test_baseline_trained_from_base_data(project_run):
    project, run = project_run
    info = run.data.baseline_info
    assert info["source"] == "trained:logistic_regression"
    assert info["training_rows"] == 20
    assert info["classes"] == [0, 1]
    assert info["sha256"] == "0x" + hashlib.sha256(run.data.baseline_model_bytes).hexdigest()
    assert run.data.schema["target"] == "target"
    assert len(run.data.schema["features"]) == 30


def test_contributions_integrated(project_run):
    project, run = project_run
    contributions = run.data.contributions
    assert [(c["file"], c["wallet"], c["rows_in"], c["rows_kept"]) for c in contributions] == [
        ("data/contrib_alice.csv", ALICE, 180, 180),
        ("data/contrib_bob.parquet", BOB, 169, 169),
    ]
    alice_bytes = (project / "data" / "contrib_alice.csv").read_bytes()
    assert contributions[0]["file_sha256"] == "0x" + hashlib.sha256(alice_bytes).hexdigest()
    ref = run.data.training_data  # the artifact names an Arrow file (pipeline.runs.table_files)
    assert (ref["format"], ref["rows"]) == ("hokusai.table/v1", 20 + 180 + 169)
    assert len(from_files(ref)) == 20 + 180 + 169


def test_candidate_metrics_match_sklearn(project_run):
    project, run = project_run
    benchmark = pd.read_csv(project / "data" / "benchmark.csv")
    X, y = benchmark.drop(columns="target"), benchmark["target"]
    for stored, metrics in ((run.data.baseline_model_bytes, run.data.baseline_metrics),
                            (run.data.candidate_model_bytes, run.data.candidate_metrics)):
        assert metrics["accuracy"] == accuracy_score(y, load_model(stored, "model").predict(X))
    assert run.data.baseline_metrics["accuracy"] == 0.91
    assert run.data.candidate_metrics["accuracy"] == 0.98
    assert run.data.benchmark_info["rows"] == 200


def test_delta_gate_and_weights(project_run):
    _, run = project_run
    delta = rebuild("delta", run.data.delta)
    assert (delta.deltaone_bps, delta.deltaone_pp, delta.passed) == (700, "7.00", True)
    assert (delta.ci.low_bps, delta.ci.high_bps, delta.ci.resamples) == (350, 1150, 1000)
    assert [(g.name, g.value, g.threshold, g.passed) for g in delta.gate] == [
        ("delta_bps", 700, 100, True), ("ci_low_bps", 350, 0, True), ("benchmark_rows", 200, 50, True)]
    # exact Shapley over two wallets (2 retrainings): values add up to DeltaOne
    assert delta.weight_method == "exact_shapley" and delta.retrainings == 2
    assert [(c.wallet, c.value_bps, c.weight_bps) for c in delta.contributors] == [
        (ALICE, "275.00", 3929), (BOB, "425.00", 6071)]
    assert run.data.attribution["values_bps"] == {ALICE: "275.00", BOB: "425.00"}


def test_evidence_hash_and_content(project_run):
    project, run = project_run
    attestation = run.data.attestation
    evidence = attestation["evidence"]
    assert attestation["attestationHash"] == attestation_hash(evidence)
    assert evidence["modelId"] == "7" and evidence["dryRun"] is False
    assert evidence["delta"]["deltaOneBps"] == 700
    assert evidence["metrics"]["baselineBps"]["accuracy"] == 9100
    assert evidence["candidate"]["sha256"] == run.data.candidate_info["sha256"]
    assert evidence["baseline"]["source"] == "trained:logistic_regression"
    # no run id, no path and no clock: nothing that differs between two identical runs
    canonical = canonical_json(evidence).decode()
    for volatile in (run.id, str(project), str(project.parent), run.data.mlflow_run_id):
        assert volatile not in canonical
    assert not any(key in canonical for key in ('"created', '"time', '"date', '"started'))


def test_mlflow_record(project_run):
    import mlflow

    project, run = project_run
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / '.hokusai' / 'mlflow.db'}")
    record = client.get_run(run.data.mlflow_run_id)
    assert record.data.metrics["deltaone_bps"] == 700
    assert record.data.metrics["candidate_accuracy"] == 0.98
    assert record.data.tags["hokusai.pathspec"] == run.pathspec
    assert record.data.params["estimator"] == "logistic_regression"
    assert client.get_experiment(record.info.experiment_id).name == "tests"
    names = sorted(a.path for a in client.list_artifacts(record.info.run_id))
    assert names == ["attribution_report.json", "baseline.skops", "candidate.skops", "deltaone_acceptance_event.json",
                     "evidence.json", "hem", "manifest.json"]
    # both models also in MLflow's scikit-learn format (logged models of the run), stored under .hokusai/
    mlflow.set_tracking_uri(f"sqlite:///{project / '.hokusai' / 'mlflow.db'}")
    for name in ("baseline", "candidate"):
        assert mlflow.sklearn.load_model(f"runs:/{record.info.run_id}/{name}").classes_.tolist() == [0, 1]
    assert not (project / "mlruns").exists() and (project / ".hokusai" / "mlruns").is_dir()
    stored = client.download_artifacts(record.info.run_id, "candidate.skops")
    assert "0x" + hashlib.sha256(open(stored, "rb").read()).hexdigest() == run.data.candidate_info["sha256"]


def test_plain_metaflow_dry_run_matches_cli_hash(tmp_path, demo_runs):
    """`python -m pipeline.flow run` works with the same parameters and gives the same evidence."""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("USER", "USERNAME", "METAFLOW_USER")}
    env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.flow", "--quiet", "run", "--dry-run", "true"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    hashes = [line.split("attestation_hash=")[1].split()[0] for line in done.stdout.splitlines()
              if "attestation_hash=" in line]
    assert hashes == [demo_runs["first"]["attestation_hash"]]
    assert (FIXTURES / "base.csv").is_file()


#: Evidence hash of `hokusai dry-run` on the bundled demo. The evidence holds only facts of
#: the evaluation, so this changes only when the evaluation does: say why in CHANGELOG.
DEMO_ATTESTATION_HASH = "0x41738f946a945cd33d9c67c4a1dafa6df468337cf2896eeb33fbd5a0784219df"


def test_demo_evidence_hash_is_pinned(demo_runs):
    assert demo_runs["first"]["attestation_hash"] == DEMO_ATTESTATION_HASH


LOAD_WITHOUT_PIPELINE = """
import importlib.abc, json, sys

class NoPipeline(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "pipeline" or name.startswith("pipeline."):
            raise ImportError(f"artifact needs {name}")

sys.meta_path.insert(0, NoPipeline())
from metaflow import Run, namespace
namespace(None)
loaded = {}
for step in Run(sys.argv[1]):
    for task in step:
        for artifact in task:
            artifact.data  # unpickles: fails if it references a pipeline class
            loaded[artifact.id] = type(artifact.data).__module__
print(json.dumps(loaded))
"""


def test_artifacts_load_without_the_pipeline_package(project_run, tmp_path):
    """Every artifact of a finished run unpickles in a process that cannot import `pipeline`
    (a refactor, an upgrade or another image must not make old runs unreadable)."""
    import json
    import os

    project, run = project_run
    env = {**os.environ, "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(project)}
    done = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_PIPELINE, run.pathspec], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    modules = json.loads(done.stdout)
    for name in ("settings", "inputs", "schema", "baseline_info", "candidate_info", "contributions",
                 "benchmark_info", "delta", "attestation", "data_manifest", "baseline_model_bytes"):
        assert name in modules
    assert not any(m.startswith("pipeline") for m in modules.values())
    assert {modules["delta"], modules["settings"], modules["baseline_model_bytes"]} == {"builtins"}
    # the control: a run whose artifact held a pipeline class would fail to load here
    probe = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_PIPELINE.split("from metaflow")[0] + "import pipeline.config"],
        capture_output=True, text=True, timeout=60)
    assert "artifact needs pipeline" in probe.stderr


def test_artifacts_a_step_only_read_are_stored_once(project_run):
    """A step that reads a table without changing it passes the stored copy down: the same
    blob (same sha) in every later task, not a second pickled and gzipped copy."""
    from metaflow import Run

    from pipeline.runs.runner import use_project

    project, run = project_run
    use_project(project)  # an in-process CLI test may have pointed the Client at another project
    run = Run(run.pathspec)
    tasks = {name: run[name].task for name in STEPS}
    start_sha = tasks["start"]["inputs"].sha
    assert all(tasks[s]["inputs"].sha == start_sha for s in ("load_baseline_model", "integrate_contributed_data", "end"))
    made = tasks["integrate_contributed_data"]["training_data"].sha
    assert all(tasks[s]["training_data"].sha == made
               for s in ("train_new_model", "evaluate_on_benchmark", "monitor_and_log", "end"))
    # the control: an artifact a step assigns anew is stored anew
    assert tasks["train_new_model"]["candidate_model_bytes"].sha != tasks["train_new_model"]["baseline_model_bytes"].sha


def test_predictions_and_attribution_come_from_train_new_model(project_run):
    """Every fit happens in train_new_model: both models' benchmark predictions and the
    attribution's coalition values; later steps only score and compare them."""
    _, run = project_run
    train = run["train_new_model"].task.data
    assert train.predictions["y_true"].shape == (200,) and train.predictions["classes"] == [0, 1]
    assert train.predictions["candidate"]["proba"].shape == (200, 2)
    assert train.attribution_values == {"method": "exact_shapley", "values": {ALICE: "275", BOB: "425"},
                                        "retrainings": 2, "permutations": 0, "standard_errors": {},
                                        "leave_one_out": {ALICE: "50", BOB: "200"}, "stopped_by": ""}
    # skops trusts scikit-learn's own types by default: nothing extra for MLflow's loader to trust
    assert train.model_types == {"baseline.skops": [], "candidate.skops": []}
