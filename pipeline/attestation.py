"""generate_attestation_output: the evidence document of an evaluation and its hash.

The evidence holds only deterministic facts (no timestamps, run ids or paths), so identical
inputs give a byte-identical canonical form on any machine. Scores appear as integer basis
points only. The EIP-712 typed data is built later by `hokusai attest` (its deadline is set
at signing time) from this evidence; see `pipeline.eip712`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.baseline import ModelInfo
from pipeline.contributions import Contribution
from pipeline.delta import Delta
from pipeline.evaluation import BenchmarkInfo

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
) -> dict[str, Any]:
    """The evidence document (camelCase keys, integers and strings only)."""
    return {
        "schema": EVIDENCE_SCHEMA,
        "tool": {"name": "hokusai-pipeline", "version": __version__},
        "modelId": str(model_id),
        "configHash": config_hash,
        "seed": seed,
        "dryRun": dry_run,
        "baseline": {"source": baseline.source, "estimator": baseline.estimator,
                     "sha256": baseline.sha256, "commitment": baseline.sha256},
        "candidate": {"estimator": candidate.estimator, "sha256": candidate.sha256,
                      "commitment": candidate.sha256, "trainingRows": candidate.training_rows},
        "benchmark": {"specId": benchmark_spec_id, "sha256": benchmark.sha256, "rows": benchmark.rows},
        "contributions": [
            {"wallet": c.wallet, "contentSha256": c.content_sha256, "fileSha256": c.file_sha256,
             "rowsIn": c.rows_in, "rowsKept": c.rows_kept, "duplicatesDropped": c.duplicates_dropped,
             "benchmarkRowsDropped": c.benchmark_rows_dropped}
            for c in contributions
        ],
        "contributors": [
            {"wallet": c.wallet, "rows": c.rows, "weightBps": c.weight_bps} for c in delta.contributors
        ],
        "metrics": {
            "primary": delta.primary_metric,
            "family": metric_family,
            "baselineBps": {m.metric: m.baseline_bps for m in delta.metrics},
            "candidateBps": {m.metric: m.candidate_bps for m in delta.metrics},
        },
        "delta": {
            "deltaOneBps": delta.deltaone_bps,
            "deltaOnePp": delta.deltaone_pp,
            "perMetricBps": {m.metric: m.delta_bps for m in delta.metrics},
            "weightMethod": delta.weight_method,
        },
        "gate": {
            "passed": delta.passed,
            "conditions": [
                {"name": g.name, "value": g.value, "threshold": g.threshold, "passed": g.passed}
                for g in delta.gate
            ],
        },
    }


def evidence_for_run(
    settings: Settings, dry_run: bool, baseline: ModelInfo, candidate: ModelInfo,
    benchmark: BenchmarkInfo, contributions: list[Contribution], delta: Delta,
) -> dict[str, Any]:
    """Step `generate_attestation_output`: the evidence and its `attestationHash`."""
    from pipeline.config import config_hash
    from pipeline.eip712 import attestation_hash

    evidence = build_evidence(
        model_id=settings.model.id, config_hash=config_hash(settings), seed=settings.evaluation.seed,
        dry_run=dry_run, benchmark_spec_id=settings.attestation.benchmark_spec_id,
        metric_family=settings.attestation.metric_family, baseline=baseline, candidate=candidate,
        benchmark=benchmark, contributions=contributions, delta=delta,
    )
    return {"evidence": evidence, "attestationHash": attestation_hash(evidence)}
