"""Point 3: model ids beyond 2**53 (up to 2**256-1) travel as decimal strings, end to end.
(2**64+1 goes through init -> run -> publish in test_publish.py.)"""

from __future__ import annotations

import json

import pytest

from pipeline.attest.eip712 import idempotency_key
from pipeline.attest.evidence import evidence_config_hash
from pipeline.config import Settings, config_hash
from tests.attest.documents import TEST_KEY
from tests.conftest import ALICE, BOB, invoke

MAX_UINT = 2**256 - 1


@pytest.mark.parametrize("model_id", [1, 7, 2**53 - 1])
def test_config_hash_unchanged_where_it_worked(model_id: int) -> None:
    settings = Settings.model_validate({"model": {"id": model_id}})
    assert evidence_config_hash(settings) == config_hash(settings)


@pytest.mark.parametrize("model_id", [2**53, 2**64 + 1, MAX_UINT])
def test_config_hash_of_a_uint256_model_id(model_id: int) -> None:
    import hashlib

    import rfc8785

    settings = Settings.model_validate({"model": {"id": model_id}})
    relevant = settings.model_dump(mode="json", include={"model", "evaluation", "attestation"},
                                   exclude={"evaluation": {"attribution_fan_out"},
                                            "attestation": {"rpc_url", "relayer"}})  # execution only, not hashed
    relevant["model"]["id"] = str(model_id)
    assert evidence_config_hash(settings) == "0x" + hashlib.sha256(rfc8785.dumps(relevant)).hexdigest()


@pytest.mark.timeout(300)
def test_max_uint256_model_id_end_to_end(tmp_path, monkeypatch) -> None:
    project = tmp_path / "p"
    assert invoke("init", str(project)).exit_code == 0
    toml = project / "hokusai.toml"
    text = toml.read_text()
    assert text.count("\nid = 1 ") == 1 and text.count("\nusd_per_cpu_hour = 0.0 ") == 1
    toml.write_text(text.replace("\nid = 1 ", f"\nid = {MAX_UINT} ")
                        .replace("\nusd_per_cpu_hour = 0.0 ", "\nusd_per_cpu_hour = 0.10 "))
    run = invoke("run", "--project", str(project), "--json",
                 "--contrib", f"{project}/data/contrib_alice.csv:{ALICE}",
                 "--contrib", f"{project}/data/contrib_bob.parquet:{BOB}")
    assert run.exit_code == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["mlflow"]["status"] == "logged"  # MLflow takes the id too

    monkeypatch.setenv("HOKUSAI_TEST_ATTESTER_KEY", TEST_KEY)
    signed = invoke("attest", "--project", str(project), "--network", "sepolia",
                    "--sign-key-env", "HOKUSAI_TEST_ATTESTER_KEY")
    assert signed.exit_code == 0, signed.stderr
    doc = json.loads(signed.stdout)
    assert doc["evidence"]["modelId"] == str(MAX_UINT)
    message = doc["typedData"]["message"]
    assert message["modelId"] == str(MAX_UINT)  # beyond 2**53: a decimal string on the wire
    assert message["payload"]["anchors"]["idempotencyKey"] == idempotency_key(MAX_UINT, summary["attestation_hash"])
    assert doc["typedData"]["domain"]["chainId"] == 11155111
    assert signed.stderr.startswith(f"Attestation {summary['attestation_hash']} digest {doc['digest']}; "
                                    "1 signature(s)\nTarget: sepolia (chain 11155111, DeltaVerifier "
                                    "0x7C597B97d00F490a4A4731E027288F4cB680cFF3); actualCostUsdMicro "
                                    f"{message['payload']['actualCostUsdMicro']} (")
    assert signed.stderr.endswith(" CPU-s x 0.1 USD/h)\n")

    path = tmp_path / "attestation.json"
    path.write_text(signed.stdout)
    verified = invoke("verify", str(path), "--json", "--expect-signer", BOB)
    assert verified.exit_code == 0, verified.stdout
    checks = {c["name"]: c for c in json.loads(verified.stdout)["checks"]}
    assert checks["cost"]["detail"].endswith(f" x 0.1 USD/h = {message['payload']['actualCostUsdMicro']} µUSD")

    relayer = invoke("attest", "--from", str(path), "--format", "mint-request")
    assert relayer.exit_code == 0, relayer.stderr
    assert json.loads(relayer.stdout)["model_id_uint"] == str(MAX_UINT)
