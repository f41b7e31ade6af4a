"""`hokusai verify FILE --rpc URL` (and `publish --rpc`) against the real DeltaVerifier stack served
over JSON-RPC on 127.0.0.1: each case's failing row names the contract's error and what to do;
a good attestation exits 0 with its reward. No mock of the contract: the rows are what the
deployed bytecode answers to eth_call."""

from __future__ import annotations

import json
import os
import socket

import pytest

from pipeline.attest.chain import DEFAULT_RELAYER
from tests.attest.conftest import MODEL_ID, attest
from tests.attest.evm import E18, RELAYER
from tests.attest import test_publish
from tests.conftest import ALICE, BOB

pytestmark = pytest.mark.timeout(900)
redis_server, redis_db = test_publish.redis_server, test_publish.redis_db  # fixtures: a private redis-server
WEEK = 7 * 86400
TABLES: dict[str, str] = {}
SUBMIT = f"eth_call submitMintRequest from {RELAYER}"


def invoke(*args: str, env: dict[str, str] | None = None):
    from typer.testing import CliRunner

    from hokusai_cli.app import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "160", **(env or {})})


def verify(path, url: str, case: str, *extra: str):
    """`verify --rpc` twice: --json for the rows, and as a person sees it (kept for the record)."""
    human = invoke("verify", str(path), "--rpc", url, *extra)
    TABLES[case] = human.stderr
    if os.environ.get("HOKUSAI_PREFLIGHT_REPORT"):
        with open(os.environ["HOKUSAI_PREFLIGHT_REPORT"], "w") as out:
            out.write("\n".join(f"## {name}\n{table}" for name, table in TABLES.items()))
    result = invoke("verify", str(path), "--rpc", url, "--json", *extra)
    assert result.exit_code == human.exit_code
    return result, human


def failed(result) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in json.loads(result.stdout)["checks"] if not c["ok"]}


def detail(result, name: str) -> str:
    return next(c["detail"] for c in json.loads(result.stdout)["checks"] if c["name"] == name)


@pytest.fixture
def signed(chain, project_run, keys, tmp_path):
    """project_run's attestation signed by attester SIGNER_1: (path, document)."""
    project, run = project_run
    doc = attest(project, run.id, keys["one"], deadline=chain.now + WEEK)
    path = tmp_path / "attestation.json"
    path.write_text(json.dumps(doc))
    return path, doc


def test_good_attestation_exits_0_with_its_reward(chain, node, signed):
    path, doc = signed
    payload, key = doc["typedData"]["message"]["payload"], doc["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    assert (payload["baselineScoreBps"], payload["candidateScoreBps"]) == (9100, 9800)
    assert doc["typedData"]["message"]["contributors"] == [{"walletAddress": BOB, "weight": 6071},  # by lower-case wallet
                                                           {"walletAddress": ALICE, "weight": 3929}]
    result, human = verify(path, node, "good")  # from the default relayer, Hardhat #0, the deployer
    assert result.exit_code == 0, result.stdout
    assert failed(result) == {}
    assert json.loads(result.stdout)["reward_wei"] == str(7000 * E18)
    assert detail(result, "chain_reward") == f"7000 tokens (7000000000000000000000 wei): {BOB} 4249.7, {ALICE} 2750.3"
    assert detail(result, "chain_submit") == f"eth_call submitMintRequest from {DEFAULT_RELAYER}: accepted"
    assert detail(result, "chain_budget") == ("expected reward 7000 tokens <= model 7's mint budget remaining "
                                              "1000000000000 tokens")
    assert detail(result, "chain_head") == f"baselineCommitment {chain.genesis} is model 7's head"
    assert detail(result, "chain_idempotency") == f"idempotency key {key} not processed yet"
    assert detail(result, "chain_min_improvement") == "gain 700 bps >= the contract's minImprovementBps 100"
    assert detail(result, "chain_threshold") == "1 signature(s), attesterThreshold 1"
    assert human.stderr.strip().endswith("All checks hold; submitMintRequest would mint 7000 tokens.")
    # what the preflight read is what the contract then does
    assert chain.submit(doc)[0] == 7000 * E18


def test_stale_head(chain, node, signed, alice_run, keys):
    path, doc = signed
    first = attest(*alice_run, keys["one"], deadline=chain.now + WEEK)
    chain.submit(first)
    head = first["typedData"]["message"]["payload"]["candidateCommitment"]
    result, human = verify(path, node, "stale head", "--relayer", RELAYER)
    assert result.exit_code == 1
    assert set(failed(result)) == {"chain_head", "chain_submit"}
    fix = (f"attest again with --baseline-commitment {head} (or [attestation] baseline_commitment) from a run whose "
           "baseline model is that head; the idempotency key is not burned")
    assert failed(result)["chain_head"] == (f"model 7's head is {head}, not the signed baselineCommitment "
                                            f"{chain.genesis}: the contract reverts LineageParentMismatch; {fix}")
    assert failed(result)["chain_submit"] == (
        f"{SUBMIT} reverts LineageParentMismatch(modelId 7, expectedHead {head}, providedBaseline {chain.genesis}): "
        "the signed baselineCommitment is not the model's current head (another mint advanced it, or the run's "
        f"baseline model is not the head's model); {fix}")
    assert human.stderr.strip().endswith("2 check(s) failed.")


def test_unknown_signer(chain, node, project_run, keys, tmp_path):
    from eth_account import Account

    from tests.attest.conftest import UNKNOWN_KEY

    stranger = Account.from_key(UNKNOWN_KEY).address
    doc = attest(project_run[0], project_run[1].id, keys["unknown"], deadline=chain.now + WEEK)
    path = tmp_path / "stranger.json"
    path.write_text(json.dumps(doc))
    result, _ = verify(path, node, "unknown signer", "--relayer", RELAYER)
    assert result.exit_code == 1
    assert set(failed(result)) == {"chain_attester[0]", "chain_submit"}
    fix = (f"ask the registry owner to add attester {stranger} (DeltaVerifier.addAttester) if it is yours; otherwise "
           "attest the run again and submit the file unchanged")
    assert failed(result)["chain_attester[0]"] == (f"signer {stranger} is not an attester: the contract reverts "
                                                   f"SignerNotAttester; {fix}")
    assert failed(result)["chain_submit"].startswith(f"{SUBMIT} reverts SignerNotAttester(signer {stranger}): ")
    assert failed(result)["chain_submit"].endswith(fix)


def test_spent_idempotency_key(chain, node, signed):
    path, doc = signed
    chain.submit(doc)
    key = doc["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    result, _ = verify(path, node, "spent idempotency key", "--relayer", RELAYER)
    assert result.exit_code == 1
    assert set(failed(result)) == {"chain_head", "chain_idempotency", "chain_submit"}  # the head moved too
    why = ("this evidence (model id + attestationHash) was already submitted: minted, or accepted with reward 0; "
           "nothing to resubmit: the same evidence never mints twice; a new evaluation (new data or a new baseline) "
           "has a new key")
    assert failed(result)["chain_submit"] == f'{SUBMIT} reverts Error("Idempotency key already processed"): {why}'
    assert failed(result)["chain_idempotency"] == (
        f"idempotency key {key} was already processed (this evidence (model id + attestationHash) was already "
        "submitted: minted, or accepted with reward 0): the contract reverts Error(\"Idempotency key already "
        "processed\"); nothing to resubmit: the same evidence never mints twice; a new evaluation (new data or a "
        "new baseline) has a new key")


def test_below_threshold_gain(chain, node, signed):
    """The live contract's minImprovementBps (raised here to 1000 by its admin) is what counts, not the preset's 100."""
    path, doc = signed
    chain.transact("DeltaVerifier", "setMinImprovementBps", 1000)
    key = doc["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    result, _ = verify(path, node, "below-threshold gain", "--relayer", RELAYER)
    assert result.exit_code == 1
    assert failed(result) == {
        "chain_min_improvement": "gain 700 bps < the contract's minImprovementBps 1000: accepted with reward 0, "
                                 "burns the idempotency key; do not submit it",
        "chain_reward": f"accepted with reward 0 (gain 700 bps < minImprovementBps 1000): burns the idempotency key "
                        f"{key}, so this evidence can never be paid; do not submit it",
    }
    assert json.loads(result.stdout)["reward_wei"] == "0"
    assert chain.submit(doc)[0] == 0 and chain.head(MODEL_ID) == chain.genesis


def test_budget_too_small(chain, node, signed):
    path, _ = signed
    chain.transact("DeltaVerifier", "setMintBudget", MODEL_ID, 1000 * E18)
    result, _ = verify(path, node, "budget too small", "--relayer", RELAYER)
    assert result.exit_code == 1
    fix = ("ask the DeltaVerifier admin to top up model 7's budget (topUpMintBudget) by at least 6000 tokens; the "
           "idempotency key is not burned, so this same attestation is accepted afterwards")
    assert failed(result) == {
        "chain_budget": "expected reward 7000 tokens > model 7's mint budget remaining 1000 tokens: the contract "
                        f"reverts MintBudgetExceeded; {fix}",
        "chain_submit": f"{SUBMIT} reverts MintBudgetExceeded(modelId 7, required 7000000000000000000000, remaining "
                        f"1000000000000000000000): the reward is more than the model's remaining mint budget; {fix}",
    }


def test_relayer_without_submitter_role(chain, node, signed):
    path, _ = signed
    result, _ = verify(path, node, "relayer without SUBMITTER_ROLE", "--relayer", ALICE)
    assert result.exit_code == 1
    assert failed(result)["chain_relayer"] == (f"relayer {ALICE} lacks SUBMITTER_ROLE, so the contract refuses its "
                                               "submission; give the relayer's address with --relayer or "
                                               "[attestation] relayer")
    assert failed(result)["chain_submit"].startswith(
        f'eth_call submitMintRequest from {ALICE} reverts Error("AccessControl: account '
        f'{ALICE.lower()} is missing role ')


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bad_node_or_target_is_one_sentence_exit_2(chain, node, project_run, keys, tmp_path):
    project, run = project_run
    port = node.rsplit(":", 1)[1]

    def write(doc):
        path = tmp_path / "a.json"
        path.write_text(json.dumps(doc))
        return path

    sepolia = write(attest(project, run.id, keys["one"], "--network", "sepolia", deadline=chain.now + WEEK))
    result = invoke("verify", str(sepolia), "--rpc", node)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: The node at http://127.0.0.1:{port} serves chain 31337, but the attestation is "
                             "for sepolia (chain 11155111, DeltaVerifier 0x7C597B97d00F490a4A4731E027288F4cB680cFF3); "
                             "give the RPC URL of a chain-11155111 node.\n")
    nowhere = write(attest(project, run.id, keys["one"], "--verifying-contract",
                           "0x000000000000000000000000000000000000dEaD", deadline=chain.now + WEEK))
    result = invoke("verify", str(nowhere), "--rpc", node)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: There is no contract at 0x000000000000000000000000000000000000dEaD on chain "
                             f"31337 (node http://127.0.0.1:{port}), the attestation's verifyingContract; attest for "
                             "the network DeltaVerifier is deployed on (--network, --verifying-contract), or give "
                             "that network's node.\n")
    good = write(attest(project, run.id, keys["one"], deadline=chain.now + WEEK))
    down = closed_port()
    result = invoke("verify", str(good), "--rpc", f"http://127.0.0.1:{down}/v3/SECRET")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: Cannot reach the node at http://127.0.0.1:{down} ([Errno 111] Connection "
                             "refused); check the URL given with --rpc, HOKUSAI_RPC_URL or [attestation] rpc_url, and "
                             "that the node is running.\n")  # the URL's path (an API key) is not printed
    result = invoke("verify", str(good), "--rpc", "ftp://127.0.0.1/")
    assert (result.exit_code, result.stderr) == (2, "Error: --rpc 'ftp://127.0.0.1/' is not an http:// or https:// "
                                                    "URL; give the JSON-RPC URL of a node (e.g. http://127.0.0.1:8545).\n")
    result = invoke("verify", str(good), "--rpc", node, "--relayer", "0x123")
    assert (result.exit_code, result.stderr) == (2, "Error: --relayer '0x123' is not an address; give 0x followed by "
                                                    "40 hex digits.\n")


def test_rpc_url_from_the_environment_and_the_project(chain, node, signed, tmp_path):
    path, _ = signed
    by_env = invoke("verify", str(path), "--json", env={"HOKUSAI_RPC_URL": node})
    assert by_env.exit_code == 0 and detail(by_env, "chain_submit").endswith(": accepted")
    project = tmp_path / "team"
    project.mkdir()
    (project / "hokusai.toml").write_text(f'[attestation]\nrpc_url = "{node}"\nrelayer = "{RELAYER}"\n')
    by_file = invoke("verify", str(path), "--json", "--project", str(project))
    assert by_file.exit_code == 0 and detail(by_file, "chain_submit") == f"{SUBMIT}: accepted"
    plain = invoke("verify", str(path), "--json")  # no URL anywhere: no preflight
    assert plain.exit_code == 0 and not any(c["name"].startswith("chain") for c in json.loads(plain.stdout)["checks"])


def test_publish_runs_the_preflight_before_it_pushes(chain, node, signed, alice_run, keys, redis_db):
    path, doc = signed
    url, client = redis_db
    result = invoke("publish", "--from", str(path), "--rpc", node, "--relayer", RELAYER, "--redis-url", url)
    assert result.exit_code == 0, result.stderr
    assert f"Preflight at {node}: submitMintRequest from {RELAYER} would mint 7000 tokens." in result.stderr
    assert client.llen("hokusai:mint_requests") == 1
    client.flushdb()
    first = attest(*alice_run, keys["one"], deadline=chain.now + WEEK)
    chain.submit(first)  # the head moves: the same file is now stale
    result = invoke("publish", "--from", str(path), "--rpc", node, "--relayer", RELAYER, "--redis-url", url)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: The attestation of {doc['typedData']['message']['payload']['pipelineRunId']} "
                                    "fails the --rpc preflight row chain_head (model 7's head is ")
    assert result.stderr.endswith("the idempotency key is not burned), so it is not published.\n")
    assert client.llen("hokusai:mint_requests") == 0
