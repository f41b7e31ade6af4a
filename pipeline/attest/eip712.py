"""EIP-712 `MintRequest` for the Hokusai DeltaVerifier: build, check, hash, sign, verify.

Pure functions over plain dicts (the eth_signTypedData_v4 shape), so an attestation can be
written as JSON and re-checked anywhere. `eth_account`, `eth_utils` and `rfc8785` are imported
inside the functions that need them: importing them costs ~1 s and CLI start-up must stay fast.
Every rule violation raises `AttestationError` with one sentence naming the field and the fix.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from pipeline.errors import AttestationError

DOMAIN_NAME = "HokusaiDeltaVerifier"
DOMAIN_VERSION = "1"
SCHEMA = "hokusai.attestation/v1"
MAX_SAFE_INT = 2**53 - 1  # largest int RFC 8785 / JavaScript represent exactly
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _fields(spec: str) -> list[dict[str, str]]:
    """Turn "type name,type name" (DESIGN.md's notation) into EIP-712 field dicts."""
    return [dict(zip(("type", "name"), part.split())) for part in spec.split(",")]


MINT_REQUEST_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": _fields(
        "string name,string version,uint256 chainId,address verifyingContract"
    ),
    "MintRequest": _fields(
        "uint256 modelId,MintRequestPayload payload,Contributor[] contributors"
    ),
    "MintRequestPayload": _fields(
        "string pipelineRunId,uint256 baselineScoreBps,uint256 candidateScoreBps,"
        "uint256 maxCostUsdMicro,uint256 actualCostUsdMicro,uint256 totalSamples,"
        "BenchmarkAnchors anchors,bytes32 baselineCommitment,bytes32 candidateCommitment,"
        "uint256 deadline"
    ),
    "BenchmarkAnchors": _fields(
        "bytes32 benchmarkSpecHash,bytes32 datasetHash,bytes32 attestationHash,"
        "bytes32 idempotencyKey,string metricName,string metricFamily"
    ),
    "Contributor": _fields("address walletAddress,uint256 weight"),
}

_BYTES32 = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_ZERO32 = "0x" + "0" * 64
_ZERO_ADDRESS = 0


@dataclass(frozen=True)
class Check:
    """One named verification result; `detail` says what was compared or what differs."""

    name: str
    ok: bool
    detail: str


# --- hashing ---------------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 bytes, so the same evidence always hashes the same on any machine."""
    import rfc8785

    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise AttestationError(
            f"evidence cannot be written as canonical JSON ({exc}); use string keys, "
            f"finite floats and integers within ±{MAX_SAFE_INT} (larger ones as strings)."
        ) from exc


def attestation_hash(evidence: dict) -> str:
    """sha256 of the canonical evidence: the anchor that ties the mint to the facts."""
    return "0x" + hashlib.sha256(canonical_json(evidence)).hexdigest()


def keccak_text(text: str) -> str:
    """keccak256 of a UTF-8 string (e.g. the benchmark spec id), as lowercase 0x-hex."""
    from eth_utils import keccak

    return "0x" + keccak(text=text).hex()


def _uint(value: Any, field: str) -> int:
    """Parse a uint256 given as int or decimal string; reject bools, floats and signs."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise AttestationError(
            f"{field} {value!r} is not a uint256; give a non-negative integer."
        )
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise AttestationError(
            f"{field} {value!r} is not a uint256; give a plain decimal integer string."
        )
    number = int(value)
    if not 0 <= number < 2**256:
        raise AttestationError(
            f"{field} {number} is out of the uint256 range; give a value from 0 to 2**256-1."
        )
    return number


def idempotency_key(model_id: int | str, attestation_hash: str) -> str:
    """sha256("{modelId}:{hash without 0x}"): the same evidence can never mint twice."""
    model = _uint(model_id, "modelId")
    if not isinstance(attestation_hash, str) or not _BYTES32.fullmatch(attestation_hash):
        raise AttestationError(
            f"attestationHash {attestation_hash!r} is not lowercase 0x + 64 hex; "
            "compute it with attestation_hash(evidence)."
        )
    return "0x" + hashlib.sha256(f"{model}:{attestation_hash[2:]}".encode()).hexdigest()


def uint_json(value: int) -> int | str:
    """uint256 for JSON: beyond 2**53-1 as a decimal string, since JSON numbers lose precision."""
    number = _uint(value, "uint256 value")
    return str(number) if number > MAX_SAFE_INT else number


# --- building and checking -------------------------------------------------------------


def _checksum(value: Any) -> Any:
    """EIP-55 form of a well-formed address; anything else is left for the checker to name."""
    from eth_utils import to_checksum_address

    if isinstance(value, str) and _ADDRESS.fullmatch(value):
        return to_checksum_address(value)
    return value


def _normalise(struct: str, data: Any) -> Any:
    """Rewrite one struct into canonical form: checksummed, lowercase, uint via uint_json."""
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    for field in MINT_REQUEST_TYPES[struct]:
        name, kind = field["name"], field["type"]
        if name not in out:
            continue
        value = out[name]
        if kind == "uint256" and not isinstance(value, bool) and isinstance(value, (int, str)):
            try:
                out[name] = uint_json(value)
            except AttestationError:
                pass  # the checker names the field
        elif kind == "address":
            out[name] = _checksum(value)
        elif kind == "bytes32" and isinstance(value, str):
            out[name] = value.lower()
        elif kind.endswith("[]") and isinstance(value, list):
            out[name] = [_normalise(kind[:-2], item) for item in value]
        elif kind in MINT_REQUEST_TYPES:
            out[name] = _normalise(kind, value)
    return out


def build_typed_data(*, chain_id: int, verifying_contract: str, message: dict) -> dict:
    """The eth_signTypedData_v4 document in canonical form; raises if a contract rule fails."""
    typed_data = {
        "types": copy.deepcopy(MINT_REQUEST_TYPES),
        "primaryType": "MintRequest",
        "domain": _normalise(
            "EIP712Domain",
            {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": chain_id,
                "verifyingContract": verifying_contract,
            },
        ),
        "message": _normalise("MintRequest", copy.deepcopy(message)),
    }
    check_mint_request(typed_data)
    return typed_data


def _check_struct(struct: str, data: Any, path: str) -> None:
    """Field presence and wire form (canonical uint, bytes32, EIP-55) of one struct."""
    if not isinstance(data, Mapping):
        raise AttestationError(f"{path} is not an object; give the {struct} fields.")
    known = [f["name"] for f in MINT_REQUEST_TYPES[struct]]
    extras = sorted(set(data) - set(known))
    if extras:
        raise AttestationError(f"{path}.{extras[0]} is not a field of {struct}; remove it.")
    for field in MINT_REQUEST_TYPES[struct]:
        name, kind = field["name"], field["type"]
        where = f"{path}.{name}"
        if name not in data:
            raise AttestationError(f"{where} is missing; add it.")
        value = data[name]
        if kind == "uint256":
            number = _uint(value, where)
            if uint_json(number) != value:
                raise AttestationError(
                    f"{where} {value!r} is not in canonical form; write it as "
                    f"{uint_json(number)!r} (uint256 above 2**53-1 as decimal strings)."
                )
        elif kind == "string" and not isinstance(value, str):
            raise AttestationError(f"{where} {value!r} is not a string; give text.")
        elif kind == "bytes32" and not (isinstance(value, str) and _BYTES32.fullmatch(value)):
            raise AttestationError(
                f"{where} {value!r} is not lowercase 0x + 64 hex; write the 32-byte hash "
                "as lowercase hex with a 0x prefix."
            )
        elif kind == "address":
            if not (isinstance(value, str) and _ADDRESS.fullmatch(value)):
                raise AttestationError(
                    f"{where} {value!r} is not an address; give 0x followed by 40 hex digits."
                )
            if _checksum(value) != value:
                raise AttestationError(
                    f"{where} {value} is not EIP-55 checksummed; write it as {_checksum(value)}."
                )
        elif kind.endswith("[]"):
            if not isinstance(value, list):
                raise AttestationError(f"{where} is not a list; give a list of {kind[:-2]}.")
            for i, item in enumerate(value):
                _check_struct(kind[:-2], item, f"{where}[{i}]")
        elif kind in MINT_REQUEST_TYPES:
            _check_struct(kind, value, where)


def check_mint_request(typed_data: dict) -> None:
    """Enforce what DeltaVerifier enforces on-chain, so a bad request fails here, not in a tx."""
    if not isinstance(typed_data, Mapping):
        raise AttestationError("typedData is not an object; rebuild it with build_typed_data.")
    if typed_data.get("types") != MINT_REQUEST_TYPES:
        raise AttestationError(
            "typedData.types differ from the DeltaVerifier MintRequest types; "
            "rebuild it with build_typed_data."
        )
    if typed_data.get("primaryType") != "MintRequest":
        raise AttestationError("typedData.primaryType must be 'MintRequest'; set it so.")
    domain = typed_data.get("domain")
    _check_struct("EIP712Domain", domain, "domain")
    if domain["name"] != DOMAIN_NAME or domain["version"] != DOMAIN_VERSION:
        raise AttestationError(
            f"domain name/version {domain['name']!r}/{domain['version']!r} is wrong; "
            f"use {DOMAIN_NAME!r}/{DOMAIN_VERSION!r}."
        )
    if domain["chainId"] == 0:
        raise AttestationError("domain.chainId is 0; give the chain id of the target network.")
    if int(domain["verifyingContract"], 16) == _ZERO_ADDRESS:
        raise AttestationError(
            "domain.verifyingContract is the zero address; give the deployed DeltaVerifier address."
        )
    message = typed_data.get("message")
    _check_struct("MintRequest", message, "message")
    payload, anchors = message["payload"], message["payload"]["anchors"]
    for name in ("baselineScoreBps", "candidateScoreBps"):
        if int(payload[name]) > 10000:
            raise AttestationError(
                f"message.payload.{name} is {payload[name]}; give a score from 0 to 10000 "
                "basis points."
            )
    if not payload["pipelineRunId"].strip():
        raise AttestationError(
            "message.payload.pipelineRunId is empty; give the evaluation run id."
        )
    if not anchors["metricName"].strip():
        raise AttestationError(
            "message.payload.anchors.metricName is empty; give the metric name, e.g. 'accuracy'."
        )
    if anchors["idempotencyKey"] == _ZERO32:
        raise AttestationError(
            "message.payload.anchors.idempotencyKey is zero; derive it with "
            "idempotency_key(modelId, attestationHash)."
        )
    contributors = message["contributors"]
    if not 1 <= len(contributors) <= 100:
        raise AttestationError(
            f"message.contributors has {len(contributors)} entries; give from 1 to 100 "
            "contributors."
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(contributors):
        wallet = item["walletAddress"].lower()
        if int(wallet, 16) == _ZERO_ADDRESS:
            raise AttestationError(
                f"message.contributors[{i}].walletAddress is the zero address; give the "
                "contributor's real wallet."
            )
        if wallet in seen:
            raise AttestationError(
                f"message.contributors[{i}].walletAddress {item['walletAddress']} repeats "
                f"contributors[{seen[wallet]}]; merge them into one entry."
            )
        seen[wallet] = i
    total = sum(int(item["weight"]) for item in contributors)
    if total != 10000:
        raise AttestationError(
            f"message.contributors weights sum to {total}; make them sum to exactly 10000."
        )


# --- EIP-712 hashing and signatures ----------------------------------------------------


def _signable(typed_data: dict) -> Any:
    """eth-account's SignableMessage (version 0x01, header = domain separator, body = hashStruct)."""
    from eth_account.messages import encode_typed_data

    try:
        return encode_typed_data(full_message=typed_data)
    except Exception as exc:  # eth-account raises many types for malformed input
        raise AttestationError(
            f"typedData cannot be EIP-712 encoded ({exc}); rebuild it with build_typed_data."
        ) from exc


def struct_hash(typed_data: dict) -> str:
    """hashStruct(message), the value DeltaVerifier recomputes from calldata."""
    return "0x" + _signable(typed_data).body.hex()


def digest(typed_data: dict) -> str:
    """keccak256(0x19 || 0x01 || domainSeparator || hashStruct(message)): what gets signed."""
    from eth_utils import keccak

    msg = _signable(typed_data)
    return "0x" + keccak(b"\x19" + msg.version + msg.header + msg.body).hex()


def _split_signature(signature: str) -> tuple[int, int, int]:
    """(r, s, v) of a 65-byte r||s||v signature; the contract rejects any other shape."""
    raw = signature[2:] if isinstance(signature, str) and signature[:2] in ("0x", "0X") else None
    try:
        data = bytes.fromhex(raw) if raw is not None else b""
    except ValueError:
        data = b""
    if len(data) != 65:
        raise AttestationError(
            f"signature {signature!r} is not 0x + 65 bytes of hex; give the r||s||v signature."
        )
    r, s, v = int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big"), data[64]
    if v not in (27, 28):
        raise AttestationError(f"signature v is {v}; re-sign so that v is 27 or 28.")
    if not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise AttestationError(
            "signature s is not in the lower half of the curve order (or r/s is zero); "
            "re-sign with a low-s signer such as eth-account."
        )
    return r, s, v


_KEY_FORM = (
    "give one private key: exactly 64 hex digits (32 bytes), optionally prefixed with 0x, "
    "not zero and below the secp256k1 curve order"
)
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def parse_private_key(value: Any, source: str = "private_key") -> bytes:
    """The 32 bytes of a secp256k1 private key, or one sentence naming `source`, never the key.

    Every signing path goes through here. Surrounding whitespace (a key file's final newline)
    is ignored; anything else but exactly 64 hex digits is refused, because eth-account
    left-pads a short key and would sign, without a word, as a different address.
    """
    raw = b""
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        problem = f"is {len(raw)} bytes, not 32" if len(raw) != 32 else ""
    elif isinstance(value, str):
        text = value.strip()
        digits = text[2:] if text[:2] in ("0x", "0X") else text
        if not text:
            problem = "is empty"
        elif len(text.splitlines()) > 1:
            problem = f"spans {len(text.splitlines())} lines"
        elif not _HEX_DIGITS.fullmatch(digits):
            problem = "contains a character that is not a hex digit"
        elif len(digits) != 64:
            problem = f"has {len(digits)} hex digits, not 64"
        else:
            raw, problem = bytes.fromhex(digits), ""
    else:
        problem = f"is of type {type(value).__name__}, not text"
    if not problem:
        number = int.from_bytes(raw, "big")
        if number == 0:
            problem = "is zero"
        elif number >= SECP256K1_N:
            problem = "is not below the secp256k1 curve order"
        else:
            return raw
    raise AttestationError(f"{source}: the key {problem}; {_KEY_FORM}.")


def sign(typed_data: dict, private_key: Any, source: str = "private_key") -> str:
    """Sign the digest; checks the key and the rules first so nothing invalid is ever signed.

    `source` names where the key came from (an option, a variable) in the error sentence.
    """
    from eth_account import Account

    key = parse_private_key(private_key, source)
    check_mint_request(typed_data)
    signed = Account.sign_message(_signable(typed_data), key)
    signature = signed.signature.to_0x_hex()
    _split_signature(signature)  # eth-account emits low-s, v 27/28; fail loudly if not
    return signature


def recover(typed_data: dict, signature: str) -> str:
    """EIP-55 address that produced `signature` over the typed data (malleable forms refused)."""
    from eth_account import Account

    _split_signature(signature)
    signable = _signable(typed_data)
    try:
        return Account.recover_message(signable, signature=signature)
    except Exception as exc:  # e.g. r is not the x of any curve point
        raise AttestationError(
            f"signature does not recover to any address ({exc}); re-sign the typed data."
        ) from exc


def _addr_key(address: str) -> int:
    return int(address, 16)


def add_signature(doc: dict, signature: str) -> dict:
    """New doc with the signature in ascending-signer order, as the contract requires."""
    typed_data = doc.get("typedData")
    if doc.get("digest") != digest(typed_data):
        raise AttestationError(
            "attestation digest does not match its typedData; rebuild the attestation "
            "before signing."
        )
    signer = recover(typed_data, signature)
    pairs = list(zip(doc.get("signers", []), doc.get("signatures", [])))
    if any(_addr_key(existing) == _addr_key(signer) for existing, _ in pairs):
        raise AttestationError(
            f"signer {signer} already signed this attestation; drop the duplicate signature."
        )
    pairs.append((signer, signature.lower()))
    pairs.sort(key=lambda pair: _addr_key(pair[0]))
    out = copy.deepcopy(doc)
    out["signers"] = [_checksum(s) for s, _ in pairs]
    out["signatures"] = [sig for _, sig in pairs]
    return out


# --- verification ----------------------------------------------------------------------


def _differ(actual: Any, recorded: Any) -> str:
    """Render 'a != recorded b', shortened unless shortening would hide the difference."""
    a, b = str(actual), str(recorded)
    if a[:12] != b[:12]:
        a, b = (t if len(t) <= 13 else t[:12] + "…" for t in (a, b))
    return f"{a} != recorded {b}"


#: What recomputing a check over a malformed document can raise; the check then fails
#: ("cannot check: ...") instead of the verifier crashing: a verifier fails closed.
CHECK_ERRORS = (AttestationError, LookupError, TypeError, ValueError, AttributeError,
                ArithmeticError, RecursionError)

_FIX_DOCUMENT = "use the file exactly as `hokusai attest` wrote it"
_SIGNATURE_HEX = re.compile(r"0[xX][0-9a-fA-F]{130}")
#: Top-level fields of an attestation and the JSON type each must have.
_DOCUMENT_FIELDS = (
    ("schema", str, "a string"),
    ("evidence", dict, "an object"),
    ("attestationHash", str, "a string"),
    ("typedData", dict, "an object"),
    ("digest", str, "a string"),
    ("signatures", list, "an array of signatures"),
    ("signers", list, "an array of addresses"),
)


def is_address(value: Any) -> bool:
    """0x followed by 40 hex digits (any case; the checksum is checked where it matters)."""
    return isinstance(value, str) and bool(_ADDRESS.fullmatch(value))


def json_kind(value: Any) -> str:
    """'an object', 'an array', 'a string', 'a number', 'a boolean' or 'null', for sentences."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def document_problem(doc: Any) -> str | None:
    """The first way `doc` lacks the shape of a `hokusai.attestation/v1` file, as one sentence.

    Only the shape: the fields, their JSON types, and the form of each signature and signer.
    Whether the values hold is what `verify_attestation` checks.
    """
    if not isinstance(doc, Mapping):
        return f"the attestation is {json_kind(doc)}, not a JSON object; {_FIX_DOCUMENT}."
    for name, kind, expected in _DOCUMENT_FIELDS:
        if name not in doc:
            return f"{name} is missing; {_FIX_DOCUMENT}."
        if not isinstance(doc[name], kind):
            return f"{name} is {json_kind(doc[name])}, not {expected}; {_FIX_DOCUMENT}."
    for i, signature in enumerate(doc["signatures"]):
        if not isinstance(signature, str):
            return f"signatures[{i}] is {json_kind(signature)}, not a string; {_FIX_DOCUMENT}."
        if not _SIGNATURE_HEX.fullmatch(signature):
            return (f"signatures[{i}] is not 0x followed by 130 hex digits (a 65-byte r||s||v "
                    f"signature); {_FIX_DOCUMENT}.")
    for i, signer in enumerate(doc["signers"]):
        if not isinstance(signer, str):
            return f"signers[{i}] is {json_kind(signer)}, not a string; {_FIX_DOCUMENT}."
        if not is_address(signer):
            return f"signers[{i}] is not an address (0x followed by 40 hex digits); {_FIX_DOCUMENT}."
    return None


def verify_attestation(doc: dict, expect_signers: Iterable[str] = ()) -> list[Check]:
    """Recompute everything the document claims; each failing check says what differs.

    Never raises on a malformed document: what cannot be recomputed is a failed check.
    """
    checks: list[Check] = []
    doc = doc if isinstance(doc, Mapping) else {}

    def run(name: str, fn: Callable[[], tuple[bool, str]]) -> None:
        try:
            ok, detail = fn()
        except CHECK_ERRORS as exc:
            ok, detail = False, f"cannot check: {exc!s}"
        checks.append(Check(name, ok, detail))

    def same(label: str, actual: Any, recorded: Any) -> tuple[bool, str]:
        if actual == recorded:
            return True, f"{label} {actual}"
        return False, f"{label} {_differ(actual, recorded)}"

    typed = doc.get("typedData")
    message = typed.get("message") if isinstance(typed, Mapping) else None
    run("schema", lambda: same("schema", doc.get("schema"), SCHEMA))
    run("evidence_hash",
        lambda: same("evidence hash", attestation_hash(doc["evidence"]), doc["attestationHash"]))
    run("anchor_hash", lambda: same(
        "anchors.attestationHash", message["payload"]["anchors"]["attestationHash"],
        doc["attestationHash"]))
    run("idempotency_key", lambda: same(
        "idempotency key", idempotency_key(message["modelId"], doc["attestationHash"]),
        message["payload"]["anchors"]["idempotencyKey"]))
    run("digest", lambda: same("digest", digest(typed), doc["digest"]))

    def rules() -> tuple[bool, str]:
        check_mint_request(typed)
        return True, "contract rules hold"

    run("contract_rules", rules)
    def listed(name: str, expected: str) -> list:
        value = doc.get(name, [])  # absent = unsigned
        if isinstance(value, list):
            return value
        checks.append(Check(name, False, f"{name} is {json_kind(value)}, not {expected}; {_FIX_DOCUMENT}."))
        return []

    signatures = listed("signatures", "an array of signatures")
    signers = listed("signers", "an array of addresses")
    for i in range(max(len(signatures), len(signers))):
        def sig_check(i: int = i) -> tuple[bool, str]:
            if i >= len(signatures) or i >= len(signers):
                return False, f"{len(signatures)} signatures but {len(signers)} signers"
            return same(f"signature[{i}] signer", recover(typed, signatures[i]), signers[i])
        run(f"signature[{i}]", sig_check)

    def order() -> tuple[bool, str]:
        keys = [_addr_key(s) for s in signers]
        ok = all(a < b for a, b in zip(keys, keys[1:]))
        return ok, ("signers ascending" if ok else f"signers not strictly ascending: {signers}")

    run("signature_order", order)

    def expected() -> tuple[bool, str]:
        have = {_addr_key(s) for s in signers}
        missing = [s for s in expect_signers if _addr_key(s) not in have]
        return not missing, (f"missing signers {missing}" if missing else "expected signers present")

    run("expected_signers", expected)
    return checks
