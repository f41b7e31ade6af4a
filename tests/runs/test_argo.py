"""Cluster-ready: the flow compiles to an Argo Workflows template offline (Metaflow's
`argo-workflows create --only-json`) with the environment hokusai gives an S3 project, the
nine module steps are templates with the `@resources` requests, and the code package it
uploads holds every module of `pipeline/`. `--with kubernetes`/`batch` on a local datastore or
with the project's SQLite MLflow store is refused in one sentence before any run exists."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

from pipeline.runs.runner import FLOW_FILE, metaflow_env
from tests.conftest import ALICE, invoke, make_project
from tests.runs.test_s3 import BUCKET, DUMMY_AWS, PREFIX, s3_client, s3_endpoint, s3_project  # noqa: F401

MODULE_STEPS = ("load_baseline_model", "integrate_contributed_data", "train_new_model", "retrain_coalitions",
                "join_attribution", "evaluate_on_benchmark", "compare_and_output_delta", "generate_attestation_output",
                "monitor_and_log")


@pytest.fixture(scope="module")
def argo_template(s3_endpoint, tmp_path_factory):
    """`python pipeline/flow.py argo-workflows create --only-json` for an S3 project: the
    WorkflowTemplate as JSON, and the project. Rendering needs the kubernetes client (its
    models build the pod specs): a test extra."""
    pytest.importorskip("kubernetes", reason="the kubernetes client renders the Argo template: pip install -e '.[test]'")
    root = tmp_path_factory.mktemp("argo")
    project = s3_project(root / "project", s3_endpoint)
    env = {**os.environ, **DUMMY_AWS, **metaflow_env(project), "METAFLOW_KUBERNETES_NAMESPACE": "hokusai"}
    done = subprocess.run(
        [sys.executable, str(FLOW_FILE), "--no-pylint", "argo-workflows", "--name", "hokusai-eval", "create",
         "--only-json"],
        cwd=project, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout), project


@pytest.mark.timeout(300)
def test_the_argo_template_holds_the_nine_module_steps_with_their_resources(argo_template):
    template, _ = argo_template
    assert (template["kind"], template["metadata"]["name"]) == ("WorkflowTemplate", "hokusai-eval")
    assert template["metadata"]["namespace"] == "hokusai"
    containers = {t["name"]: t["container"] for t in template["spec"]["templates"] if "container" in t}
    for step in MODULE_STEPS:
        container = containers[step.replace("_", "-")]
        assert f" step {step} " in container["command"][-1]  # the pod runs exactly this step
        assert "--datastore=s3" in container["command"][-1]
    # @resources(cpu=2, memory=8192) on the step that makes every fit (candidate and attribution)
    requests = containers["train-new-model"]["resources"]["requests"]
    assert (float(requests["cpu"]), float(requests["memory"].removesuffix("M"))) == (2, 8192)  # "2.0", "8192.0M"
    for step in ("evaluate-on-benchmark", "compare-and-output-delta"):  # Metaflow's default
        assert float(containers[step]["resources"]["requests"]["cpu"]) == 1
    env = {e["name"]: e.get("value") for e in containers["train-new-model"]["env"]}
    assert env["METAFLOW_DATASTORE_SYSROOT_S3"] == f"s3://{BUCKET}/{PREFIX}"


@pytest.mark.timeout(300)
def test_the_code_package_carries_every_pipeline_module(argo_template, s3_endpoint):
    """Metaflow packages the flow file's folder (`pipeline/`), so the subpackages travel, but
    at the archive root (`data/inputs.py`, not `pipeline/data/inputs.py`): on the cluster,
    `import pipeline...` resolves only when the image has hokusai-pipeline installed."""
    template, _ = argo_template
    [url] = set(re.findall(rf"s3://{BUCKET}/{PREFIX}/HokusaiEvaluationFlow/data/[0-9a-f]{{2}}/[0-9a-f]{{40}}",
                           json.dumps(template)))
    key = url.removeprefix(f"s3://{BUCKET}/")
    package = s3_client(s3_endpoint).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    names = set(tarfile.open(fileobj=io.BytesIO(package)).getnames())
    pipeline_dir = FLOW_FILE.parent
    modules = {p.relative_to(pipeline_dir).as_posix() for p in pipeline_dir.rglob("*.py") if "__pycache__" not in p.parts}
    assert {"flow.py", "data/inputs.py", "scoring/delta.py", "runs/tracking.py", "attest/evidence.py"} <= modules
    assert modules <= names
    assert not any(n.startswith(("fixtures/", "schemas/")) for n in names)  # data files do not travel


def test_with_kubernetes_on_the_local_datastore_is_refused_before_any_run(tmp_path):
    project = make_project(tmp_path / "local")
    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}",
                    "--with", "kubernetes:cpu=4")
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()).endswith(
        'Error: --with kubernetes runs steps off this machine, which needs the S3 datastore: set [metaflow] '
        'datastore = "s3" and root = "s3://bucket/prefix" in hokusai.toml.'
    )
    assert not (project / ".metaflow").exists()


def test_with_kubernetes_needs_a_tracking_server_not_the_project_sqlite_file(tmp_path):
    project = s3_project(tmp_path / "s3", "http://127.0.0.1:9")
    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}",
                    "--with", "batch")
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()).endswith(
        "Error: --with batch runs monitor_and_log off this machine, where the project's MLflow store is out of "
        "reach: set [tracking] mlflow_uri to a tracking server (http://host:5000) in hokusai.toml."
    )
    assert not (project / ".metaflow").exists()
