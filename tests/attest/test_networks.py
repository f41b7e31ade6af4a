"""Network presets, the contract's threshold and budget, and deadlines (points 1, 2 and 4)."""

from __future__ import annotations

import copy
import json

import pytest

from pipeline.attest import eip712
from pipeline.attest.evidence import build_attestation, sign_attestation, verify_document
from pipeline.attest.networks import (
    NETWORKS, Target, budget_check, deadline_check, resolve_target, target_of, threshold_check,
)
from pipeline.config import AttestationSection, Settings, load_settings
from pipeline.errors import AttestationError, ConfigError
from tests.attest.documents import EVIDENCE, TEST_KEY, VERIFYING_CONTRACT, write
from tests.conftest import BOB, invoke

SEPOLIA = "0x7C597B97d00F490a4A4731E027288F4cB680cFF3"
MAINNET = "0xE9D40B96703391464bc6b0ea0b4F0404399AaCE7"
NOW = 1_800_000_000  # 2027-01-15
KEY = [(eip712.parse_private_key(TEST_KEY), "--sign-key-env K")]


def small_gain_doc(gain_bps: int = 50, *, chain_id: int = 31337, contract: str = VERIFYING_CONTRACT,
                   actual: int = 45, max_cost: int = 0) -> dict:
    """A non-dry run whose project gate (1 bps) passed with a gain of `gain_bps`."""
    evidence = copy.deepcopy(EVIDENCE)
    evidence["metrics"]["candidateBps"]["accuracy"] = 9100 + gain_bps
    evidence["delta"]["deltaOneBps"] = gain_bps
    evidence["gate"] = {"passed": True, "conditions": [
        {"name": "delta_bps", "value": gain_bps, "threshold": 1, "passed": True}]}
    return build_attestation(evidence, eip712.attestation_hash(evidence), pipeline_run_id="HokusaiEvaluationFlow/5",
                             chain_id=chain_id, verifying_contract=contract, deadline=4102444800,
                             actual_cost_usd_micro=actual, max_cost_usd_micro=max_cost)


# --- presets and precedence (point 4) -------------------------------------------------------


def test_presets_are_the_deployment_records() -> None:
    assert {n: (p.chain_id, p.verifying_contract, p.min_improvement_bps) for n, p in NETWORKS.items()} == {
        "local": (31337, "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9", 100),
        "sepolia": (11155111, SEPOLIA, 100),
        "mainnet": (1, MAINNET, 100),
    }


def test_precedence_cli_beats_file_and_explicit_beats_network() -> None:
    default = AttestationSection()
    assert resolve_target(default) == Target("local", 31337, VERIFYING_CONTRACT)
    assert resolve_target(AttestationSection(network="sepolia")) == Target("sepolia", 11155111, SEPOLIA)
    assert resolve_target(default, network_name="mainnet") == Target("mainnet", 1, MAINNET)
    # an explicit chain id in the file beats the file's network, and makes the pair custom
    assert resolve_target(AttestationSection(network="sepolia", chain_id=5)) == Target(None, 5, SEPOLIA)
    # --network beats both the file's network and its explicit chain id / contract
    file = AttestationSection(network="local", chain_id=5, verifying_contract="0x" + "12" * 20)
    assert resolve_target(file, network_name="sepolia") == Target("sepolia", 11155111, SEPOLIA)
    # --chain-id / --verifying-contract beat --network
    assert resolve_target(default, network_name="sepolia", chain_id=31337,
                          verifying_contract=VERIFYING_CONTRACT) == Target("local", 31337, VERIFYING_CONTRACT)


def test_target_names_a_preset_or_a_custom_network() -> None:
    assert target_of(11155111, SEPOLIA.lower()).describe() == f"sepolia (chain 11155111, DeltaVerifier {SEPOLIA})"
    assert target_of(1, SEPOLIA).describe() == f"a custom network (chain 1, DeltaVerifier {SEPOLIA})"


def test_unknown_network_sentence() -> None:
    with pytest.raises(AttestationError) as err:
        resolve_target(AttestationSection(), network_name="goerli")
    assert str(err.value) == ("--network 'goerli' is not a known network; use local, sepolia, mainnet, or give "
                              "--chain-id and --verifying-contract.")


def test_config_network_from_file_and_env(tmp_path) -> None:
    (tmp_path / "hokusai.toml").write_text('[attestation]\nnetwork = "sepolia"\n')
    settings = load_settings(tmp_path, environ={})
    assert resolve_target(settings.attestation) == Target("sepolia", 11155111, SEPOLIA)
    settings = load_settings(tmp_path, environ={"HOKUSAI_ATTESTATION__NETWORK": "mainnet"})
    assert resolve_target(settings.attestation).network == "mainnet"
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, environ={"HOKUSAI_ATTESTATION__NETWORK": "goerli"})
    assert str(err.value) == ("Invalid configuration in hokusai.toml + HOKUSAI_* variables: attestation.network: "
                              "input should be 'local', 'sepolia' or 'mainnet' (got 'goerli').")


# --- the gate and the contract's threshold (point 1) ----------------------------------------


def test_default_gate_is_the_deployed_threshold() -> None:
    assert Settings().evaluation.min_improvement_bps == 100


def test_gain_below_threshold_is_not_signed_without_force() -> None:
    doc = small_gain_doc(50, chain_id=11155111, contract=SEPOLIA)
    with pytest.raises(AttestationError) as err:
        sign_attestation(doc, KEY, [], now=NOW)
    assert str(err.value) == (
        f"Run HokusaiEvaluationFlow/5: The gain is 50 bps, below the minImprovementBps of 100 on sepolia (chain 11155111, DeltaVerifier "
        f"{SEPOLIA}), which would accept it with reward 0 and burn its idempotency key; pass --force to sign it "
        "anyway.")
    forced = sign_attestation(doc, KEY, [], now=NOW, force=True)
    assert forced["signers"] == [BOB]
    checks = {c.name: c for c in verify_document(forced, now=NOW)}
    assert not checks["min_improvement"].ok
    assert checks["min_improvement"].detail == (
        f"gain 50 bps < minImprovementBps 100 on sepolia (chain 11155111, DeltaVerifier {SEPOLIA}): accepted with "
        "reward 0, idempotency key burned")
    assert [c.name for c in verify_document(forced, now=NOW) if not c.ok] == ["min_improvement"]


def test_gain_at_threshold_signs() -> None:
    doc = sign_attestation(small_gain_doc(100), KEY, [], now=NOW)
    ok, detail = threshold_check(doc["typedData"])
    assert ok and detail == (f"gain 100 bps >= minImprovementBps 100 on local (chain 31337, DeltaVerifier "
                             f"{VERIFYING_CONTRACT})")


def test_cost_over_budget_is_not_signed_without_force() -> None:
    doc = small_gain_doc(700, actual=5_000_001, max_cost=5_000_000)
    with pytest.raises(AttestationError) as err:
        sign_attestation(doc, KEY, [], now=NOW)
    assert str(err.value) == (
        "Run HokusaiEvaluationFlow/5: actualCostUsdMicro 5000001 is over maxCostUsdMicro 5000000, so the contract would pay nothing and burn "
        "the idempotency key; raise [attestation] max_cost_usd_micro and run again, or pass --force to sign it "
        "anyway.")
    assert budget_check(doc["typedData"]) == (
        False, "actualCostUsdMicro 5000001 > maxCostUsdMicro 5000000: accepted with reward 0, idempotency key burned")
    assert budget_check(small_gain_doc(700, actual=10, max_cost=0)["typedData"]) == (
        True, "actualCostUsdMicro 10, no budget (maxCostUsdMicro 0)")


# --- deadlines (point 2) ------------------------------------------------------------------


def test_expired_deadline_is_never_signed() -> None:
    doc = small_gain_doc(700)
    with pytest.raises(AttestationError) as err:
        sign_attestation(doc, KEY, [], now=4102444800, force=True)
    assert str(err.value) == (
        "Run HokusaiEvaluationFlow/5: The deadline 4102444800 (2100-01-01T00:00:00Z) is not in the future, so DeltaVerifier would revert "
        "SignatureExpired; attest the run again with a later --deadline or with --deadline-days.")


def test_deadline_check_and_verify_at(tmp_path) -> None:
    doc = sign_attestation(small_gain_doc(700), KEY, [], now=NOW)
    assert deadline_check(doc["typedData"], 4102444799) == (
        True, "deadline 4102444800 (2100-01-01T00:00:00Z) is after 4102444799 (2099-12-31T23:59:59Z)")
    path = write(tmp_path / "attestation.json", doc)
    assert invoke("verify", str(path)).exit_code == 0
    late = invoke("verify", str(path), "--json", "--at", "4102444800")
    assert late.exit_code == 1
    checks = {c["name"]: c for c in json.loads(late.stdout)["checks"]}
    assert [n for n, c in checks.items() if not c["ok"]] == ["deadline"]
    assert checks["deadline"]["detail"] == (
        "deadline 4102444800 (2100-01-01T00:00:00Z) has passed at 4102444800 (2100-01-01T00:00:00Z): the contract "
        "reverts SignatureExpired")
    assert "1 check(s) failed." in late.stderr


def test_verify_lists_the_contract_checks(tmp_path) -> None:
    doc = sign_attestation(small_gain_doc(700), KEY, [], now=NOW)
    result = invoke("verify", str(write(tmp_path / "a.json", doc)), "--json", "--at", str(NOW))
    assert result.exit_code == 0, result.stderr
    assert [c["name"] for c in json.loads(result.stdout)["checks"]] == [
        "schema", "evidence_hash", "anchor_hash", "idempotency_key", "digest", "evidence_message", "dry_run",
        "gate", "contract_rules", "deadline", "min_improvement", "budget", "cost", "signature[0]", "signature_order",
        "expected_signers"]


def test_attest_from_file_says_the_target_and_refuses_a_zero_cost(tmp_path) -> None:
    doc = small_gain_doc(700, actual=0)
    path = write(tmp_path / "unsigned.json", doc)
    signature = eip712.sign(doc["typedData"], TEST_KEY)
    ok = invoke("attest", "--from", str(path), "--attach", signature, "--allow-zero-cost")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["signers"] == [BOB]
    assert ok.stderr == (
        f"Attestation {doc['attestationHash']} digest {doc['digest']}; 1 signature(s)\n"
        f"Target: local (chain 31337, DeltaVerifier {VERIFYING_CONTRACT}); actualCostUsdMicro 0 (no cost configured: "
        "set [attestation] usd_per_cpu_hour)\n")
    refused = invoke("attest", "--from", str(path), "--attach", signature)
    assert refused.exit_code == 2
    assert refused.stderr == (
        "Error: Run HokusaiEvaluationFlow/5: actualCostUsdMicro is 0 because no cost is configured, and a zero cost turns the contract's budget "
        "check off; set [attestation] usd_per_cpu_hour (or actual_cost_usd_micro) and run again, or pass "
        "--allow-zero-cost.\n")
    assert refused.stdout == ""


# --- the same refusals through `hokusai attest` on a real (dry-)run ---------------------------


@pytest.mark.timeout(300)
def test_attest_refuses_a_past_deadline(demo_runs) -> None:
    result = invoke("attest", demo_runs["first"]["run_id"], "--project", str(demo_runs["project"]),
                    "--deadline", "1700000000")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: --deadline 1700000000 (2023-11-14T22:13:20Z) is not in the future, so DeltaVerifier would revert "
        "SignatureExpired; give a later unix time, or use --deadline-days.\n")


@pytest.mark.timeout(300)
def test_attest_network_and_format_options(demo_runs) -> None:
    run, project = demo_runs["first"]["run_id"], str(demo_runs["project"])
    sepolia = invoke("attest", run, "--project", project, "--network", "sepolia")
    assert sepolia.exit_code == 0, sepolia.stderr
    assert json.loads(sepolia.stdout)["typedData"]["domain"] == {
        "name": "HokusaiDeltaVerifier", "version": "1", "chainId": 11155111, "verifyingContract": SEPOLIA}
    assert f"\nTarget: sepolia (chain 11155111, DeltaVerifier {SEPOLIA}); " in sepolia.stderr
    mixed = invoke("attest", run, "--project", project, "--network", "sepolia", "--chain-id", "5")
    assert json.loads(mixed.stdout)["typedData"]["domain"]["chainId"] == 5
    assert f"\nTarget: a custom network (chain 5, DeltaVerifier {SEPOLIA}); " in mixed.stderr
    unknown = invoke("attest", run, "--project", project, "--network", "goerli")
    assert (unknown.exit_code, unknown.stdout) == (2, "")
    assert unknown.stderr == ("Error: --network 'goerli' is not a known network; use local, sepolia, mainnet, or "
                              "give --chain-id and --verifying-contract.\n")
    bad_format = invoke("attest", run, "--project", project, "--format", "json")
    assert bad_format.exit_code == 2
    assert " ".join(bad_format.stderr.split()) == ("Error: --format 'json' is not a format; use attestation, "
                                                   "mint-request, attribution-report or acceptance-event.")
    unsigned = invoke("attest", run, "--project", project, "--format", "mint-request")
    assert (unsigned.exit_code, unsigned.stdout) == (2, "")
    assert unsigned.stderr.startswith("Error: The attestation has no signature, and the relayer needs at least one")
