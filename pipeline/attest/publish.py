"""`hokusai publish`: push a `mint_request` onto the relayer's Redis list, once per key.

The relayer pops `hokusai:mint_requests` with BRPOPLPUSH, so a message is LPUSHed (oldest out
first). Publishing the same idempotency key twice to the same queue is refused unless forced:
the contract would reject the replay anyway, and the relayer would dead-letter it.

Once per key is enforced in two places. Redis holds a marker per key and queue
(`<queue>:published:<idempotencyKey>`, holding the pushed message) that one Lua script checks
and sets together with the LPUSH, atomically: a publish whose answer was lost on the way back
(Redis applied the push, the connection died) left its marker, so the retry finds it, pushes
nothing and says so. And what was published is recorded in
`<project>/.hokusai/published.jsonl` (the Redis host, port, database and queue, never a
password), under a file lock so two publishes cannot race. The client makes one attempt per
publish (no automatic retry). `redis` is imported inside the function that connects."""

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

#: KEYS[1] the key's marker, KEYS[2] the queue; ARGV[1] the message, ARGV[2] "1" to push anyway.
#: Returns {1, length} after a push, {0, the marker's message, length} when the key was there.
#: LPUSH runs before SET: a queue of the wrong type fails the script before anything is written.
PUSH_ONCE = """
local found = redis.call('GET', KEYS[1])
if found and ARGV[2] ~= '1' then
  return {0, found, redis.call('LLEN', KEYS[2])}
end
local length = redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[1])
return {1, length}
"""


def marker_key(queue: str, idempotency_key: str) -> str:
    """The Redis key that says `idempotency_key` was pushed to `queue` (it holds the message)."""
    return f"{queue}:published:{idempotency_key}"


@dataclass(frozen=True)
class Published:
    """What `publish` pushed, and where."""

    redis: str  # the URL without user or password
    queue: str
    message_id: str
    eval_id: str
    idempotency_key: str
    queue_length: int  # the list's length right after the push (or now, when nothing was pushed)
    republished: bool  # the key had been published to this queue before (--force)
    already_queued: bool = False  # Redis already held this key's message: nothing was pushed
    message: Mapping[str, Any] | None = None  # the message on the queue for this key


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
    idempotency key was already published to that queue (then only with `force`): refused when
    this project's record has it; when only Redis has it (a publish whose answer was lost, or
    one made elsewhere), nothing is pushed, the record gains it, and `already_queued` says so."""
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
        pushed, queued, length = _push_once(redis_url, where, queue, key, json.dumps(message, separators=(",", ":")),
                                            force)
        entry = {"redis": where, "queue": queue, "idempotencyKey": key, "messageId": queued.get("message_id"),
                 "evalId": queued.get("eval_id"),
                 "publishedAt": (published_at or now_timestamp()) if pushed else queued.get("timestamp")}
        if not pushed:
            entry["foundOnRedis"] = True
        with (record_dir / RECORD_FILE).open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
    return Published(where, queue, str(queued.get("message_id")), str(queued.get("eval_id")), key, length,
                      bool(before), already_queued=not pushed, message=queued)


def _push_once(url: str, where: str, queue: str, key: str, body: str, force: bool) -> tuple[bool, dict[str, Any], int]:
    """(pushed, the message on the queue for `key`, the list's length): `PUSH_ONCE` in one
    round trip; connection problems become one sentence naming --redis-url."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                      socket_timeout=COMMAND_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
    except ValueError as exc:
        raise InputError(f"--redis-url {where} cannot be used ({exc}); give redis://HOST:PORT/DB.") from None
    try:
        answer = client.eval(PUSH_ONCE, 2, marker_key(queue, key), queue, body, "1" if force else "0")
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
    if int(answer[0]) == 1:
        return True, json.loads(body), int(answer[1])
    try:
        queued = json.loads(answer[1])
    except ValueError:
        queued = None
    if not isinstance(queued, dict):
        raise InputError(
            f"--queue {queue} on {where}: the marker {marker_key(queue, key)} does not hold a mint_request; "
            "delete it (redis-cli DEL) if nothing was pushed for this key, or pass --force."
        )
    return False, queued, int(answer[2])
