"""What Hokusai's own pipeline reads from an MLflow run: the Hokusai Evaluation Manifest
(`hokusai.eval.manifest/v1`, artifact `hem/manifest.json`) and the run tags its DeltaOne
orchestrator reads (`hokusai.eval_id`, `hokusai.dataset.hash`, `hokusai.deltaone.*`, …).

Both are built by pure functions from what the run already holds (the evidence, the delta,
the settings), so they say exactly what the signed evidence says; `log_hem` writes them to
the run, idempotently (`hokusai track` writes them again: same tags, same manifest bytes).
Where upstream expects something hokusai does not have, the choice is documented in
docs/attestation.md ("Hokusai pipeline interop"): `eval_id` is the Metaflow pathspec (the
signed `pipelineRunId`), the dataset is the benchmark, `baseline_run_id` is this MLflow run
(both arms are scored in it) unless the baseline came from the Model Registry."""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.scoring.delta import Delta, GateCondition

SCHEMA_VERSION = "hokusai.eval.manifest/v1"
#: Where the manifest goes in the MLflow run (upstream's `log_hem_to_mlflow`).
ARTIFACT = "hem/manifest.json"
#: The provider named in the manifest's provenance.
PROVIDER = "hokusai"
#: Our gate conditions that are upstream's primary decision, in upstream's order, with its reason.
PRIMARY_REASONS = {"benchmark_rows": "insufficient_samples", "delta_bps": "delta_below_threshold",
                   "ci_low_bps": "not_statistically_significant"}
#: Longest guardrail reason upstream keeps in a tag.
MAX_REASON = 500


def model_id_text(settings: Settings) -> str:
    """Upstream's string model id: the relayer's `model_name` when set, else the numeric [model] id
    (the rule of the `mint_request` message's `model_id`)."""
    return settings.attestation.model_name or str(settings.model.id)


def dataset_hash(evidence: dict[str, Any]) -> str:
    """The benchmark's sha256 as upstream pins a dataset: `sha256:<64 hex>` (ours is `0x<64 hex>`
    of the same file bytes)."""
    return "sha256:" + evidence["benchmark"]["sha256"].removeprefix("0x").lower()


def pp_text(bps: int) -> str:
    """Basis points as percentage points, upstream's "%.6f" (exact: 700 -> "7.000000")."""
    return f"{Decimal(bps).scaleb(-2):.6f}"


def usd_text(usd_micro: int) -> str:
    """Micro-USD as a decimal USD string (exact: 1234 -> "0.001234")."""
    return f"{Decimal(usd_micro).scaleb(-6):.6f}"


def primary_decision(delta: Delta) -> tuple[bool, str]:
    """Upstream's DeltaOne decision (accepted, reason) from our gate: the primary conditions only
    (rows, then the delta, then the CI), in upstream's order; guardrails are reported apart,
    as upstream's `mint_allowed = accepted and guardrails passed` (our `gate.passed`)."""
    by_name = {g.name: g for g in delta.gate}
    for name, reason in PRIMARY_REASONS.items():
        if name in by_name and not by_name[name].passed:
            return False, reason
    return True, "accepted"


def guardrail_name(condition: GateCondition) -> str:
    """A guardrail's name in tags and the manifest: `guardrail:f1` -> `f1` (upstream names a guardrail
    by its metric); our `max_drop:recall[1]` -> `max_drop:recall.1` (MLflow keys take no brackets)."""
    name = condition.name.removeprefix("guardrail:")
    name = re.sub(r"\[([^\]]*)\]", r".\1", name)
    return re.sub(r"[^\w.\- :/]", "_", name)


def guardrails(delta: Delta, settings: Settings) -> list[dict[str, Any]]:
    """Every gate condition beyond the primary decision (`[[evaluation.guardrails]]` and our
    `max_drop_bps`): name, status pass|fail, upstream's reason sentence, and the bps compared."""
    candidate = {m.metric: m.candidate for m in delta.metrics}
    bounds = {g.metric: g.threshold for g in settings.evaluation.guardrails}
    out = []
    for g in delta.gate:
        if g.name in PRIMARY_REASONS:
            continue
        name = guardrail_name(g)
        if g.name.startswith("guardrail:") and name in candidate and name in bounds:
            breach = "is below" if " >= " in g.rule else "exceeds"  # upstream's words for a breach
            reason = f"{name} observed {candidate[name]:.4g} {'meets' if g.passed else breach} threshold {bounds[name]:.4g}"
        else:
            reason = f"{g.rule}: {g.value} vs {g.threshold} {'ok' if g.passed else 'failed'}"
        if not g.blocking:
            reason += " (not blocking)"
        out.append({"name": name, "status": "pass" if g.passed else "fail", "reason": reason[:MAX_REASON],
                    "details": {"observed_bps": g.value, "threshold_bps": g.threshold, "rule": g.rule,
                                "blocking": g.blocking}})
    return out


def contributors(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The credited contributors as upstream reads them (`hokusai.contributors`, the manifest's
    attribution): lower-case wallet and weight_bps, sorted by wallet; a contributor credited 0
    or without a wallet is left out, as in the signed MintRequest."""
    return sorted(({"wallet_address": c["wallet"].lower(), "weight_bps": c["weightBps"]}
                   for c in evidence["contributors"] if c["wallet"] and c["weightBps"]),
                  key=lambda c: c["wallet_address"])


def report_hash(report: bytes) -> str:
    """Upstream's `attribution_report_hash`: sha256 hex of the report as json.dumps(sort_keys,
    (",", ":")), ASCII-escaped."""
    canonical = json.dumps(json.loads(report), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def manifest(
    evidence: dict[str, Any], delta: Delta, settings: Settings, *, eval_id: str, mlflow_run_id: str,
    created_at: str, attribution_report: bytes | None = None,
) -> dict[str, Any]:
    """The run's Hokusai Evaluation Manifest, as upstream's `to_dict` gives it: required fields,
    then the optional ones that have a value (none is None or empty). Metrics are the candidate's
    raw scores (the model under evaluation), each logged in the run under its own name."""
    primary = evidence["metrics"]["primary"]
    metrics = [{"name": m.metric, "value": m.candidate, "higher_is_better": m.higher_is_better,
                "mlflow_name": m.metric} for m in delta.metrics]
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_id": model_id_text(settings),
        "eval_id": eval_id,
        "dataset": {"id": PurePath(settings.data.benchmark).name, "hash": dataset_hash(evidence),
                    "num_samples": evidence["benchmark"]["rows"]},
        "primary_metric": next(m for m in metrics if m["name"] == primary),
        "metrics": metrics,
        "created_at": created_at,
        "mlflow_run_id": mlflow_run_id,
    }
    ci = evidence["delta"]["ci"]
    if ci is not None and ci.get("highBps") is not None:
        out["uncertainty"] = {"method": f"{ci['method']} bootstrap of delta_pp, {ci['confidenceBps'] / 100:g}%",
                              "ci95": [ci["lowBps"] / 100, ci["highBps"] / 100]}
    out["artifacts"] = [{"name": "evidence", "path": "evidence.json", "hash": evidence_hash(evidence),
                         "type": evidence["schema"]}]
    out["provenance"] = {"provider": PROVIDER, "provider_version": evidence["tool"]["version"],
                         "parameters": {"config_hash": evidence["configHash"], "seed": evidence["seed"],
                                        "estimator": evidence["candidate"]["estimator"],
                                        "weight_method": evidence["delta"]["weightMethod"]}}
    out["measurement_policy"] = {"aggregation": "benchmark_rows",
                                 "thresholds": {g["name"]: g["threshold"] for g in evidence["gate"]["conditions"]},
                                 **({"sampling": {"method": ci["method"], "resamples": ci["resamples"],
                                                  "seed": ci["seed"], "confidence_bps": ci["confidenceBps"]}}
                                    if ci is not None else {})}
    results = [{"name": g["name"], "status": g["status"], "details": g["details"]} for g in guardrails(delta, settings)]
    if results:
        out["guardrail_results"] = results
    if evidence["benchmark"].get("specSha256"):
        out["eval_spec_version"] = evidence["benchmark"]["specSha256"]
    paid = [{"wallet": c["wallet_address"], "weight_bps": c["weight_bps"]} for c in contributors(evidence)]
    if attribution_report is not None and paid:
        out["attribution"] = {"method": json.loads(attribution_report)["method"],
                              "report_hash": report_hash(attribution_report), "seed": evidence["seed"],
                              "contributors": paid}
    return out


def evidence_hash(evidence: dict[str, Any]) -> str:
    """The evidence's own hash (`attestationHash`): sha256 of its RFC 8785 form, 0x-hex."""
    from pipeline.attest.eip712 import attestation_hash

    return attestation_hash(evidence)


def compute_hash(hem: dict[str, Any]) -> str:
    """Upstream's `compute_hash`: sha256 hex (no 0x) of json.dumps of the manifest without
    created_at and mlflow_run_id, sort_keys, separators (",", ":"): the same evaluation logged
    again (another MLflow run, another time) has the same hash."""
    payload = {k: v for k, v in hem.items() if k not in ("created_at", "mlflow_run_id")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def manifest_bytes(hem: dict[str, Any]) -> bytes:
    """The artifact's text: sorted keys, indent 2 (upstream's `to_json`), final newline."""
    return (json.dumps(hem, indent=2, sort_keys=True) + "\n").encode()


def run_tags(
    evidence: dict[str, Any], delta: Delta, settings: Settings, hem: dict[str, Any], *, baseline_run_id: str,
    cost_usd_micro: int | None,
) -> dict[str, str]:
    """The run tags upstream's orchestrator reads, every value a string: ids, the primary metric,
    the pinned dataset, both weight commitments (the baseline's override when configured, as
    signed), the DeltaOne decision, each guardrail, the paid contributors and the cost."""
    accepted, reason = primary_decision(delta)
    ci = evidence["delta"]["ci"]
    rows = str(evidence["benchmark"]["rows"])
    tags = {
        "hokusai.eval_id": hem["eval_id"],
        "hokusai.model_id": hem["model_id"],
        "hokusai.model_id_uint": evidence["modelId"],
        "hokusai.benchmark_spec_id": evidence["benchmark"]["specId"],
        "hokusai.metric_family": evidence["metrics"]["family"],
        "hokusai.primary_metric": evidence["metrics"]["primary"],
        "hokusai.primary_metric.higher_is_better": "true",
        "hokusai.mlflow_name": evidence["metrics"]["primary"],
        "hokusai.dataset.id": hem["dataset"]["id"],
        "hokusai.dataset.hash": hem["dataset"]["hash"],
        "hokusai.dataset.num_samples": rows,
        "hokusai.weight_commitment.baseline": (settings.attestation.baseline_commitment
                                               or evidence["baseline"]["commitment"]).lower(),
        "hokusai.weight_commitment.candidate": evidence["candidate"]["commitment"].lower(),
        "hokusai.deltaone.model_id": hem["model_id"],
        "hokusai.deltaone.dataset_hash": hem["dataset"]["hash"],
        "hokusai.deltaone.metric_name": evidence["metrics"]["primary"],
        "hokusai.deltaone.baseline_run_id": baseline_run_id,
        "hokusai.deltaone.accepted": str(accepted).lower(),
        "hokusai.deltaone.reason": reason,
        "hokusai.deltaone.delta_pp": pp_text(evidence["delta"]["deltaOneBps"]),
        "hokusai.deltaone.n_current": rows,
        "hokusai.deltaone.n_baseline": rows,
        "hokusai.deltaone.evaluated_at": hem["created_at"],
        "hokusai.contributors": json.dumps(contributors(evidence), separators=(",", ":")),
        "hokusai.hem.hash": compute_hash(hem),
    }
    if ci is not None and ci.get("highBps") is not None:
        tags |= {"hokusai.deltaone.ci95_low_pp": pp_text(ci["lowBps"]),
                 "hokusai.deltaone.ci95_high_pp": pp_text(ci["highBps"])}
    for g in guardrails(delta, settings):
        tags |= {f"hokusai.guardrail.{g['name']}.status": g["status"], f"hokusai.guardrail.{g['name']}.reason": g["reason"]}
    if cost_usd_micro is not None:
        tags["hokusai.eval.actual_cost_usd"] = usd_text(cost_usd_micro)
    return tags


# --- reading the run and writing MLflow (the I/O around the pure functions above) ---------

#: The steps whose CPU time prices `hokusai.eval.actual_cost_usd`: all up to the evidence (the
#: logging itself is left out, so the flow and `hokusai track` write the same value).
COST_STEP = "generate_attestation_output"


def run_facts(project_dir: Path, pathspec: str, settings: Settings) -> tuple[str, int | None]:
    """(created_at, cost in micro-USD) of a Metaflow run, read through the Client as inside the
    flow's `monitor_and_log` as after it (`hokusai track`): the run's start (RFC 3339 UTC, fixed
    once the run exists) and the cost `hokusai attest` would price from the CPU time recorded up
    to COST_STEP (None when it cannot be priced)."""
    from metaflow import Run, metadata, namespace

    from pipeline.attest.attribution_report import rfc3339, run_started
    from pipeline.attest.cost import run_cost
    from pipeline.errors import AttestationError

    metadata(f"local@{Path(project_dir).resolve()}")  # as runner.use_project: a run's metadata is local
    namespace(None)
    run = Run(pathspec)
    cpu = getattr(run[COST_STEP].task.data, "task_cpu_seconds", None)
    try:
        cost: int | None = run_cost(settings.attestation, cpu).actual_usd_micro
    except AttestationError:
        cost = None
    return rfc3339(run_started(run)), cost


def log_hem(
    client: Any, run_id: str, *, settings: Settings, project_dir: Path, pathspec: str, delta: Delta,
    attestation: dict[str, Any], attribution_report: bytes | None, baseline_run_id: str | None = None,
) -> dict[str, str]:
    """Write the manifest (`hem/manifest.json`), the tags and each candidate metric under its
    own name (upstream looks metrics and guardrail observations up by name) to MLflow run
    `run_id`. Idempotent: the same run gives the same bytes and values. Returns the manifest's
    hash and artifact path."""
    import tempfile
    import time

    from mlflow.entities import Metric, RunTag

    evidence = attestation["evidence"]
    created_at, cost = run_facts(project_dir, pathspec, settings)
    hem = manifest(evidence, delta, settings, eval_id=pathspec, mlflow_run_id=run_id, created_at=created_at,
                   attribution_report=attribution_report)
    tags = run_tags(evidence, delta, settings, hem, baseline_run_id=baseline_run_id or run_id, cost_usd_micro=cost)
    have = client.get_run(run_id).data.metrics
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(m.metric, float(m.candidate), now, 0) for m in delta.metrics
                                      if m.metric not in have],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / PurePath(ARTIFACT).parent
        folder.mkdir()
        (folder / PurePath(ARTIFACT).name).write_bytes(manifest_bytes(hem))
        client.log_artifacts(run_id, str(folder), PurePath(ARTIFACT).parent.as_posix())
    return {"hash": compute_hash(hem), "artifact": ARTIFACT}
