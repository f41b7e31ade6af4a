"""`deltaone.acceptance/v1` (issue 24, item 1): built from real `hokusai attest` output of a real
run, valid against the vendored schema, its hashes the signed ones, its scores upstream's bps
rule; upstream's golden example round-trips through our reader; refusals in one sentence."""

from __future__ import annotations

import copy
import hashlib
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest

from pipeline.attest.acceptance import acceptance_event, check_event, event_json, read_event
from pipeline.errors import AttestationError
from tests.attest.documents import unsigned_attestation
from tests.conftest import ALICE, BOB, invoke

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
EXAMPLE = VECTORS / "deltaone_acceptance_event.v1.example.json"
SCHEMA = VECTORS / "deltaone_acceptance_event.v1.schema.json"


def upstream_bps(score: float) -> int:
    """Upstream's rule: Decimal(str(v)) * 10000, ROUND_HALF_EVEN."""
    return int((Decimal(str(score)) * 10000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_the_shipped_schema_is_upstreams_byte_for_byte():
    from pipeline.attest.acceptance import SCHEMA_FILE

    assert SCHEMA_FILE.read_bytes() == SCHEMA.read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(SCHEMA.read_bytes()) + SCHEMA.read_bytes()).hexdigest() == \
        "54e95bd8d58c013499ed7806317872b478d0bbc7"  # upstream's git blob id (SOURCE.txt)


def test_the_golden_example_round_trips_through_the_reader():
    text = EXAMPLE.read_text()
    event = read_event(text)
    assert event == json.loads(text)
    assert json.loads(event_json(event)) == json.loads(text)
    # its idempotency key is upstream's two-part formula, the one we sign
    assert event["idempotency_key"] == "0x" + hashlib.sha256(
        f"{event['model_id_uint']}:{event['attestation_hash'][2:]}".encode()).hexdigest()


@pytest.mark.timeout(600)
def test_a_real_runs_event_carries_the_signed_hashes_and_upstreams_bps(project_run):
    import jsonschema

    from pipeline.runs.artifacts import delta as rebuild_delta

    project, run = project_run
    done = invoke("attest", run.id, "--project", str(project), "--network", "local")
    assert done.exit_code == 0, done.stderr
    doc = json.loads(done.stdout)
    event = acceptance_event(doc, mlflow_run_id=run.data.tracking["run_id"])
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(event)

    anchors = doc["typedData"]["message"]["payload"]["anchors"]
    assert event["attestation_hash"] == doc["attestationHash"] == anchors["attestationHash"]
    assert event["idempotency_key"] == anchors["idempotencyKey"] == "0x" + hashlib.sha256(
        f"7:{doc['attestationHash'][2:]}".encode()).hexdigest()
    delta = rebuild_delta(run.data.delta)
    accuracy = next(m for m in delta.metrics if m.metric == "accuracy")
    assert (event["baseline_score_bps"], event["candidate_score_bps"]) == (
        upstream_bps(accuracy.baseline), upstream_bps(accuracy.candidate)) == (9100, 9800)
    assert (event["delta_bps"], event["delta_threshold_bps"]) == (700, 100)
    assert (event["model_id"], event["model_id_uint"], event["eval_id"]) == ("7", "7", run.pathspec)
    assert (event["primary_metric_name"], event["primary_metric_mlflow_name"], event["metric_family"]) == (
        "accuracy", "candidate_accuracy", "proportion")
    assert event["guardrail_summary"] == {"total_guardrails": 0, "guardrails_passed": 0, "breaches": []}
    signed = {c["walletAddress"].lower(): c["weight"] for c in doc["typedData"]["message"]["contributors"]}
    assert event["contributors"] == [{"wallet_address": w, "weight_bps": signed[w]} for w in sorted(signed)]
    assert [c["wallet_address"] for c in event["contributors"]] == sorted([BOB.lower(), ALICE.lower()])
    assert sum(c["weight_bps"] for c in event["contributors"]) == 10000

    # the command gives the same event, valid, from the run and its MLflow run
    shown = invoke("attest", run.id, "--project", str(project), "--format", "acceptance-event")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == event
    assert " ".join(shown.stderr.split()) == (
        f"Acceptance event of {run.pathspec}: delta 700 bps (threshold 100), 2 contributor(s), attestation "
        f"{doc['attestationHash']}, MLflow run {run.data.tracking['run_id']}")
    # monitor_and_log logged the same bytes as an MLflow artifact of the run
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project / '.hokusai' / 'mlflow.db'}")
    logged = Path(client.download_artifacts(run.data.tracking["run_id"], "deltaone_acceptance_event.json",
                                            str(project / ".event-download")))
    assert logged.read_text(encoding="utf-8") == shown.stdout


@pytest.mark.timeout(600)
def test_the_command_refuses_a_dry_run_and_signing_options(demo_runs):
    run_id, project = demo_runs["first"]["run_id"], str(demo_runs["project"])
    refused = invoke("attest", run_id, "--project", project, "--format", "acceptance-event")
    assert refused.exit_code == 2
    assert " ".join(refused.stderr.split()) == (
        f"Error: Run HokusaiEvaluationFlow/{run_id} is a dry-run, so it has no deltaone.acceptance/v1 event: Hokusai "
        "emits one only for an accepted evaluation; evaluate for real with `hokusai run`.")
    assert refused.stdout == ""
    signed = invoke("attest", run_id, "--project", project, "--format", "acceptance-event", "--network", "local")
    assert (signed.exit_code, " ".join(signed.stderr.split())) == (
        2, "Error: --format acceptance-event is read from the run and is not signed; drop --network.")


def test_no_event_for_a_dry_run_a_failed_gate_or_a_run_without_mlflow():
    doc = unsigned_attestation()
    doc["evidence"]["gate"]["conditions"][0]["name"] = "delta_bps"
    run = "HokusaiEvaluationFlow/1"
    dry = copy.deepcopy(doc)
    dry["evidence"]["dryRun"] = True
    with pytest.raises(AttestationError) as error:
        acceptance_event(dry, mlflow_run_id="abc")
    assert str(error.value) == (f"Run {run} is a dry-run, so it has no deltaone.acceptance/v1 event: Hokusai emits "
                                "one only for an accepted evaluation; evaluate for real with `hokusai run`.")
    failed = copy.deepcopy(doc)
    failed["evidence"]["gate"] = {"passed": False, "conditions": [
        {"name": "delta_bps", "value": 40, "threshold": 100, "passed": False}]}
    with pytest.raises(AttestationError) as error:
        acceptance_event(failed, mlflow_run_id="abc")
    assert str(error.value) == (f"Run {run} failed the DeltaOne gate (delta_bps 40 (threshold 100)), so it has no "
                                "deltaone.acceptance/v1 event: Hokusai emits one only for an accepted evaluation.")
    with pytest.raises(AttestationError) as error:
        acceptance_event(doc, mlflow_run_id=None)
    assert str(error.value) == (f"Run {run} has no MLflow run (its tracking failed), and the deltaone.acceptance/v1 "
                                "event names one; log it with `hokusai track`, then ask again.")


def test_guardrails_are_summarised_and_report_only_breaches_listed():
    doc = unsigned_attestation()
    doc["evidence"]["gate"]["conditions"] = [
        {"name": "delta_bps", "value": 700, "threshold": 100, "passed": True},
        {"name": "guardrail:f1", "value": 9850, "threshold": 9000, "passed": True},
        {"name": "guardrail:recall", "value": 8800, "threshold": 9000, "passed": False, "blocking": False},
        {"name": "max_drop:f1", "value": -20, "threshold": -50, "passed": True},
    ]
    summary = acceptance_event(doc, mlflow_run_id="abc")["guardrail_summary"]
    assert summary == {"total_guardrails": 3, "guardrails_passed": 2, "breaches": [
        {"metric_name": "recall", "observed_bps": 8800, "threshold_bps": 9000, "observed": 0.88, "threshold": 0.9,
         "direction": "higher_is_better", "policy": "report_only",
         "reason": "guardrail:recall 8800 bps against a bound of 9000 bps"}]}


@pytest.mark.parametrize("change, sentence", [
    (lambda e: e.update(delta_bps=299), "event.delta_bps is 299, but candidate_score_bps - baseline_score_bps is 300; "
                                        "rebuild it with `hokusai attest RUN --format acceptance-event`."),
    (lambda e: e.update(metric_family="ratio"),
     "event.metric_family is 'ratio'; it must be one of proportion, continuous, zero_inflated_continuous, rank_or_ordinal."),
    (lambda e: e.update(attestation_hash=e["attestation_hash"].upper().replace("0X", "0x")),
     "event.attestation_hash is '0xD12B65D6BE0C2170D427589CC027D4988031DC23356A7F83ECF476FC712BB543'; it must be "
     "0x + 64 lower-case hex digits."),
    (lambda e: e.pop("eval_id"), "event.eval_id is missing; rebuild it with `hokusai attest RUN --format acceptance-event`."),
    (lambda e: e.update(delta_bps=-5), "event.delta_bps is -5; it must be at least 0."),
    (lambda e: e.update(extra=1), "event.extra is not a field of deltaone.acceptance/v1; remove it."),
])
def test_a_bad_event_is_one_sentence(change, sentence):
    event = json.loads(EXAMPLE.read_text())
    change(event)
    with pytest.raises(AttestationError) as error:
        check_event(event)
    assert str(error.value) == sentence
