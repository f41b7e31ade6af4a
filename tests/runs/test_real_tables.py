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
    ("random_forest", 667, True, [4370, 5630]),
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
