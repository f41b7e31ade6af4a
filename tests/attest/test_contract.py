"""What `hokusai attest` writes, submitted to the real DeltaVerifier stack (hokusai-token 693b423,
compiled) on an in-process EVM: accepted and paid exactly by the signed weights, or refused with the
contract's own error. Nothing of the contract is mocked; the calldata is encoded from its ABI.

A change to the EIP-712 types, the field order, the contributor order or the signature order makes
these tests fail: the contract recomputes the digest from the calldata and recovers every signer."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.attest.conftest import MODEL_ID, SIGNER_1, SIGNER_2, attest, cosign
from tests.attest.evm import E18, RELAYER, Reverted, contracts
from tests.conftest import ALICE, BOB, invoke

pytestmark = pytest.mark.timeout(900)
WEEK = 7 * 86400
GAS: dict[str, int] = {}


def record(case: str, gas: int) -> None:
    """Gas used per case, written to $HOKUSAI_GAS_REPORT (JSON) when set, for the record."""
    GAS[case] = gas
    if os.environ.get("HOKUSAI_GAS_REPORT"):
        with open(os.environ["HOKUSAI_GAS_REPORT"], "w") as out:
            json.dump(GAS, out, indent=2)


def revert_of(chain, doc, args=None) -> Reverted:
    with pytest.raises(Reverted) as caught:
        chain.submit_raw(args) if args is not None else chain.submit(doc)
    record(caught.value.name.partition("(")[0], caught.value.gas)
    return caught.value


def expected_reward(doc) -> int:
    """tokensPerDeltaOne (1000 tokens) per 100 bps of the signed gain."""
    payload = doc["typedData"]["message"]["payload"]
    return (int(payload["candidateScoreBps"]) - int(payload["baselineScoreBps"])) * 1000 * E18 // 100


def test_contract_recomputes_hokusais_digest_and_calldata(chain, project_run, keys):
    """The contract's hashMintRequest of the calldata is the digest hokusai signed, and hokusai's own
    encoding of submitMintRequest (the --rpc preflight's) is the ABI's, byte for byte."""
    from pipeline.attest.chain import submit_calldata, submit_signature

    project, run = project_run
    doc = attest(project, run.id, keys["one"], deadline=chain.now + WEEK)
    model, payload, contributors, _ = chain.submit_args(doc)
    assert "0x" + chain.view("DeltaVerifier", "hashMintRequest", model, payload, contributors).hex() == doc["digest"]
    args = chain.submit_args(doc)
    assert submit_calldata(doc) == chain.calldata("DeltaVerifier", "submitMintRequest", *args)
    spec = next(e for e in contracts()["DeltaVerifier"]["abi"] if e.get("name") == "submitMintRequest")
    from tests.attest.evm import abi_type

    assert submit_signature() == f"submitMintRequest({','.join(abi_type(i) for i in spec['inputs'])})"


def test_every_contract_error_is_known():
    """Each error entry of the five ABIs has its signature, cause and fix in pipeline.attest.chain."""
    from pipeline.attest.chain import CONTRACT_ERRORS
    from tests.attest.evm import abi_type

    known = {e.signature for e in CONTRACT_ERRORS}
    in_abi = {f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})"
              for c in contracts().values() for e in c["abi"] if e["type"] == "error"}
    assert in_abi == known
    docs = (Path(__file__).resolve().parents[2] / "docs" / "attestation.md").read_text()
    assert [e.signature for e in CONTRACT_ERRORS if f"`{e.signature}`" not in docs] == []
    assert all(len(e.params) == len(e.signature.split(",")) - (e.signature.endswith("()")) for e in CONTRACT_ERRORS
               if e.params)


def test_one_contributor_accepted(chain, alice_run, keys):
    project, run_id = alice_run
    doc = attest(project, run_id, keys["one"], deadline=chain.now + WEEK)
    assert doc["typedData"]["message"]["contributors"] == [{"walletAddress": ALICE, "weight": 10000}]
    reward, gas = chain.submit(doc)
    record("one contributor accepted", gas)
    assert reward == expected_reward(doc) == 3500 * E18
    assert chain.balance(chain.token, ALICE) == reward
    assert chain.head(MODEL_ID) == doc["typedData"]["message"]["payload"]["candidateCommitment"]
    assert chain.view("DeltaVerifier", "mintBudgetRemaining", MODEL_ID) == 10**30 - reward


def test_two_contributors_two_signers_paid_by_the_signed_weights(chain, project_run, keys, tmp_path):
    project, run = project_run
    chain.transact("DeltaVerifier", "setAttesterThreshold", 2)
    one = attest(project, run.id, keys["one"], deadline=chain.now + WEEK)
    assert revert_of(chain, one).name == "InsufficientAttesterSignatures(provided 1, required 2)"
    doc = cosign(one, keys["two"], tmp_path)
    assert doc["signers"] == sorted([SIGNER_1, SIGNER_2], key=lambda a: int(a, 16))  # ascending, as the contract wants
    contributors = doc["typedData"]["message"]["contributors"]
    assert [c["walletAddress"] for c in contributors] == [BOB, ALICE]  # sorted by lower-case wallet: 0x3c44… < 0x7099…

    # signature order and contributor order are what the contract checks: either reversed is refused
    model, payload, signed_contributors, signatures = chain.submit_args(doc)
    assert revert_of(chain, doc, [model, payload, signed_contributors, signatures[::-1]]).name \
        == f"UnorderedOrDuplicateAttesters(signer {doc['signers'][0]})"
    assert revert_of(chain, doc, [model, payload, signed_contributors[::-1], signatures]).name.startswith(
        "SignerNotAttester(signer 0x")

    # the relayer's message (what Hokusai's relayer reads from Redis) carries the same order
    signed = tmp_path / "signed.json"
    signed.write_text(json.dumps(doc))
    message = json.loads(invoke("attest", "--from", str(signed), "--format", "mint-request").stdout)
    assert message["attester_signatures"] == doc["signatures"]
    assert [(c["wallet_address"], c["weight_bps"]) for c in message["contributors"]] == \
        [(c["walletAddress"].lower(), c["weight"]) for c in contributors]

    reward, gas = chain.submit(doc)
    record("two contributors, two signers, threshold 2", gas)
    assert reward == expected_reward(doc)
    paid = [chain.balance(chain.token, c["walletAddress"]) for c in contributors]
    shares = [reward * c["weight"] // 10000 for c in contributors]
    shares[0] += reward - sum(shares)  # the contract gives rounding dust to the first contributor
    assert paid == shares and sum(paid) == reward  # to the wei
    assert chain.head(MODEL_ID) == doc["typedData"]["message"]["payload"]["candidateCommitment"]


def test_one_byte_tamper_reverts_signer_not_attester(chain, project_run, keys):
    project, run = project_run
    doc = attest(project, run.id, keys["one"], deadline=chain.now + WEEK)
    anchors = doc["typedData"]["message"]["payload"]["anchors"]
    anchors["datasetHash"] = anchors["datasetHash"][:-2] + f"{int(anchors['datasetHash'][-2:], 16) ^ 1:02x}"
    error = revert_of(chain, doc)
    assert error.name.startswith("SignerNotAttester(signer 0x") and SIGNER_1 not in error.name
    assert chain.head(MODEL_ID) == chain.genesis


def test_replay_reverts_idempotency_key_already_processed(chain, project_run, keys):
    project, run = project_run
    doc = attest(project, run.id, keys["one"], deadline=chain.now + WEEK)
    chain.submit(doc)
    again = attest(project, run.id, keys["one"], deadline=chain.now + WEEK + 1)  # a new digest, the same evidence
    assert again["digest"] != doc["digest"]
    assert revert_of(chain, again).name == 'Error("Idempotency key already processed")'


def test_past_deadline_reverts_signature_expired(chain, project_run, keys):
    project, run = project_run
    deadline = int(time.time()) + 120
    doc = attest(project, run.id, keys["one"], deadline=deadline)
    chain.set_time(deadline + 1)
    assert revert_of(chain, doc).name == f"SignatureExpired(deadline {deadline}, currentTimestamp {deadline + 1})"


def test_stale_baseline_commitment_reverts_lineage_parent_mismatch(chain, project_run, alice_run, keys):
    first = attest(*alice_run, keys["one"], deadline=chain.now + WEEK)
    chain.submit(first)  # the head moves to run 1's candidate
    head = first["typedData"]["message"]["payload"]["candidateCommitment"]
    stale = attest(project_run[0], project_run[1].id, keys["one"], deadline=chain.now + WEEK)
    assert revert_of(chain, stale).name == (f"LineageParentMismatch(modelId {MODEL_ID}, expectedHead {head}, "
                                            f"providedBaseline {chain.genesis})")


def test_below_threshold_gain_forced_through_is_accepted_with_reward_zero(chain, small_run, keys):
    """--force signs a gain below minImprovementBps: the contract accepts it, pays 0, leaves the head
    where it was, and burns the idempotency key (the same evidence can never be paid)."""
    project, run_id = small_run
    doc = attest(project, run_id, keys["one"], "--force", deadline=chain.now + WEEK)
    payload = doc["typedData"]["message"]["payload"]
    assert 0 < int(payload["candidateScoreBps"]) - int(payload["baselineScoreBps"]) < 100
    reward, gas = chain.submit(doc)
    record("below minImprovementBps, forced (reward 0)", gas)
    assert reward == 0
    assert [chain.balance(chain.token, c["walletAddress"]) for c in doc["typedData"]["message"]["contributors"]] \
        == [0] * len(doc["typedData"]["message"]["contributors"])
    assert chain.head(MODEL_ID) == chain.genesis
    key = bytes.fromhex(payload["anchors"]["idempotencyKey"][2:])
    assert chain.view("DeltaVerifier", "processedIdempotencyKeys", key) is True


def test_lineage_of_two_runs_advances_the_head_twice(chain, alice_run, lineage_run, keys):
    first = attest(*alice_run, keys["one"], deadline=chain.now + WEEK)
    second = attest(*lineage_run, keys["one"], deadline=chain.now + WEEK)
    p1, p2 = (d["typedData"]["message"]["payload"] for d in (first, second))
    assert p1["baselineCommitment"] == chain.genesis
    assert p2["baselineCommitment"] == p1["candidateCommitment"]  # run 2's baseline model is run 1's candidate
    assert revert_of(chain, second).name.startswith("LineageParentMismatch(")  # not before run 1
    reward1, gas1 = chain.submit(first)
    assert chain.head(MODEL_ID) == p1["candidateCommitment"]
    reward2, gas2 = chain.submit(second)
    record("lineage run 1", gas1)
    record("lineage run 2", gas2)
    assert chain.head(MODEL_ID) == p2["candidateCommitment"]
    assert (reward1, reward2) == (expected_reward(first), expected_reward(second))
    assert chain.balance(chain.token, ALICE) == reward1 and chain.balance(chain.token, BOB) == reward2


def test_relayer_without_submitter_role_is_refused(chain, project_run, keys):
    project, run = project_run
    doc = attest(project, run.id, keys["one"], deadline=chain.now + WEEK)
    with pytest.raises(Reverted) as caught:
        chain.submit(doc, sender=ALICE)
    assert caught.value.name.startswith('Error("AccessControl: account 0x70997970c51812dc3a010c7d01b50e0d17dc79c8 is '
                                        "missing role ")
    assert RELAYER != ALICE
