"""The Model Registry lineage, for real, on the project's SQLite store and on a real `mlflow
server` on 127.0.0.1: each run registers its candidate (tagged with the evidence hash, DeltaOne,
the gate and the Metaflow run), `hokusai promote` moves @production and archives the version it
replaces, refuses a run whose gate failed in one sentence (exit 2), and `[data] baseline =
"models:/hokusai-7@production"` makes the next run start from the promoted model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import make_project
from tests.runs.test_tracking import CONTRIBS, Server, free_port, hokusai

pytestmark = pytest.mark.timeout(1200)
NAME = "hokusai-7"


def sqlite(project: Path) -> str:
    return f"sqlite:///{project / '.hokusai' / 'mlflow.db'}"


def run(project: Path, uri: str) -> dict:
    done = hokusai("run", "--project", str(project), *CONTRIBS, "--json", cwd=project, uri=uri)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def promote(project: Path, uri: str, run_id: str, *extra: str):
    return hokusai("promote", run_id, "--project", str(project), *extra, cwd=project, uri=uri, timeout=200)


def from_registry(project: Path) -> None:
    """The project's next runs start from the model @production."""
    path = project / "hokusai.toml"
    path.write_text(path.read_text().replace('[data]\n', f'[data]\nbaseline = "models:/{NAME}@production"\n'))


def evidence(summary: dict, uri: str) -> dict:
    """A run's evidence as its MLflow run keeps it (read without the Metaflow Client, whose
    project is global to this process: the session's other runs are read through it)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    return json.loads(Path(client.download_artifacts(summary["mlflow"]["run_id"], "evidence.json")).read_text())


def refusal(summary: dict, uri: str) -> str:
    """The exit-2 sentence for a run whose gate failed, built here from its own evidence."""
    conditions = evidence(summary, uri)["gate"]["conditions"]
    failed = ", ".join(f"{c['name']} {c['value']} (threshold {c['threshold']})" for c in conditions if not c["passed"])
    return (f"Error: Run {summary['pathspec']} failed the DeltaOne gate on {failed}, so its model cannot be "
            "promoted to @production; only a run whose gate passed can be.")


@pytest.fixture(scope="module")
def lineage(tmp_path_factory):
    """On the SQLite store: two passing runs (the same data), each promoted in turn; then a run
    from models:/hokusai-7@production (the second's candidate, so it gains nothing and fails the
    gate), and the refused promotion of that run."""
    project = make_project(tmp_path_factory.mktemp("lineage") / "project")
    uri = sqlite(project)
    first, second = run(project, uri), run(project, uri)
    promoted = [promote(project, uri, first["run_id"], "--json"), promote(project, uri, second["run_id"])]
    again = promote(project, uri, second["run_id"])
    from_registry(project)
    third = run(project, uri)
    refused = promote(project, uri, third["run_id"])
    return {"project": project, "uri": uri, "runs": [first, second, third], "promoted": promoted, "again": again,
            "refused": refused}


def test_every_real_run_registers_its_candidate_with_its_verdict(lineage):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=lineage["uri"])
    versions = sorted(client.search_model_versions(f"name = '{NAME}'"), key=lambda v: int(v.version))
    assert [str(v.version) for v in versions] == ["1", "2", "3"]
    mlflow.set_tracking_uri(lineage["uri"])
    for summary, version in zip(lineage["runs"], versions):
        assert summary["mlflow"]["model_version"] == {"name": NAME, "version": str(version.version),
                                                      "uri": f"models:/{NAME}/{version.version}"}
        assert version.run_id == summary["mlflow"]["run_id"]
        tags = {k: v for k, v in version.tags.items() if k != "lifecycle_stage"}
        assert tags == {
            "hokusai.attestation_hash": summary["attestation_hash"],
            "hokusai.deltaone_bps": str(summary["deltaone_bps"]),
            "hokusai.gate": "passed" if summary["gate_passed"] else "failed",
            "hokusai.pathspec": summary["pathspec"],
            "hokusai_token_id": "7", "benchmark_metric": "accuracy",
            "benchmark_value": repr(next(m["candidate"] for m in summary["metrics"] if m["metric"] == "accuracy")),
            "benchmark_spec_id": "hokusai-demo-breast-cancer-v1",
        }
        # the registered version is the candidate: its model.skops is the run's stored candidate, byte for byte
        folder = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/{version.version}"))
        assert "0x" + hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest() == \
            evidence(summary, lineage["uri"])["candidate"]["sha256"]
    assert [s["deltaone_bps"] for s in lineage["runs"]] == [700, 700, 0]
    assert [s["gate_passed"] for s in lineage["runs"]] == [True, True, False]


def test_promote_moves_production_and_archives_the_version_it_replaces(lineage):
    import mlflow

    first, second, _ = lineage["runs"]
    promoted = lineage["promoted"]
    assert promoted[0].returncode == 0, promoted[0].stderr
    result = json.loads(promoted[0].stdout)
    assert result == {"pathspec": first["pathspec"], "model": NAME, "version": "1", "alias": "production",
                      "model_uri": f"models:/{NAME}@production", "previous": None, "archived": None,
                      "already": False, "tracking_uri": lineage["uri"]}
    assert (f"Run {first['pathspec']}: {NAME} version 1 is now models:/{NAME}@production, at {lineage['uri']}."
            in " ".join(promoted[0].stderr.split()))
    assert promoted[1].returncode == 0, promoted[1].stderr
    assert (f"Run {second['pathspec']}: {NAME} version 2 is now models:/{NAME}@production (version 1 left it, "
            f"tagged Archived), at {lineage['uri']}." in " ".join(promoted[1].stderr.split()))
    assert lineage["again"].returncode == 0
    assert (f"Run {second['pathspec']}: {NAME} version 2 already holds @production; nothing changed."
            in " ".join(lineage["again"].stderr.split()))
    client = mlflow.MlflowClient(tracking_uri=lineage["uri"])
    holder = client.get_model_version_by_alias(NAME, "production")
    assert str(holder.version) == "2" and holder.aliases == ["production"]
    assert holder.tags["lifecycle_stage"] == "Production"
    first_version = client.get_model_version(NAME, "1")
    assert first_version.tags["lifecycle_stage"] == "Archived" and first_version.aliases == []
    assert "lifecycle_stage" not in client.get_model_version(NAME, "3").tags


def test_the_next_run_starts_from_the_promoted_model(lineage):
    import mlflow

    _, second, third = lineage["runs"]
    started, promoted = evidence(third, lineage["uri"]), evidence(second, lineage["uri"])
    assert started["baseline"]["source"] == f"models:/{NAME}/2"  # the version @production, pinned
    assert started["baseline"]["sha256"] == promoted["candidate"]["sha256"]
    assert started["baseline"]["commitment"] == promoted["candidate"]["commitment"]
    assert started["metrics"]["baselineBps"] == promoted["metrics"]["candidateBps"]

    tags = mlflow.MlflowClient(tracking_uri=lineage["uri"]).get_run(third["mlflow"]["run_id"]).data.tags
    assert tags["hokusai.deltaone.baseline_run_id"] == second["mlflow"]["run_id"]  # the run that registered it
    assert tags["hokusai.weight_commitment.baseline"] == promoted["candidate"]["commitment"]
    assert tags["hokusai.deltaone.accepted"] == "false" and tags["hokusai.deltaone.reason"] == "delta_below_threshold"


def test_a_run_whose_gate_failed_is_not_promoted(lineage):
    refused = lineage["refused"]
    assert refused.returncode == 2, refused.stderr
    assert " ".join(refused.stderr.split()) == refusal(lineage["runs"][2], lineage["uri"])
    assert "delta_bps 0 (threshold 100)" in refused.stderr
    bad = promote(lineage["project"], lineage["uri"], lineage["runs"][0]["run_id"], "--alias", "v2")
    assert bad.returncode == 2
    assert " ".join(bad.stderr.split()) == ("Error: --alias 'v2' is not an alias MLflow accepts; use letters, digits, _ "
                                            "and - (not 'latest' nor v<number>), e.g. production.")


def test_the_lineage_on_a_real_mlflow_server(tmp_path):
    """The same lineage over HTTP: register, promote, start the next run from @production, refuse it."""
    import mlflow

    server = Server(tmp_path / "server", free_port()).start()
    try:
        project = make_project(tmp_path / "project")
        first = run(project, server.url)
        assert first["mlflow"]["model_version"]["version"] == "1"
        from_registry(project)  # nothing holds @production yet: the run stops at its baseline, exit 2
        early = hokusai("run", "--project", str(project), *CONTRIBS, cwd=project, uri=server.url)
        assert early.returncode == 2, early.stderr[-3000:]
        assert (f"Error: [data] baseline models:/{NAME}@production: no version of {NAME} holds @production in the "
                f"Model Registry at {server.url}; promote a run with `hokusai promote RUN`, or empty [data] baseline."
                ) in " ".join(early.stderr.split())
        done = promote(project, server.url, first["run_id"])
        assert done.returncode == 0, done.stderr
        assert (f"Run {first['pathspec']}: {NAME} version 1 is now models:/{NAME}@production, at {server.url}."
                in " ".join(done.stderr.split()))
        second = run(project, server.url)
        refused = promote(project, server.url, second["run_id"])
        assert refused.returncode == 2 and " ".join(refused.stderr.split()) == refusal(second, server.url)
        client = mlflow.MlflowClient(tracking_uri=server.url)
        holder = client.get_model_version_by_alias(NAME, "production")
        assert holder.run_id == first["mlflow"]["run_id"] and holder.tags["lifecycle_stage"] == "Production"
        assert holder.tags["hokusai.gate"] == "passed" and holder.tags["hokusai.deltaone_bps"] == "700"
        assert client.get_model_version(NAME, "2").tags["hokusai.gate"] == "failed"
        started = evidence(second, server.url)
        assert started["baseline"]["source"] == f"models:/{NAME}/1"
        assert started["baseline"]["sha256"] == evidence(first, server.url)["candidate"]["sha256"]
        assert client.get_run(second["mlflow"]["run_id"]).data.tags["hokusai.deltaone.baseline_run_id"] == \
            first["mlflow"]["run_id"]
        assert not (project / ".hokusai" / "mlflow.db").exists()
    finally:
        server.stop()


def test_the_lineage_ends_in_acceptance_events_that_carry_the_signed_hashes(lineage):
    """Issue 24 end to end: run -> promote -> a run from the promoted model -> `attest --format
    acceptance-event`: the promoted run's event is schema-valid and its hashes are the signed
    attestation's; the run from @production (no gain: the same data) has none, in one sentence."""
    import jsonschema

    project, uri = lineage["project"], lineage["uri"]
    second, third = lineage["runs"][1], lineage["runs"][2]
    signed = hokusai("attest", second["run_id"], "--project", str(project), cwd=project, uri=uri)
    event = hokusai("attest", second["run_id"], "--project", str(project), "--format", "acceptance-event",
                    cwd=project, uri=uri)
    assert signed.returncode == 0 and event.returncode == 0, signed.stderr + event.stderr
    doc, event = json.loads(signed.stdout), json.loads(event.stdout)
    schema = Path(__file__).resolve().parents[1] / "vectors" / "deltaone_acceptance_event.v1.schema.json"
    jsonschema.Draft202012Validator(json.loads(schema.read_text())).validate(event)
    anchors = doc["typedData"]["message"]["payload"]["anchors"]
    assert (event["attestation_hash"], event["idempotency_key"]) == (doc["attestationHash"], anchors["idempotencyKey"])
    assert (event["eval_id"], event["mlflow_run_id"], event["delta_bps"]) == (
        second["pathspec"], second["mlflow"]["run_id"], second["deltaone_bps"])

    none = hokusai("attest", third["run_id"], "--project", str(project), "--format", "acceptance-event",
                   cwd=project, uri=uri)
    conditions = evidence(third, uri)["gate"]["conditions"]
    failed = "; ".join(f"{c['name']} {c['value']} (threshold {c['threshold']})" for c in conditions if not c["passed"])
    assert (none.returncode, " ".join(none.stderr.split())) == (2, (
        f"Error: Run {third['pathspec']} failed the DeltaOne gate ({failed}), so it has no deltaone.acceptance/v1 "
        "event: Hokusai emits one only for an accepted evaluation."))
