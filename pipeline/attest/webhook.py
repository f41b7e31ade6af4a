"""Signed webhooks as Hokusai's pipeline sends them (`deltaone.achieved`): a team's services
that already listen to Hokusai hear hokusai the same way. The body is compact sorted JSON; the
signature is `sha256=` + HMAC-SHA256(secret, "{timestamp}.{nonce}." + body), with the timestamp
and a fresh UUID4 nonce in headers (replay protection); three attempts with ×4 backoff and 25 %
jitter, as upstream's `webhook_delivery` does."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Mapping

ACHIEVED = "deltaone.achieved"
USER_AGENT = "Hokusai-DeltaOne/1.0"
ATTEMPTS, BASE_DELAY_S, BACKOFF, JITTER, TIMEOUT_S = 3, 1.0, 4.0, 0.25, 10.0


def achieved_payload(doc: Mapping[str, Any], *, mlflow_run_id: str | None, evaluated_at: str) -> dict[str, Any]:
    """`deltaone.achieved` of an attestation: `run_id` is the evaluation's MLflow run (else its
    Metaflow pathspec); `baseline_run_id` names the baseline's source (hokusai's baseline is a
    file, a training or a registered model, not an MLflow run of its own)."""
    evidence = doc["evidence"]
    payload = doc["typedData"]["message"]["payload"]
    return {
        "event_type": ACHIEVED,
        "run_id": mlflow_run_id or payload["pipelineRunId"],
        "baseline_run_id": evidence["baseline"]["source"],
        "model_id": doc.get("modelName") or str(evidence["modelId"]),
        "dataset_hash": payload["anchors"]["datasetHash"],
        "metric_name": payload["anchors"]["metricName"],
        "delta_percentage_points": float(Decimal(evidence["delta"]["deltaOnePp"])),
        "attestation_hash": doc["attestationHash"],
        "evaluated_at": evaluated_at,
    }


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys: the bytes that are signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def signature(body: bytes, secret: str, timestamp: str, nonce: str) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), f"{timestamp}.{nonce}.".encode() + body,
                                hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Delivery:
    """What happened to one webhook: delivered or not, the last HTTP status (None when no
    answer came), the attempts made, and the last error in words."""

    url: str
    delivered: bool
    status: int | None
    attempts: int
    error: str | None = None


def deliver(
    url: str, payload: Mapping[str, Any], secret: str, *, attempts: int = ATTEMPTS, base_delay_s: float | None = None,
    timeout_s: float = TIMEOUT_S, sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST the signed payload; any answer but 2xx, or none, is retried after base × 4^i seconds
    (± 25 %), up to `attempts` in all. Each attempt is signed anew (its own timestamp and nonce)."""
    import urllib.error
    import urllib.request

    body = body_bytes(payload)
    base_delay_s = BASE_DELAY_S if base_delay_s is None else base_delay_s
    status, error = None, None
    for attempt in range(1, attempts + 1):
        timestamp, nonce = str(int(time.time())), str(uuid.uuid4())
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-Hokusai-Signature": signature(body, secret, timestamp, nonce),
            "X-Hokusai-Timestamp": timestamp, "X-Hokusai-Nonce": nonce,
        })
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                status, error = response.status, None
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            status, error = None, " ".join(str(getattr(reason, "strerror", None) or reason).split())
        if status is not None and 200 <= status < 300:
            return Delivery(url, True, status, attempt)
        if attempt < attempts:
            sleep(base_delay_s * BACKOFF ** (attempt - 1) * random.uniform(1 - JITTER, 1 + JITTER))
    return Delivery(url, False, status, attempts, error)
