"""`deltaone.acceptance/v1`: the event Hokusai's own pipeline emits when an evaluation is
accepted, before any mint (its orchestrator maps it onto the `MintRequest`, and hokusai-token
pins it in its contract tests). Built here from an attestation, so every hash and score is the
one we sign; checked against the vendored JSON Schema (`pipeline/schemas/`, byte for byte
upstream's) and the producer model's rules the schema cannot say (`delta_bps` = candidate −
baseline, the four metric families)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from pipeline.errors import AttestationError

EVENT_VERSION = "deltaone.acceptance/v1"
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "deltaone_acceptance_event.v1.schema.json"
#: The file name of the event among a run's MLflow artifacts.
ARTIFACT = "deltaone_acceptance_event.json"
#: The metric families upstream's validator allows (its schema only says minLength 1).
FAMILIES = ("proportion", "continuous", "zero_inflated_continuous", "rank_or_ordinal")
#: Gate conditions that are guardrails in upstream's sense (bounds beside DeltaOne).
GUARDRAIL_PREFIXES = ("guardrail:", "max_drop:")

_FIX = "rebuild it with `hokusai attest RUN --format acceptance-event`"


def acceptance_event(doc: Mapping[str, Any], *, mlflow_run_id: str | None, model_name: str | None = None) -> dict[str, Any]:
    """The event of an accepted run's attestation `doc` (as `hokusai attest` writes it, signed or
    not). A dry-run, a run whose gate failed, or one with no MLflow run has no event: AttestationError
    saying why. `model_id` is `model_name`, else the document's `modelName`, else the numeric id
    (as in the relayer's message); contributors are lower-case and sorted by wallet."""
    evidence, message = doc["evidence"], doc["typedData"]["message"]
    payload, anchors = message["payload"], message["payload"]["anchors"]
    run = payload["pipelineRunId"]
    gate = evidence["gate"]
    if evidence.get("dryRun"):
        raise AttestationError(
            f"Run {run} is a dry-run, so it has no {EVENT_VERSION} event: Hokusai emits one only for an accepted "
            "evaluation; evaluate for real with `hokusai run`."
        )
    if not gate["passed"]:
        failed = "; ".join(f"{c['name']} {c['value']} (threshold {c['threshold']})" for c in gate["conditions"]
                           if not c["passed"] and c.get("blocking", True))
        raise AttestationError(
            f"Run {run} failed the DeltaOne gate ({failed}), so it has no {EVENT_VERSION} event: Hokusai emits one "
            "only for an accepted evaluation."
        )
    if not mlflow_run_id:
        raise AttestationError(
            f"Run {run} has no MLflow run (its tracking failed), and the {EVENT_VERSION} event names one; log it "
            "with `hokusai track`, then ask again."
        )
    family = evidence["metrics"]["family"]
    if family not in FAMILIES:
        raise AttestationError(
            f"Run {run}'s metric family {family!r} is not one of {', '.join(FAMILIES)}, which the event allows; "
            "set [attestation] metric_family."
        )
    model_id_uint = str(int(message["modelId"]))
    baseline, candidate = int(payload["baselineScoreBps"]), int(payload["candidateScoreBps"])
    event = {
        "event_version": EVENT_VERSION,
        "model_id": model_name or doc.get("modelName") or model_id_uint,
        "model_id_uint": model_id_uint,
        "eval_id": run,
        "mlflow_run_id": mlflow_run_id,
        "benchmark_spec_id": evidence["benchmark"]["specId"],
        "primary_metric_name": anchors["metricName"],
        "primary_metric_mlflow_name": f"candidate_{anchors['metricName']}",  # as monitor_and_log logs it
        "metric_family": family,
        "baseline_score_bps": baseline,
        "candidate_score_bps": candidate,
        "delta_bps": candidate - baseline,
        "delta_threshold_bps": _threshold(gate["conditions"], run),
        "attestation_hash": anchors["attestationHash"].lower(),
        "idempotency_key": anchors["idempotencyKey"].lower(),
        "guardrail_summary": guardrail_summary(gate["conditions"]),
        "max_cost_usd_micro": int(payload["maxCostUsdMicro"]),
        "actual_cost_usd_micro": int(payload["actualCostUsdMicro"]),
        "contributors": sorted(({"wallet_address": c["walletAddress"].lower(), "weight_bps": int(c["weight"])}
                                for c in message["contributors"]), key=lambda c: c["wallet_address"]),
    }
    check_event(event)
    return event


def _threshold(conditions: list[Mapping[str, Any]], run: str) -> int:
    """The gate's DeltaOne minimum (`[evaluation] min_improvement_bps`), from its `delta_bps` condition."""
    for c in conditions:
        if c["name"] == "delta_bps":
            return int(c["threshold"])
    raise AttestationError(f"The evidence of run {run} has no delta_bps gate condition; {_FIX}.")


def event_of_run(
    attestation: Mapping[str, Any], settings: Any, *, pathspec: str, mlflow_run_id: str | None,
    task_cpu_seconds: Mapping[str, float] | None, now: int,
) -> dict[str, Any]:
    """The event of a finished run from what it stored: its `attestation` artifact (evidence and
    hash), its `[attestation]` settings and CPU time, made into the document `hokusai attest`
    would write (unsigned; the event holds neither deadline nor domain), then `acceptance_event`.
    One way for `attest --format acceptance-event` and the MLflow artifact of `monitor_and_log`."""
    from pipeline.attest.cost import run_cost
    from pipeline.attest.evidence import SECONDS_PER_DAY, build_attestation
    from pipeline.attest.networks import resolve_target

    target = resolve_target(settings)
    cost = run_cost(settings, task_cpu_seconds, f"Run {pathspec}")
    doc = build_attestation(
        attestation["evidence"], attestation["attestationHash"], pipeline_run_id=pathspec, chain_id=target.chain_id,
        verifying_contract=target.verifying_contract, deadline=now + SECONDS_PER_DAY * settings.deadline_days,
        max_cost_usd_micro=cost.max_usd_micro, actual_cost_usd_micro=cost.actual_usd_micro,
        baseline_commitment=settings.baseline_commitment, cost=cost.to_json(), model_name=settings.model_name,
    )
    return acceptance_event(doc, mlflow_run_id=mlflow_run_id)


def guardrail_summary(conditions: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Upstream's `{total_guardrails, guardrails_passed, breaches}` from the gate's guardrail
    conditions. A blocking breach fails the gate (no event), so the breaches listed are the
    report-only ones (`blocking = false`) whose values fit the event's 0..10000 bps."""
    guards = [c for c in conditions if c["name"].startswith(GUARDRAIL_PREFIXES)]
    breaches = [
        {"metric_name": c["name"].split(":", 1)[1], "observed_bps": c["value"], "threshold_bps": c["threshold"],
         "observed": c["value"] / 10000, "threshold": c["threshold"] / 10000,
         "direction": "higher_is_better" if c["value"] < c["threshold"] else "lower_is_better",
         "policy": "report_only", "reason": f"{c['name']} {c['value']} bps against a bound of {c['threshold']} bps"}
        for c in guards
        if not c["passed"] and c["name"].startswith("guardrail:") and 0 <= c["value"] <= 10000
        and 0 <= c["threshold"] <= 10000
    ]
    return {"total_guardrails": len(guards), "guardrails_passed": sum(bool(c["passed"]) for c in guards),
            "breaches": breaches}


def check_event(event: Any) -> None:
    """The schema, then the producer model's rules: `delta_bps` = candidate − baseline, a known
    family, lower-case hashes. AttestationError with the first problem as one sentence."""
    from pipeline.attest.schema_check import first_problem

    problem = first_problem(event, SCHEMA_FILE, root="event", version=EVENT_VERSION, fix=_FIX)
    if problem is None and event["delta_bps"] != event["candidate_score_bps"] - event["baseline_score_bps"]:
        problem = (f"event.delta_bps is {event['delta_bps']}, but candidate_score_bps - baseline_score_bps is "
                   f"{event['candidate_score_bps'] - event['baseline_score_bps']}; {_FIX}.")
    if problem is None and event["metric_family"] not in FAMILIES:
        problem = f"event.metric_family is {event['metric_family']!r}; it must be one of {', '.join(FAMILIES)}."
    for key in ("attestation_hash", "idempotency_key"):
        if problem is None and (len(event[key]) != 66 or event[key] != event[key].lower() or not event[key].startswith("0x")):
            problem = f"event.{key} is {event[key]!r}; it must be 0x + 64 lower-case hex digits."
    if problem is not None:
        raise AttestationError(problem)


def read_event(doc: Any) -> dict[str, Any]:
    """An event (parsed JSON or its text) checked as `check_event` does, and returned."""
    from pipeline.attest.schema_check import read_document

    event = read_document(doc, SCHEMA_FILE, what="The acceptance event", root="event", version=EVENT_VERSION, fix=_FIX)
    check_event(event)
    return event


def event_json(event: Mapping[str, Any]) -> str:
    """The event as a file holds it: indented, keys in the producer's order."""
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"
