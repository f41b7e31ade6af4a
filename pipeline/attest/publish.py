"""`hokusai publish`: push a `mint_request` onto the relayer's Redis list, once per key.

The relayer pops `hokusai:mint_requests` with BRPOPLPUSH, so a message is LPUSHed (oldest out
first). Publishing the same idempotency key twice to the same queue is refused unless forced:
the contract would reject the replay anyway, and the relayer would dead-letter it. What was
published is recorded in `<project>/.hokusai/published.jsonl` (the Redis host, port, database
and queue, never a password), under a file lock so two publishes cannot race. `redis` is
imported inside the function that connects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from pipeline.errors import AttestationError, InputError

RECORD_FILE = "published.jsonl"
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Published:
    """What `publish` pushed, and where."""

    redis: str  # the URL without user or password
    queue: str
    message_id: str
    eval_id: str
    idempotency_key: str
    queue_length: int  # LPUSH's answer: the list's length right after the push
    republished: bool  # the key had been published to this queue before (--force)


def redacted(url: str) -> str:
    """`url` without its user and password: what may be printed and recorded."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable Redis URL>"
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{host}{port}{parts.path or '/0'}"


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
        ok = (parts.scheme in ("redis", "rediss") and bool(parts.hostname)) or (parts.scheme == "unix" and bool(parts.path))
    except ValueError:
        ok = False
    if not ok:
        shown = redacted(url) if "@" in url else url  # never print a password
        raise InputError(
            f"--redis-url {shown!r} is not a Redis URL; give redis://HOST:PORT/DB (rediss:// for TLS, "
            "user:password@ before the host if needed)."
        )


def records(record_dir: Path) -> list[dict[str, Any]]:
    """Every publish recorded in `record_dir`, oldest first (unreadable lines are skipped)."""
    path = record_dir / RECORD_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def publish(
    message: Mapping[str, Any], *, redis_url: str, queue: str, record_dir: Path, force: bool = False,
    published_at: str | None = None,
) -> Published:
    """LPUSH `message` (a checked mint_request) as compact JSON onto `queue`, unless its
    idempotency key was already published to that queue (then only with `force`)."""
    from filelock import FileLock

    from pipeline.attest.relayer import check_message, now_timestamp

    check_message(message)
    _check_url(redis_url)
    if not queue.strip():
        raise InputError("--queue is empty; give the relayer's list, e.g. hokusai:mint_requests.")
    where, key = redacted(redis_url), message["idempotency_key"]
    record_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(record_dir / f"{RECORD_FILE}.lock"), timeout=60):
        before = [r for r in records(record_dir)
                  if r.get("redis") == where and r.get("queue") == queue and r.get("idempotencyKey") == key]
        if before and not force:
            last = before[-1]
            raise AttestationError(
                f"Idempotency key {key} was already published to {queue} on {where} (message "
                f"{last.get('messageId')}, {last.get('publishedAt')}), and the contract mints a key once; "
                "pass --force to publish it again."
            )
        length = _lpush(redis_url, where, queue, json.dumps(message, separators=(",", ":")))
        entry = {"redis": where, "queue": queue, "idempotencyKey": key, "messageId": message["message_id"],
                 "evalId": message["eval_id"], "publishedAt": published_at or now_timestamp()}
        with (record_dir / RECORD_FILE).open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
    return Published(where, queue, message["message_id"], message["eval_id"], key, length, bool(before))


def _lpush(url: str, where: str, queue: str, body: str) -> int:
    """LPUSH one message; connection problems become one sentence naming --redis-url."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                      socket_timeout=COMMAND_TIMEOUT_S)
    except ValueError as exc:
        raise InputError(f"--redis-url {where} cannot be used ({exc}); give redis://HOST:PORT/DB.") from None
    try:
        return int(client.lpush(queue, body))
    except redis.exceptions.AuthenticationError as exc:
        raise InputError(
            f"--redis-url {where}: Redis refused the credentials ({exc}); put the right user and password "
            "in the URL."
        ) from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise InputError(
            f"--redis-url {where}: cannot reach Redis ({exc}); check the host and port, and that Redis is running."
        ) from None
    except redis.exceptions.ResponseError as exc:
        raise InputError(
            f"--queue {queue} on {where}: Redis refused the push ({exc}); give the relayer's list, e.g. "
            "hokusai:mint_requests."
        ) from None
    finally:
        client.close()
