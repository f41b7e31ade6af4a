"""generate_attestation_output: the evidence document of an evaluation and its hash.

The evidence holds only deterministic facts (no timestamps, run ids or paths), so identical
inputs give a byte-identical canonical form on any machine. Scores appear as integer basis
points only. The EIP-712 typed data is built later by `hokusai attest` (its deadline is set
at signing time) from this evidence; see `pipeline.attest.eip712`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.data.content_hash import CONTENT_V3
from pipeline.modelling.baseline import ModelInfo
from pipeline.data.contributions import Contribution
from pipeline.scoring.delta import Delta
from pipeline.scoring.evaluation import BenchmarkInfo

if TYPE_CHECKING:
    from pipeline.config import Settings

EVIDENCE_SCHEMA = "hokusai.evidence/v1"


def build_evidence(
    *,
    model_id: int,
    config_hash: str,
    seed: int,
    dry_run: bool,
    benchmark_spec_id: str,
    metric_family: str,
    baseline: ModelInfo,
    candidate: ModelInfo,
    benchmark: BenchmarkInfo,
    contributions: list[Contribution],
    delta: Delta,
    spec_sha256: str | None = None,
    commitments: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The evidence document (camelCase keys, integers and strings only). `commitments`
    ({"scheme", "baseline", "candidate"}, `attest.commitment.run_commitments`) replaces the
    default skops-sha256 commitments and names its scheme in `commitment`; without it the
    document is byte for byte what it always was."""
    evidence = {
        "schema": EVIDENCE_SCHEMA,
        "tool": {"name": "hokusai-pipeline", "version": __version__},
        "modelId": str(model_id),
        "configHash": config_hash,
        "seed": seed,
        "dryRun": dry_run,
        "contentHash": CONTENT_V3,  # how contentSha256 is defined (evidence without it: hokusai.content/v2)
        "baseline": {"source": baseline.source, "estimator": baseline.estimator,
                     "sha256": baseline.sha256, "commitment": baseline.sha256},
        "candidate": {"estimator": candidate.estimator, "sha256": candidate.sha256,
                      "commitment": candidate.sha256, "trainingRows": candidate.training_rows},
        "benchmark": {"specId": benchmark_spec_id, "sha256": benchmark.sha256, "rows": benchmark.rows,
                      **({"specSha256": spec_sha256} if spec_sha256 else {})},
        "contributions": [
            {"wallet": c.wallet, "contentSha256": c.content_sha256, "fileSha256": c.file_sha256,
             "rowsIn": c.rows_in, "rowsKept": c.rows_kept, "duplicatesDropped": c.duplicates_dropped,
             "benchmarkRowsDropped": c.benchmark_rows_dropped, "invalidRowsDropped": c.invalid_rows_dropped}
            for c in contributions
        ],
        "contributors": [
            {"wallet": c.wallet, "rows": c.rows, "valueBps": c.value_bps, "weightBps": c.weight_bps,
             **({"looBps": c.loo_bps} if c.loo_bps is not None else {}),
             **({"seBps": c.se_bps} if c.se_bps is not None else {})}
            for c in delta.contributors
        ],
        **({"excluded": [{"wallet": e["wallet"], "fileSha256": e["file_sha256"], "rowsKept": e["rows_kept"],
                          "reason": e["reason"]} for e in delta.excluded]} if delta.excluded else {}),
        "metrics": {
            "primary": delta.primary_metric,
            "family": metric_family,
            "baselineBps": {m.metric: m.baseline_bps for m in delta.metrics},
            "candidateBps": {m.metric: m.candidate_bps for m in delta.metrics},
            **({"clippedAtZero": list(delta.clipped_at_zero)} if delta.clipped_at_zero else {}),
        },
        "delta": {
            "deltaOneBps": delta.deltaone_bps,
            "deltaOnePp": delta.deltaone_pp,
            "perMetricBps": {m.metric: m.delta_bps for m in delta.metrics},
            "ci": None if delta.ci is None else {
                "lowBps": delta.ci.low_bps, "highBps": delta.ci.high_bps, "resamples": delta.ci.resamples,
                "confidenceBps": round(delta.ci.confidence * 10000), "method": delta.ci.method,
                "seed": delta.ci.seed,
            },
            "weightMethod": delta.weight_method,
            "retrainings": delta.retrainings,
            **({"permutations": delta.permutations, "stoppedBy": delta.stopped_by} if delta.permutations else {}),
            **({"test": {"method": delta.test["method"], "family": delta.test["family"],
                         "pValue": delta.test["p_value"]}} if getattr(delta, "test", None) else {}),
        },
        "gate": {
            "passed": delta.passed,
            "conditions": [
                {"name": g.name, "value": g.value, "threshold": g.threshold, "passed": g.passed,
                 **({} if g.blocking else {"blocking": False})}
                for g in delta.gate
            ],
        },
    }
    if commitments:
        evidence["commitment"] = commitments["scheme"]
        evidence["baseline"]["commitment"] = commitments["baseline"]
        evidence["candidate"]["commitment"] = commitments["candidate"]
    return evidence


def _json_safe(value: Any) -> Any:
    """`value` with every integer beyond 2**53-1 as a decimal string (RFC 8785 holds JSON
    numbers as doubles, so a uint256 model id or budget can only travel as text)."""
    from pipeline.attest.eip712 import MAX_SAFE_INT

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
        return str(value)
    return value


def evidence_config_hash(settings: Settings) -> str:
    """`configHash`: sha256 of the settings that shape the evaluation ([model], [evaluation],
    [attestation]) in RFC 8785 form. Equal to `pipeline.config.config_hash` wherever that one
    works; integers beyond 2**53-1 (a model id up to 2**256-1) are written as decimal strings
    instead of failing."""
    import hashlib

    from pipeline.attest.eip712 import canonical_json

    from pipeline.config import evaluation_settings

    relevant = evaluation_settings(settings)
    return "0x" + hashlib.sha256(canonical_json(_json_safe(relevant))).hexdigest()


def evidence_for_run(
    settings: Settings, dry_run: bool, baseline: ModelInfo, candidate: ModelInfo,
    benchmark: BenchmarkInfo, contributions: list[Contribution], delta: Delta,
    commitments: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Step `generate_attestation_output`: the evidence and its `attestationHash` (`commitments`:
    see `build_evidence`)."""
    from pipeline.attest.benchmark_spec import benchmark_spec, spec_sha256
    from pipeline.attest.eip712 import attestation_hash

    evidence = build_evidence(
        model_id=settings.model.id, config_hash=evidence_config_hash(settings), seed=settings.evaluation.seed,
        dry_run=dry_run, benchmark_spec_id=settings.attestation.benchmark_spec_id,
        metric_family=settings.attestation.metric_family, baseline=baseline, candidate=candidate,
        benchmark=benchmark, contributions=contributions, delta=delta,
        spec_sha256=spec_sha256(benchmark_spec(settings, benchmark.sha256)), commitments=commitments,
    )
    return {"evidence": evidence, "attestationHash": attestation_hash(evidence)}


# --- the attestation document (built at `hokusai attest`, after the run) -----------------

SECONDS_PER_DAY = 86400


def mint_message(
    evidence: dict[str, Any], attestation_hash: str, *, pipeline_run_id: str, deadline: int,
    max_cost_usd_micro: int, actual_cost_usd_micro: int, baseline_commitment: str = "",
) -> dict[str, Any]:
    """The MintRequest message: every value taken from the evidence, except the run id,
    the deadline, the cost fields and an optional baseline commitment override."""
    from pipeline.attest.eip712 import idempotency_key, keccak_text
    from pipeline.errors import AttestationError

    unattributed = [c for c in evidence["contributors"] if not c["wallet"]]
    if unattributed:
        raise AttestationError(
            f"{sum(c['rows'] for c in unattributed)} contributed rows of run {pipeline_run_id} carry no wallet, "
            "so the run cannot be attested; run again with --contrib FILE:WALLET."
        )
    primary = evidence["metrics"]["primary"]
    if not any(c["weightBps"] for c in evidence["contributors"]):
        raise AttestationError(
            f"No contributor of run {pipeline_run_id} improved {primary} (every weightBps is 0: see "
            "evidence.contributors' valueBps and delta.weightMethod), so there is nothing to pay and the run "
            "cannot be attested, even with --force: DeltaVerifier needs weights summing to 10000 over "
            "contributors who improved the model."
        )
    return {
        "modelId": int(evidence["modelId"]),
        "payload": {
            "pipelineRunId": pipeline_run_id,
            "baselineScoreBps": evidence["metrics"]["baselineBps"][primary],
            "candidateScoreBps": evidence["metrics"]["candidateBps"][primary],
            "maxCostUsdMicro": max_cost_usd_micro,
            "actualCostUsdMicro": actual_cost_usd_micro,
            "totalSamples": evidence["benchmark"]["rows"],
            "anchors": {
                "benchmarkSpecHash": keccak_text(evidence["benchmark"]["specId"]),
                "datasetHash": evidence["benchmark"]["sha256"],
                "attestationHash": attestation_hash,
                "idempotencyKey": idempotency_key(evidence["modelId"], attestation_hash),
                "metricName": primary,
                "metricFamily": evidence["metrics"]["family"],
            },
            "baselineCommitment": baseline_commitment or evidence["baseline"]["commitment"],
            "candidateCommitment": evidence["candidate"]["commitment"],
            "deadline": deadline,
        },
        # a contributor credited 0 bps gets nothing on chain, and the relayer requires weight_bps >= 1:
        # such a contributor stays named in the evidence (weightBps 0) and is left out here. Sorted by
        # lower-case wallet, as Hokusai's producer signs them: one batch, one signed message, whoever builds it
        "contributors": sorted(({"walletAddress": c["wallet"], "weight": c["weightBps"]}
                                for c in evidence["contributors"] if c["weightBps"] != 0),
                               key=lambda c: c["walletAddress"].lower()),
    }


def build_attestation(
    evidence: dict[str, Any], attestation_hash: str, *, pipeline_run_id: str, chain_id: int,
    verifying_contract: str, deadline: int, max_cost_usd_micro: int = 0,
    actual_cost_usd_micro: int = 0, baseline_commitment: str = "", cost: dict[str, Any] | None = None,
    model_name: str = "", environment: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The unsigned `hokusai.attestation/v1` document; contract rules checked before output.

    `cost` (how `actualCostUsdMicro` was computed, see `pipeline.attest.cost`), `model_name`
    (the relayer's model_id string) and `environment` (libraries, CPU and BLAS the models
    were fitted with, see `pipeline.runs.provenance`) are carried beside the signed data when
    given: none is evidence, and none changes the hash or the digest."""
    from pipeline.attest.eip712 import SCHEMA, build_typed_data, digest

    message = mint_message(
        evidence, attestation_hash, pipeline_run_id=pipeline_run_id, deadline=deadline,
        max_cost_usd_micro=max_cost_usd_micro, actual_cost_usd_micro=actual_cost_usd_micro,
        baseline_commitment=baseline_commitment,
    )
    typed = build_typed_data(chain_id=chain_id, verifying_contract=verifying_contract, message=message)
    doc = {"schema": SCHEMA, "evidence": evidence, "attestationHash": attestation_hash,
           "typedData": typed, "digest": digest(typed), "signatures": [], "signers": []}
    if cost is not None:
        doc["cost"] = cost
    if model_name:
        doc["modelName"] = model_name
    if environment:
        doc["environment"] = environment
    return doc


#: What `run_of` names when an attestation does not say its run readably.
UNNAMED_RUN = "(without a pipelineRunId)"


def run_of(doc: Any) -> str:
    """The run an attestation is of: its signed pipelineRunId (HokusaiEvaluationFlow/<id>), or
    UNNAMED_RUN when the document does not say it readably."""
    try:
        run = doc["typedData"]["message"]["payload"]["pipelineRunId"]
    except (KeyError, TypeError):
        return UNNAMED_RUN
    readable = isinstance(run, str) and run.strip() and run.isprintable() and len(run) <= 200
    return run if readable else UNNAMED_RUN


def sign_attestation(
    doc: dict[str, Any], keys: list[tuple[bytes, str]], attach: list[str], *, now: int, force: bool = False,
    allow_zero_cost: bool = False,
) -> dict[str, Any]:
    """`doc` with a signature per key (named by its source) and per attached signature, after
    every refusal a signer must hear: a dry-run or failed gate, a gain below the target's
    minImprovementBps or a cost over budget (all unless `force`), an expired deadline (always),
    and a zero cost (unless `allow_zero_cost`). Every refusal names the run (`run_of`)."""
    from pipeline.attest.cost import refuse_zero_cost
    from pipeline.attest.eip712 import add_signature, check_mint_request, sign
    from pipeline.attest.networks import refuse_expired, refuse_unpayable
    from pipeline.errors import AttestationError

    if not keys and not attach:
        return doc
    run = run_of(doc)
    refuse_unfit_for_signing(doc["evidence"], force, run=run)
    typed = doc["typedData"]
    check_mint_request(typed)  # a malformed message is named before its fields are read
    try:  # what the contract would do with this run's request: the sentence names the run
        refuse_expired(typed, now)
        refuse_unpayable(typed, force)
        refuse_zero_cost(typed, allow_zero_cost)
    except AttestationError as exc:
        raise AttestationError(f"Run {run}: {exc}") from None
    for key, source in keys:
        doc = add_signature(doc, sign(typed, key, source))
    for signature in attach:
        doc = add_signature(doc, signature)
    return doc


def refuse_unfit_for_signing(evidence: dict[str, Any], force: bool, *, run: str = UNNAMED_RUN) -> None:
    """A dry-run or a failed gate must not mint: signing it needs an explicit --force. `run`
    (a pathspec) is named in every sentence."""
    from pipeline.errors import AttestationError

    gate = evidence.get("gate") if isinstance(evidence, dict) else None
    if not isinstance(evidence, dict) or not isinstance(evidence.get("dryRun"), bool) \
            or not isinstance(gate, dict) or not isinstance(gate.get("passed"), bool):
        raise AttestationError(
            f"evidence.dryRun or evidence.gate.passed is missing or not true/false, so it is "
            f"unknown whether run {run} may be signed; attest from the run again."
        )
    if force:
        return
    if evidence["dryRun"]:
        raise AttestationError(
            f"Run {run} is a dry-run and cannot be signed; attest a real `hokusai run`, or pass "
            "--force to sign it anyway (its evidence stays marked dryRun)."
        )
    if not evidence["gate"]["passed"]:
        raise AttestationError(
            f"Run {run} failed the DeltaOne gate and cannot be signed; pass --force to sign it "
            "anyway (its evidence stays marked gate.passed = false)."
        )


def evidence_matches_message(doc: dict[str, Any]) -> tuple[bool, str]:
    """Does the signed message say what the evidence says? (scores, samples, anchors,
    commitments, contributors). Returns (ok, what differs)."""
    evidence, payload = doc["evidence"], doc["typedData"]["message"]["payload"]
    expected = mint_message(
        evidence, doc["attestationHash"], pipeline_run_id=payload["pipelineRunId"],
        deadline=int(payload["deadline"]), max_cost_usd_micro=int(payload["maxCostUsdMicro"]),
        actual_cost_usd_micro=int(payload["actualCostUsdMicro"]),
        baseline_commitment=payload["baselineCommitment"],
    )
    from pipeline.attest.eip712 import build_typed_data

    domain = doc["typedData"]["domain"]
    rebuilt = build_typed_data(chain_id=int(domain["chainId"]), verifying_contract=domain["verifyingContract"],
                               message=expected)["message"]
    actual = doc["typedData"]["message"]
    diffs = [f"{section}.{key}" for section, a, b in (("payload", rebuilt["payload"], actual["payload"]),)
             for key in a if a[key] != b.get(key)]
    if rebuilt["modelId"] != actual["modelId"]:
        diffs.insert(0, "modelId")
    if rebuilt["contributors"] != actual["contributors"]:
        diffs.append("contributors")
    if diffs:
        return False, "message differs from evidence in " + ", ".join(diffs)
    return True, "message matches evidence (scores, samples, anchors, commitment, contributors)"


#: The policy checks of `verify_document`, each with the option that accepts its failure.
POLICY_OPTIONS = {"dry_run": "--allow-dry-run", "gate": "--allow-gate-failed"}


def _refused_unless(name: str, why: str, allow: bool) -> tuple[bool, str]:
    option = POLICY_OPTIONS[name]
    return (True, f"{why}, accepted with {option}") if allow else (False, f"{why}; pass {option} to accept it")


def dry_run_check(doc: Any, allow: bool = False) -> tuple[bool, str]:
    """Is the evidence from a real run? A dry-run fails unless `allow` (--allow-dry-run)."""
    from pipeline.attest.eip712 import json_kind

    dry_run = doc["evidence"].get("dryRun")
    if not isinstance(dry_run, bool):
        return False, f"evidence.dryRun is {json_kind(dry_run)}, not true/false; attest from the run again"
    if not dry_run:
        return True, "dryRun false: the evidence is of a real run"
    return _refused_unless("dry_run", "the evidence is of a dry-run (dryRun true)", allow)


def gate_check(doc: Any, allow: bool = False) -> tuple[bool, str]:
    """Did the run pass its DeltaOne gate? A failed gate fails unless `allow` (--allow-gate-failed)."""
    from pipeline.attest.eip712 import json_kind

    gate = doc["evidence"].get("gate")
    passed = gate.get("passed") if isinstance(gate, dict) else None
    if not isinstance(passed, bool):
        return False, f"evidence.gate.passed is {json_kind(passed)}, not true/false; attest from the run again"
    if passed:
        return True, "gate.passed true: the run passed the DeltaOne gate"
    conditions = gate.get("conditions") if isinstance(gate.get("conditions"), list) else []
    failed = ", ".join(f"{c.get('name')} {c.get('value')} (threshold {c.get('threshold')})" for c in conditions
                       if isinstance(c, dict) and c.get("passed") is False)
    return _refused_unless("gate", f"gate.passed is false, the DeltaOne gate failed{f' on {failed}' if failed else ''}",
                           allow)


def verify_document(
    doc: dict[str, Any], expect_signers: list[str] | tuple[str, ...] = (), *, now: int, allow_dry_run: bool = False,
    allow_gate_failed: bool = False,
) -> list[Any]:
    """Every check `hokusai verify` runs, in order: the hashes, digest and signatures
    (`verify_attestation`), whether the message says what the evidence says, whether the
    evidence is of a real run (`dry_run`) that passed its gate (`gate`): each fails unless
    allowed, and what the contract would do with it at `now`: the deadline, the target's
    minImprovementBps, the budget, and whether the recorded cost explains `actualCostUsdMicro`.

    Never raises on a malformed document: what cannot be recomputed is a failed check."""
    from pipeline.attest.cost import cost_check
    from pipeline.attest.eip712 import CHECK_ERRORS, Check, verify_attestation
    from pipeline.attest.networks import budget_check, deadline_check, threshold_check

    checks = verify_attestation(doc, expect_signers=expect_signers)

    def run(name: str, fn: Any) -> Check:
        try:
            ok, detail = fn()
        except CHECK_ERRORS as exc:
            ok, detail = False, f"cannot check: {exc!s}"
        return Check(name, ok, detail)

    typed = doc.get("typedData") if isinstance(doc, dict) else None
    names = [c.name for c in checks]
    checks[names.index("digest") + 1:names.index("digest") + 1] = [
        run("evidence_message", lambda: evidence_matches_message(doc)),
        run("dry_run", lambda: dry_run_check(doc, allow_dry_run)),
        run("gate", lambda: gate_check(doc, allow_gate_failed)),
    ]
    at = [c.name for c in checks].index("contract_rules") + 1
    checks[at:at] = [
        run("deadline", lambda: deadline_check(typed, now)),
        run("min_improvement", lambda: threshold_check(typed)),
        run("budget", lambda: budget_check(typed)),
        run("cost", lambda: cost_check(doc)),
    ]
    return checks
