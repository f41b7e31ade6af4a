"""Point 5: the run's measured cost, never silently zero, and kept out of the evidence hash."""

from __future__ import annotations

import pytest

from pipeline.attest.cost import (
    CONFIGURED, MEASURED, NONE, Cost, cost_check, price_usd_micro, rate_text, record_task_cpu, run_cost,
    seconds_text,
)
from pipeline.config import AttestationSection
from pipeline.errors import AttestationError
from tests.attest.documents import unsigned_attestation

STEPS = ["start", "load_baseline_model", "integrate_contributed_data", "train_new_model", "retrain_coalitions",
         "join_attribution", "evaluate_on_benchmark", "compare_and_output_delta", "generate_attestation_output",
         "monitor_and_log", "end"]


def test_price_rounds_up_exactly() -> None:
    assert price_usd_micro("3600.000", "1") == 1_000_000
    assert price_usd_micro("12.345", "0.05") == 172  # 171.458… rounds up
    assert price_usd_micro("0.001", "0.0001") == 1  # a measured, priced run is never 0
    assert price_usd_micro("0.000", "0.05") == 0
    assert rate_text(0.05) == "0.05" and rate_text(100.0) == "100" and rate_text(1e-7) == "0.0000001"
    assert seconds_text(1.2344999) == "1.234" and seconds_text(2) == "2.000"


def test_run_cost_measured() -> None:
    cost = run_cost(AttestationSection(usd_per_cpu_hour=0.05, max_cost_usd_micro=5_000_000),
                    {"start": 1.2345, "end": 0.5})  # 1.734 CPU-s x 0.05 USD/h = 24.08 µUSD, rounded up
    assert cost == Cost(25, 5_000_000, MEASURED, "1.734", "0.05", {"start": "1.234", "end": "0.500"})
    assert cost.to_json() == {
        "method": "cpu_seconds_x_usd_per_cpu_hour", "actualCostUsdMicro": 25, "maxCostUsdMicro": 5000000,
        "cpuSeconds": "1.734", "usdPerCpuHour": "0.05", "taskCpuSeconds": {"start": "1.234", "end": "0.500"},
        "formula": "ceil(cpuSeconds x usdPerCpuHour x 1000000 / 3600)"}


def test_run_cost_configured_and_not_configured() -> None:
    assert run_cost(AttestationSection(actual_cost_usd_micro=2_340_000, usd_per_cpu_hour=1.0), {"start": 9.0}) == \
        Cost(2_340_000, 0, CONFIGURED)
    assert run_cost(AttestationSection(), {"start": 9.0}) == Cost(0, 0, NONE)
    assert Cost(2**60, 2**60 + 1, CONFIGURED).to_json() == {
        "method": CONFIGURED, "actualCostUsdMicro": str(2**60), "maxCostUsdMicro": str(2**60 + 1)}


def test_a_priced_run_without_cpu_record_is_refused() -> None:
    with pytest.raises(AttestationError) as err:
        run_cost(AttestationSection(usd_per_cpu_hour=0.05), None, "Run 12")
    assert str(err.value) == (
        "Run 12 recorded no CPU time (it predates cost measurement), so its cost cannot be priced at "
        "usd_per_cpu_hour; run it again, or set [attestation] actual_cost_usd_micro.")


def test_record_task_cpu_carries_the_record_forward() -> None:
    first = record_task_cpu(None, "start")
    second = record_task_cpu(first, "load_baseline_model")
    assert list(second) == ["start", "load_baseline_model"] and second["start"] == first["start"]
    assert second["load_baseline_model"] >= first["start"] > 0  # the same process: its CPU time only grows


def test_cost_check_recomputes_the_signed_cost() -> None:
    doc = unsigned_attestation()
    assert cost_check(doc) == (True, "actualCostUsdMicro 2340000 (no cost record to recompute)")
    doc["typedData"]["message"]["payload"]["actualCostUsdMicro"] = 172
    doc["cost"] = {"method": MEASURED, "actualCostUsdMicro": 172, "maxCostUsdMicro": 0, "cpuSeconds": "12.345",
                   "usdPerCpuHour": "0.05"}
    assert cost_check(doc) == (True, "12.345 CPU-s x 0.05 USD/h = 172 µUSD")
    doc["cost"]["cpuSeconds"] = "1.000"
    assert cost_check(doc) == (False, "ceil(1.000 s x 0.05 USD/h) = 14 µUSD, recorded 172, signed 172")


def test_flow_records_every_task_and_cost_stays_out_of_the_evidence(demo_runs) -> None:
    from pipeline.runs.runner import finished_run

    first, second = (finished_run(demo_runs["project"], demo_runs[k]["run_id"]) for k in ("first", "second"))
    for run in (first, second):
        cpu = run.data.task_cpu_seconds
        assert list(cpu) == STEPS
        assert all(isinstance(v, float) and v > 0 for v in cpu.values())
    # CPU time differs from run to run; the evidence, and so its hash, does not
    assert first.data.task_cpu_seconds != second.data.task_cpu_seconds
    assert first.data.attestation == second.data.attestation
    assert "cost" not in first.data.attestation["evidence"]
