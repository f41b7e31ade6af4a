"""A custom metric declared `bounded = true` is checked on every call: a value outside [0, 1]
(or no number at all) stops the run with one sentence naming the metric and the value, and
never becomes basis points (issue 25, point 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import DataError
from pipeline.scoring.evaluation import (
    CustomMetric,
    checked_metric,
    load_custom_metric,
    score,
)
from tests.conftest import ALICE, BOB, make_project

Y = np.array([0, 1, 1, 0, 1, 0])
PRED = np.array([0, 1, 0, 0, 1, 1])
P1 = np.array([0.2, 0.9, 0.4, 0.3, 0.8, 0.6])
PROBA = np.c_[1 - P1, P1]
INFLATED = ("Custom metric 'my_score' returned 1.7, outside [0, 1], but it is declared bounded = true; return a value "
            "in [0, 1] or set bounded = false.")


def constant(value):
    return lambda y_true, y_pred, y_proba: value


def score_error(metric: CustomMetric, value) -> str:
    with pytest.raises(DataError) as caught:
        score(Y, PRED, PROBA, [0, 1], custom=((metric, constant(value)),))
    return str(caught.value)


def test_a_bounded_metric_outside_0_1_stops_scoring_naming_metric_and_value() -> None:
    assert score_error(CustomMetric("my_score", "m:f", bounded=True), 1.7) == INFLATED
    assert score_error(CustomMetric("my_score", "m:f"), np.float64(1.7)) == INFLATED  # bounded is the default
    assert score_error(CustomMetric("my_score", "m:f"), -0.25) == (
        "Custom metric 'my_score' returned -0.25, outside [0, 1], but it is declared bounded = true; return a value "
        "in [0, 1] or set bounded = false.")
    assert score_error(CustomMetric("my_score", "m:f"), float("nan")) == (
        "Custom metric 'my_score' returned nan, outside [0, 1], but it is declared bounded = true; return a value "
        "in [0, 1] or set bounded = false.")


def test_the_bounds_themselves_and_unbounded_metrics_pass() -> None:
    for value in (0.0, 1.0, np.float64(0.5), -0.0):
        assert score(Y, PRED, PROBA, [0, 1], custom=((CustomMetric("my_score", "m:f"), constant(value)),))[
            "my_score"] == float(value)
    loss = CustomMetric("my_loss", "m:f", direction="lower", bounded=False)
    assert score(Y, PRED, PROBA, [0, 1], custom=((loss, constant(2.5)),))["my_loss"] == 2.5
    assert score(np.array([1.0, 2.0]), np.array([1.5, 2.0]), None, [], custom=((loss, constant(-3.0)),))[
        "my_loss"] == -3.0


def test_a_regression_bounded_metric_is_checked_too() -> None:
    with pytest.raises(DataError) as caught:
        score(np.array([1.0, 2.0]), np.array([1.5, 2.0]), None, [],
              custom=((CustomMetric("my_score", "m:f"), constant(1.7)),))
    assert str(caught.value) == INFLATED


def test_a_value_that_is_not_a_number_is_named() -> None:
    assert score_error(CustomMetric("my_score", "m:f", bounded=False), None) == (
        "Custom metric 'my_score' returned None, not a number; return one float.")
    assert score_error(CustomMetric("my_score", "m:f"), "high") == (
        "Custom metric 'my_score' returned 'high', not a number; return one float.")
    assert score_error(CustomMetric("my_score", "m:f"), list(range(30))) == (
        "Custom metric 'my_score' returned [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …, not a number; return one float.")


def test_the_checked_callable_stops_the_bootstrap_before_any_bps() -> None:
    """The bootstrap (and attribution) call the primary metric as a black box: given the
    checked callable, a resample's out-of-range value stops it."""
    from pipeline.scoring.bootstrap import paired_bootstrap

    def inflated_when_perfect(y_true, y_pred, y_proba):  # in range for the baseline, not the candidate
        return 1.7 if np.mean(y_pred == y_true) > 0.9 else 0.5

    function = checked_metric(CustomMetric("my_score", "m:f"), inflated_when_perfect)
    assert function(Y, PRED, PROBA) == 0.5
    perfect = {"y_pred": Y, "proba": PROBA}
    with pytest.raises(DataError) as caught:
        paired_bootstrap("my_score", Y, {"y_pred": PRED, "proba": PROBA}, perfect, [0, 1], resamples=8,
                         confidence=0.9, seed=1, custom=function)
    assert str(caught.value) == INFLATED


def test_load_custom_metric_imports_and_checks(tmp_path: Path) -> None:
    from pipeline.config import CustomMetricSection

    (tmp_path / "bounds_metrics.py").write_text("def inflated(y_true, y_pred, y_proba):\n    return 1.7\n")
    bounded = load_custom_metric("my_score", CustomMetricSection(function="bounds_metrics:inflated"), str(tmp_path))
    with pytest.raises(DataError) as caught:
        bounded(Y, PRED, PROBA)
    assert str(caught.value) == INFLATED
    free = CustomMetricSection(function="bounds_metrics:inflated", bounded=False)
    assert load_custom_metric("my_score", free, str(tmp_path))(Y, PRED, PROBA) == 1.7


def test_the_primary_custom_metric_of_attribution_and_bootstrap_is_checked(tmp_path: Path) -> None:
    from pipeline.config import Settings
    from pipeline.scoring.delta import primary_custom_metric

    (tmp_path / "bounds_primary.py").write_text("def inflated(y_true, y_pred, y_proba):\n    return 1.7\n")
    settings = Settings.model_validate({"model": {"primary_metric": "my_score"}, "evaluation": {
        "custom_metrics": {"my_score": {"function": "bounds_primary:inflated"}}}})
    with pytest.raises(DataError) as caught:
        primary_custom_metric(settings, str(tmp_path))(Y, PRED, PROBA)
    assert str(caught.value) == INFLATED


# --- a real run -----------------------------------------------------------------------------

CLI = [sys.executable, "-m", "hokusai_cli"]
INFLATED_METRIC = '''
def my_score(y_true, y_pred, y_proba):
    """Declared bounded, but scaled by mistake: accuracy times 1.7 (above 1 on the demo)."""
    return float((y_true == y_pred).mean()) * 1.7 + 0.1
'''


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*CLI, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=500)


@pytest.mark.timeout(600)
def test_a_run_with_an_out_of_range_bounded_metric_exits_2_and_leaves_no_successful_run(tmp_path: Path) -> None:
    project = make_project(tmp_path / "inflated")
    (project / "inflated_metric.py").write_text(INFLATED_METRIC)
    toml = (project / "hokusai.toml").read_text().replace('primary_metric = "accuracy"', 'primary_metric = "my_score"')
    (project / "hokusai.toml").write_text(
        toml + '\n[evaluation.custom_metrics.my_score]\nfunction = "inflated_metric:my_score"\nbounded = true\n')

    done = cli("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}",
               "--contrib", f"data/contrib_bob.parquet:{BOB}", cwd=project)

    assert done.returncode == 2, done.stderr[-3000:]
    message = " ".join(done.stderr.split())
    assert "Error: Custom metric 'my_score' returned " in message
    value = message.split("Error: Custom metric 'my_score' returned ", 1)[1].split(",", 1)[0]
    assert float(value) > 1
    assert (f"Error: Custom metric 'my_score' returned {value}, outside [0, 1], but it is declared bounded = true; "
            "return a value in [0, 1] or set bounded = false.") in message
    assert "Traceback" not in done.stderr + done.stdout
    assert "Attestation hash" not in done.stderr and done.stdout == ""
    listed = cli("runs", "--project", str(project), "--json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)["runs"]
    assert [r["status"] for r in runs] == ["failed"]
