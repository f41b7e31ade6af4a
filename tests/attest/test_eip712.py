"""EIP-712 MintRequest: known-answer vector, contract rules, signatures and attestation checks."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from pipeline.attest import eip712
from pipeline.errors import AttestationError

# The DeltaVerifier known-answer vector, kept in the repo so these tests never skip; the
# project's shared copy (beside the checkout), when present, must be the same file.
VECTOR_PATH = Path(__file__).resolve().parents[1] / "vectors" / "deltaverifier-mint-request.json"
SHARED_VECTOR = Path(__file__).resolve().parents[3] / "shared/vectors/deltaverifier-mint-request.json"
# Public throwaway keys (never funded), only used to get a second and third signer.
KEY_B = "0x" + "11" * 32
KEY_C = "0x" + "22" * 32


@pytest.fixture(scope="module")
def vector() -> dict:
    return json.loads(VECTOR_PATH.read_text())


def test_repo_vector_is_the_shared_vector() -> None:
    if not SHARED_VECTOR.is_file():
        pytest.skip(f"no shared copy at {SHARED_VECTOR} to compare with")
    assert VECTOR_PATH.read_bytes() == SHARED_VECTOR.read_bytes()


@pytest.fixture()
def typed(vector: dict) -> dict:
    return eip712.build_typed_data(
        chain_id=vector["domain"]["chainId"],
        verifying_contract=vector["domain"]["verifyingContract"],
        message=vector["message"],
    )


EVIDENCE = {
    "benchmark": {"specId": "spec-test-v1", "sha256": "0123456789abcdef" * 4},
    "baseline": {"accuracy": 0.78, "samples": 1000},
    "candidate": {"accuracy": 0.81, "samples": 1000},
    "pipelineRunId": "eval-2026-abc123",
}


def make_doc(vector: dict, evidence: dict = EVIDENCE, keys: tuple[str, ...] = ()) -> dict:
    """An attestation built the way the pipeline builds one, signed by `keys`."""
    att = eip712.attestation_hash(evidence)
    message = copy.deepcopy(vector["message"])
    anchors = message["payload"]["anchors"]
    anchors["attestationHash"] = att
    anchors["idempotencyKey"] = eip712.idempotency_key(message["modelId"], att)
    typed_data = eip712.build_typed_data(
        chain_id=31337, verifying_contract=vector["domain"]["verifyingContract"], message=message
    )
    doc = {
        "schema": "hokusai.attestation/v1",
        "evidence": copy.deepcopy(evidence),
        "attestationHash": att,
        "typedData": typed_data,
        "digest": eip712.digest(typed_data),
        "signatures": [],
        "signers": [],
    }
    for key in keys:
        doc = eip712.add_signature(doc, eip712.sign(typed_data, key))
    return doc


def failed(checks: list[eip712.Check]) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.ok}


# --- known-answer vector ---------------------------------------------------------------


def test_types_are_the_design_strings() -> None:
    def encode(name: str) -> str:
        fields = ",".join(f"{f['type']} {f['name']}" for f in eip712.MINT_REQUEST_TYPES[name])
        return f"{name}({fields})"

    assert list(eip712.MINT_REQUEST_TYPES) == [
        "EIP712Domain", "MintRequest", "MintRequestPayload", "BenchmarkAnchors", "Contributor"
    ]
    assert encode("EIP712Domain") == (
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    assert encode("MintRequest") == (
        "MintRequest(uint256 modelId,MintRequestPayload payload,Contributor[] contributors)"
    )
    assert encode("MintRequestPayload") == (
        "MintRequestPayload(string pipelineRunId,uint256 baselineScoreBps,"
        "uint256 candidateScoreBps,uint256 maxCostUsdMicro,uint256 actualCostUsdMicro,"
        "uint256 totalSamples,BenchmarkAnchors anchors,bytes32 baselineCommitment,"
        "bytes32 candidateCommitment,uint256 deadline)"
    )
    assert encode("BenchmarkAnchors") == (
        "BenchmarkAnchors(bytes32 benchmarkSpecHash,bytes32 datasetHash,bytes32 attestationHash,"
        "bytes32 idempotencyKey,string metricName,string metricFamily)"
    )
    assert encode("Contributor") == "Contributor(address walletAddress,uint256 weight)"


def test_vector_domain_and_hashes(vector: dict, typed: dict) -> None:
    assert typed["domain"] == vector["domain"]
    assert typed["primaryType"] == "MintRequest"
    assert eip712.struct_hash(typed) == vector["expected"]["structHash"]
    assert eip712.digest(typed) == vector["expected"]["digest"]


def test_vector_signature_and_signer(vector: dict, typed: dict) -> None:
    signature = eip712.sign(typed, vector["testPrivateKeys"][0])
    assert signature == vector["expected"]["signatures"][0]
    assert eip712.recover(typed, signature) == vector["expected"]["signers"][0]


def test_recovery_matches_eth_account(vector: dict, typed: dict) -> None:
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    signature = vector["expected"]["signatures"][0]
    independent = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    assert independent == vector["expected"]["signers"][0] == eip712.recover(typed, signature)
    assert Account.from_key(vector["testPrivateKeys"][0]).address == independent


def test_keccak_text_is_the_spec_hash(vector: dict) -> None:
    assert eip712.keccak_text("spec-test-v1") == (
        vector["message"]["payload"]["anchors"]["benchmarkSpecHash"]
    )
    assert eip712.keccak_text("") == (
        "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_vector_idempotency_key_follows_formula(vector: dict) -> None:
    anchors = vector["message"]["payload"]["anchors"]
    expected = hashlib.sha256(
        f"12345678901234567890:{anchors['attestationHash'][2:]}".encode()
    ).hexdigest()
    assert anchors["idempotencyKey"] == "0x" + expected
    assert eip712.idempotency_key(12345678901234567890, anchors["attestationHash"]) == (
        anchors["idempotencyKey"]
    )
    assert eip712.idempotency_key("12345678901234567890", anchors["attestationHash"]) == (
        anchors["idempotencyKey"]
    )


def test_idempotency_key_rejects_unprefixed_hash() -> None:
    with pytest.raises(AttestationError) as err:
        eip712.idempotency_key(1, "ab" * 32)
    assert str(err.value) == (
        f"attestationHash {'ab' * 32!r} is not lowercase 0x + 64 hex; "
        "compute it with attestation_hash(evidence)."
    )


# --- canonical JSON and uint encoding --------------------------------------------------


def test_canonical_json_and_attestation_hash() -> None:
    evidence = {"b": 1, "a": [1.0, "é", 0.5]}
    assert eip712.canonical_json(evidence) == '{"a":[1,"é",0.5],"b":1}'.encode()
    assert eip712.attestation_hash(evidence) == (
        "0x" + hashlib.sha256('{"a":[1,"é",0.5],"b":1}'.encode()).hexdigest()
    )
    assert eip712.attestation_hash({"a": [1.0, "é", 0.5], "b": 1}) == (
        eip712.attestation_hash(evidence)
    )


def test_canonical_json_rejects_unsafe_int() -> None:
    with pytest.raises(AttestationError, match=r"evidence cannot be written as canonical JSON"):
        eip712.canonical_json({"n": 2**53})


def test_uint_json_strings_above_2_53() -> None:
    assert eip712.uint_json(2**53 - 1) == 9007199254740991
    assert eip712.uint_json(2**53) == "9007199254740992"
    assert eip712.uint_json(2**53 + 1) == "9007199254740993"
    assert eip712.uint_json(2**256 - 1) == str(2**256 - 1)
    with pytest.raises(AttestationError):
        eip712.uint_json(-1)


def test_build_writes_canonical_forms(vector: dict) -> None:
    message = copy.deepcopy(vector["message"])
    message["modelId"] = 12345678901234567890  # int in, string out
    message["payload"]["baselineScoreBps"] = "7800"  # small string in, int out
    message["payload"]["anchors"]["datasetHash"] = "0x" + "0123456789ABCDEF" * 4
    typed = eip712.build_typed_data(
        chain_id=31337,
        verifying_contract=vector["domain"]["verifyingContract"].lower(),
        message=message,
    )
    assert typed["message"]["modelId"] == "12345678901234567890"
    assert typed["message"]["payload"]["baselineScoreBps"] == 7800
    assert typed["message"]["payload"]["anchors"]["datasetHash"] == "0x" + "0123456789abcdef" * 4
    assert typed["domain"]["verifyingContract"] == "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"
    assert [c["walletAddress"] for c in typed["message"]["contributors"]] == [
        "0x742D35cc6634C0532925A3B844BC9E7595f62341",
        "0x6c3e007f281F6948B37C511A11e43c8026D2F069",
    ]
    assert eip712.digest(typed) == vector["expected"]["digest"]
    assert json.loads(json.dumps(typed)) == typed


# --- contract rules: one exact sentence each -------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(td: dict) -> None:
        *parents, leaf = path.split(".")
        node: Any = td
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(leaf) if leaf.isdigit() else leaf] = value
    return mutate


def _many_contributors(td: dict) -> None:
    from eth_utils import to_checksum_address

    td["message"]["contributors"] = [
        {"walletAddress": to_checksum_address(f"0x{i + 1:040x}"), "weight": 100}
        for i in range(101)
    ]


def _duplicate_wallet(td: dict) -> None:
    td["message"]["contributors"][1]["walletAddress"] = (
        td["message"]["contributors"][0]["walletAddress"]
    )


def _extra_field(td: dict) -> None:
    td["message"]["payload"]["note"] = "x"


def _missing_field(td: dict) -> None:
    del td["message"]["payload"]["anchors"]["metricFamily"]


def _changed_types(td: dict) -> None:
    td["types"]["Contributor"].reverse()


RULES = {
    "score-above-10000": (
        _set("message.payload.baselineScoreBps", 10001),
        "message.payload.baselineScoreBps is 10001; give a score from 0 to 10000 basis points.",
    ),
    "score-negative": (
        _set("message.payload.candidateScoreBps", -1),
        "message.payload.candidateScoreBps -1 is out of the uint256 range; give a value from 0 "
        "to 2**256-1.",
    ),
    "no-contributors": (
        _set("message.contributors", []),
        "message.contributors has 0 entries; give from 1 to 100 contributors.",
    ),
    "101-contributors": (
        _many_contributors,
        "message.contributors has 101 entries; give from 1 to 100 contributors.",
    ),
    "zero-wallet": (
        _set("message.contributors.1.walletAddress", "0x" + "0" * 40),
        "message.contributors[1].walletAddress is the zero address; give the contributor's "
        "real wallet.",
    ),
    "duplicate-wallet": (
        _duplicate_wallet,
        "message.contributors[1].walletAddress 0x742D35cc6634C0532925A3B844BC9E7595f62341 "
        "repeats contributors[0]; merge them into one entry.",
    ),
    "weights-not-10000": (
        _set("message.contributors.1.weight", 2999),
        "message.contributors weights sum to 9999; make them sum to exactly 10000.",
    ),
    "empty-pipeline-run-id": (
        _set("message.payload.pipelineRunId", ""),
        "message.payload.pipelineRunId is empty; give the evaluation run id.",
    ),
    "empty-metric-name": (
        _set("message.payload.anchors.metricName", " "),
        "message.payload.anchors.metricName is empty; give the metric name, e.g. 'accuracy'.",
    ),
    "zero-idempotency-key": (
        _set("message.payload.anchors.idempotencyKey", "0x" + "0" * 64),
        "message.payload.anchors.idempotencyKey is zero; derive it with "
        "idempotency_key(modelId, attestationHash).",
    ),
    "uppercase-bytes32": (
        _set("message.payload.anchors.datasetHash", "0x" + "AB" * 32),
        f"message.payload.anchors.datasetHash {'0x' + 'AB' * 32!r} is not lowercase 0x + 64 hex; "
        "write the 32-byte hash as lowercase hex with a 0x prefix.",
    ),
    "short-bytes32": (
        _set("message.payload.baselineCommitment", "0xaa"),
        "message.payload.baselineCommitment '0xaa' is not lowercase 0x + 64 hex; write the "
        "32-byte hash as lowercase hex with a 0x prefix.",
    ),
    "bad-verifying-contract": (
        _set("domain.verifyingContract", "0x1234"),
        "domain.verifyingContract '0x1234' is not an address; give 0x followed by 40 hex digits.",
    ),
    "zero-verifying-contract": (
        _set("domain.verifyingContract", "0x" + "0" * 40),
        "domain.verifyingContract is the zero address; give the deployed DeltaVerifier address.",
    ),
    "unchecksummed-verifying-contract": (
        _set("domain.verifyingContract", "0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9"),
        "domain.verifyingContract 0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9 is not EIP-55 "
        "checksummed; write it as 0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9.",
    ),
    "big-uint-as-number": (
        _set("message.modelId", 12345678901234567890),
        "message.modelId 12345678901234567890 is not in canonical form; write it as "
        "'12345678901234567890' (uint256 above 2**53-1 as decimal strings).",
    ),
    "small-uint-as-string": (
        _set("message.payload.totalSamples", "1000"),
        "message.payload.totalSamples '1000' is not in canonical form; write it as 1000 "
        "(uint256 above 2**53-1 as decimal strings).",
    ),
    "extra-field": (
        _extra_field,
        "message.payload.note is not a field of MintRequestPayload; remove it.",
    ),
    "missing-field": (
        _missing_field,
        "message.payload.anchors.metricFamily is missing; add it.",
    ),
    "wrong-domain-name": (
        _set("domain.name", "DeltaVerifier"),
        "domain name/version 'DeltaVerifier'/'1' is wrong; use 'HokusaiDeltaVerifier'/'1'.",
    ),
    "changed-types": (
        _changed_types,
        "typedData.types differ from the DeltaVerifier MintRequest types; rebuild it with "
        "build_typed_data.",
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_contract_rule(typed: dict, rule: str) -> None:
    eip712.check_mint_request(typed)  # the untouched vector passes
    mutate, sentence = RULES[rule]
    bad = copy.deepcopy(typed)
    mutate(bad)
    with pytest.raises(AttestationError) as err:
        eip712.check_mint_request(bad)
    assert str(err.value) == sentence


def test_duplicate_wallet_is_case_insensitive(vector: dict) -> None:
    message = copy.deepcopy(vector["message"])
    message["contributors"][1]["walletAddress"] = "0x742D35CC6634C0532925A3B844BC9E7595F62341"
    with pytest.raises(AttestationError) as err:
        eip712.build_typed_data(
            chain_id=31337, verifying_contract=vector["domain"]["verifyingContract"],
            message=message,
        )
    assert str(err.value) == (
        "message.contributors[1].walletAddress 0x742D35cc6634C0532925A3B844BC9E7595f62341 "
        "repeats contributors[0]; merge them into one entry."
    )


def test_sign_refuses_rule_violation(vector: dict, typed: dict) -> None:
    typed["message"]["payload"]["pipelineRunId"] = ""
    with pytest.raises(AttestationError, match=r"^message\.payload\.pipelineRunId is empty"):
        eip712.sign(typed, vector["testPrivateKeys"][0])


# --- signature form: 65 bytes, v 27/28, low-s ------------------------------------------


def _sig_parts(signature: str) -> tuple[int, int, int]:
    raw = bytes.fromhex(signature[2:])
    return int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]


def _sig(r: int, s: int, v: int) -> str:
    return "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])).hex()


def test_sign_is_low_s_with_v_27_28(typed: dict) -> None:
    for key in (KEY_B, KEY_C):
        r, s, v = _sig_parts(eip712.sign(typed, key))
        assert v in (27, 28)
        assert 0 < s <= eip712.SECP256K1_N // 2


def test_recover_refuses_high_s(vector: dict, typed: dict) -> None:
    r, s, v = _sig_parts(vector["expected"]["signatures"][0])
    malleable = _sig(r, eip712.SECP256K1_N - s, 55 - v)  # same signer, high-s twin
    with pytest.raises(AttestationError) as err:
        eip712.recover(typed, malleable)
    assert str(err.value) == (
        "signature s is not in the lower half of the curve order (or r/s is zero); "
        "re-sign with a low-s signer such as eth-account."
    )


def test_recover_refuses_v_0_1(vector: dict, typed: dict) -> None:
    r, s, v = _sig_parts(vector["expected"]["signatures"][0])
    with pytest.raises(AttestationError) as err:
        eip712.recover(typed, _sig(r, s, v - 27))
    assert str(err.value) == f"signature v is {v - 27}; re-sign so that v is 27 or 28."


def test_recover_refuses_wrong_length(vector: dict, typed: dict) -> None:
    short = vector["expected"]["signatures"][0][:-2]
    with pytest.raises(AttestationError) as err:
        eip712.recover(typed, short)
    assert str(err.value) == (
        f"signature {short!r} is not 0x + 65 bytes of hex; give the r||s||v signature."
    )


def test_sign_rejects_bad_key(typed: dict) -> None:
    with pytest.raises(AttestationError) as err:
        eip712.sign(typed, "0x1234")
    assert str(err.value) == (
        "private_key: the key has 4 hex digits, not 64; give one private key: exactly 64 hex "
        "digits (32 bytes), optionally prefixed with 0x, not zero and below the secp256k1 curve "
        "order."
    )
    with pytest.raises(AttestationError) as err:
        eip712.sign(typed, KEY_B[:-1], source="--sign-key-env K")
    assert str(err.value).startswith("--sign-key-env K: the key has 63 hex digits, not 64; ")


# --- attestation documents -------------------------------------------------------------


def test_add_signature_sorts_and_aligns(vector: dict) -> None:
    from eth_account import Account

    keys = (KEY_C, vector["testPrivateKeys"][0], KEY_B)
    doc = make_doc(vector, keys=keys)
    addresses = sorted((Account.from_key(k).address for k in keys), key=lambda a: int(a, 16))
    assert doc["signers"] == addresses
    assert [int(a, 16) for a in doc["signers"]] == sorted(int(a, 16) for a in doc["signers"])
    for signer, signature in zip(doc["signers"], doc["signatures"]):
        assert eip712.recover(doc["typedData"], signature) == signer
    assert vector["expected"]["signers"][0] in doc["signers"]


def test_add_signature_refuses_duplicate_and_keeps_input(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B,))
    before = copy.deepcopy(doc)
    again = eip712.sign(doc["typedData"], KEY_B)
    with pytest.raises(AttestationError) as err:
        eip712.add_signature(doc, again)
    assert str(err.value) == (
        f"signer {doc['signers'][0]} already signed this attestation; drop the duplicate "
        "signature."
    )
    eip712.add_signature(doc, eip712.sign(doc["typedData"], KEY_C))
    assert doc == before  # a new doc is returned, the input is untouched


def test_verify_clean_doc(vector: dict) -> None:
    doc = make_doc(vector, keys=(vector["testPrivateKeys"][0], KEY_B))
    checks = eip712.verify_attestation(doc, expect_signers=[vector["expected"]["signers"][0]])
    assert [c.name for c in checks] == [
        "schema", "evidence_hash", "anchor_hash", "idempotency_key", "digest",
        "contract_rules", "signature[0]", "signature[1]", "signature_order", "expected_signers",
    ]
    assert failed(checks) == {}


def test_verify_tampered_evidence(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B,))
    recorded = doc["attestationHash"]
    doc["evidence"]["candidate"]["samples"] = 1001
    bad = failed(eip712.verify_attestation(doc))
    assert set(bad) == {"evidence_hash"}
    now = eip712.attestation_hash(doc["evidence"])
    assert bad["evidence_hash"] == f"evidence hash {now[:12]}… != recorded {recorded[:12]}…"


def test_verify_tampered_message(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B,))
    doc["typedData"]["message"]["payload"]["candidateScoreBps"] = 9100
    bad = failed(eip712.verify_attestation(doc))
    assert set(bad) == {"digest", "signature[0]"}
    assert bad["digest"].startswith("digest ") and "!= recorded" in bad["digest"]
    assert bad["signature[0]"].endswith(f"!= recorded {doc['signers'][0][:12]}…")


def test_verify_tampered_signature_byte(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B, KEY_C))
    sig = doc["signatures"][1]
    i = 2 + 64 + 62  # last byte of s: s stays low, the signature recovers to someone else
    doc["signatures"][1] = sig[:i] + ("0" if sig[i] != "0" else "1") + sig[i + 1:]
    bad = failed(eip712.verify_attestation(doc))
    assert set(bad) == {"signature[1]"}
    assert bad["signature[1]"].startswith("signature[1] signer 0x")
    assert bad["signature[1]"].endswith(f"!= recorded {doc['signers'][1][:12]}…")
    doc["signatures"][1] = sig[:-2] + "1d"  # v = 29
    bad = failed(eip712.verify_attestation(doc))
    assert bad == {"signature[1]": "cannot check: signature v is 29; re-sign so that v is 27 or 28."}


def test_verify_reordered_signatures(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B, KEY_C))
    doc["signatures"].reverse()
    doc["signers"].reverse()
    bad = failed(eip712.verify_attestation(doc))
    assert set(bad) == {"signature_order"}
    assert bad["signature_order"].startswith("signers not strictly ascending")
    doc["signers"].reverse()  # signatures alone out of order: each pair is wrong too
    bad = failed(eip712.verify_attestation(doc))
    assert set(bad) == {"signature[0]", "signature[1]"}


def test_verify_missing_expected_signer(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B,))
    expected = vector["expected"]["signers"][0]
    bad = failed(eip712.verify_attestation(doc, expect_signers=[expected]))
    assert bad == {"expected_signers": f"missing signers {[expected]}"}


def test_verify_wrong_schema_and_anchor(vector: dict) -> None:
    doc = make_doc(vector)
    doc["schema"] = "hokusai.attestation/v2"
    doc["typedData"]["message"]["payload"]["anchors"]["attestationHash"] = "0x" + "ab" * 32
    bad = failed(eip712.verify_attestation(doc))
    assert bad["schema"] == "schema hokusai.attestation/v2 != recorded hokusai.attestation/v1"
    assert bad["anchor_hash"].startswith("anchors.attestationHash 0xababababab… != recorded")
    assert set(bad) == {"schema", "anchor_hash", "digest"}


def test_verify_survives_garbage() -> None:
    checks = eip712.verify_attestation({"schema": "hokusai.attestation/v1"})
    assert {c.name for c in checks if c.ok} == {"schema", "signature_order", "expected_signers"}
    assert all(c.detail for c in checks)


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, path + (k,))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, path + (i,))]
    return [path]


def _flip_one_char(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    text = str(value)
    last = text[-1]
    return text[:-1] + ({"a": "b", "A": "a"}.get(last) or ("0" if last != "0" else "1"))


def test_any_single_change_in_evidence_or_message_fails(vector: dict) -> None:
    doc = make_doc(vector, keys=(KEY_B,))
    for root in ("evidence", ("typedData", "message")):
        base = doc[root] if isinstance(root, str) else doc[root[0]][root[1]]
        for path in _leaves(base):
            bad = copy.deepcopy(doc)
            node = bad[root] if isinstance(root, str) else bad[root[0]][root[1]]
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = _flip_one_char(node[path[-1]])
            assert failed(eip712.verify_attestation(bad)), (root, path)


def test_same_value_other_spelling_in_message_fails(vector: dict) -> None:
    """Case or number-vs-string changes keep the digest but still break a check."""
    doc = make_doc(vector, keys=(KEY_B,))
    for path in _leaves(doc["typedData"]["message"]):
        bad = copy.deepcopy(doc)
        node = bad["typedData"]["message"]
        for key in path[:-1]:
            node = node[key]
        value = node[path[-1]]
        if isinstance(value, int):
            node[path[-1]] = str(value)
        elif isinstance(value, str) and value.startswith("0x") and value.upper()[2:] != value[2:]:
            node[path[-1]] = "0x" + value[2:].swapcase()
        elif isinstance(value, str) and value.isdecimal():
            node[path[-1]] = int(value)
        else:
            continue  # plain text: a case change is a real change, covered above
        assert "contract_rules" in failed(eip712.verify_attestation(bad)), path
