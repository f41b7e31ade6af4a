"""The S3 datastore by configuration alone, against a real S3-compatible server: moto's server
mode, started here on 127.0.0.1 and stopped after the module. A full `hokusai run` keeps its
artifacts in the bucket and only metadata in the project's `.metaflow/`; `inspect`, `runs`,
`attest` and `track` read the run back from S3. Without credentials every command refuses in
one sentence instead of hanging."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.config import load_settings
from pipeline.errors import ConfigError
from tests.conftest import ALICE, BOB, make_project

CLI = [sys.executable, "-m", "hokusai_cli"]
CONTRIBS = ["--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}"]
BUCKET = "hokusai-runs"
PREFIX = "team/metaflow"
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    """moto's S3-compatible server on a free local port, with an empty bucket; stopped after."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"moto_server did not start on {url} (exit {server.poll()})") from None
                time.sleep(0.2)
        s3_client(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def s3_client(url: str):
    import boto3

    return boto3.client("s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")


def s3_project(root: Path, endpoint: str) -> Path:
    project = make_project(root)
    with (project / "hokusai.toml").open("a") as toml:
        toml.write(f'\n[metaflow]\ndatastore = "s3"\nroot = "s3://{BUCKET}/{PREFIX}"\ns3_endpoint_url = "{endpoint}"\n')
    return project


def cli(*args: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=cwd, env={**env, "COLUMNS": "120"}, capture_output=True, text=True,
                          timeout=timeout)


def sentence(stderr: str) -> str:
    return " ".join(stderr.split())


#: A harmless decorator added to every step with `--with`, to see it reach the Runner.
WITH = "timeout:minutes=30"


@pytest.fixture(scope="module")
def s3_run(s3_endpoint, tmp_path_factory):
    """One `hokusai run --with timeout:minutes=30 --json` of a project whose datastore is the
    moto bucket."""
    project = s3_project(tmp_path_factory.mktemp("s3") / "project", s3_endpoint)
    env = {**os.environ, **DUMMY_AWS}
    done = cli("run", "--project", str(project), *CONTRIBS, "--with", WITH, "--json", cwd=project, env=env,
               timeout=840)
    assert done.returncode == 0, done.stderr[-3000:]
    return project, env, json.loads(done.stdout)


@pytest.mark.timeout(900)
def test_a_run_keeps_its_artifacts_in_the_bucket_and_only_metadata_in_the_project(s3_run, s3_endpoint):
    project, _, summary = s3_run
    run_id = summary["run_id"]
    assert summary["deltaone_bps"] == 700 and summary["gate_passed"] is True

    local = sorted(p.relative_to(project / ".metaflow").as_posix()
                   for p in (project / ".metaflow").rglob("*") if p.is_file())
    blobs = [p for p in local if "/_meta/" not in p and p != "HokusaiEvaluationFlow/latest_run"]
    assert blobs == []  # no data/ blobs, no task logs, no cards: only metadata
    assert any(p.startswith(f"HokusaiEvaluationFlow/{run_id}/train_new_model/") for p in local)
    ds_types = {json.loads(p.read_text())["value"] for p in (project / ".metaflow").rglob("sysmeta_ds-type_*.json")}
    assert ds_types == {"s3"}
    stored = "\n".join(p.read_text(errors="replace") for p in (project / ".metaflow").rglob("*") if p.is_file())
    assert summary["attestation_hash"] not in stored  # artifact values never reach the local store

    listing = s3_client(s3_endpoint).get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/")
    keys = [o["Key"][len(PREFIX) + 1:] for page in listing for o in page.get("Contents", [])]
    flow = "HokusaiEvaluationFlow"
    assert sum(k.startswith(f"{flow}/data/") for k in keys) >= 20  # the content-addressed artifact blobs
    assert sum(k.startswith(f"{flow}/tables/") and k.endswith(".arrow") for k in keys) >= 4  # the tables
    for step in ("start", "train_new_model", "compare_and_output_delta", "generate_attestation_output", "end"):
        assert any(k.startswith(f"{flow}/{run_id}/{step}/") and k.endswith("0.data.json") for k in keys), step
    [task] = {k.rsplit("/", 1)[0] + "/" for k in keys if k.startswith(f"{flow}/{run_id}/train_new_model/")}
    assert {k[len(task):] for k in keys if k.startswith(task)} >= {"0.data.json", "0.runtime_stdout.log",
                                                                    "0.runtime_stderr.log", "0.task_end"}
    assert any(k.startswith(f"mf.cards/{flow}/runs/{run_id}/steps/compare_and_output_delta/") for k in keys)


@pytest.mark.timeout(900)
def test_inspect_runs_attest_and_track_read_the_run_back_from_s3(s3_run):
    project, env, summary = s3_run
    run_id = summary["run_id"]

    inspected = cli("inspect", run_id, "--project", str(project), "--json", cwd=project, env=env)
    assert inspected.returncode == 0, inspected.stderr[-3000:]
    doc = json.loads(inspected.stdout)
    assert (doc["status"], doc["attestation_hash"]) == ("successful", summary["attestation_hash"])
    assert doc["verdict"]["deltaone_bps"] == 700
    assert [s["status"] for s in doc["steps"]] == ["successful"] * 11

    listed = cli("runs", "--project", str(project), "--json", cwd=project, env=env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    [row] = json.loads(listed.stdout)["runs"]
    assert (row["run_id"], row["status"], row["deltaone_bps"]) == (run_id, "successful", 700)

    attested = cli("attest", run_id, "--project", str(project), cwd=project, env=env)
    assert attested.returncode == 0, attested.stderr[-3000:]
    attestation = json.loads(attested.stdout)
    assert attestation["attestationHash"] == summary["attestation_hash"]
    assert attestation["typedData"]["message"]["payload"]["pipelineRunId"] == summary["pathspec"]

    tracked = cli("track", run_id, "--project", str(project), "--json", cwd=project, env=env, timeout=300)
    assert tracked.returncode == 0, tracked.stderr[-3000:]
    assert json.loads(tracked.stdout)["mlflow"]["run_id"] == summary["mlflow"]["run_id"]


@pytest.mark.timeout(900)
def test_run_with_passes_the_decorator_to_every_step(s3_run):
    """`hokusai run --with D` reaches Metaflow's `run --with`: every step carries D (read back
    from the run's graph, through get_run in a fresh process)."""
    project, env, summary = s3_run
    script = (
        "import json, sys; from pathlib import Path; from pipeline.runs.runner import get_run; "
        "run = get_run(Path(sys.argv[1]), sys.argv[2]); "
        "steps = run['start'].task['_graph_info'].data['steps']; "
        "print(json.dumps({n: [[d['name'], d['attributes'].get('minutes')] for d in s['decorators']] "
        "for n, s in steps.items()}))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(project), summary["run_id"]], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    decorators = json.loads(done.stdout)
    assert len(decorators) == 11
    assert all(["timeout", 30] in decos for decos in decorators.values()), decorators
    assert ["resources", None] in decorators["train_new_model"]


@pytest.mark.timeout(300)
def test_without_credentials_every_command_refuses_in_one_sentence_instead_of_hanging(s3_endpoint, tmp_path):
    project = s3_project(tmp_path / "nocreds", s3_endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    expected = (f"Error: No AWS credentials for the S3 datastore s3://{BUCKET}/{PREFIX}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a ~/.aws/credentials file), or set [metaflow] "
                'datastore = "local".')

    started = time.monotonic()
    done = cli("run", "--project", str(project), *CONTRIBS, cwd=project, env=env)
    assert done.returncode == 2, done.stderr[-3000:]
    assert sentence(done.stderr) == expected  # all of stderr: checked before the live table is drawn
    assert not (project / ".metaflow").exists()  # refused before any run existed
    (project / ".metaflow").mkdir()  # a store (as after an earlier run): the read path checks too
    for command in (["inspect"], ["runs"], ["attest"]):
        done = cli(*command, "--project", str(project), cwd=project, env=env)
        assert (done.returncode, sentence(done.stderr)) == (2, expected), command
    assert time.monotonic() - started < 120


def test_s3_datastore_needs_an_s3_root_and_a_url_endpoint(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_settings(tmp_path, environ={"HOKUSAI_METAFLOW__DATASTORE": "s3", "HOKUSAI_METAFLOW__ROOT": "my-bucket/x",
                                         "HOKUSAI_METAFLOW__S3_ENDPOINT_URL": "127.0.0.1:9000"})
    assert str(error.value) == (
        "Invalid configuration in the defaults + HOKUSAI_* variables: metaflow.root: an s3://bucket/prefix URL is "
        'needed when datastore = "s3"; set [metaflow] root or HOKUSAI_METAFLOW__ROOT (got \'my-bucket/x\'); '
        "metaflow.s3_endpoint_url: must be an http:// or https:// URL of the store (e.g. http://127.0.0.1:9000), "
        "or empty for AWS S3 (got '127.0.0.1:9000')."
    )
    settings = load_settings(tmp_path, environ={"HOKUSAI_METAFLOW__DATASTORE": "s3", "HOKUSAI_METAFLOW__ROOT": "s3://bkt/p",
                                                "HOKUSAI_METAFLOW__S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    assert settings.metaflow.model_dump() == {"datastore": "s3", "root": "s3://bkt/p",
                                              "s3_endpoint_url": "http://127.0.0.1:9000"}


def test_the_env_of_an_s3_project_keeps_metadata_local_and_artifacts_on_s3(tmp_path):
    from pipeline.runs.runner import metaflow_env

    project = s3_project(tmp_path / "p", "http://127.0.0.1:9")
    env = metaflow_env(project)
    assert {k: v for k, v in env.items() if k.startswith("METAFLOW_") and k != "METAFLOW_USER"} == {
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(project),
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{BUCKET}/{PREFIX}",
        "METAFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    assert metaflow_env(make_project(tmp_path / "local"))["METAFLOW_DEFAULT_DATASTORE"] == "local"


def contributed_rows(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` rows drawn from the demo's contributed file with 1 % multiplicative noise (so no
    two rows are duplicates and none is a benchmark row), written as Parquet."""
    import numpy as np
    import pandas as pd

    sample = pd.read_csv(path.parent / "contrib_alice.csv")
    rng = np.random.default_rng(seed)
    drawn = sample.iloc[rng.integers(0, len(sample), rows)].reset_index(drop=True)
    features = [c for c in drawn.columns if c != "target"]
    drawn[features] = drawn[features] * rng.uniform(0.99, 1.01, size=(rows, len(features)))
    drawn.to_parquet(path.with_name("contrib_100k.parquet"), index=False)


@pytest.mark.timeout(900)
def test_a_100k_row_run_keeps_its_tables_as_arrow_files_in_the_bucket(s3_endpoint, tmp_path):
    """Issue 22, item 6: 100k contributed rows through the S3 datastore. The tables (the cleaned
    contribution, the training table) are Arrow files under `<root>/HokusaiEvaluationFlow/tables/`
    in the bucket, named by their sha256; no pickled artifact holds a table; `inspect` reads the
    run back from them."""
    import hashlib

    import pandas as pd
    import pyarrow.ipc as ipc

    from pipeline.data.contributions import ORIGIN

    project = s3_project(tmp_path / "big", s3_endpoint)
    contributed_rows(project / "data" / "contrib_alice.csv", 100_000)
    env = {**os.environ, **DUMMY_AWS}
    done = cli("run", "--project", str(project), "--contrib", f"data/contrib_100k.parquet:{ALICE}", "--json",
               cwd=project, env=env, timeout=840)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert not list((project / ".metaflow").rglob("*.arrow"))  # nothing of the tables is local

    client = s3_client(s3_endpoint)
    listing = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/")
    objects = {o["Key"][len(PREFIX) + 1:]: o["Size"] for page in listing for o in page.get("Contents", [])}
    tables = {k: v for k, v in objects.items() if k.startswith("HokusaiEvaluationFlow/tables/")}
    shapes = {}  # rows -> column names
    for key in tables:
        body = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
        assert key == f"HokusaiEvaluationFlow/tables/{digest[:2]}/{digest}.arrow"  # content-addressed
        table = ipc.open_file(body).read_all()
        shapes[table.num_rows] = table.column_names
    features = pd.read_csv(project / "data" / "base.csv", nrows=0).columns.tolist()  # 30 features + target
    assert shapes.get(100_000) == features  # the cleaned contribution
    assert shapes.get(100_020) == [*features, ORIGIN]  # the training table: 20 base rows + 100,000 contributed
    blobs = [v for k, v in objects.items() if k.startswith("HokusaiEvaluationFlow/data/")]
    assert max(blobs) < 2_000_000  # no pickled artifact holds a table (one would be ~10 MB gzipped)

    inspected = cli("inspect", summary["run_id"], "--project", str(project), "--json", cwd=project, env=env)
    assert inspected.returncode == 0, inspected.stderr[-3000:]
    doc = json.loads(inspected.stdout)
    assert (doc["status"], doc["attestation_hash"]) == ("successful", summary["attestation_hash"])
