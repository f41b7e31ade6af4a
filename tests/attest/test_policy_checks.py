"""Issue 25, point 1: `verify` and `publish` hold a dry-run or a failed gate against the file.

A dry-run signed with `--force` used to verify as "All checks hold." and could be published by
accident. Now the checks `dry_run` and `gate` fail (exit 1, the row naming the reason and the
option) unless `--allow-dry-run` / `--allow-gate-failed` is given, and `publish` refuses both
the same way (exit 2, nothing pushed, nothing recorded), `--force` included."""

from __future__ import annotations

import copy
import json

import pytest

from pipeline.attest import eip712
from pipeline.attest.evidence import build_attestation, verify_document
from pipeline.attest.relayer import QUEUE
from tests.attest.documents import ACTUAL_COST, EVIDENCE, MAX_COST, TEST_KEY, VERIFYING_CONTRACT, write
from tests.attest.test_publish import redis_db, redis_server  # noqa: F401 - the real Redis fixtures
from tests.conftest import invoke

pytestmark = pytest.mark.timeout(300)
NOW = 1_800_000_000
RUN = "HokusaiEvaluationFlow/1"
DRY = "the evidence is of a dry-run (dryRun true)"
GATE = "gate.passed is false, the DeltaOne gate failed on ci_low_bps -20 (threshold 0)"


def signed(*, dry_run: bool = False, gate_passed: bool = True) -> dict:
    """A valid attestation of RUN, signed as `--force` would sign it."""
    evidence = copy.deepcopy(EVIDENCE)
    evidence["dryRun"] = dry_run
    if not gate_passed:
        evidence["gate"] = {"passed": False, "conditions": [
            {"name": "min_improvement", "value": 700, "threshold": 100, "passed": True},
            {"name": "ci_low_bps", "value": -20, "threshold": 0, "passed": False}]}
    doc = build_attestation(evidence, eip712.attestation_hash(evidence), pipeline_run_id=RUN, chain_id=31337,
                            verifying_contract=VERIFYING_CONTRACT, deadline=4102444800,
                            max_cost_usd_micro=MAX_COST, actual_cost_usd_micro=ACTUAL_COST)
    return eip712.add_signature(doc, eip712.sign(doc["typedData"], TEST_KEY))


def details(doc: dict, **allow: bool) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.detail) for c in verify_document(doc, now=NOW, **allow)}


# --- the checks ----------------------------------------------------------------------------


def test_a_real_run_that_passed_holds_both_checks() -> None:
    checks = details(signed())
    assert checks["dry_run"] == (True, "dryRun false: the evidence is of a real run")
    assert checks["gate"] == (True, "gate.passed true: the run passed the DeltaOne gate")
    assert all(ok for ok, _ in checks.values())


def test_a_dry_run_fails_unless_allowed() -> None:
    doc = signed(dry_run=True)
    assert details(doc)["dry_run"] == (False, f"{DRY}; pass --allow-dry-run to accept it")
    assert [name for name, (ok, _) in details(doc).items() if not ok] == ["dry_run"]
    assert details(doc, allow_dry_run=True)["dry_run"] == (True, f"{DRY}, accepted with --allow-dry-run")
    assert details(doc, allow_gate_failed=True)["dry_run"][0] is False  # one option does not lift the other


def test_a_failed_gate_fails_unless_allowed() -> None:
    doc = signed(gate_passed=False)
    assert details(doc)["gate"] == (False, f"{GATE}; pass --allow-gate-failed to accept it")
    assert [name for name, (ok, _) in details(doc).items() if not ok] == ["gate"]
    assert details(doc, allow_gate_failed=True)["gate"] == (True, f"{GATE}, accepted with --allow-gate-failed")
    assert details(doc, allow_dry_run=True)["gate"][0] is False


def test_unreadable_flags_fail_whatever_is_allowed() -> None:
    doc = signed()
    doc["evidence"]["dryRun"] = "no"
    doc["evidence"]["gate"]["passed"] = None
    checks = details(doc, allow_dry_run=True, allow_gate_failed=True)
    assert checks["dry_run"] == (False, "evidence.dryRun is a string, not true/false; attest from the run again")
    assert checks["gate"] == (False, "evidence.gate.passed is null, not true/false; attest from the run again")


# --- hokusai verify ------------------------------------------------------------------------


def test_verify_fails_a_forced_dry_run_and_a_failed_gate(tmp_path) -> None:
    path = write(tmp_path / "attestation.json", signed(dry_run=True, gate_passed=False))
    result = invoke("verify", str(path), "--at", str(NOW), "--json")
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is False
    assert [(c["name"], c["detail"]) for c in verdict["checks"] if not c["ok"]] == [
        ("dry_run", f"{DRY}; pass --allow-dry-run to accept it"),
        ("gate", f"{GATE}; pass --allow-gate-failed to accept it")]
    table = " ".join(result.stderr.split())
    assert "│ dry_run │ FAILED │ the evidence is of a dry-run (dryRun true); pass --allow-dry-run to accept it │" in table
    assert "│ gate │ FAILED │ gate.passed is false, the DeltaOne gate failed on ci_low_bps -20 (threshold 0); pass" in table
    assert result.stderr.endswith("2 check(s) failed.\n")

    one = invoke("verify", str(path), "--at", str(NOW), "--allow-dry-run")
    assert one.exit_code == 1 and one.stderr.endswith("1 check(s) failed.\n")
    both = invoke("verify", str(path), "--at", str(NOW), "--json", "--allow-dry-run", "--allow-gate-failed")
    assert both.exit_code == 0, both.stderr
    assert both.stderr.endswith("All checks hold.\n")
    checks = {c["name"]: c for c in json.loads(both.stdout)["checks"]}
    assert checks["dry_run"] == {"name": "dry_run", "ok": True, "detail": f"{DRY}, accepted with --allow-dry-run"}
    assert checks["gate"] == {"name": "gate", "ok": True, "detail": f"{GATE}, accepted with --allow-gate-failed"}


@pytest.mark.timeout(600)
def test_verify_fails_a_real_dry_run_signed_with_force(demo_runs, tmp_path) -> None:
    """The issue's case, on a real `hokusai dry-run`: `attest --force` signs it, verify fails it."""
    key = tmp_path / "attester.key"
    key.write_text(TEST_KEY + "\n")
    attested = invoke("attest", demo_runs["first"]["run_id"], "--project", str(demo_runs["project"]),
                      "--deadline", "4102444800", "--sign-key-file", str(key), "--force", "--allow-zero-cost")
    assert attested.exit_code == 0, attested.stderr
    path = tmp_path / "attestation.json"
    path.write_text(attested.stdout)
    result = invoke("verify", str(path), "--json")
    assert result.exit_code == 1
    assert [(c["name"], c["detail"]) for c in json.loads(result.stdout)["checks"] if not c["ok"]] == [
        ("dry_run", f"{DRY}; pass --allow-dry-run to accept it")]
    assert result.stderr.endswith("1 check(s) failed.\n")
    assert invoke("verify", str(path), "--allow-dry-run").exit_code == 0


# --- hokusai publish -----------------------------------------------------------------------


@pytest.mark.parametrize(("dry_run", "gate_passed", "sentence", "option"), [
    (True, True, f"Error: The attestation of {RUN} fails the `hokusai verify` check dry_run: {DRY}, so it is not "
                 "published; pass --allow-dry-run to publish it anyway.\n", "--allow-dry-run"),
    (False, False, f"Error: The attestation of {RUN} fails the `hokusai verify` check gate: {GATE}, so it is not "
                   "published; pass --allow-gate-failed to publish it anyway.\n", "--allow-gate-failed"),
], ids=["dry-run", "gate-failed"])
def test_publish_refuses_unless_allowed(redis_db, tmp_path, dry_run, gate_passed, sentence, option) -> None:  # noqa: F811
    url, client = redis_db
    path = write(tmp_path / "attestation.json", signed(dry_run=dry_run, gate_passed=gate_passed))
    record = tmp_path / ".hokusai" / "published.jsonl"
    for force in ((), ("--force",)):  # --force does not publish it either
        refused = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path), *force)
        assert (refused.exit_code, refused.stdout, refused.stderr) == (2, "", sentence)
        assert client.llen(QUEUE) == 0 and not record.exists()
    published = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path), option)
    assert published.exit_code == 0, published.stderr
    assert published.stderr.startswith("Published mint_request ")
    assert client.llen(QUEUE) == 1 and len(record.read_text().splitlines()) == 1
    reason = json.loads(published.stdout)["evaluation"]["statistical_reason"]
    assert reason == ("signed with --force: dry-run" if dry_run
                      else "signed with --force: gate failed: ci_low_bps -20 (threshold 0)")


@pytest.mark.timeout(600)
def test_publish_of_a_real_dry_run(demo_runs, redis_db, monkeypatch, tmp_path) -> None:  # noqa: F811
    """From the run: signing a dry-run needs --force (as `attest`), publishing it --allow-dry-run."""
    url, client = redis_db
    monkeypatch.setenv("HOKUSAI_TEST_ATTESTER_KEY", TEST_KEY)
    run, pathspec = demo_runs["first"]["run_id"], demo_runs["first"]["pathspec"]
    base = ("publish", run, "--project", str(demo_runs["project"]), "--sign-key-env", "HOKUSAI_TEST_ATTESTER_KEY",
            "--deadline", "4102444800", "--allow-zero-cost", "--redis-url", url)
    unsigned = invoke(*base)
    assert (unsigned.exit_code, unsigned.stdout) == (2, "")
    assert unsigned.stderr == (f"Error: Run {pathspec} is a dry-run and cannot be signed; attest a real `hokusai "
                               "run`, or pass --force to sign it anyway (its evidence stays marked dryRun).\n")
    forced = invoke(*base, "--force")
    assert (forced.exit_code, forced.stdout) == (2, "")
    assert forced.stderr == (f"Error: The attestation of {pathspec} fails the `hokusai verify` check dry_run: {DRY}, "
                             "so it is not published; pass --allow-dry-run to publish it anyway.\n")
    assert client.llen(QUEUE) == 0
    assert not (demo_runs["project"] / ".hokusai" / "published.jsonl").exists()
