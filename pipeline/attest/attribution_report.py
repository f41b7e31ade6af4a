"""Hokusai's `attribution_report/v1`: who the contributed data's improvement is credited to,
in the form Hokusai's mint orchestrator reads (`derive_contributor_set` upstream).

Its JSON Schema and golden example are `attribution_report.v1.schema.json` and
`attribution_report.v1.example.json` (upstream `schema/`; kept byte-for-byte in tests/vectors/,
and the schema also in `pipeline/schemas/` so an installed package can check a report).
`attribution_report` builds the report of a run from its artifacts (a pure function);
`report_of_run` reads those artifacts from a Metaflow Client run, the same way for
`hokusai attest --format attribution-report` and for the MLflow artifact that `monitor_and_log`
and `hokusai track` log, so both hold the same document; `read_attribution_report` checks a
document against the schema, one sentence naming the field that breaks it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

from pipeline.errors import AttestationError

SCHEMA_VERSION = "attribution_report/v1"
#: Upstream's name of a retraining attribution (leave-one-out / Shapley over retrained models).
METHOD = "loco_shapley"
#: The file name of the report among a run's MLflow artifacts.
ARTIFACT = "attribution_report.json"
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "attribution_report.v1.schema.json"
#: The last step before `monitor_and_log`: its task holds every artifact the report reads, both
#: while the flow is still running (`monitor_and_log` logs the report) and after it finished.
REPORT_STEP = "generate_attestation_output"
#: The weight-method suffix of a run where no contributor improved the metric (nobody is paid).
NONE_IMPROVED = "+none_improved"

_FIX = "rebuild it with `hokusai attest RUN --format attribution-report`"


def rfc3339(moment: datetime) -> str:
    """A Client timestamp (naive local time, or aware) as RFC 3339 UTC with milliseconds,
    '2026-12-07T01:01:36.775Z', as `hokusai inspect` writes started_at."""
    aware = moment.astimezone(timezone.utc)  # a naive datetime is taken as local time
    return aware.strftime("%Y-%m-%dT%H:%M:%S.") + f"{aware.microsecond // 1000:03d}Z"


def rows_improved(predictions: Mapping[str, Any] | None) -> tuple[int, str]:
    """(benchmark rows the candidate gets better than the baseline, the rule used) from the
    run's `predictions` (y_true; baseline and candidate, each with y_pred): for a classifier
    the rows the candidate predicts correctly and the baseline does not; for a regressor
    (no classes) the rows where the candidate's absolute error is smaller. (0, "not_measured")
    without predictions."""
    if not predictions:
        return 0, "not_measured"
    import numpy as np

    y = np.asarray(predictions["y_true"])
    baseline = np.asarray(predictions["baseline"]["y_pred"])
    candidate = np.asarray(predictions["candidate"]["y_pred"])
    if predictions.get("classes"):
        return int(np.count_nonzero((candidate == y) & (baseline != y))), "candidate_correct_baseline_wrong"
    y, baseline, candidate = (a.astype(float) for a in (y, baseline, candidate))
    return int(np.count_nonzero(np.abs(candidate - y) < np.abs(baseline - y))), "candidate_abs_error_smaller"


def _raw_score(value_bps: str | None, rows: int, weight_bps: int, weight_method: str) -> float:
    """The schema's raw_score (a number of at least 0): the attributed value in bps clipped at
    0 (its true value, negative too, is in method_details.values_bps); under row share,
    where nothing is attributed and the weights are the kept-row shares, the kept rows; 0 for
    a contributor nobody pays (so a consumer deriving weights from raw_score pays no one)."""
    if weight_method.endswith(NONE_IMPROVED):
        return 0.0
    if value_bps is None:
        return float(rows) if weight_bps > 0 else 0.0
    return max(0.0, float(Decimal(value_bps)))


def attribution_report(
    delta: Any, attestation: Mapping[str, Any], *, candidate_run_id: str, created_at: str,
    predictions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `attribution_report/v1` document of a run, from its artifacts: `delta` (the plain
    dict of `scoring.delta.Delta`, or the Delta), `attestation` ({"evidence",
    "attestationHash"}) and `predictions` (for rows_improved).

    - model_id: the evidence's modelId, the decimal [model] id the attestation signs.
    - method: "loco_shapley", upstream's name for attribution by retraining (what
      exact/Monte-Carlo Shapley, leave-one-out and single-contributor attribution are here);
      the exact method is method_details.weight_method.
    - baseline_run_id: "sha256:<hex>" of the baseline model's bytes (the evidence's
      baseline.sha256, its default baselineCommitment). The baseline has no run of its own
      (it is a file, or trained inside the same run), and a made-up "<pathspec>/baseline"
      would name no object anyone can look up; the digest names exactly the model compared
      against, the one logged as `baseline.skops` beside this report.
    - candidate_run_id: the Metaflow pathspec, `HokusaiEvaluationFlow/<run id>`: the run that
      trained the candidate, and the attestation's pipelineRunId and the mint request's
      eval_id, so a consumer can match the report with the request
      (`derive_contributor_set(report, candidate_run_id=eval_id)` upstream).
    - created_at: given by the caller; `report_of_run` uses the run's start (see there).
    - contributors: one per wallet (lower-case), in the evidence's order, with the content
      sha256 of each contribution credited to it, its kept rows, `_raw_score` and its weight.
      Rows without a wallet cannot be named (the schema needs a wallet or account_id): they
      are left out and described in method_details.unattributable.
    - weight_bps_total: the sum of the listed weights: 10000, or 0 when nobody improved the
      metric (a report, not a payment); less than 10000 only when rows without a wallet were
      credited (such a run cannot be attested).
    """
    if hasattr(delta, "to_dict"):
        delta = delta.to_dict()
    evidence = attestation["evidence"]
    weight_method = str(delta["weight_method"])
    files: dict[str | None, list[str]] = {}
    for c in evidence.get("contributions", []):
        ids = files.setdefault(c.get("wallet"), [])
        if c["contentSha256"] not in ids:
            ids.append(c["contentSha256"])
    contributors, values, loo, errors, unattributable = [], {}, {}, {}, None
    for c in delta["contributors"]:
        raw = _raw_score(c.get("value_bps"), int(c["rows"]), int(c["weight_bps"]), weight_method)
        if c["wallet"] is None:
            unattributable = {
                "rows": int(c["rows"]), "weight_bps": int(c["weight_bps"]), "value_bps": c.get("value_bps"),
                "submission_ids": files.get(None, []),
                "reason": "rows without a wallet: the schema names a contributor by wallet or account_id, so they "
                          "are left out of contributors (and such a run cannot be attested)",
            }
            continue
        wallet = c["wallet"].lower()
        contributors.append({"wallet": wallet, "submission_ids": files.get(c["wallet"], []),
                             "rows_credited": int(c["rows"]), "raw_score": raw, "weight_bps": int(c["weight_bps"])})
        for into, key in ((values, "value_bps"), (loo, "loo_bps"), (errors, "se_bps")):
            if c.get(key) is not None:
                into[wallet] = c[key]
    improved, rule = rows_improved(predictions)
    details: dict[str, Any] = {
        "weight_method": weight_method,
        "weight_kind": "row_share" if weight_method.startswith("row_share") else "retraining_marginal_lift",
        "primary_metric": delta.get("primary_metric"),
        "deltaone_bps": delta.get("deltaone_bps"),
        "retrainings": int(delta.get("retrainings") or 0),
        "permutations": int(delta.get("permutations") or 0),
        "stopped_by": delta.get("stopped_by") or "",
        "values_bps": values,
        "leave_one_out_bps": loo,
        **({"standard_errors_bps": errors} if errors else {}),
        "raw_score": ("kept rows (row share: nothing attributed)" if weight_method == "row_share"
                      else "0 for every contributor: nobody improved the metric" if weight_method.endswith(NONE_IMPROVED)
                      else "values_bps clipped at 0"),
        "rows_improved": rule,
        "attestation_hash": attestation["attestationHash"],
        "dry_run": evidence.get("dryRun") is not False,
        "gate_passed": bool((evidence.get("gate") or {}).get("passed")),
        "excluded": [{"wallet": e["wallet"].lower() if e.get("wallet") else None, "file_sha256": e["file_sha256"],
                      "rows_kept": int(e["rows_kept"]), "reason": e["reason"]} for e in delta.get("excluded") or []],
        **({"unattributable": unattributable} if unattributable else {}),
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "model_id": str(evidence["modelId"]),
        "method": METHOD,
        "baseline_run_id": "sha256:" + str(evidence["baseline"]["sha256"]).removeprefix("0x"),
        "candidate_run_id": candidate_run_id,
        "created_at": created_at,
        "total_rows_evaluated": int(evidence["benchmark"]["rows"]),
        "rows_improved": improved,
        "contributors": contributors,
        "weight_bps_total": sum(c["weight_bps"] for c in contributors),
        "method_details": details,
    }


def report_json(report: Mapping[str, Any]) -> str:
    """The report as the CLI prints it and MLflow keeps it: sorted keys, indent 2 (no final newline)."""
    return json.dumps(report, sort_keys=True, indent=2)


def run_started(run: Any) -> datetime:
    """When a Client run started: its `start` task's creation, as `hokusai inspect` reports it
    (the run's own created_at moves when a tag is added)."""
    try:
        tasks = list(run["start"])
    except KeyError:
        tasks = []
    return min(t.created_at for t in tasks) if tasks else run.created_at


def report_of_run(run: Any) -> dict[str, Any]:
    """The report of a Metaflow Client `run`, read from its `REPORT_STEP` task, so that the same
    document comes out inside the flow (`monitor_and_log`, before the run has finished) and
    after it (`hokusai attest`, `hokusai track`). created_at is the run's start (RFC 3339 UTC):
    its finish time is not known yet when `monitor_and_log` logs the report, and the time the
    report is printed would make it differ at each call; the start is fixed once the run exists."""
    from pipeline.runs.artifacts import stored

    try:
        data = stored(run[REPORT_STEP].task)
        delta, attestation, predictions = data.delta, data.attestation, data.predictions
    except (KeyError, AttributeError):
        raise AttestationError(
            f"Run {run.id} has no delta yet (it stopped before {REPORT_STEP}), so there is nothing to attribute; "
            f"see `hokusai inspect {run.id}`."
        ) from None
    return attribution_report(delta, attestation, candidate_run_id=run.pathspec, created_at=rfc3339(run_started(run)),
                              predictions=predictions)


# --- reading a report: the schema, one sentence per problem --------------------------------

def read_attribution_report(doc: Any) -> dict[str, Any]:
    """`doc` (a parsed JSON object, or its JSON text) checked against the vendored
    `attribution_report/v1` schema (draft 2020-12, formats checked) and returned; else
    `AttestationError` with one sentence naming the first field that breaks it."""
    from pipeline.attest.schema_check import read_document

    return read_document(doc, SCHEMA_FILE, what="The attribution report", root="attribution_report",
                         version=SCHEMA_VERSION, fix=_FIX)
