"""The relayer's mint_request v1.0: the golden example from the known-answer attestation, the
consumer schema, zero-weight contributors, and the digest rebuilt from the message's fields."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from pipeline.attest import eip712
from pipeline.attest.evidence import build_attestation, mint_message
from pipeline.attest.relayer import (
    Statistics, check_message, message_problem, mint_request, statistics_from_evidence, typed_data_from_message,
)
from pipeline.errors import AttestationError
from pipeline.scoring.delta import compare
from tests.attest.documents import EVIDENCE, TEST_KEY, VERIFYING_CONTRACT, signed_attestation
from tests.conftest import ALICE, BOB

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "mint-request"
SCHEMA = json.loads((VECTORS / "mint_request.consumer.v1.schema.json").read_text())
GOLDEN = json.loads((VECTORS / "mint_request.v1.example.json").read_text())
VECTOR = json.loads((VECTORS / "deltaverifier-mint-request.json").read_text())


def valid(message: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(message)


def known_answer_attestation() -> dict:
    """The attestation of the DeltaVerifier known-answer vector: its typed data, signed by the
    vector's key (giving the vector's signature), with evidence holding the statistics the
    golden example states (1000 benchmark rows, CI 50..550 bps, DeltaOne 300 bps, gate passed)."""
    typed = eip712.build_typed_data(chain_id=VECTOR["domain"]["chainId"],
                                    verifying_contract=VECTOR["domain"]["verifyingContract"],
                                    message=VECTOR["message"])
    evidence = {
        "dryRun": False,
        "benchmark": {"specId": "spec-test-v1", "sha256": VECTOR["message"]["payload"]["anchors"]["datasetHash"],
                      "rows": 1000},
        "delta": {"deltaOneBps": 300, "ci": {"lowBps": 50, "highBps": 550, "resamples": 1000,
                                             "confidenceBps": 9500, "method": "paired-percentile", "seed": 42}},
        "gate": {"passed": True, "conditions": [{"name": "delta_bps", "value": 300, "threshold": 100, "passed": True}]},
    }
    doc = {"schema": eip712.SCHEMA, "evidence": evidence,
           "attestationHash": VECTOR["message"]["payload"]["anchors"]["attestationHash"],
           "typedData": typed, "digest": eip712.digest(typed), "signatures": [], "signers": []}
    doc = eip712.add_signature(doc, eip712.sign(typed, VECTOR["testPrivateKeys"][0]))
    assert doc["digest"] == VECTOR["expected"]["digest"]
    assert doc["signatures"] == VECTOR["expected"]["signatures"]
    return doc


def test_repo_copies_are_the_shared_files() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"no shared copy at {SHARED} to compare with")
    for name in ("mint_request.consumer.v1.schema.json", "mint_request.v1.example.json"):
        assert (VECTORS / name).read_bytes() == (SHARED / name).read_bytes(), name


def test_golden_example_is_schema_valid() -> None:
    valid(GOLDEN)


def test_known_answer_attestation_gives_the_golden_example_field_by_field() -> None:
    doc = known_answer_attestation()
    message = mint_request(doc, model_name="model-a", message_id=GOLDEN["message_id"], timestamp=GOLDEN["timestamp"])
    expected = copy.deepcopy(GOLDEN)
    # hokusai computes a paired-bootstrap CI of DeltaOne, not a p-value: the one field it leaves null
    assert expected["evaluation"]["p_value"] == 0.03
    expected["evaluation"]["p_value"] = None
    assert list(message) == list(expected)
    for field in expected:
        assert message[field] == expected[field], field
    assert message == expected
    valid(message)


def test_message_id_is_a_uuid_and_timestamp_now() -> None:
    before = datetime.now().astimezone()
    message = mint_request(known_answer_attestation(), model_name="model-a")
    assert uuid.UUID(message["message_id"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", message["timestamp"])
    assert datetime.fromisoformat(message["timestamp"]) >= before.replace(microsecond=0)
    assert mint_request(known_answer_attestation())["message_id"] != message["message_id"]


def test_model_id_defaults_to_the_numeric_id_then_the_recorded_name() -> None:
    doc = known_answer_attestation()
    assert mint_request(doc)["model_id"] == "12345678901234567890"
    doc["modelName"] = "sales-lead-scoring"
    assert mint_request(doc)["model_id"] == "sales-lead-scoring"
    assert mint_request(doc, model_name="other")["model_id"] == "other"


def test_digest_rebuilt_from_the_message_fields_recovers_the_signer() -> None:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    message = mint_request(known_answer_attestation(), model_name="model-a")
    typed = typed_data_from_message(message, chain_id=31337, verifying_contract=VECTOR["domain"]["verifyingContract"])
    assert eip712.digest(typed) == VECTOR["expected"]["digest"]
    signer = Account.recover_message(encode_typed_data(full_message=typed), signature=message["attester_signatures"][0])
    assert signer == VECTOR["expected"]["signers"][0]


def test_unsigned_attestation_is_refused() -> None:
    doc = known_answer_attestation()
    doc["signatures"], doc["signers"] = [], []
    with pytest.raises(AttestationError) as err:
        mint_request(doc)
    assert str(err.value) == (
        "The attestation has no signature, and the relayer needs at least one in attester_signatures; "
        "sign it with --sign-key-file or --sign-key-env, or --attach a signature.")


def test_spec_id_must_hash_to_the_signed_spec_hash() -> None:
    doc = known_answer_attestation()
    doc["evidence"]["benchmark"]["specId"] = "spec-test-v2"
    with pytest.raises(AttestationError) as err:
        mint_request(doc)
    assert str(err.value) == ("evidence.benchmark.specId 'spec-test-v2' does not hash to the signed "
                              "benchmarkSpecHash; use the attestation exactly as `hokusai attest` wrote it.")


def test_statistics_of_a_forced_failed_gate() -> None:
    evidence = copy.deepcopy(EVIDENCE)
    evidence["delta"]["deltaOneBps"] = -40
    evidence["delta"]["ci"] = {**evidence["delta"]["ci"], "lowBps": -120, "highBps": 30}
    evidence["gate"] = {"passed": False, "conditions": [
        {"name": "delta_bps", "value": -40, "threshold": 100, "passed": False},
        {"name": "ci_low_bps", "value": -120, "threshold": 0, "passed": False},
        {"name": "benchmark_rows", "value": 200, "threshold": 50, "passed": True}]}
    evidence["dryRun"] = True
    assert statistics_from_evidence(evidence) == Statistics(
        sample_size_baseline=200, sample_size_candidate=200, ci_low_bps=None, ci_high_bps=30, p_value=None,
        effect_size_bps=None, statistical_method="bootstrap_ci",
        statistical_reason="signed with --force: dry-run, gate failed: delta_bps -40 (threshold 100); "
                           "ci_low_bps -120 (threshold 0)")
    evidence["delta"]["ci"] = None
    stats = statistics_from_evidence(evidence)
    assert (stats.ci_low_bps, stats.ci_high_bps, stats.statistical_method) == (None, None, None)


def test_every_message_of_a_signed_attestation_validates() -> None:
    message = mint_request(signed_attestation())
    valid(message)
    assert message["model_id"] == message["model_id_uint"] == "7"
    assert message["contributors"] == [{"wallet_address": BOB.lower(), "weight_bps": 6071},  # as signed: by wallet
                                       {"wallet_address": ALICE.lower(), "weight_bps": 3929}]
    assert message["evaluation"] == {
        "metric_name": "accuracy", "metric_family": "proportion", "baseline_score_bps": 9100, "new_score_bps": 9800,
        "max_cost_usd_micro": 5000000, "actual_cost_usd_micro": 2340000, "sample_size_baseline": 200,
        "sample_size_candidate": 200, "ci_low_bps": 300, "ci_high_bps": 1100, "p_value": None,
        "effect_size_bps": 700, "statistical_method": "bootstrap_ci", "statistical_reason": "accepted"}


# --- point 6: a contributor credited 0 ------------------------------------------------------


def zero_weight_evidence() -> dict:
    evidence = copy.deepcopy(EVIDENCE)
    evidence["contributors"] = [
        {"wallet": ALICE, "rows": 110, "valueBps": "-12.50", "weightBps": 0},
        {"wallet": BOB, "rows": 169, "valueBps": "712.50", "weightBps": 10000},
    ]
    return evidence


def test_zero_weight_contributor_is_left_out_of_the_request_and_named_in_the_evidence() -> None:
    from pipeline.attest.evidence import verify_document

    evidence = zero_weight_evidence()
    doc = build_attestation(evidence, eip712.attestation_hash(evidence), pipeline_run_id="HokusaiEvaluationFlow/9",
                            chain_id=31337, verifying_contract=VERIFYING_CONTRACT, deadline=4102444800,
                            actual_cost_usd_micro=45)
    assert doc["typedData"]["message"]["contributors"] == [{"walletAddress": BOB, "weight": 10000}]
    assert doc["evidence"]["contributors"][0] == {"wallet": ALICE, "rows": 110, "valueBps": "-12.50", "weightBps": 0}
    doc = eip712.add_signature(doc, eip712.sign(doc["typedData"], TEST_KEY))
    assert all(c.ok for c in verify_document(doc, now=1_800_000_000)), verify_document(doc, now=1_800_000_000)
    message = mint_request(doc)
    valid(message)
    assert message["contributors"] == [{"wallet_address": BOB.lower(), "weight_bps": 10000}]


def test_schema_rejects_a_zero_weight_and_so_does_check_message() -> None:
    message = mint_request(signed_attestation())
    message["contributors"][0]["weight_bps"] = 0
    with pytest.raises(jsonschema.ValidationError):
        valid(message)
    assert message_problem(message) == (
        "mint_request.contributors[0].weight_bps is 0, and the relayer needs 1 to 10000; leave a contributor "
        "credited 0 out of the request.")


def test_compare_notes_a_contributor_credited_zero() -> None:
    from fractions import Fraction

    from pipeline.data.contributions import Contribution
    from pipeline.scoring.attribution import Attribution

    def contribution(wallet: str) -> Contribution:
        return Contribution(file="c.csv", wallet=wallet, file_sha256="0x" + "1" * 64, content_sha256="0x" + "2" * 64,
                            rows_in=10, rows_kept=10, duplicates_dropped=0, benchmark_rows_dropped=0)

    attribution = Attribution("exact_shapley", {ALICE: Fraction(-25, 2), BOB: Fraction(1425, 2)}, 2)
    delta = compare({"accuracy": 0.91}, {"accuracy": 0.98}, "accuracy", 100, 50, 200,
                    [contribution(ALICE), contribution(BOB)], attribution=attribution)
    assert [(c.wallet, c.weight_bps, c.value_bps) for c in delta.contributors] == [
        (ALICE, 0, "-12.50"), (BOB, 10000, "712.50")]
    assert delta.notes == [f"Credited 0 bps, so left out of the mint request (the evidence still names them): {ALICE}."]


def test_mint_message_keeps_weights_summing_to_10000() -> None:
    evidence = zero_weight_evidence()
    message = mint_message(evidence, eip712.attestation_hash(evidence), pipeline_run_id="x", deadline=4102444800,
                           max_cost_usd_micro=0, actual_cost_usd_micro=1)
    assert sum(c["weight"] for c in message["contributors"]) == 10000


# --- the schema's rules, sentence by sentence ---------------------------------------------


@pytest.mark.parametrize(("mutate", "sentence"), [
    (lambda m: m.__setitem__("model_id_uint", "0"),
     "mint_request.model_id_uint is '0', and the relayer needs a positive decimal string; set [model] id to 1 or "
     "more and run again."),
    (lambda m: m.pop("deadline"),
     "mint_request.deadline is missing; rebuild it with `hokusai attest --format mint-request`."),
    (lambda m: m.__setitem__("attester_signatures", []),
     "mint_request.attester_signatures holds 0 signatures; give from 1 to 8."),
    (lambda m: m["evaluation"].__setitem__("ci_low_bps", -5),
     "mint_request.evaluation.ci_low_bps is -5; give an integer from 0 to 10000 basis points."),
    (lambda m: m.__setitem__("dataset_hash", m["dataset_hash"].upper().replace("0X", "0x")),
     "mint_request.dataset_hash is not lowercase 0x + 64 hex; rebuild it with `hokusai attest --format mint-request`."),
    (lambda m: m.__setitem__("extra", 1), "mint_request.extra is not a field of mint_request v1.0; remove it."),
    (lambda m: m["evaluation"].__setitem__("p_value", 1.5),
     "mint_request.evaluation.p_value is 1.5; give a number from 0 to 1, or null."),
    (lambda m: m.__setitem__("contributors", []),
     "mint_request.contributors holds 0 entries; give from 1 to 100 contributors."),
])
def test_check_message_names_the_field_the_schema_rejects(mutate, sentence) -> None:
    message = mint_request(signed_attestation())
    mutate(message)
    with pytest.raises(jsonschema.ValidationError):
        valid(message)
    with pytest.raises(AttestationError) as err:
        check_message(message)
    assert str(err.value) == sentence
