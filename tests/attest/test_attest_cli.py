"""`hokusai attest` / `hokusai verify` on real dry-runs: content, determinism, signing, tampering."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pipeline.attest.eip712 import idempotency_key, keccak_text
from tests.conftest import ALICE, BOB, invoke

pytestmark = pytest.mark.timeout(300)
SCHEMA = Path(__file__).resolve().parents[2] / "pipeline" / "schemas" / "evidence.schema.json"
# Public Hardhat test key #2 (no value on any network); its address is BOB.
TEST_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
DEADLINE = "4102444800"


def attest(demo_runs, *extra: str, which: str = "first"):
    return invoke("attest", demo_runs[which]["run_id"], "--project", str(demo_runs["project"]),
                  "--deadline", DEADLINE, *extra)


@pytest.fixture(scope="module")
def signed(demo_runs, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("keys") / "attester.key"
    key_file.write_text(TEST_KEY + "\n")
    result = attest(demo_runs, "--sign-key-file", str(key_file), "--force", "--allow-zero-cost")
    assert result.exit_code == 0, result.stderr
    path = key_file.parent / "attestation.json"
    path.write_text(result.stdout)
    return path, json.loads(result.stdout), result


def test_unsigned_attestation_content(demo_runs):
    result = attest(demo_runs)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # stdout holds only the JSON
    summary = demo_runs["first"]
    payload = doc["typedData"]["message"]["payload"]
    assert doc["schema"] == "hokusai.attestation/v1"
    assert doc["attestationHash"] == summary["attestation_hash"]
    assert payload["pipelineRunId"] == summary["pathspec"]
    assert (payload["baselineScoreBps"], payload["candidateScoreBps"], payload["totalSamples"]) == (9100, 9800, 200)
    assert payload["deadline"] == int(DEADLINE)
    anchors = payload["anchors"]
    assert anchors["benchmarkSpecHash"] == keccak_text("hokusai-demo-breast-cancer-v1")
    assert anchors["idempotencyKey"] == idempotency_key(1, doc["attestationHash"])
    assert anchors["datasetHash"] == doc["evidence"]["benchmark"]["sha256"]
    assert (anchors["metricName"], anchors["metricFamily"]) == ("accuracy", "proportion")
    assert doc["typedData"]["message"]["contributors"] == [  # sorted by lower-case wallet: Bob's 0x3c44… first
        {"walletAddress": BOB, "weight": 6071}, {"walletAddress": ALICE, "weight": 3929}]
    assert doc["typedData"]["domain"] == {"name": "HokusaiDeltaVerifier", "version": "1", "chainId": 31337,
                                          "verifyingContract": "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"}
    assert doc["signatures"] == [] and doc["signers"] == []
    assert "[dry-run]" in result.stderr


def test_evidence_matches_published_schema(demo_runs):
    import jsonschema

    doc = json.loads(attest(demo_runs).stdout)
    jsonschema.validate(doc["evidence"], json.loads(SCHEMA.read_text()))
    broken = copy.deepcopy(doc["evidence"])
    broken["baseline"]["source"] = "file:/home/me/model.skops"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text()))


def test_two_dry_runs_same_hash_and_idempotency_key(demo_runs):
    first = json.loads(attest(demo_runs).stdout)
    second = json.loads(attest(demo_runs, which="second").stdout)
    a1, a2 = (d["typedData"]["message"]["payload"]["anchors"] for d in (first, second))
    assert first["attestationHash"] == second["attestationHash"]
    assert a1["idempotencyKey"] == a2["idempotencyKey"]
    assert first["digest"] != second["digest"]  # the run id differs, and it is signed


def test_signing_a_dry_run_needs_force(demo_runs, monkeypatch):
    monkeypatch.delenv("HOKUSAI_TEST_KEY", raising=False)
    result = attest(demo_runs, "--sign-key-env", "HOKUSAI_TEST_KEY")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --sign-key-env HOKUSAI_TEST_KEY: the variable is not set or empty")
    monkeypatch.setenv("HOKUSAI_TEST_KEY", TEST_KEY)  # a valid key: the run, not the key, is refused
    result = invoke("attest", demo_runs["first"]["run_id"], "--project", str(demo_runs["project"]),
                    "--sign-key-env", "HOKUSAI_TEST_KEY")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: Run {demo_runs['first']['pathspec']} is a dry-run and cannot be signed; attest a real `hokusai "
        "run`, or pass --force to sign it anyway (its evidence stays marked dryRun).\n")
    assert result.stdout == ""


def test_signed_attestation_verifies(signed):
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    path, doc, result = signed
    assert TEST_KEY[2:] not in result.stdout + result.stderr
    assert doc["signers"] == [BOB]
    recovered = Account.recover_message(encode_typed_data(full_message=doc["typedData"]), signature=doc["signatures"][0])
    assert recovered == BOB
    check = invoke("verify", str(path), "--expect-signer", BOB, "--allow-dry-run")  # a dry-run signed with --force
    assert check.exit_code == 0, check.stderr
    assert "All checks hold." in check.stderr
    verdict = json.loads(invoke("verify", str(path), "--json", "--allow-dry-run").stdout)
    assert verdict["ok"] is True
    assert [c["name"] for c in verdict["checks"]] == [
        "schema", "evidence_hash", "anchor_hash", "idempotency_key", "digest", "evidence_message", "dry_run",
        "gate", "contract_rules", "deadline", "min_improvement", "budget", "cost", "signature[0]", "signature_order",
        "expected_signers"]


@pytest.mark.parametrize(
    ("mutate", "failing"),
    [
        (lambda d: d["evidence"]["delta"].__setitem__("deltaOneBps", 701), {"evidence_hash"}),
        (lambda d: d["evidence"]["metrics"]["candidateBps"].__setitem__("accuracy", 9900), {"evidence_hash"}),
        (lambda d: d["typedData"]["message"]["payload"].__setitem__("candidateScoreBps", 9900),
         {"digest", "evidence_message", "signature[0]"}),
        (lambda d: d["typedData"]["message"]["contributors"][0].__setitem__("weight", 5159),
         {"digest", "evidence_message", "contract_rules", "signature[0]"}),
        (lambda d: d.__setitem__("signatures", [d["signatures"][0][:-4] + "ab1c"]), {"signature[0]"}),
    ],
    ids=["evidence-delta", "evidence-metric", "message-score", "message-weight", "signature-byte"],
)
def test_tampering_fails_verify(signed, tmp_path, mutate, failing):
    _, doc, _ = signed
    tampered = copy.deepcopy(doc)
    mutate(tampered)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    result = invoke("verify", str(path), "--json")
    assert result.exit_code == 1
    failed = {c["name"] for c in json.loads(result.stdout)["checks"] if not c["ok"]}
    assert failing <= failed, failed
    assert "check(s) failed." in result.stderr


def test_expect_signer_missing(signed):
    path, _, _ = signed
    result = invoke("verify", str(path), "--json", "--expect-signer", ALICE)
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert not checks["expected_signers"]["ok"] and ALICE in checks["expected_signers"]["detail"]


def test_attach_external_signature(demo_runs, tmp_path):
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(attest(demo_runs).stdout)
    doc = json.loads(unsigned.read_text())
    external = Account.sign_message(encode_typed_data(full_message=doc["typedData"]), TEST_KEY).signature.to_0x_hex()
    result = invoke("attest", "--from", str(unsigned), "--attach", external, "--force", "--allow-zero-cost")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["signers"] == [BOB]
    bad = invoke("attest", "--from", str(unsigned), "--attach", "0x1234", "--force", "--allow-zero-cost")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: ")


def test_verify_unreadable_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    result = invoke("verify", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: not valid JSON (")


def test_attest_in_a_folder_without_runs(tmp_path):
    result = invoke("attest", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: No runs in {tmp_path}; start one with `hokusai run --contrib FILE` "
                             "or `hokusai dry-run`.\n")


def test_attest_unknown_run_and_other_flow(demo_runs):
    project = str(demo_runs["project"])
    result = invoke("attest", "999", "--project", project)
    assert result.exit_code == 2
    assert result.stderr == f"Error: Run 999 not found in {project}; list runs with `hokusai runs`.\n"
    result = invoke("attest", "OtherFlow/1", "--project", project)
    assert result.exit_code == 2
    assert "Error: OtherFlow/1 is a run of OtherFlow, not of HokusaiEvaluationFlow; pass a hokusai run id." in result.stderr


def test_unattributed_rows_cannot_be_attested(demo_runs):
    from pipeline.attest.evidence import mint_message
    from pipeline.errors import AttestationError

    doc = json.loads(attest(demo_runs).stdout)
    evidence = copy.deepcopy(doc["evidence"])
    evidence["contributors"][1]["wallet"] = None
    with pytest.raises(AttestationError, match=r"^169 contributed rows of run x carry no wallet, so the run cannot be "
                                               r"attested; run again with --contrib FILE:WALLET\.$"):
        mint_message(evidence, doc["attestationHash"], pipeline_run_id="x", deadline=1,
                     max_cost_usd_micro=0, actual_cost_usd_micro=0)


@pytest.mark.timeout(600)
def test_a_run_where_nobody_improves_pays_nobody_and_cannot_be_attested(tmp_path):
    """Two contributors with shuffled labels (real run): the old fallback paid them by kept
    rows; now both get 0 bps, and attest refuses even with --force."""
    import numpy as np
    import pandas as pd

    from tests.conftest import make_project

    project = make_project(tmp_path / "p")
    for name, seed in (("contrib_alice.csv", 5), ("contrib_bob.parquet", 6)):
        path = project / "data" / name
        frame = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
        frame["target"] = np.random.default_rng(seed).permutation(frame["target"].to_numpy())
        frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path, index=False)
    done = invoke("run", "--project", str(project), "--json",
                  "--contrib", f"{project}/data/contrib_alice.csv:{ALICE}",
                  "--contrib", f"{project}/data/contrib_bob.parquet:{BOB}")
    assert done.exit_code == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["gate_passed"] is False and summary["deltaone_bps"] < 0
    assert [c["weight_bps"] for c in summary["contributors"]] == [0, 0]
    assert all(float(c["value_bps"]) <= 0 for c in summary["contributors"])
    assert summary["weight_method"] == "exact_shapley+none_improved"
    assert summary["notes"][0] == ("No contributor improved accuracy (every attributed value is 0 bps or less): "
                                   "nobody is paid (every weight is 0) and the run cannot be attested.")
    key_file = tmp_path / "attester.key"
    key_file.write_text(TEST_KEY + "\n")
    refused = invoke("attest", summary["run_id"], "--project", str(project), "--deadline", DEADLINE, "--force",
                     "--allow-zero-cost", "--sign-key-file", str(key_file))
    assert refused.exit_code == 2 and refused.stdout == ""
    assert " ".join(refused.stderr.split()) == (
        f"Error: No contributor of run {summary['pathspec']} improved accuracy (every weightBps is 0: see "
        "evidence.contributors' valueBps and "
        "delta.weightMethod), so there is nothing to pay and the run cannot be attested, even with --force: "
        "DeltaVerifier needs weights summing to 10000 over contributors who improved the model.")
