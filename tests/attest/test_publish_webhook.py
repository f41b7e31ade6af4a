"""`hokusai publish --webhook` (issue 24, item 4) end to end: a signed attestation pushed to a
real Redis and announced to a real local receiver that checks the HMAC; a 5xx then OK is
retried; a dead endpoint is one sentence, exit 3, the Redis push standing; bad options exit 2."""

from __future__ import annotations

import json
import socket

import pytest

from tests.attest.documents import TEST_KEY, signed_attestation, write
from tests.attest.test_publish import pop, redis_db, redis_server  # noqa: F401 - fixtures
from tests.attest.test_webhook import SECRET, Receiver
from tests.conftest import invoke


def sentence(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def attestation(tmp_path):
    return write(tmp_path / "attestation.json", signed_attestation(TEST_KEY))


@pytest.mark.timeout(120)
def test_publish_pushes_then_announces_and_a_5xx_is_retried(redis_db, attestation, tmp_path, monkeypatch):
    url, client = redis_db
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    receiver = Receiver([503])
    try:
        done = invoke("publish", "--from", str(attestation), "--redis-url", url, "--project", str(tmp_path),
                      "--webhook", receiver.url, "--webhook-secret-env", "HOOK_SECRET")
    finally:
        receiver.close()
    assert done.exit_code == 0, done.stderr
    assert pop(client)["attestation_hash"] == json.loads(attestation.read_text())["attestationHash"]
    host = receiver.url.removesuffix("/hooks/hokusai")
    assert sentence(done.stderr).endswith(f"Webhook deltaone.achieved delivered to {host} (HTTP 200, attempt 2 of 3).")
    assert [r["verified"] for r in receiver.seen] == [True, True]
    body = json.loads(receiver.seen[-1]["body"])
    assert (body["event_type"], body["run_id"], body["attestation_hash"], body["delta_percentage_points"]) == (
        "deltaone.achieved", "HokusaiEvaluationFlow/1", json.loads(attestation.read_text())["attestationHash"], 7.0)


@pytest.mark.timeout(120)
def test_a_dead_endpoint_is_exit_3_and_the_webhook_alone_can_be_sent_again(redis_db, attestation, tmp_path, monkeypatch):
    url, client = redis_db
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setattr("pipeline.attest.webhook.BASE_DELAY_S", 0.01)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/hooks"
    done = invoke("publish", "--from", str(attestation), "--redis-url", url, "--project", str(tmp_path),
                  "--webhook", dead, "--webhook-secret-env", "HOOK_SECRET")
    assert done.exit_code == 3
    assert sentence(done.stderr).endswith(
        f"Error: The deltaone.achieved webhook was not delivered to {dead.removesuffix('/hooks')} (Connection refused) "
        "after 3 attempts each; check the endpoint, then send it again with `hokusai publish --from FILE --webhook URL "
        "--webhook-secret-env VAR` (without --redis-url: nothing is pushed twice).")
    assert client.llen("hokusai:mint_requests") == 1  # the push stands

    receiver = Receiver([])
    try:
        again = invoke("publish", "--from", str(attestation), "--project", str(tmp_path),
                       "--webhook", receiver.url, "--webhook-secret-env", "HOOK_SECRET")
    finally:
        receiver.close()
    assert again.exit_code == 0, again.stderr
    assert again.stdout == "" and client.llen("hokusai:mint_requests") == 1  # only the webhook went
    assert [r["verified"] for r in receiver.seen] == [True]


@pytest.mark.parametrize("args, env, message", [
    (["--webhook", "ftp://x/y", "--webhook-secret-env", "HOOK_SECRET"], {"HOOK_SECRET": "s"},
     "Error: --webhook 'ftp://x/y' is not an http(s) URL; give e.g. https://hooks.example.com/hokusai."),
    (["--webhook", "http://127.0.0.1:9/h"], {},
     "Error: --webhook needs --webhook-secret-env VAR, the variable holding the shared secret the receiver checks "
     "X-Hokusai-Signature with."),
    (["--webhook", "http://127.0.0.1:9/h", "--webhook-secret-env", "NO_SUCH_SECRET"], {},
     "Error: --webhook-secret-env NO_SUCH_SECRET: the variable is not set or empty; export the webhook's shared "
     "secret in it."),
    ([], {}, "Error: --redis-url is missing; give the relayer's Redis, e.g. redis://127.0.0.1:6379/0, or set "
             "HOKUSAI_REDIS_URL (or give only --webhook URL to send the webhook alone)."),
])
def test_bad_webhook_options_are_one_sentence(args, env, message, attestation, tmp_path, monkeypatch):
    monkeypatch.delenv("HOKUSAI_REDIS_URL", raising=False)
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = invoke("publish", "--from", str(attestation), "--project", str(tmp_path), *args)
    assert (done.exit_code, sentence(done.stderr), done.stdout) == (2, message, "")
