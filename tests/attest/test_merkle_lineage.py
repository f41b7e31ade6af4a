"""`[attestation] commitment = "mlflow-merkle-v1"` (issue 24, item 6), for real: the evidence
commits each model as upstream's `sha256-merkle-v1` root of its MLflow folder, the folder the
Model Registry keeps (downloaded, it gives the evidence's root), and a run from
`models:/hokusai-7@production` signs the promoted run's candidate root as its baselineCommitment:
the lineage head. The default (skops-sha256) leaves the config hash and the evidence as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline.attest.commitment import folder_commitment, logged_folder_commitment
from tests.conftest import BOB, invoke, make_project
from tests.runs.test_registry import NAME, evidence, from_registry, promote, run, sqlite
from tests.runs.test_tracking import hokusai

SCHEMA = Path(__file__).resolve().parents[2] / "pipeline" / "schemas" / "evidence.schema.json"
# Public Hardhat test key #2 (no value on any network); its address is BOB.
TEST_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
#: What hokusai logs for a model, MLmodel aside (MLflow adds registered_model_meta to a registered version).
COMMITTED = ["conda.yaml", "model.skops", "python_env.yaml", "requirements.txt"]


def downloaded(uri: str, artifact_uri: str, dst: Path) -> Path:
    import mlflow

    mlflow.set_tracking_uri(uri)
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(dst)))


@pytest.fixture(scope="module")
def merkle_lineage(tmp_path_factory):
    """A project committing with mlflow-merkle-v1: a run (baseline trained from the base data),
    promoted to @production; then a run from models:/hokusai-7@production; run 1 attested and
    signed."""
    root = tmp_path_factory.mktemp("merkle")
    project = make_project(root / "project")
    (project / "hokusai.toml").write_text((project / "hokusai.toml").read_text()
                                          + '\n[attestation]\ncommitment = "mlflow-merkle-v1"\n')
    uri = sqlite(project)
    first = run(project, uri)
    promoted = promote(project, uri, first["run_id"])
    assert promoted.returncode == 0, promoted.stderr
    from_registry(project)
    second = run(project, uri)
    key = root / "attester.key"
    key.write_text(TEST_KEY + "\n")
    signed = hokusai("attest", first["run_id"], "--project", str(project), "--sign-key-file", str(key),
                     "--allow-zero-cost", cwd=project, uri=uri)
    assert signed.returncode == 0, signed.stderr
    (root / "attestation.json").write_text(signed.stdout)
    return {"root": root, "project": project, "uri": uri, "runs": [first, second],
            "evidence": [evidence(first, uri), evidence(second, uri)], "attestation": root / "attestation.json"}


@pytest.mark.timeout(1200)
def test_the_candidate_is_committed_as_its_registered_mlflow_folder(merkle_lineage):
    """Download the candidate's registered version: its folder's root is the evidence's commitment."""
    import jsonschema

    uri, first = merkle_lineage["uri"], merkle_lineage["evidence"][0]
    folder = downloaded(uri, f"models:/{NAME}/1", merkle_lineage["root"] / "v1")
    found = folder_commitment(folder)
    assert first["commitment"] == "mlflow-merkle-v1"
    assert first["candidate"]["commitment"] == found.root
    assert [f[0] for f in found.files] == COMMITTED
    assert found.excluded == ("MLmodel", "registered_model_meta")
    leaves = dict((name, digest) for name, digest, _ in found.files)
    assert "0x" + leaves["model.skops"] == first["candidate"]["sha256"]  # the stored skops bytes are one leaf
    assert first["candidate"]["commitment"] != first["candidate"]["sha256"]
    jsonschema.validate(first, json.loads(SCHEMA.read_text()))
    rfc = __import__("rfc8785").dumps(first)
    assert merkle_lineage["runs"][0]["attestation_hash"] == "0x" + hashlib.sha256(rfc).hexdigest()


@pytest.mark.timeout(1200)
def test_a_trained_baseline_is_committed_as_the_folder_logged_for_it(merkle_lineage):
    """The baseline trained from base data: the root of the `baseline` model the run logged, which
    is also what `logged_folder_commitment` writes from its stored bytes."""
    import mlflow

    uri, summary, first = merkle_lineage["uri"], merkle_lineage["runs"][0], merkle_lineage["evidence"][0]
    assert first["baseline"]["source"] == "trained:logistic_regression"
    client = mlflow.MlflowClient(tracking_uri=uri)
    run_info = client.get_run(summary["mlflow"]["run_id"]).info
    [model] = client.search_logged_models([run_info.experiment_id], filter_string=(
        f"source_run_id = '{summary['mlflow']['run_id']}' AND name = 'baseline'"))
    folder = downloaded(uri, f"models:/{model.model_id}", merkle_lineage["root"] / "baseline")
    assert folder_commitment(folder).root == first["baseline"]["commitment"]
    stored = Path(client.download_artifacts(summary["mlflow"]["run_id"], "baseline.skops",
                                            str(merkle_lineage["root"]))).read_bytes()
    from pipeline.modelling.models import stored_types

    assert logged_folder_commitment(stored, stored_types(stored)) == first["baseline"]["commitment"]


@pytest.mark.timeout(1200)
def test_a_run_from_the_registry_commits_the_lineage_head_as_its_baseline(merkle_lineage):
    """The next run's baseline is @production (version 1): its commitment is version 1's folder root,
    i.e. the promoted run's candidate commitment, in the evidence, the run tags and the signed message."""
    import mlflow

    uri = merkle_lineage["uri"]
    first, second = merkle_lineage["evidence"]
    assert second["baseline"]["source"] == f"models:/{NAME}/1"
    assert second["baseline"]["commitment"] == first["candidate"]["commitment"]
    assert second["baseline"]["commitment"] == folder_commitment(merkle_lineage["root"] / "v1").root
    tags = mlflow.MlflowClient(tracking_uri=uri).get_run(merkle_lineage["runs"][1]["mlflow"]["run_id"]).data.tags
    assert tags["hokusai.weight_commitment.baseline"] == first["candidate"]["commitment"]
    assert tags["hokusai.weight_commitment.candidate"] == second["candidate"]["commitment"]
    attested = hokusai("attest", merkle_lineage["runs"][1]["run_id"], "--project", str(merkle_lineage["project"]),
                       cwd=merkle_lineage["project"], uri=uri)
    assert attested.returncode == 0, attested.stderr
    payload = json.loads(attested.stdout)["typedData"]["message"]["payload"]
    assert (payload["baselineCommitment"], payload["candidateCommitment"]) == (
        first["candidate"]["commitment"], second["candidate"]["commitment"])


@pytest.mark.timeout(1200)
def test_merkle_evidence_signs_and_verifies(merkle_lineage):
    doc = json.loads(merkle_lineage["attestation"].read_text())
    first = merkle_lineage["evidence"][0]
    assert doc["evidence"] == first
    payload = doc["typedData"]["message"]["payload"]
    assert (payload["baselineCommitment"], payload["candidateCommitment"]) == (
        first["baseline"]["commitment"], first["candidate"]["commitment"])
    check = invoke("verify", str(merkle_lineage["attestation"]), "--expect-signer", BOB)
    assert check.exit_code == 0, check.stderr
    assert "All checks hold." in check.stderr


def test_the_default_leaves_the_config_hash_as_it_was():
    """skops-sha256 is left out of the settings' dump (so the config hash, and every pinned evidence
    hash, stands, and so does a run's settings artifact); the Merkle scheme is in it, changes the
    config hash, and survives the artifact round trip between steps."""
    from pipeline.config import Settings, config_hash, evaluation_settings
    from pipeline.runs.artifacts import plain, settings

    default, merkle = Settings(), Settings(attestation={"commitment": "mlflow-merkle-v1"})
    assert "commitment" not in evaluation_settings(default)["attestation"]
    assert evaluation_settings(merkle)["attestation"]["commitment"] == "mlflow-merkle-v1"
    assert {k: v for k, v in evaluation_settings(merkle)["attestation"].items() if k != "commitment"} == \
        evaluation_settings(default)["attestation"]
    assert config_hash(default) != config_hash(merkle)
    assert settings(plain(merkle)).attestation.commitment == "mlflow-merkle-v1"
    assert settings(plain(default)).attestation.commitment == "skops-sha256"


def test_a_bad_commitment_is_one_sentence(tmp_path):
    from pipeline.config import load_settings
    from pipeline.errors import ConfigError

    (tmp_path / "hokusai.toml").write_text('[attestation]\ncommitment = "sha256-merkle-v1"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert str(caught.value) == ("Invalid configuration in hokusai.toml: attestation.commitment: input should be "
                                 "'skops-sha256' or 'mlflow-merkle-v1' (got 'sha256-merkle-v1').")
    assert caught.value.exit_code == 2
