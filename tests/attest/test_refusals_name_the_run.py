"""Issue 25, point 2: every refusal of `attest` that concerns a run names it by its pathspec.

Before: `This run failed the DeltaOne gate and cannot be signed; …` named no run. Each case
below is refused for real, through the CLI (exit 2, nothing on stdout) or the signing library,
and the sentence names `HokusaiEvaluationFlow/<id>`."""

from __future__ import annotations

import copy

import pytest

from pipeline.attest import eip712
from pipeline.attest.evidence import build_attestation, mint_message, sign_attestation
from pipeline.errors import AttestationError
from tests.attest.documents import EVIDENCE, TEST_KEY, VERIFYING_CONTRACT, write
from tests.conftest import invoke

pytestmark = pytest.mark.timeout(300)
RUN = "HokusaiEvaluationFlow/1795674766048057"
NOW = 1_800_000_000
KEY = [(eip712.parse_private_key(TEST_KEY), "--sign-key-env K")]


def unsigned(*, dry_run: bool = False, gate_passed: bool = True, actual: int = 2_340_000, max_cost: int = 5_000_000,
             gain: int = 700) -> dict:
    evidence = copy.deepcopy(EVIDENCE)
    evidence["dryRun"] = dry_run
    evidence["metrics"]["candidateBps"]["accuracy"] = 9100 + gain
    evidence["delta"]["deltaOneBps"] = gain
    evidence["gate"] = {"passed": gate_passed, "conditions": [
        {"name": "delta_bps", "value": gain, "threshold": 1, "passed": gate_passed}]}
    return build_attestation(evidence, eip712.attestation_hash(evidence), pipeline_run_id=RUN, chain_id=31337,
                             verifying_contract=VERIFYING_CONTRACT, deadline=4102444800,
                             max_cost_usd_micro=max_cost, actual_cost_usd_micro=actual)


def refused(doc: dict, tmp_path, monkeypatch, *extra: str) -> str:
    """`hokusai attest --from FILE --sign-key-env` on `doc`: exit 2, nothing on stdout; the message."""
    monkeypatch.setenv("HOKUSAI_TEST_ATTESTER_KEY", TEST_KEY)
    path = write(tmp_path / "unsigned.json", doc)
    result = invoke("attest", "--from", str(path), "--sign-key-env", "HOKUSAI_TEST_ATTESTER_KEY", *extra)
    assert (result.exit_code, result.stdout) == (2, ""), result.stderr
    return result.stderr


def test_a_failed_gate_names_the_run(tmp_path, monkeypatch) -> None:
    assert refused(unsigned(gate_passed=False), tmp_path, monkeypatch) == (
        f"Error: Run {RUN} failed the DeltaOne gate and cannot be signed; pass --force to sign it anyway (its "
        "evidence stays marked gate.passed = false).\n")


def test_a_dry_run_names_the_run(tmp_path, monkeypatch) -> None:
    assert refused(unsigned(dry_run=True), tmp_path, monkeypatch) == (
        f"Error: Run {RUN} is a dry-run and cannot be signed; attest a real `hokusai run`, or pass --force to sign "
        "it anyway (its evidence stays marked dryRun).\n")


def test_unreadable_flags_name_the_run(tmp_path, monkeypatch) -> None:
    doc = unsigned()
    doc["evidence"]["gate"]["passed"] = "yes"
    assert refused(doc, tmp_path, monkeypatch, "--force") == (
        f"Error: evidence.dryRun or evidence.gate.passed is missing or not true/false, so it is unknown whether run "
        f"{RUN} may be signed; attest from the run again.\n")


def test_a_gain_below_the_threshold_names_the_run(tmp_path, monkeypatch) -> None:
    assert refused(unsigned(gain=50), tmp_path, monkeypatch) == (
        f"Error: Run {RUN}: The gain is 50 bps, below the minImprovementBps of 100 on local (chain 31337, "
        f"DeltaVerifier {VERIFYING_CONTRACT}), which would accept it with reward 0 and burn its idempotency key; "
        "pass --force to sign it anyway.\n")


def test_a_cost_over_budget_names_the_run(tmp_path, monkeypatch) -> None:
    assert refused(unsigned(actual=5_000_001), tmp_path, monkeypatch) == (
        f"Error: Run {RUN}: actualCostUsdMicro 5000001 is over maxCostUsdMicro 5000000, so the contract would pay "
        "nothing and burn the idempotency key; raise [attestation] max_cost_usd_micro and run again, or pass "
        "--force to sign it anyway.\n")


def test_a_zero_cost_names_the_run(tmp_path, monkeypatch) -> None:
    assert refused(unsigned(actual=0, max_cost=0), tmp_path, monkeypatch) == (
        f"Error: Run {RUN}: actualCostUsdMicro is 0 because no cost is configured, and a zero cost turns the "
        "contract's budget check off; set [attestation] usd_per_cpu_hour (or actual_cost_usd_micro) and run again, "
        "or pass --allow-zero-cost.\n")


def test_an_expired_deadline_names_the_run() -> None:
    with pytest.raises(AttestationError) as err:
        sign_attestation(unsigned(), KEY, [], now=4102444800, force=True)
    assert str(err.value) == (
        f"Run {RUN}: The deadline 4102444800 (2100-01-01T00:00:00Z) is not in the future, so DeltaVerifier would "
        "revert SignatureExpired; attest the run again with a later --deadline or with --deadline-days.")


def test_rows_without_a_wallet_and_nobody_improved_name_the_run() -> None:
    evidence = copy.deepcopy(EVIDENCE)
    evidence["contributors"][1]["wallet"] = None
    with pytest.raises(AttestationError) as err:
        mint_message(evidence, "0x" + "ab" * 32, pipeline_run_id=RUN, deadline=4102444800, max_cost_usd_micro=0,
                     actual_cost_usd_micro=1)
    assert str(err.value) == (f"169 contributed rows of run {RUN} carry no wallet, so the run cannot be attested; "
                              "run again with --contrib FILE:WALLET.")
    evidence = copy.deepcopy(EVIDENCE)
    for contributor in evidence["contributors"]:
        contributor["weightBps"] = 0
    with pytest.raises(AttestationError) as err:
        mint_message(evidence, "0x" + "ab" * 32, pipeline_run_id=RUN, deadline=4102444800, max_cost_usd_micro=0,
                     actual_cost_usd_micro=1)
    assert str(err.value) == (
        f"No contributor of run {RUN} improved accuracy (every weightBps is 0: see evidence.contributors' valueBps "
        "and delta.weightMethod), so there is nothing to pay and the run cannot be attested, even with --force: "
        "DeltaVerifier needs weights summing to 10000 over contributors who improved the model.")


@pytest.mark.timeout(600)
def test_a_real_dry_run_is_named_by_its_pathspec(demo_runs, monkeypatch) -> None:
    monkeypatch.setenv("HOKUSAI_TEST_ATTESTER_KEY", TEST_KEY)
    result = invoke("attest", demo_runs["second"]["run_id"], "--project", str(demo_runs["project"]),
                    "--deadline", "4102444800", "--sign-key-env", "HOKUSAI_TEST_ATTESTER_KEY")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"Error: Run {demo_runs['second']['pathspec']} is a dry-run and cannot be signed; attest a real `hokusai "
        "run`, or pass --force to sign it anyway (its evidence stays marked dryRun).\n")
    assert demo_runs["second"]["pathspec"].startswith("HokusaiEvaluationFlow/")


def test_a_document_without_a_readable_run_says_so() -> None:
    doc = unsigned(dry_run=True)
    doc["typedData"]["message"]["payload"]["pipelineRunId"] = ""
    with pytest.raises(AttestationError) as err:
        sign_attestation(doc, KEY, [], now=NOW)
    assert str(err.value) == (
        "Run (without a pipelineRunId) is a dry-run and cannot be signed; attest a real `hokusai run`, or pass "
        "--force to sign it anyway (its evidence stays marked dryRun).")
