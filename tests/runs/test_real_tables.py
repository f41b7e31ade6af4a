"""A public table as published, through the real CLI and flow: Palmer penguins (pip package
`palmerpenguins`, MIT; 344 rows, text columns `species`, `island`, `sex`, gaps in five
columns). No cleaning: its lines are split into base, benchmark and two contributions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ALICE, BOB

CLI = [sys.executable, "-m", "hokusai_cli"]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([*CLI, *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def penguins(tmp_path_factory) -> Path:
    """A project whose files are lines of the published penguins.csv, shuffled (seed 0):
    benchmark 120, base 40, Alice 90, Bob 94."""
    import palmerpenguins

    source = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    header, *rows = source.read_text().splitlines(keepends=True)
    order = np.random.RandomState(0).permutation(len(rows))
    project = tmp_path_factory.mktemp("penguins")
    (project / "data").mkdir()
    parts = {"benchmark": order[:120], "base": order[120:160], "contrib_alice": order[160:250],
             "contrib_bob": order[250:]}
    for name, picked in parts.items():
        (project / "data" / f"{name}.csv").write_text(header + "".join(rows[i] for i in sorted(picked)))
    (project / "hokusai.toml").write_text('[model]\ntarget = "species"\n')
    return project


@pytest.mark.timeout(300)
def test_validate_names_the_kinds_and_the_gaps(penguins: Path) -> None:
    done = cli("validate", "data/contrib_alice.csv", cwd=penguins)
    assert done.returncode == 0, done.stderr
    text = flat(done.stderr)
    assert ("Features (kinds from the base data): island categorical, bill_length_mm numeric, bill_depth_mm numeric, "
            "flipper_length_mm numeric, body_mass_g numeric, sex categorical, year numeric") in text
    assert "data/contrib_alice.csv: 3 empty value(s) in column 'sex' (rows 2, 4, 5) kept: the estimator imputes them" in text
    assert "Valid: 90 of 90 rows would be used." in text


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("estimator", "deltaone", "passed", "weights"), [
    ("logistic_regression", 417, False, [5000, 5000]),  # CI low bound 0: the gain is within noise
    ("random_forest", 667, True, [3748, 6252]),
    ("hist_gradient_boosting", 750, True, [5553, 4447]),
])
def test_penguins_as_published_evaluate_with_each_estimator(penguins, estimator, deltaone, passed, weights) -> None:
    done = cli("run", "--json", "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.csv:{BOB}",
               cwd=penguins, env={"HOKUSAI_MODEL__ESTIMATOR": estimator})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert (summary["deltaone_bps"], summary["gate_passed"]) == (deltaone, passed)
    assert [c["weight_bps"] for c in summary["contributors"]] == weights
    assert [c["rows"] for c in summary["contributors"]] == [90, 94]
    assert [m["metric"] for m in summary["metrics"]][:2] == ["accuracy", "balanced_accuracy"]


@pytest.mark.timeout(300)
def test_a_guardrail_breach_blocks_a_run_whose_primary_metric_improved(tmp_path: Path) -> None:
    from tests.conftest import make_project

    project = make_project(tmp_path / "guarded")
    with (project / "hokusai.toml").open("a") as toml:
        toml.write('\n[[evaluation.guardrails]]\nmetric = "log_loss"\nthreshold = 0.05\n'
                   '\n[[evaluation.guardrails]]\nmetric = "f1"\nthreshold = 0.99\nblocking = false\n')
    done = cli("run", "--json", "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib",
               f"data/contrib_bob.parquet:{BOB}", cwd=project)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["deltaone_bps"] == 700 and summary["gate_passed"] is False
    guards = {g["name"]: (g["value"], g["threshold"], g["passed"], g["blocking"]) for g in summary["gate"]
              if g["name"].startswith("guardrail:")}
    assert guards == {"guardrail:log_loss": (814, 500, False, True), "guardrail:f1": (9844, 9900, False, False)}
    text = flat(done.stderr)
    assert "log_loss <= 0.05: 814 vs 500 FAILED" in text and "f1 >= 0.99: 9844 vs 9900 breached (not blocking)" in text
    run = summary["run_id"]
    inspected = json.loads(cli("inspect", run, "--json", cwd=project).stdout)
    reasons = [g["reason"] for g in inspected["verdict"]["gate"] if g["name"].startswith("guardrail:")]
    assert reasons == ["log_loss observed 0.0814 exceeds threshold 0.05",
                       "f1 observed 0.9844 is below threshold 0.99 (not blocking: reported only)"]
    key = tmp_path / "attester.key"  # Hardhat's public test key #2: no value anywhere
    key.write_text("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a\n")
    refused = cli("attest", run, "--deadline", "4102444800", "--sign-key-file", str(key), cwd=project)
    assert refused.returncode == 2 and refused.stdout == ""
    assert flat(refused.stderr) == (f"Error: Run HokusaiEvaluationFlow/{run} failed the DeltaOne gate and cannot be "
                                    "signed; pass --force to sign it anyway (its evidence stays marked gate.passed = "
                                    "false).")


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory) -> Path:
    """scikit-learn's diabetes table (442 rows, ships with scikit-learn): a quantity to
    predict. Shuffled (seed 0): benchmark 150, base 50, Alice 120, Bob 122."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame.round(6)
    data = data.iloc[np.random.RandomState(0).permutation(len(data))].reset_index(drop=True)
    project = tmp_path_factory.mktemp("diabetes")
    (project / "data").mkdir()
    for name, rows in (("benchmark", slice(0, 150)), ("base", slice(150, 200)), ("contrib_alice", slice(200, 320)),
                       ("contrib_bob", slice(320, None))):
        data.iloc[rows].to_csv(project / "data" / f"{name}.csv", index=False)
    (project / "hokusai.toml").write_text('[model]\ntarget = "target"\n')
    return project


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("estimator", "deltaone", "ci", "passed", "weights"), [
    ("auto", 624, (-142, 1387), False, [6210, 3790]),  # ridge
    ("random_forest", 1452, (204, 2663), True, [7968, 2032]),
    ("hist_gradient_boosting", 1097, (-367, 2499), False, [10000, 0]),
])
def test_a_regression_evaluates_with_each_estimator(diabetes, estimator, deltaone, ci, passed, weights) -> None:
    done = cli("run", "--json", "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.csv:{BOB}",
               cwd=diabetes, env={"HOKUSAI_MODEL__ESTIMATOR": estimator})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["task"] == {"task": "regression",
                               "why": "auto: 'target' holds 46 different numbers in 50 rows, a quantity"}
    assert summary["primary_metric"] == "r2"
    assert [m["metric"] for m in summary["metrics"]] == ["r2", "explained_variance", "rmse", "mae", "mape"]
    assert (summary["deltaone_bps"], (summary["ci"]["low_bps"], summary["ci"]["high_bps"])) == (deltaone, ci)
    assert summary["gate_passed"] is passed
    assert [c["weight_bps"] for c in summary["contributors"]] == weights
    rmse = next(m for m in summary["metrics"] if m["metric"] == "rmse")
    assert rmse["higher_is_better"] is False and rmse["candidate"] < rmse["baseline"]
    assert rmse["delta_bps"] == round((rmse["baseline"] - rmse["candidate"]) / rmse["baseline"] * 10000)  # relative
    assert all(m["ci_low_bps"] is not None and m["ci_low_bps"] <= m["ci_high_bps"] for m in summary["metrics"])
    assert "Task: regression (auto: 'target' holds 46 different numbers in 50 rows, a quantity)" in flat(done.stderr)
