"""Signed webhooks (issue 24, item 4) against a real HTTP server on 127.0.0.1 that checks the
HMAC as a receiver would: delivered, a 5xx then OK retried, a dead endpoint reported."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.attest.webhook import achieved_payload, body_bytes, deliver
from tests.attest.documents import unsigned_attestation

SECRET = "whsec-test-secret"


class Receiver:
    """A webhook endpoint: answers the next status of `statuses` (then 200) and records each
    request with whether its signature verified."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.seen = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts, nonce = self.headers["X-Hokusai-Timestamp"], self.headers["X-Hokusai-Nonce"]
                expected = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.{nonce}.".encode() + body,
                                                hashlib.sha256).hexdigest()
                verified = hmac.compare_digest(expected, self.headers["X-Hokusai-Signature"])
                receiver.seen.append({"body": body, "nonce": nonce, "verified": verified,
                                      "agent": self.headers["User-Agent"]})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status if verified else 401)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hokusai"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def payload():
    return achieved_payload(unsigned_attestation(), mlflow_run_id="0f1e2d3c4b5a", evaluated_at="2026-12-07T04:00:00Z")


def test_the_achieved_payload_is_upstreams_fields(payload):
    doc = unsigned_attestation()
    assert payload == {
        "event_type": "deltaone.achieved", "run_id": "0f1e2d3c4b5a", "baseline_run_id": "trained:base.csv",
        "model_id": "7", "dataset_hash": "0x" + "0d" * 32, "metric_name": "accuracy",
        "delta_percentage_points": 7.0, "attestation_hash": doc["attestationHash"],
        "evaluated_at": "2026-12-07T04:00:00Z"}
    assert body_bytes(payload).startswith(b'{"attestation_hash":"0x')  # compact, keys sorted


@pytest.mark.timeout(60)
def test_delivered_and_verified_by_the_receiver(payload):
    receiver = Receiver([])
    try:
        done = deliver(receiver.url, payload, SECRET, base_delay_s=0.01)
    finally:
        receiver.close()
    assert (done.delivered, done.status, done.attempts, done.error) == (True, 200, 1, None)
    [request] = receiver.seen
    assert request["verified"] and request["agent"] == "Hokusai-DeltaOne/1.0"
    assert json.loads(request["body"]) == payload


@pytest.mark.timeout(60)
def test_a_5xx_is_retried_with_a_new_nonce_then_delivered(payload):
    receiver = Receiver([503])
    try:
        done = deliver(receiver.url, payload, SECRET, base_delay_s=0.01)
    finally:
        receiver.close()
    assert (done.delivered, done.status, done.attempts) == (True, 200, 2)
    assert [r["verified"] for r in receiver.seen] == [True, True]
    assert receiver.seen[0]["nonce"] != receiver.seen[1]["nonce"]


@pytest.mark.timeout(60)
def test_a_wrong_secret_and_a_dead_endpoint_are_not_delivered(payload):
    receiver = Receiver([])
    try:
        refused = deliver(receiver.url, payload, "another-secret", base_delay_s=0.01)
    finally:
        receiver.close()
    assert (refused.delivered, refused.status, refused.attempts, refused.error) == (False, 401, 3, "HTTP 401 Unauthorized")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/hooks"
    gone = deliver(dead, payload, SECRET, base_delay_s=0.01)
    assert (gone.delivered, gone.status, gone.attempts, gone.error) == (False, None, 3, "Connection refused")
