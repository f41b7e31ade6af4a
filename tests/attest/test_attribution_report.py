"""`hokusai attest --format attribution-report`: Hokusai's attribution_report/v1 from a run (the
golden example, a real dry-run with exact values, negative, zero and missing-wallet cases, the
reader's sentences) and the same document logged as the run's MLflow artifact."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from pipeline.attest.attribution_report import (
    ARTIFACT, attribution_report, read_attribution_report, report_json, report_of_run, rfc3339, rows_improved,
)
from pipeline.errors import AttestationError
from pipeline.scoring.delta import Contributor, Delta
from tests.attest.documents import EVIDENCE
from tests.conftest import ALICE, BOB, invoke

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
SHARED = ROOT.parent / "shared" / "vectors" / "attribution-report"
NAMES = ("attribution_report.v1.schema.json", "attribution_report.v1.example.json")
SCHEMA = json.loads((VECTORS / NAMES[0]).read_text())
GOLDEN = json.loads((VECTORS / NAMES[1]).read_text())
RUN = pytest.mark.timeout(600)  # the session's real dry-runs (Metaflow subprocesses) may be made here


def valid(report: dict) -> None:
    """The vendored schema, checked with jsonschema directly (formats too), not through our reader."""
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)


# --- the vendored files ---------------------------------------------------------------------

def test_repo_copies_are_the_shared_files() -> None:
    # the package's copy (read by read_attribution_report) is the vendored schema, byte for byte
    assert (ROOT / "pipeline" / "schemas" / NAMES[0]).read_bytes() == (VECTORS / NAMES[0]).read_bytes()
    if not SHARED.is_dir():
        pytest.skip(f"no shared copy at {SHARED} to compare with")
    for name in NAMES:
        assert (VECTORS / name).read_bytes() == (SHARED / name).read_bytes(), name


def test_golden_example_round_trips_through_the_reader() -> None:
    valid(GOLDEN)
    assert read_attribution_report(GOLDEN) == GOLDEN
    assert read_attribution_report((VECTORS / NAMES[1]).read_text()) == GOLDEN
    assert read_attribution_report(json.dumps(GOLDEN).encode()) == GOLDEN


# --- the report of a real run ---------------------------------------------------------------

def report_cli(demo_runs, which: str = "first", *extra: str):
    return invoke("attest", demo_runs[which]["run_id"], "--project", str(demo_runs["project"]),
                  "--format", "attribution-report", *extra)


def client_run(demo_runs, which: str = "first"):
    from pipeline.runs.runner import finished_run

    return finished_run(Path(demo_runs["project"]).resolve(), demo_runs[which]["run_id"])


@RUN
def test_report_of_a_real_run_has_exact_values(demo_runs) -> None:
    result = report_cli(demo_runs)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    valid(report)
    assert read_attribution_report(report) == report
    assert result.stdout == report_json(report) + "\n"  # sorted keys, indent 2
    summary, run = demo_runs["first"], client_run(demo_runs)
    evidence = run.data.attestation["evidence"]
    alice, bob = ALICE.lower(), BOB.lower()
    content = {c["wallet"]: c["content_sha256"] for c in run.data.contributions}
    assert report["contributors"] == [
        {"wallet": alice, "submission_ids": [content[ALICE]], "rows_credited": 180, "raw_score": 275.0,
         "weight_bps": 3929},
        {"wallet": bob, "submission_ids": [content[BOB]], "rows_credited": 169, "raw_score": 425.0,
         "weight_bps": 6071},
    ]
    assert report["weight_bps_total"] == 10000
    assert (report["schema_version"], report["model_id"], report["method"]) == ("attribution_report/v1", "1",
                                                                               "loco_shapley")
    assert report["candidate_run_id"] == summary["pathspec"]
    assert report["baseline_run_id"] == "sha256:" + evidence["baseline"]["sha256"][2:]
    assert report["total_rows_evaluated"] == 200
    predictions = run.data.predictions
    y = np.asarray(predictions["y_true"])
    base, cand = (np.asarray(predictions[side]["y_pred"]) for side in ("baseline", "candidate"))
    assert report["rows_improved"] == int(((cand == y) & (base != y)).sum()) == 16
    # created_at is the run's start, as `hokusai inspect` reports it
    inspected = json.loads(invoke("inspect", summary["run_id"], "--project", str(demo_runs["project"]),
                                  "--json").stdout)
    assert report["created_at"] == inspected["started_at"] and report["created_at"].endswith("Z")
    assert report["method_details"] == {
        "weight_method": "exact_shapley", "weight_kind": "retraining_marginal_lift", "primary_metric": "accuracy",
        "deltaone_bps": 700, "retrainings": 2, "permutations": 0, "stopped_by": "",
        "values_bps": {alice: "275.00", bob: "425.00"},
        "leave_one_out_bps": {alice: "50.00", bob: "200.00"},
        "raw_score": "values_bps clipped at 0", "rows_improved": "candidate_correct_baseline_wrong",
        "attestation_hash": summary["attestation_hash"], "dry_run": True, "gate_passed": True, "excluded": [],
    }
    assert result.stderr == (f"Attribution report of {summary['pathspec']}: 2 contributor(s), weight_bps_total "
                             "10000 (exact_shapley) [dry-run]\n")


@RUN
def test_report_is_reproducible_for_a_run(demo_runs) -> None:
    first, again, second = report_cli(demo_runs), report_cli(demo_runs), report_cli(demo_runs, "second")
    assert first.stdout == again.stdout
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["candidate_run_id"] != b["candidate_run_id"]
    # the same inputs give the same attribution; only the run and its start differ
    for key in ("candidate_run_id", "created_at"):
        a.pop(key), b.pop(key)
    assert a == b


@RUN
def test_the_mlflow_artifact_is_the_cli_output(demo_runs, tmp_path) -> None:
    from mlflow import MlflowClient

    from pipeline.runs.tracking import attribution_report_artifact

    summary = demo_runs["first"]
    tracking = summary["mlflow"]
    assert tracking["status"] == "logged"
    client = MlflowClient(tracking_uri=tracking["tracking_uri"])
    assert ARTIFACT in [a.path for a in client.list_artifacts(tracking["run_id"])]
    logged = Path(client.download_artifacts(tracking["run_id"], ARTIFACT, str(tmp_path))).read_text()
    assert logged == report_cli(demo_runs).stdout  # logged inside the flow, before the run finished
    read_attribution_report(logged)
    # what `hokusai track` logs for a finished run whose tracking had failed: the same bytes
    assert attribution_report_artifact(demo_runs["project"], summary["pathspec"]) == {ARTIFACT: logged.encode()}


@RUN
def test_signing_options_and_unknown_formats_are_refused(demo_runs) -> None:
    result = report_cli(demo_runs, "first", "--network", "sepolia", "--force")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == ("Error: --format attribution-report is read from the run and is not signed; drop "
                             "--network, --force.\n")
    result = invoke("attest", "--project", str(demo_runs["project"]), "--format", "report")
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == ("Error: --format 'report' is not a format; use attestation, "
                                               "mint-request, attribution-report or acceptance-event.")


from tests.runs.test_card import failed_in_start  # noqa: E402,F401  (a real run that failed in start)


def test_a_run_without_a_delta_gets_one_sentence(failed_in_start) -> None:
    project, run_id = failed_in_start
    result = invoke("attest", run_id, "--project", str(project), "--format", "attribution-report")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"Error: Run {run_id} failed; only a successful run has results "
                             f"(see `hokusai inspect {run_id}`).\n")


def test_a_run_read_before_its_delta_exists_gets_one_sentence() -> None:
    class NoSteps:
        id, pathspec = "123", "HokusaiEvaluationFlow/123"

        def __getitem__(self, name):
            raise KeyError(name)

    with pytest.raises(AttestationError) as caught:
        report_of_run(NoSteps())
    assert str(caught.value) == ("Run 123 has no delta yet (it stopped before generate_attestation_output), so "
                                 "there is nothing to attribute; see `hokusai inspect 123`.")


# --- the pure function on hand-built deltas ----------------------------------------------------

ATTESTATION = {"evidence": EVIDENCE, "attestationHash": "0x" + "ee" * 32}
CREATED = "2026-06-05T00:00:00.000Z"


def delta(contributors: list[Contributor], method: str = "exact_shapley", **more) -> Delta:
    return Delta(primary_metric="accuracy", deltaone_bps=700, deltaone_pp="7.00", metrics=[], gate=[], passed=True,
                 contributors=contributors, weight_method=method, retrainings=2, **more)


def report(d: Delta, predictions=None) -> dict:
    out = attribution_report(d, ATTESTATION, candidate_run_id="HokusaiEvaluationFlow/1", created_at=CREATED,
                             predictions=predictions)
    valid(out)
    assert read_attribution_report(out) == out
    return out


def test_a_negative_shapley_value_is_raw_score_0_and_kept_in_method_details() -> None:
    out = report(delta([Contributor(ALICE, 110, 10000, "712.50", "700.00"),
                        Contributor(BOB, 169, 0, "-12.50", "-20.00")]))
    by_wallet = {c["wallet"]: c for c in out["contributors"]}
    assert by_wallet[BOB.lower()] == {"wallet": BOB.lower(), "submission_ids": ["0x" + "b1" * 32],
                                      "rows_credited": 169, "raw_score": 0.0, "weight_bps": 0}
    assert by_wallet[ALICE.lower()]["raw_score"] == 712.5 and by_wallet[ALICE.lower()]["weight_bps"] == 10000
    assert out["method_details"]["values_bps"] == {ALICE.lower(): "712.50", BOB.lower(): "-12.50"}
    assert out["method_details"]["leave_one_out_bps"] == {ALICE.lower(): "700.00", BOB.lower(): "-20.00"}
    assert out["weight_bps_total"] == 10000
    assert (out["model_id"], out["baseline_run_id"], out["created_at"]) == ("7", "sha256:" + "aa" * 32, CREATED)
    assert out["method_details"]["attestation_hash"] == "0x" + "ee" * 32
    assert out["rows_improved"] == 0 and out["method_details"]["rows_improved"] == "not_measured"


def test_nobody_improved_still_gets_a_report_with_total_0() -> None:
    out = report(delta([Contributor(ALICE, 110, 0, "-5.00", "-5.00"), Contributor(BOB, 169, 0, "0.00", "0.00")],
                       "exact_shapley+none_improved"))
    assert out["weight_bps_total"] == 0
    assert [(c["raw_score"], c["weight_bps"]) for c in out["contributors"]] == [(0.0, 0), (0.0, 0)]
    assert out["method_details"]["weight_method"] == "exact_shapley+none_improved"
    assert out["method_details"]["values_bps"] == {ALICE.lower(): "-5.00", BOB.lower(): "0.00"}


def test_monte_carlo_reports_standard_errors_permutations_and_the_stop() -> None:
    out = report(delta([Contributor(ALICE, 110, 3929, "275.00", "50.00", "12.25"),
                        Contributor(BOB, 169, 6071, "425.00", "200.00", "11.75")],
                       "monte_carlo_shapley", permutations=40, stopped_by="standard_error"))
    details = out["method_details"]
    assert details["standard_errors_bps"] == {ALICE.lower(): "12.25", BOB.lower(): "11.75"}
    assert (details["permutations"], details["stopped_by"]) == (40, "standard_error")
    assert [c["raw_score"] for c in out["contributors"]] == [275.0, 425.0]


def test_row_share_scores_kept_rows_and_pays_no_one_when_nothing_improved() -> None:
    out = report(delta([Contributor(ALICE, 110, 3943), Contributor(BOB, 169, 6057)], "row_share"))
    assert [(c["raw_score"], c["weight_bps"]) for c in out["contributors"]] == [(110.0, 3943), (169.0, 6057)]
    assert out["method_details"]["values_bps"] == {} and out["method_details"]["weight_kind"] == "row_share"
    out = report(delta([Contributor(ALICE, 110, 0), Contributor(BOB, 169, 0)], "row_share+none_improved"))
    assert [c["raw_score"] for c in out["contributors"]] == [0.0, 0.0] and out["weight_bps_total"] == 0


def test_rows_without_a_wallet_are_left_out_and_described() -> None:
    attestation = copy.deepcopy(ATTESTATION)
    attestation["evidence"]["contributions"].append(
        {"wallet": None, "contentSha256": "0x" + "c1" * 32, "fileSha256": "0x" + "c2" * 32, "rowsIn": 40,
         "rowsKept": 40, "duplicatesDropped": 0, "benchmarkRowsDropped": 0, "invalidRowsDropped": 0})
    d = delta([Contributor(ALICE, 110, 5000, "350.00"), Contributor(None, 40, 5000, "350.00")])
    out = attribution_report(d, attestation, candidate_run_id="HokusaiEvaluationFlow/1", created_at=CREATED)
    valid(out)
    assert [c["wallet"] for c in out["contributors"]] == [ALICE.lower()]
    assert out["weight_bps_total"] == 5000
    left_out = out["method_details"]["unattributable"]
    assert (left_out["rows"], left_out["weight_bps"], left_out["submission_ids"]) == (40, 5000, ["0x" + "c1" * 32])
    assert "left out of contributors" in left_out["reason"]


def test_excluded_contributors_are_named_in_method_details() -> None:
    excluded = [{"file": "bob.csv", "wallet": BOB, "file_sha256": "0x" + "b2" * 32, "rows_kept": 169,
                 "reason": "excluded on request (--exclude WALLET)", "ref": BOB}]
    out = report(replace(delta([Contributor(ALICE, 110, 10000, "700.00")]), excluded=excluded))
    assert out["method_details"]["excluded"] == [{"wallet": BOB.lower(), "file_sha256": "0x" + "b2" * 32,
                                                  "rows_kept": 169, "reason": "excluded on request (--exclude WALLET)"}]


def test_rows_improved_for_classes_and_for_a_quantity() -> None:
    classes = {"y_true": np.array(["a", "b", "a", "b"]), "classes": ["a", "b"],
               "baseline": {"y_pred": np.array(["a", "a", "b", "b"])},
               "candidate": {"y_pred": np.array(["a", "b", "a", "a"])}}
    assert rows_improved(classes) == (2, "candidate_correct_baseline_wrong")
    quantity = {"y_true": np.array([1.0, 2.0, 3.0]), "classes": [],
                "baseline": {"y_pred": np.array([1.5, 2.0, 2.0])}, "candidate": {"y_pred": np.array([1.0, 2.5, 2.0])}}
    assert rows_improved(quantity) == (1, "candidate_abs_error_smaller")
    assert rows_improved(None) == (0, "not_measured")


def test_rfc3339_is_utc_with_milliseconds() -> None:
    from datetime import datetime, timezone

    assert rfc3339(datetime(2026, 6, 5, 1, 2, 3, 456789, tzinfo=timezone.utc)) == "2026-06-05T01:02:03.456Z"


# --- the reader's sentences -----------------------------------------------------------------

def broken(change) -> dict:
    doc = copy.deepcopy(GOLDEN)
    change(doc)
    return doc


@pytest.mark.parametrize("doc, sentence", [
    (broken(lambda d: d.pop("created_at")),
     "attribution_report.created_at is missing; rebuild it with `hokusai attest RUN --format attribution-report`."),
    (broken(lambda d: d.update(extra=1)), "attribution_report.extra is not a field of attribution_report/v1; remove it."),
    (broken(lambda d: d.update(schema_version="attribution_report/v2")),
     'attribution_report.schema_version is "attribution_report/v2"; it must be "attribution_report/v1".'),
    (broken(lambda d: d.update(method="magic")),
     'attribution_report.method is "magic"; it must be one of neighbor_provenance, loco_shapley.'),
    (broken(lambda d: d.update(model_id=30)),
     "attribution_report.model_id is 30, not a string; rebuild it with `hokusai attest RUN --format "
     "attribution-report`."),
    (broken(lambda d: d.update(created_at="yesterday")),
     'attribution_report.created_at is "yesterday"; it must be an RFC 3339 date-time (e.g. 2026-06-05T00:00:00Z).'),
    (broken(lambda d: d.update(weight_bps_total=10001)),
     "attribution_report.weight_bps_total is 10001; it must be at most 10000."),
    (broken(lambda d: d["contributors"][1].update(wallet=BOB)),
     f'attribution_report.contributors[1].wallet is "{BOB}"; it must match ^0x[0-9a-f]{{40}}$ '
     "(0x + 40 lower-case hex digits)."),
    (broken(lambda d: d["contributors"][0].update(raw_score=-0.5)),
     "attribution_report.contributors[0].raw_score is -0.5; it must be at least 0."),
    (broken(lambda d: d["contributors"][0].pop("wallet")),
     "attribution_report.contributors[0] has neither wallet nor account_id; give the contributor's wallet "
     "(0x + 40 lower-case hex)."),
    (broken(lambda d: d["contributors"][0].pop("weight_bps")),
     "attribution_report.contributors[0].weight_bps is missing; rebuild it with `hokusai attest RUN --format "
     "attribution-report`."),
    (broken(lambda d: d["contributors"][0]["submission_ids"].append("")),
     'attribution_report.contributors[0].submission_ids[1] is ""; give non-empty text.'),
    (broken(lambda d: d.update(rows_improved=True)),
     "attribution_report.rows_improved is true, not an integer; rebuild it with `hokusai attest RUN --format "
     "attribution-report`."),
    ([GOLDEN], "The attribution report is [{...}], not a JSON object; rebuild it with `hokusai attest RUN --format "
               "attribution-report`."),
])
def test_a_bad_document_gets_one_sentence_naming_the_field(doc, sentence) -> None:
    with pytest.raises(AttestationError) as caught:
        read_attribution_report(doc)
    message = str(caught.value)
    if isinstance(doc, list):  # the value is shown shortened
        assert message.startswith("The attribution report is [{") and message.endswith(
            ", not a JSON object; rebuild it with `hokusai attest RUN --format attribution-report`.")
    else:
        assert message == sentence


def test_text_that_is_not_json_gets_one_sentence() -> None:
    with pytest.raises(AttestationError, match=r"^The attribution report is not valid JSON \(NaN is not JSON"):
        read_attribution_report('{"raw_score": NaN}')
