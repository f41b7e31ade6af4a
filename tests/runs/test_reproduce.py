"""`hokusai reproduce`: a finished run, run again from what it recorded, is identical step by
step; a changed input is named before anything runs; a model that moved by one rounding
quantum is told apart from one whose fit differs."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.modelling.models import dump_model, fit
from pipeline.modelling.numerics import SIGNIFICANT_BITS
from pipeline.runs.reproduce import model_differences, predictions_digest
from tests.conftest import FIXTURES

CLI = [sys.executable, "-m", "hokusai_cli"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def sentence(stderr: str) -> str:
    return " ".join(stderr.split())


def fresh(project: Path, run):
    """The run read again through the project's store (another test may have pointed this
    process's Metaflow Client elsewhere)."""
    from pipeline.runs.runner import get_run

    return get_run(project, run.id)


@pytest.fixture(scope="module")
def reproduced(project_run):
    """`hokusai reproduce RUN --json` on the session's real run (one flow run, shared)."""
    project, run = project_run
    done = cli("reproduce", run.id, "--project", str(project), "--json", cwd=project)
    return project, fresh(project, run), done


@pytest.mark.timeout(600)
def test_a_finished_run_reproduces_identically(reproduced):
    project, run, done = reproduced
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["schema"] == "hokusai.reproduce/v1"
    assert report["identical"] is True and report["first_difference"] is None
    assert report["run"] == run.pathspec and report["reproduced_run"] != run.pathspec
    assert [c["name"] for c in report["inputs"]] == [
        "data.base (base.csv)", "data.benchmark (benchmark.csv)",
        "contribution (contrib_alice.csv)", "contribution (contrib_bob.parquet)",
    ]
    assert [c["name"] for c in report["artifacts"]] == [
        "baseline model bytes", "candidate model bytes", "benchmark predictions", "attribution", "metrics",
        "delta", "evidence",
    ]
    assert all(c["same"] for c in report["inputs"] + report["artifacts"])
    evidence = report["artifacts"][-1]
    full = run.data.attestation["attestationHash"]
    assert evidence["recorded"] == evidence["reproduced"] == f"{full[:10]}…{full[-8:]}"
    assert report["environment_differences"] == []
    assert report["scratch"] is None  # the scratch folder is removed
    text = sentence(done.stderr)
    assert f"Identical: run {run.pathspec} reproduces step by step (evidence {full[:10]}…{full[-8:]})." in text


@pytest.mark.timeout(600)
def test_the_environment_is_recorded_beside_the_evidence(reproduced):
    project, run, done = reproduced
    env = run.data.environment
    import numpy
    import sklearn

    assert env["libraries"]["numpy"] == numpy.__version__
    assert env["libraries"]["scikit-learn"] == sklearn.__version__
    assert env["numerics"] == {"significant_bits": SIGNIFICANT_BITS}
    blas = [p for p in env["threadpools"] if p["api"] == "openblas"]
    assert blas and blas[0]["kernel"] and blas[0]["threads"] >= 1
    assert "environment" not in json.dumps(run.data.attestation["evidence"])  # never in the hashed evidence
    report = json.loads(done.stdout)
    assert report["recorded_environment"] == env
    assert f"Recorded environment: numpy {numpy.__version__}, scikit-learn {sklearn.__version__}; openblas " \
        in sentence(done.stderr)
    shown = cli("inspect", run.id, "--project", str(project), cwd=project)
    assert f"Fitted with: numpy {numpy.__version__}, scikit-learn {sklearn.__version__}; openblas" in sentence(shown.stderr)


@pytest.mark.timeout(600)
def test_a_changed_input_is_named_before_anything_runs(project_run):
    project, run = project_run
    run = fresh(project, run)
    path = project / "data" / "contrib_alice.csv"
    original = path.read_bytes()
    recorded = next(c["file_sha256"] for c in run.data.contributions if c["file"] == "data/contrib_alice.csv")
    try:
        path.write_bytes(original.replace(b"\n", b"\r\n", 1))  # one line ending changed: same rows, other bytes
        import hashlib

        now = "0x" + hashlib.sha256(path.read_bytes()).hexdigest()
        done = cli("reproduce", run.id, "--project", str(project), "--json", cwd=project)
    finally:
        path.write_bytes(original)
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["identical"] is False
    assert report["first_difference"] == "contribution (contrib_alice.csv)"
    assert report["artifacts"] == [] and report["reproduced_run"] is None  # nothing ran
    assert (f"Differs: the first difference is the contribution (contrib_alice.csv) (the file's sha256 is {now}, "
            f"the run recorded {recorded}: the input changed).") in sentence(done.stderr)


@pytest.mark.timeout(300)
def test_a_missing_input_is_bad_input(project_run, tmp_path):
    project, run = project_run
    path = project / "data" / "benchmark.csv"
    moved = tmp_path / "benchmark.csv"
    path.rename(moved)
    try:
        done = cli("reproduce", run.id, "--project", str(project), cwd=project)
    finally:
        moved.rename(path)
    assert done.returncode == 2
    assert sentence(done.stderr).endswith(
        f"Error: data.benchmark data/benchmark.csv: file not found; check the path (relative to {project}). "
        f"It is an input of run {run.id}.")
    assert "Traceback" not in done.stderr


@pytest.mark.timeout(300)
def test_an_unknown_run_is_bad_input(project_run):
    project, _ = project_run
    done = cli("reproduce", "12345", "--project", str(project), cwd=project)
    assert done.returncode == 2
    assert sentence(done.stderr) == f"Error: Run 12345 not found in {project}; list runs with `hokusai runs`."


# --- telling a rounding-boundary case from a different fit --------------------------------


def _with_coef(data: bytes, change) -> bytes:
    """`data` (a skops file) with its logistic coefficients changed by `change(array)`."""
    import skops.io

    from pipeline.modelling.models import TRUSTED_TYPES

    model = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    model[-1].coef_ = change(model[-1].coef_.copy())
    return dump_model(model)


def _model() -> bytes:
    import pandas as pd

    base = pd.read_csv(FIXTURES / "base.csv")
    return dump_model(fit("logistic_regression", {}, 42, base.drop(columns="target"), base["target"]))


def test_one_quantum_apart_is_named_a_rounding_boundary() -> None:
    data = _model()

    def one_quantum(coef):
        coef[0, 3] += abs(coef[0, 3]) * 2.0 ** -SIGNIFICANT_BITS
        return coef

    assert model_differences(data, _with_coef(data, one_quantum)) == (
        f"1 learned value(s) differ by one rounding quantum (2^-{SIGNIFICANT_BITS}): a value lay on a rounding "
        "boundary, the rare case docs/attestation.md describes")


def test_more_than_a_quantum_apart_is_a_different_fit() -> None:
    data = _model()
    assert model_differences(data, _with_coef(data, lambda c: c * 1.001)) == (
        "30 learned value(s) differ, 30 by more than one rounding quantum: the fit differs")
    assert model_differences(data, data) == (
        "same learned values; the files differ elsewhere (metadata or library version)")


def test_predictions_digest_sees_one_probability_change() -> None:
    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    predictions = {"y_true": np.array([1, 0]),
                   "baseline": {"y_pred": np.array([1, 0]), "proba": proba},
                   "candidate": {"y_pred": np.array([1, 0]), "proba": proba.copy()}}
    other = copy.deepcopy(predictions)
    other["candidate"]["proba"][1, 0] = np.nextafter(0.5, 1)
    assert predictions_digest(predictions) == predictions_digest(copy.deepcopy(predictions))
    assert predictions_digest(predictions) != predictions_digest(other)


def test_predictions_one_quantum_apart_are_named() -> None:
    from pipeline.runs.reproduce import predictions_differences

    proba = np.array([[0.25, 0.75], [0.5, 0.5]])
    recorded = {"y_true": np.array([1, 0]), "baseline": {"y_pred": np.array([1, 0]), "proba": proba},
                "candidate": {"y_pred": np.array([1, 0]), "proba": proba}}
    moved = copy.deepcopy(recorded)
    moved["candidate"]["proba"] = proba + np.array([[0.0, 0.75 * 2.0 ** -SIGNIFICANT_BITS], [0.0, 0.0]])
    assert predictions_differences(recorded, moved) == "candidate: 1 probabilities differ, all by one rounding quantum"
    moved["baseline"]["y_pred"] = np.array([0, 0])
    moved["baseline"]["proba"] = np.array([[0.75, 0.25], [0.5, 0.5]])
    assert predictions_differences(recorded, moved) == (
        "baseline: 2 probabilities differ, 2 by more than one quantum; baseline: 1 predicted labels differ; "
        "candidate: 1 probabilities differ, all by one rounding quantum")


def test_the_environment_lists_threadpools_in_one_order_whatever_the_load_order(monkeypatch) -> None:
    import threadpoolctl

    from pipeline.runs import provenance

    pools = [{"internal_api": "openblas", "prefix": "libscipy_openblas", "version": v, "architecture": "Haswell",
              "num_threads": 2, "threading_layer": "pthreads"} for v in ("0.3.31.188.0", "0.3.30")]
    seen = []
    for order in (pools, pools[::-1]):
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda order=order: list(order))
        seen.append(provenance.environment()["threadpools"])
    assert seen[0] == seen[1] and [p["version"] for p in seen[0]] == ["0.3.30", "0.3.31.188.0"]
