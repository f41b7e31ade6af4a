"""The relayer's `mint_request` v1.0 message: what Hokusai's settlement service consumes from
the Redis list `hokusai:mint_requests` and turns into a `DeltaVerifier.submitMintRequest`.

Its JSON Schema and golden example are `mint_request.consumer.v1.schema.json` and
`mint_request.v1.example.json` (kept in tests/vectors/). Every on-chain field is taken from the
signed EIP-712 message of an attestation, so the relayer rebuilds exactly the digest the
attesters signed (`typed_data_from_message` is that rebuild); the `evaluation` statistics come
from the evidence. `check_message` enforces the schema's rules with one sentence per problem."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from pipeline.errors import AttestationError

MESSAGE_TYPE = "mint_request"
SCHEMA_VERSION = "1.0"
#: The relayer's inbound list (it pops with BRPOPLPUSH into PROCESSING_QUEUE).
QUEUE = "hokusai:mint_requests"
PROCESSING_QUEUE = "hokusai:mint_requests:processing"
STATISTICAL_METHOD = "bootstrap_ci"
MAX_SIGNATURES = 8

_HASH = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
_UINT_TEXT = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class Statistics:
    """The `evaluation` fields that are not on chain. DeltaOne's gate is a paired-bootstrap CI;
    `p_value` is the one-sided p of the metric family's classical test (`scoring.significance`,
    evidence `delta.test`), None for a run made before it was reported."""

    sample_size_baseline: int | None
    sample_size_candidate: int | None
    ci_low_bps: int | None
    ci_high_bps: int | None
    p_value: float | None
    effect_size_bps: int | None
    statistical_method: str | None
    statistical_reason: str | None


def _bps_or_none(value: Any) -> int | None:
    """A bps value the schema can hold (0..10000), else None: the schema has no negative CI
    bound or effect, so a negative one (a gate that failed) is left out rather than clamped."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10000 else None


def statistics_from_evidence(evidence: Mapping[str, Any]) -> Statistics:
    """Sample sizes (both models are scored on the same benchmark rows), the DeltaOne CI and
    effect in bps, and the gate's verdict as the reason ('accepted', or what failed)."""
    try:
        rows, delta, gate = evidence["benchmark"]["rows"], evidence["delta"], evidence["gate"]
        ci = delta["ci"]
        failed = [f"{c['name']} {c['value']} (threshold {c['threshold']})" for c in gate["conditions"]
                  if not c["passed"]]
        passed, dry_run = gate["passed"], evidence["dryRun"]
    except (KeyError, TypeError):
        raise AttestationError(
            "evidence has no benchmark.rows, delta.ci, gate or dryRun, so the relayer's evaluation "
            "statistics cannot be filled; attest from a hokusai run."
        ) from None
    reasons = (["dry-run"] if dry_run else []) + ([f"gate failed: {'; '.join(failed)}"] if not passed else [])
    return Statistics(
        sample_size_baseline=rows, sample_size_candidate=rows,
        ci_low_bps=_bps_or_none(ci["lowBps"]) if ci else None,
        ci_high_bps=_bps_or_none(ci["highBps"]) if ci else None,
        p_value=float(delta["test"]["pValue"]) if delta.get("test") else None,
        effect_size_bps=_bps_or_none(delta["deltaOneBps"]),
        statistical_method=(f"{STATISTICAL_METHOD}; p from {delta['test']['method']}" if delta.get("test") and ci
                            else STATISTICAL_METHOD if ci else delta["test"]["method"] if delta.get("test") else None),
        statistical_reason="accepted" if not reasons else "signed with --force: " + ", ".join(reasons),
    )


def now_timestamp() -> str:
    """UTC now as the golden example writes it: '2026-05-05T12:00:00.000000+00:00'."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def mint_request(
    doc: Mapping[str, Any], *, model_name: str | None = None, statistics: Statistics | None = None,
    message_id: str | None = None, timestamp: str | None = None,
) -> dict[str, Any]:
    """The `mint_request` v1.0 message of a signed attestation.

    `model_id` is `model_name`, else the document's `modelName`, else the numeric id;
    `eval_id` is the pipelineRunId; `benchmark_spec_id` the evidence's spec id (its keccak256
    must be the signed benchmarkSpecHash); wallets are written lowercase, as in the golden
    example; `message_id` a new UUID and `timestamp` now unless given."""
    import uuid

    from pipeline.attest.eip712 import keccak_text

    signatures = list(doc.get("signatures") or [])
    if not signatures:
        raise AttestationError(
            "The attestation has no signature, and the relayer needs at least one in attester_signatures; "
            "sign it with --sign-key-file or --sign-key-env, or --attach a signature."
        )
    typed = doc["typedData"]
    message, payload = typed["message"], typed["message"]["payload"]
    anchors = payload["anchors"]
    spec_id = doc["evidence"]["benchmark"]["specId"]
    if keccak_text(spec_id) != anchors["benchmarkSpecHash"]:
        raise AttestationError(
            f"evidence.benchmark.specId {spec_id!r} does not hash to the signed benchmarkSpecHash; "
            "use the attestation exactly as `hokusai attest` wrote it."
        )
    model_id_uint = str(int(message["modelId"]))
    stats = statistics if statistics is not None else statistics_from_evidence(doc["evidence"])
    out = {
        "message_type": MESSAGE_TYPE,
        "schema_version": SCHEMA_VERSION,
        "message_id": message_id or str(uuid.uuid4()),
        "timestamp": timestamp or now_timestamp(),
        "model_id": model_name or doc.get("modelName") or model_id_uint,
        "model_id_uint": model_id_uint,
        "eval_id": payload["pipelineRunId"],
        "benchmark_spec_id": spec_id,
        "dataset_hash": anchors["datasetHash"],
        "attestation_hash": anchors["attestationHash"],
        "idempotency_key": anchors["idempotencyKey"],
        "baseline_commitment": payload["baselineCommitment"],
        "candidate_commitment": payload["candidateCommitment"],
        "attester_signatures": signatures,
        "totalSamples": int(payload["totalSamples"]),
        "deadline": int(payload["deadline"]),
        "evaluation": {
            "metric_name": anchors["metricName"],
            "metric_family": anchors["metricFamily"],
            "baseline_score_bps": int(payload["baselineScoreBps"]),
            "new_score_bps": int(payload["candidateScoreBps"]),
            "max_cost_usd_micro": int(payload["maxCostUsdMicro"]),
            "actual_cost_usd_micro": int(payload["actualCostUsdMicro"]),
            **asdict(stats),
        },
        "contributors": [{"wallet_address": c["walletAddress"].lower(), "weight_bps": int(c["weight"])}
                         for c in message["contributors"]],
    }
    check_message(out)
    return out


def typed_data_from_message(message: Mapping[str, Any], *, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The EIP-712 typed data the relayer rebuilds from a message's fields (and the contract
    it submits to): its digest must be the one the attesters signed."""
    from pipeline.attest.eip712 import build_typed_data, keccak_text

    evaluation = message["evaluation"]
    return build_typed_data(chain_id=chain_id, verifying_contract=verifying_contract, message={
        "modelId": int(message["model_id_uint"]),
        "payload": {
            "pipelineRunId": message["eval_id"],
            "baselineScoreBps": evaluation["baseline_score_bps"],
            "candidateScoreBps": evaluation["new_score_bps"],
            "maxCostUsdMicro": evaluation["max_cost_usd_micro"],
            "actualCostUsdMicro": evaluation["actual_cost_usd_micro"],
            "totalSamples": message["totalSamples"],
            "anchors": {
                "benchmarkSpecHash": keccak_text(message["benchmark_spec_id"]),
                "datasetHash": message["dataset_hash"],
                "attestationHash": message["attestation_hash"],
                "idempotencyKey": message["idempotency_key"],
                "metricName": evaluation["metric_name"],
                "metricFamily": evaluation["metric_family"],
            },
            "baselineCommitment": message["baseline_commitment"],
            "candidateCommitment": message["candidate_commitment"],
            "deadline": message["deadline"],
        },
        "contributors": [{"walletAddress": c["wallet_address"], "weight": c["weight_bps"]}
                         for c in message["contributors"]],
    })


# --- the consumer schema's rules, one sentence each ---------------------------------------

_FIX = "rebuild it with `hokusai attest --format mint-request`"
_REQUIRED = ("message_type", "schema_version", "message_id", "timestamp", "model_id", "model_id_uint", "eval_id",
             "benchmark_spec_id", "dataset_hash", "attestation_hash", "idempotency_key", "baseline_commitment",
             "candidate_commitment", "attester_signatures", "totalSamples", "deadline", "evaluation", "contributors")
_OPTIONAL = ("_retryCount",)
_EVALUATION_REQUIRED = ("metric_name", "metric_family", "baseline_score_bps", "new_score_bps",
                        "max_cost_usd_micro", "actual_cost_usd_micro")
_EVALUATION_OPTIONAL = ("sample_size_baseline", "sample_size_candidate", "ci_low_bps", "ci_high_bps", "p_value",
                        "effect_size_bps", "statistical_method", "statistical_reason")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> bool:
    return isinstance(value, str) and len(value) >= 1


def message_problem(msg: Any) -> str | None:
    """The first way `msg` breaks `mint_request.consumer.v1.schema.json`, as one sentence, or None."""
    if not isinstance(msg, Mapping):
        return f"the mint_request is not a JSON object; {_FIX}."
    for name in _REQUIRED:
        if name not in msg:
            return f"mint_request.{name} is missing; {_FIX}."
    extra = sorted(set(msg) - set(_REQUIRED) - set(_OPTIONAL))
    if extra:
        return f"mint_request.{extra[0]} is not a field of mint_request v1.0; remove it."
    if msg["message_type"] != MESSAGE_TYPE or msg["schema_version"] != SCHEMA_VERSION:
        return (f"mint_request.message_type/schema_version is {msg['message_type']!r}/{msg['schema_version']!r}; "
                f"it must be {MESSAGE_TYPE!r}/{SCHEMA_VERSION!r}.")
    for name in ("message_id", "timestamp", "model_id", "eval_id", "benchmark_spec_id"):
        if not _text(msg[name]):
            return f"mint_request.{name} is {msg[name]!r}; give non-empty text."
    if not (isinstance(msg["model_id_uint"], str) and _UINT_TEXT.fullmatch(msg["model_id_uint"])):
        return (f"mint_request.model_id_uint is {msg['model_id_uint']!r}, and the relayer needs a positive "
                "decimal string; set [model] id to 1 or more and run again.")
    for name in ("dataset_hash", "attestation_hash", "idempotency_key", "baseline_commitment", "candidate_commitment"):
        if not (isinstance(msg[name], str) and _HASH.fullmatch(msg[name])):
            return f"mint_request.{name} is not lowercase 0x + 64 hex; {_FIX}."
    signatures = msg["attester_signatures"]
    if not isinstance(signatures, list) or not 1 <= len(signatures) <= MAX_SIGNATURES:
        count = len(signatures) if isinstance(signatures, list) else "no list of"
        return f"mint_request.attester_signatures holds {count} signatures; give from 1 to {MAX_SIGNATURES}."
    for i, sig in enumerate(signatures):
        if not (isinstance(sig, str) and _SIGNATURE.fullmatch(sig)):
            return f"mint_request.attester_signatures[{i}] is not 0x + 130 hex digits; {_FIX}."
    for name in ("totalSamples", "deadline"):
        if not (_int(msg[name]) and msg[name] >= 1):
            return f"mint_request.{name} is {msg[name]!r}; give an integer of 1 or more."
    problem = _evaluation_problem(msg["evaluation"])
    if problem:
        return problem
    contributors = msg["contributors"]
    if not isinstance(contributors, list) or not 1 <= len(contributors) <= 100:
        count = len(contributors) if isinstance(contributors, list) else "no list of"
        return f"mint_request.contributors holds {count} entries; give from 1 to 100 contributors."
    for i, c in enumerate(contributors):
        where = f"mint_request.contributors[{i}]"
        if not isinstance(c, Mapping) or set(c) - {"wallet_address", "weight_bps", "submissionId",
                                                    "contributionBatchId", "contributorId", "recipientKind"}:
            return f"{where} is not an object of wallet_address and weight_bps; {_FIX}."
        if not (isinstance(c.get("wallet_address"), str) and _ADDRESS.fullmatch(c["wallet_address"])):
            return f"{where}.wallet_address is not 0x + 40 hex digits; {_FIX}."
        if not (_int(c.get("weight_bps")) and 1 <= c["weight_bps"] <= 10000):
            return (f"{where}.weight_bps is {c.get('weight_bps')!r}, and the relayer needs 1 to 10000; "
                    "leave a contributor credited 0 out of the request.")
    return None


def _evaluation_problem(evaluation: Any) -> str | None:
    where = "mint_request.evaluation"
    if not isinstance(evaluation, Mapping):
        return f"{where} is not an object; {_FIX}."
    for name in _EVALUATION_REQUIRED:
        if name not in evaluation:
            return f"{where}.{name} is missing; {_FIX}."
    extra = sorted(set(evaluation) - set(_EVALUATION_REQUIRED) - set(_EVALUATION_OPTIONAL))
    if extra:
        return f"{where}.{extra[0]} is not a field of the evaluation; remove it."
    for name in ("metric_name", "metric_family"):
        if not _text(evaluation[name]):
            return f"{where}.{name} is {evaluation[name]!r}; give non-empty text."
    bounded = {"baseline_score_bps": False, "new_score_bps": False, "ci_low_bps": True, "ci_high_bps": True,
               "effect_size_bps": True}
    for name, nullable in bounded.items():
        value = evaluation.get(name)
        if value is None and (nullable or name not in evaluation):
            continue
        if not (_int(value) and 0 <= value <= 10000):
            return f"{where}.{name} is {value!r}; give an integer from 0 to 10000 basis points."
    for name in ("max_cost_usd_micro", "actual_cost_usd_micro", "sample_size_baseline", "sample_size_candidate"):
        value = evaluation.get(name)
        if value is None and name.startswith("sample_size"):
            continue
        if not (_int(value) and value >= 0):
            return f"{where}.{name} is {value!r}; give a non-negative integer."
    p_value = evaluation.get("p_value")
    if p_value is not None and not (isinstance(p_value, (int, float)) and not isinstance(p_value, bool)
                                    and 0 <= p_value <= 1):
        return f"{where}.p_value is {p_value!r}; give a number from 0 to 1, or null."
    for name, most in (("statistical_method", 128), ("statistical_reason", 1024)):
        value = evaluation.get(name)
        if value is not None and not (isinstance(value, str) and len(value) <= most):
            return f"{where}.{name} is not text of at most {most} characters; shorten it."
    return None


def check_message(msg: Any) -> None:
    """Raise `AttestationError` with the first schema problem of `msg`, if any."""
    problem = message_problem(msg)
    if problem:
        raise AttestationError(problem)
