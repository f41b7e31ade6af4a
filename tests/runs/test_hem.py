"""The Hokusai Evaluation Manifest and the run tags upstream's orchestrator reads: read back
through MlflowClient from the session's real run, every value checked against the evidence it
comes from (the manifest's hash recomputed here, independently), validated against upstream's
HEM_V1_SCHEMA, and written again by `hokusai track` without a change."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, invoke

SCHEMA = Path(__file__).with_name("hem_manifest.v1.schema.json")
pytestmark = pytest.mark.timeout(900)


def store(project: Path) -> str:
    return f"sqlite:///{project / '.hokusai' / 'mlflow.db'}"


@pytest.fixture(scope="module")
def record(project_run, tmp_path_factory):
    """(project, Metaflow run, MLflow run, the manifest as logged: bytes)."""
    import mlflow

    project, run = project_run
    client = mlflow.MlflowClient(tracking_uri=store(project))
    mlflow_run = client.get_run(run.data.mlflow_run_id)
    path = client.download_artifacts(mlflow_run.info.run_id, "hem/manifest.json", str(tmp_path_factory.mktemp("hem")))
    return project, run, mlflow_run, Path(path).read_bytes()


def independent_hash(manifest: dict) -> str:
    """Upstream's compute_hash, written out here: sha256 hex of json.dumps without created_at and
    mlflow_run_id, sorted keys, no spaces."""
    payload = dict(manifest)
    del payload["created_at"], payload["mlflow_run_id"]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def run_start(run) -> str:
    """The run's start, RFC 3339 UTC with milliseconds: its `start` task's creation."""
    from datetime import timezone

    created = min(t.created_at for t in run["start"])
    return created.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_every_run_tag_upstream_reads_says_what_the_evidence_says(record):
    project, run, mlflow_run, raw = record
    tags, evidence = mlflow_run.data.tags, run.data.attestation["evidence"]
    manifest = json.loads(raw)
    bench = "sha256:" + evidence["benchmark"]["sha256"][2:]
    assert bench.startswith("sha256:") and len(bench) == 71 and bench == bench.lower()
    expected = {
        "hokusai.eval_id": run.pathspec,
        "hokusai.model_id": "7",
        "hokusai.model_id_uint": "7",
        "hokusai.benchmark_spec_id": "hokusai-demo-breast-cancer-v1",
        "hokusai.metric_family": "proportion",
        "hokusai.primary_metric": "accuracy",
        "hokusai.primary_metric.higher_is_better": "true",
        "hokusai.mlflow_name": "accuracy",
        "hokusai.dataset.id": "benchmark.csv",
        "hokusai.dataset.hash": bench,
        "hokusai.dataset.num_samples": "200",
        "hokusai.weight_commitment.baseline": evidence["baseline"]["commitment"],
        "hokusai.weight_commitment.candidate": evidence["candidate"]["commitment"],
        "hokusai.deltaone.model_id": "7",
        "hokusai.deltaone.dataset_hash": bench,
        "hokusai.deltaone.metric_name": "accuracy",
        "hokusai.deltaone.baseline_run_id": mlflow_run.info.run_id,  # both arms are scored in this run
        "hokusai.deltaone.accepted": "true",
        "hokusai.deltaone.reason": "accepted",
        "hokusai.deltaone.delta_pp": "7.000000",
        "hokusai.deltaone.ci95_low_pp": "%.6f" % (evidence["delta"]["ci"]["lowBps"] / 100),
        "hokusai.deltaone.ci95_high_pp": "%.6f" % (evidence["delta"]["ci"]["highBps"] / 100),
        "hokusai.deltaone.n_current": "200",
        "hokusai.deltaone.n_baseline": "200",
        "hokusai.deltaone.evaluated_at": run_start(run),
        "hokusai.contributors": json.dumps(sorted(
            [{"wallet_address": c["wallet"].lower(), "weight_bps": c["weightBps"]} for c in evidence["contributors"]],
            key=lambda c: c["wallet_address"]), separators=(",", ":")),
        "hokusai.eval.actual_cost_usd": "0.000000",  # no [attestation] price: upstream's None -> 0
        "hokusai.hem.hash": independent_hash(manifest),
        "hokusai.gate": "passed",
        "hokusai.attestation_hash": run.data.attestation["attestationHash"],
        "hokusai.pathspec": run.pathspec,
    }
    assert {k: tags.get(k) for k in expected} == expected
    for key in ("hokusai.weight_commitment.baseline", "hokusai.weight_commitment.candidate"):
        assert len(tags[key]) == 66 and tags[key] == tags[key].lower() and tags[key].startswith("0x")
    contributors = json.loads(tags["hokusai.contributors"])
    assert {c["wallet_address"] for c in contributors} == {ALICE.lower(), BOB.lower()}
    assert sum(c["weight_bps"] for c in contributors) == 10000
    assert not [k for k in tags if k.startswith("hokusai.guardrail.")]  # the project declares none
    # upstream reads the candidate's metrics by name: each is logged under its own name too
    assert mlflow_run.data.metrics["accuracy"] == mlflow_run.data.metrics["candidate_accuracy"] == 0.98


def test_the_manifest_is_upstreams_hem_v1_with_its_hash(record):
    import jsonschema

    project, run, mlflow_run, raw = record
    manifest, evidence = json.loads(raw), run.data.attestation["evidence"]
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()), format_checker=jsonschema.FormatChecker())
    assert [e.message for e in validator.iter_errors(manifest)] == []
    assert raw == (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    assert manifest["schema_version"] == "hokusai.eval.manifest/v1"
    assert manifest["eval_id"] == run.pathspec and manifest["mlflow_run_id"] == mlflow_run.info.run_id
    assert manifest["created_at"] == run_start(run) and manifest["model_id"] == "7"
    assert manifest["dataset"] == {"id": "benchmark.csv", "hash": "sha256:" + evidence["benchmark"]["sha256"][2:],
                                   "num_samples": 200}
    assert manifest["primary_metric"] == {"name": "accuracy", "value": 0.98, "higher_is_better": True,
                                          "mlflow_name": "accuracy"}
    candidate = run.data.candidate_metrics
    assert {m["name"]: m["value"] for m in manifest["metrics"]} == candidate
    assert {m["name"] for m in manifest["metrics"] if not m["higher_is_better"]} == {"log_loss"}
    ci = evidence["delta"]["ci"]
    assert manifest["uncertainty"]["ci95"] == [ci["lowBps"] / 100, ci["highBps"] / 100]
    assert manifest["artifacts"] == [{"name": "evidence", "path": "evidence.json", "type": "hokusai.evidence/v1",
                                      "hash": run.data.attestation["attestationHash"]}]
    assert manifest["measurement_policy"]["thresholds"] == {"delta_bps": 100, "ci_low_bps": 0, "benchmark_rows": 50}
    report = Path(run.data.mlflow_run_id and __import__("mlflow").MlflowClient(tracking_uri=store(project))
                  .download_artifacts(mlflow_run.info.run_id, "attribution_report.json")).read_bytes()
    assert manifest["attribution"] == {
        "method": "loco_shapley", "seed": 42,
        "report_hash": hashlib.sha256(json.dumps(json.loads(report), sort_keys=True,
                                                 separators=(",", ":")).encode()).hexdigest(),
        "contributors": [{"wallet": c["wallet_address"], "weight_bps": c["weight_bps"]}
                         for c in json.loads(mlflow_run.data.tags["hokusai.contributors"])]}
    assert "guardrail_results" not in manifest  # to_dict drops empty optional fields
    assert run.data.tracking["hem"] == {"hash": independent_hash(manifest), "artifact": "hem/manifest.json"}


def test_track_writes_the_same_tags_and_manifest_again(record, tmp_path):
    import mlflow

    project, run, mlflow_run, raw = record
    done = invoke("track", run.id, "--project", str(project), "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["mlflow"]["existing"] is True
    client = mlflow.MlflowClient(tracking_uri=store(project))
    again = client.get_run(mlflow_run.info.run_id)
    assert {k: v for k, v in again.data.tags.items() if k.startswith("hokusai.")} == \
        {k: v for k, v in mlflow_run.data.tags.items() if k.startswith("hokusai.")}
    assert Path(client.download_artifacts(mlflow_run.info.run_id, "hem/manifest.json", str(tmp_path))).read_bytes() == raw
    experiment = client.get_experiment_by_name("tests")
    assert len(client.search_runs([experiment.experiment_id],
                                  filter_string=f"tags.`hokusai.pathspec` = '{run.pathspec}'")) == 1
    [version] = client.search_model_versions(f"name = 'hokusai-7' and run_id = '{mlflow_run.info.run_id}'")
    assert json.loads(done.stdout)["mlflow"]["model_version"]["version"] == str(version.version)


def test_guardrails_and_decisions_as_upstream_words_them(project_run):
    """The pure functions on the run's own delta, changed to fail: each reason, each guardrail tag."""
    from pipeline.config import GuardrailSection
    from pipeline.runs import artifacts as a
    from pipeline.runs.hem import compute_hash, manifest, primary_decision, run_tags
    from pipeline.scoring.delta import GateCondition

    project, run = project_run
    delta, evidence = a.delta(run.data.delta), run.data.attestation["evidence"]
    settings = a.settings(run.data.settings)
    assert primary_decision(delta) == (True, "accepted")
    for name, reason in (("benchmark_rows", "insufficient_samples"), ("delta_bps", "delta_below_threshold"),
                         ("ci_low_bps", "not_statistically_significant")):
        failed = replace(delta, gate=[replace(g, passed=False) if g.name == name else g for g in delta.gate])
        assert primary_decision(failed) == (False, reason)
    # rows are checked first, as upstream's evaluator does
    assert primary_decision(replace(delta, gate=[replace(g, passed=False) for g in delta.gate])) == \
        (False, "insufficient_samples")
    f1 = next(m for m in delta.metrics if m.metric == "f1")
    settings = settings.model_copy(update={"evaluation": settings.evaluation.model_copy(update={"guardrails": [
        GuardrailSection(metric="f1", threshold=0.99), GuardrailSection(metric="log_loss", threshold=0.5, blocking=False)]})})
    gate = [*delta.gate,
            GateCondition("guardrail:f1", f1.candidate_bps, 9900, False, "f1 >= 0.99"),
            GateCondition("guardrail:log_loss", 814, 5000, True, "log_loss <= 0.5", False),
            GateCondition("max_drop:recall[1]", -150, -100, False, "recall of class 1 delta_bps >= -max_drop_bps")]
    guarded = replace(delta, gate=gate, passed=False)
    hem = manifest(evidence, guarded, settings, eval_id=run.pathspec, mlflow_run_id="r1", created_at="2026-01-01T00:00:00Z")
    tags = run_tags(evidence, guarded, settings, hem, baseline_run_id="r0", cost_usd_micro=1234)
    assert tags["hokusai.guardrail.f1.status"] == "fail"
    assert tags["hokusai.guardrail.f1.reason"] == f"f1 observed {f1.candidate:.4g} is below threshold 0.99"
    assert tags["hokusai.guardrail.log_loss.status"] == "pass"
    assert tags["hokusai.guardrail.log_loss.reason"].startswith("log_loss observed 0.08139 meets threshold 0.5")
    assert tags["hokusai.guardrail.log_loss.reason"].endswith("(not blocking)")
    assert tags["hokusai.guardrail.max_drop:recall.1.status"] == "fail"
    assert tags["hokusai.deltaone.accepted"] == "true"  # upstream: guardrails are apart from the decision
    assert tags["hokusai.eval.actual_cost_usd"] == "0.001234" and tags["hokusai.deltaone.baseline_run_id"] == "r0"
    assert [(g["name"], g["status"]) for g in hem["guardrail_results"]] == [
        ("f1", "fail"), ("log_loss", "pass"), ("max_drop:recall.1", "fail")]
    # created_at and mlflow_run_id are outside the hash: the same evaluation logged again hashes the same
    other = manifest(evidence, guarded, settings, eval_id=run.pathspec, mlflow_run_id="r2", created_at="2027-01-01T00:00:00Z")
    assert compute_hash(other) == compute_hash(hem) == independent_hash(hem)
    no_ci = dict(evidence, delta=dict(evidence["delta"], ci=None))
    bare = manifest(no_ci, delta, settings, eval_id="e", mlflow_run_id="r", created_at="2026-01-01T00:00:00Z")
    assert "uncertainty" not in bare and "attribution" not in bare and "sampling" not in bare["measurement_policy"]
    assert "hokusai.deltaone.ci95_low_pp" not in run_tags(no_ci, delta, settings, bare, baseline_run_id="r",
                                                          cost_usd_micro=None)


def test_the_cost_tag_is_attests_price_of_the_steps_up_to_the_evidence(project_run):
    """Priced at $3.60 per CPU-hour: ceil(CPU-seconds recorded up to generate_attestation_output x 1000)."""
    import math
    from decimal import Decimal

    from pipeline.runs import artifacts as a
    from pipeline.runs.hem import run_facts

    project, run = project_run
    settings = a.settings(run.data.settings)
    priced = settings.model_copy(update={"attestation": settings.attestation.model_copy(update={"usd_per_cpu_hour": 3.6})})
    created_at, cost = run_facts(project, run.pathspec, priced)
    cpu = run["generate_attestation_output"].task.data.task_cpu_seconds
    seconds = sum(Decimal(f"{v:.3f}") for v in cpu.values())
    assert cost == math.ceil(seconds * 1000) and cost > 0
    assert created_at == run_start(run)
