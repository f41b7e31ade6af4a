"""A stored artifact damaged for real (its blob truncated in the datastore, as a crashed copy or
a bad disk leaves it): every command that reads the run says which run, step and artifact, in
one sentence, exits 3, and `inspect`/`runs` still show what they can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import invoke


def sentence(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def damaged_project(tmp_path) -> tuple[Path, str, str]:
    """A dry-run of its own (a copied project would not do: Metaflow records each artifact's
    datastore path, so a copy reads the original's blobs) whose `attestation` blob is then cut
    to half its bytes. The run's own process caches blobs elsewhere, so this process's Metaflow
    client cache holds no copy of it."""
    from pipeline.runs.runner import get_run

    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "COLUMNS": "120", "METAFLOW_CLIENT_CACHE_PATH": str(tmp_path / "client-cache")}
    done = subprocess.run([sys.executable, "-m", "hokusai_cli", "dry-run", "--project", str(project)], cwd=project,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = get_run(project)
    sha = run["generate_attestation_output"].task["attestation"]._object["sha"]  # metadata only: no blob read
    blob = project / ".metaflow" / "HokusaiEvaluationFlow" / "data" / sha[:2] / sha
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    return project, run.pathspec, sha


def expected(pathspec: str, sha: str) -> str:
    return (f"Error: Run {pathspec}: the artifact 'attestation' of step generate_attestation_output is damaged in the "
            f"datastore (Could not unpack artifact 'HokusaiEvaluationFlow/data/{sha[:2]}/{sha}': Compressed file ended "
            "before the end-of-stream marker was reached); restore the datastore from a backup, or run the "
            "evaluation again.")


@pytest.mark.timeout(900)
def test_every_reader_names_the_damaged_artifact_and_exits_3(damaged_project):
    project, pathspec, sha = damaged_project
    run_id = pathspec.split("/")[1]

    shown = invoke("inspect", run_id, "--project", str(project))
    assert shown.exit_code == 3
    report_text, _, error = sentence(shown.stderr).partition("Error: ")  # the report is drawn on stderr
    assert "Error: " + error == expected(pathspec, sha)
    # what still reads is shown: the verdict, the benchmark, the models; not the attestation
    assert "700 bps" in report_text and "Benchmark: benchmark.csv, 200 rows" in report_text
    assert "Attestation hash" not in report_text
    assert "Traceback" not in shown.stdout + shown.stderr

    as_json = invoke("inspect", run_id, "--project", str(project), "--json")
    assert as_json.exit_code == 3
    report = json.loads(as_json.stdout)
    assert [sentence(s) for s in report["damaged"]] == [expected(pathspec, sha).removeprefix("Error: ")]
    assert report["attestation_hash"] is None
    assert report["verdict"]["deltaone_bps"] == 700

    listed = invoke("runs", "--project", str(project), "--json")
    assert listed.exit_code == 0, listed.stderr  # `runs` reads the delta and tracking only: intact
    assert [r["deltaone_bps"] for r in json.loads(listed.stdout)["runs"]] == [700]

    for command in (("attest", run_id, "--force", "--network", "local"), ("track", run_id),
                    ("attest", run_id, "--format", "attribution-report")):
        refused = invoke(*command, "--project", str(project))
        assert refused.exit_code == 3, (command, refused.stdout, refused.stderr)
        assert sentence(refused.stderr) == expected(pathspec, sha), command
        assert "Traceback" not in refused.stdout + refused.stderr


@pytest.mark.timeout(900)
def test_a_damaged_table_file_is_named_by_the_artifact_that_references_it(tmp_path):
    """Tables are Arrow files the artifacts reference (`pipeline.runs.table_files`): a table file
    cut in half is named like a damaged blob, with the file and what is wrong with it."""
    from pipeline.runs.runner import get_run
    from pipeline.runs.table_files import refs

    project = tmp_path / "project"
    project.mkdir()
    done = subprocess.run([sys.executable, "-m", "hokusai_cli", "dry-run", "--project", str(project)], cwd=project,
                          env={**os.environ, "COLUMNS": "120"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = get_run(project)
    [ref] = refs(run["integrate_contributed_data"].task["training_data"].data)
    table = project / ".metaflow" / ref["path"]
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])

    refused = invoke("track", run.id, "--project", str(project))
    assert refused.exit_code == 3, refused.stdout
    assert sentence(refused.stderr) == (
        f"Error: Run {run.pathspec}: the artifact 'training_data' of step integrate_contributed_data is damaged in the "
        f"datastore (the table file {project / '.metaflow'}/{ref['path']} does not hold the bytes its sha256 names (it "
        "was changed or cut)); restore the datastore from a backup, or run the evaluation again.")
    shown = invoke("inspect", run.id, "--project", str(project), "--json")  # reads no table: intact
    assert shown.exit_code == 0 and json.loads(shown.stdout)["verdict"]["deltaone_bps"] == 700
