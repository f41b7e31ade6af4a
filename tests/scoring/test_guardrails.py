"""Guardrails on the gate: Hokusai's absolute bounds on the candidate's secondary metrics
(`[[evaluation.guardrails]]`, equality passes, only blocking ones fail the gate) and ours,
`max_drop_bps` against the baseline for every secondary metric and every class's recall."""

from __future__ import annotations

import pytest

from pipeline.config import GuardrailSection, Settings
from pipeline.errors import ConfigError
from pipeline.runs.report import gate_reason
from pipeline.scoring.delta import class_recall_bps, compare
from tests.scoring.test_delta import ALICE, contribution

BASE = {"accuracy": 0.90, "f1": 0.88, "log_loss": 0.30}
CAND = {"accuracy": 0.95, "f1": 0.85, "log_loss": 0.20}


def judge(guardrails=(), max_drop_bps=None, class_recall=None):
    return compare(BASE, CAND, "accuracy", 100, 50, 200, [contribution(ALICE, 10)],
                   guardrails=tuple(guardrails), max_drop_bps=max_drop_bps, class_recall=class_recall)


def test_a_blocking_breach_fails_a_gate_whose_primary_metric_improved() -> None:
    delta = judge([GuardrailSection(metric="f1", threshold=0.86)])
    assert delta.deltaone_bps == 500 and not delta.passed
    (guard,) = [g for g in delta.gate if g.name == "guardrail:f1"]
    assert (guard.value, guard.threshold, guard.passed, guard.rule) == (8500, 8600, False, "f1 >= 0.86")
    assert gate_reason(guard) == "f1 observed 0.85 is below threshold 0.86"


def test_equality_passes_and_lower_is_better_reads_as_at_most() -> None:
    delta = judge([GuardrailSection(metric="f1", threshold=0.85), GuardrailSection(metric="log_loss", threshold=0.15)])
    f1, loss = [g for g in delta.gate if g.name.startswith("guardrail:")]
    assert f1.passed and gate_reason(f1) == "f1 observed 0.85 is within threshold 0.85"
    assert (loss.rule, loss.passed) == ("log_loss <= 0.15", False)
    assert gate_reason(loss) == "log_loss observed 0.2 exceeds threshold 0.15"
    assert not delta.passed


def test_a_non_blocking_breach_is_reported_and_does_not_fail_the_gate() -> None:
    delta = judge([GuardrailSection(metric="f1", threshold=0.9, blocking=False)])
    (guard,) = [g for g in delta.gate if g.name == "guardrail:f1"]
    assert not guard.passed and not guard.blocking and delta.passed
    assert gate_reason(guard) == "f1 observed 0.85 is below threshold 0.9 (not blocking: reported only)"


def test_max_drop_covers_secondary_metrics_and_each_class_recall() -> None:
    delta = judge(max_drop_bps=200, class_recall={"0": (9000, 8500), "1": (8000, 9000)})
    drops = {g.name: (g.value, g.threshold, g.passed) for g in delta.gate if g.name.startswith("max_drop:")}
    assert drops == {"max_drop:f1": (-300, -200, False), "max_drop:log_loss": (1000, -200, True),
                     "max_drop:recall[0]": (-500, -200, False), "max_drop:recall[1]": (1000, -200, True)}
    assert not delta.passed
    (f1,) = [g for g in delta.gate if g.name == "max_drop:f1"]
    assert gate_reason(f1) == "f1 fell 300 bps, more than the allowed drop of 200 bps"
    assert judge(max_drop_bps=300).passed


def test_class_recall_in_bps() -> None:
    import numpy as np

    predictions = {"y_true": np.array([0, 0, 1, 1]), "classes": [0, 1],
                   "baseline": {"y_pred": np.array([0, 1, 1, 1])}, "candidate": {"y_pred": np.array([0, 0, 0, 1])}}
    assert class_recall_bps(predictions) == {"0": (5000, 10000), "1": (10000, 5000)}


def test_a_guardrail_on_an_unknown_metric_is_a_config_error(tmp_path) -> None:
    from pipeline.config import load_settings

    (tmp_path / "hokusai.toml").write_text('[[evaluation.guardrails]]\nmetric = "f2"\nthreshold = 0.5\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert caught.value.message == (
        "Invalid configuration in hokusai.toml: evaluation.guardrails[0].metric 'f2' is not a metric; use "
        "one of accuracy, balanced_accuracy, precision, recall, f1, auroc, log_loss, r2, explained_variance, rmse, mae, "
        "mape.")
    assert Settings.model_validate({"evaluation": {"guardrails": [{"metric": "f1", "threshold": 0.8}]}})
