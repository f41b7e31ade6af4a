"""The relayer's `mint_request` v1.0 message: what Hokusai's settlement service consumes from
the Redis list `hokusai:mint_requests` and turns into a `DeltaVerifier.submitMintRequest`.

Its JSON Schema and golden example are `mint_request.consumer.v1.schema.json` and
`mint_request.v1.example.json` (kept in tests/vectors/; the schema also in `pipeline/schemas/`,
the one definition `check_message` validates against with jsonschema). Every on-chain field is
taken from the signed EIP-712 message of an attestation, so the relayer rebuilds exactly the
digest the attesters signed (`typed_data_from_message` is that rebuild); the `evaluation`
statistics come from the evidence. `check_message` reports the first schema error as one
sentence naming the field."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from pipeline.errors import AttestationError

MESSAGE_TYPE = "mint_request"
SCHEMA_VERSION = "1.0"
#: The relayer's inbound list (it pops with BRPOPLPUSH into PROCESSING_QUEUE).
QUEUE = "hokusai:mint_requests"
PROCESSING_QUEUE = "hokusai:mint_requests:processing"
STATISTICAL_METHOD = "bootstrap_ci"
MAX_SIGNATURES = 8
#: The consumer schema, a byte-for-byte copy of tests/vectors/mint_request.consumer.v1.schema.json
#: (the relayer's own file), shipped in the package so an installed hokusai checks against it.
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "mint_request.consumer.v1.schema.json"


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


# --- the consumer schema, checked with jsonschema; one sentence per problem -----------------

_FIX = "rebuild it with `hokusai attest --format mint-request`"
_HASHES = ("dataset_hash", "attestation_hash", "idempotency_key", "baseline_commitment", "candidate_commitment")
_TEXTS = ("message_id", "model_id", "eval_id", "benchmark_spec_id", "metric_name", "metric_family")
_BPS = ("baseline_score_bps", "new_score_bps", "ci_low_bps", "ci_high_bps", "effect_size_bps")
_COUNTS = ("max_cost_usd_micro", "actual_cost_usd_micro", "sample_size_baseline", "sample_size_candidate")


@lru_cache(maxsize=1)
def _validator() -> Any:
    """A draft 2020-12 validator of the vendored schema, formats (date-time) checked."""
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _count(value: Any) -> Any:
    return len(value) if isinstance(value, list) else "no list of"


def _sentence(error: Any, msg: Mapping[str, Any]) -> str:
    """One sentence for a jsonschema error of a mint_request: the field, what it holds, the fix."""
    path = list(error.absolute_path)
    from pipeline.attest.schema_check import field_path

    where, value, kind = field_path(path, "mint_request"), error.instance, error.validator
    field = next((p for p in reversed(path) if isinstance(p, str)), None)
    in_contributor = len(path) >= 2 and path[0] == "contributors"
    if kind == "required":
        missing = next(name for name in error.validator_value if name not in value)
        return f"{where}.{missing} is missing; {_FIX}."
    if kind == "additionalProperties":
        extra = sorted(name for name in value if name not in error.schema.get("properties", {}))[0]
        whose = {(): "mint_request v1.0", ("evaluation",): "the evaluation"}.get(tuple(path), "a contributor")
        return f"{where}.{extra} is not a field of {whose}; remove it."
    if len(path) == 1 and field in ("message_type", "schema_version"):
        return (f"mint_request.message_type/schema_version is {msg.get('message_type')!r}/"
                f"{msg.get('schema_version')!r}; it must be {MESSAGE_TYPE!r}/{SCHEMA_VERSION!r}.")
    if field == "timestamp":
        return f"{where} is {_show(value)}; give an RFC 3339 date-time, e.g. 2026-05-05T12:00:00.000000+00:00."
    if field in _TEXTS:
        return f"{where} is {_show(value)}; give non-empty text."
    if field == "model_id_uint":
        return (f"{where} is {_show(value)}, and the relayer needs a positive decimal string; set [model] id to 1 "
                "or more and run again.")
    if field in _HASHES:
        return f"{where} is not lowercase 0x + 64 hex; {_FIX}."
    if field == "attester_signatures":
        if len(path) == 1:
            least, most = error.schema.get("minItems", 1), error.schema.get("maxItems", MAX_SIGNATURES)
            return f"{where} holds {_count(value)} signatures; give from {least} to {most}."
        return f"{where} is not 0x + 130 hex digits; {_FIX}."
    if field in ("totalSamples", "deadline"):
        return f"{where} is {_show(value)}; give an integer of {error.schema.get('minimum', 1)} or more."
    if path == ["evaluation"]:
        return f"{where} is not an object; {_FIX}."
    if field in _BPS:
        low, high = error.schema.get("minimum", 0), error.schema.get("maximum", 10000)
        return f"{where} is {_show(value)}; give an integer from {low} to {high} basis points."
    if field in _COUNTS:
        return f"{where} is {_show(value)}; give a non-negative integer."
    if field == "p_value":
        return f"{where} is {_show(value)}; give a number from 0 to 1, or null."
    if field in ("statistical_method", "statistical_reason"):
        return f"{where} is not text of at most {error.schema.get('maxLength')} characters; shorten it."
    if path == ["contributors"]:
        least, most = error.schema.get("minItems", 1), error.schema.get("maxItems", 100)
        return f"{where} holds {_count(value)} entries; give from {least} to {most} contributors."
    if in_contributor and len(path) == 2:
        return f"{where} is not an object of wallet_address and weight_bps; {_FIX}."
    if in_contributor and field == "wallet_address":
        return f"{where} is not 0x + 40 hex digits; {_FIX}."
    if in_contributor and field == "weight_bps":
        low, high = error.schema.get("minimum", 1), error.schema.get("maximum", 10000)
        return (f"{where} is {_show(value)}, and the relayer needs {low} to {high}; leave a contributor credited 0 "
                "out of the request.")
    if kind == "enum":
        return f"{where} is {_show(value)}; it must be one of {', '.join(map(str, error.validator_value))}."
    if kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        return f"{where} is {_show(value)}; it must be {bound} {error.validator_value}."
    if kind == "minLength":
        return f"{where} is {_show(value)}; give non-empty text."
    if kind == "type":
        rule = error.validator_value
        kinds = " or ".join(rule) if isinstance(rule, list) else rule
        return f"{where} is {_show(value)}, not {kinds}; {_FIX}."
    return f"{where}: {error.message}; {_FIX}."


def message_problem(msg: Any) -> str | None:
    """The first way `msg` breaks `mint_request.consumer.v1.schema.json` (validated with
    jsonschema against the copy in pipeline/schemas/), as one sentence, or None."""
    import jsonschema

    if not isinstance(msg, Mapping):
        return f"the mint_request is not a JSON object; {_FIX}."
    error = jsonschema.exceptions.best_match(_validator().iter_errors(msg))
    return None if error is None else _sentence(error, msg)


def check_message(msg: Any) -> None:
    """Raise `AttestationError` with the first schema problem of `msg`, if any."""
    problem = message_problem(msg)
    if problem:
        raise AttestationError(problem)
