"""`hokusai verify` on malformed files: the exact sentence for each shape (issue 10: `signers`
not a list used to crash with a traceback). The property tests are in test_verify_fuzz.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest

from pipeline.attest import eip712
from tests.attest.documents import signed_attestation, write
from tests.conftest import invoke

FIX = "use the file exactly as `hokusai attest` wrote it."
WHAT = "an attestation written by `hokusai attest`"


@pytest.fixture(scope="module")
def base() -> dict:
    return signed_attestation()


def _set(*path: Any, value: Any) -> Callable[[dict], None]:
    def mutate(doc: dict) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _delete(name: str) -> Callable[[dict], None]:
    return lambda doc: doc.pop(name)


SHAPES = {
    "signers-string": (_set("signers", value="0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
                       f"signers is a string, not an array of addresses; {FIX}"),
    "signers-object": (_set("signers", value={"0": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"}),
                       f"signers is an object, not an array of addresses; {FIX}"),
    "signers-null": (_set("signers", value=None), f"signers is null, not an array of addresses; {FIX}"),
    "signers-number": (_set("signers", value=3), f"signers is a number, not an array of addresses; {FIX}"),
    "signer-number": (_set("signers", 1, value=1), f"signers[1] is a number, not a string; {FIX}"),
    "signer-short": (_set("signers", 0, value="0x3C44"),
                     f"signers[0] is not an address (0x followed by 40 hex digits); {FIX}"),
    "signatures-missing": (_delete("signatures"), f"signatures is missing; {FIX}"),
    "signatures-string": (_set("signatures", value="0xab"), f"signatures is a string, not an array of signatures; {FIX}"),
    "signature-not-hex": (_set("signatures", 0, value="0x" + "zz" * 65),
                          f"signatures[0] is not 0x followed by 130 hex digits (a 65-byte r||s||v signature); {FIX}"),
    "signature-short": (_set("signatures", 1, value="0x1234"),
                        f"signatures[1] is not 0x followed by 130 hex digits (a 65-byte r||s||v signature); {FIX}"),
    "signature-list": (_set("signatures", 0, value=[27]), f"signatures[0] is an array, not a string; {FIX}"),
    "typedData-missing": (_delete("typedData"), f"typedData is missing; {FIX}"),
    "typedData-array": (_set("typedData", value=[]), f"typedData is an array, not an object; {FIX}"),
    "evidence-string": (_set("evidence", value="{}"), f"evidence is a string, not an object; {FIX}"),
    "evidence-missing": (_delete("evidence"), f"evidence is missing; {FIX}"),
    "digest-number": (_set("digest", value=1), f"digest is a number, not a string; {FIX}"),
    "attestationHash-bool": (_set("attestationHash", value=True), f"attestationHash is a boolean, not a string; {FIX}"),
    "schema-missing": (_delete("schema"), f"schema is missing; {FIX}"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_malformed_shape_is_one_sentence(base: dict, tmp_path: Path, shape: str) -> None:
    mutate, sentence = SHAPES[shape]
    doc = copy.deepcopy(base)
    mutate(doc)
    path = write(tmp_path / "attestation.json", doc)
    for options in ((), ("--json",)):
        result = invoke("verify", str(path), *options)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr == f"Error: {path}: {sentence}\n"


RAW = {
    "empty": (b"", f"the file is empty; give {WHAT}."),
    "blank": (b" \n\t", f"the file is empty; give {WHAT}."),
    "array": (b"[1, 2]", f"holds an array, not {WHAT}."),
    "null": (b"null", f"holds null, not {WHAT}."),
    "string": (b'"x"', f"holds a string, not {WHAT}."),
    "truncated": (b'{"schema": ', f"not valid JSON (Expecting value: line 1 column 12 (char 11)); give {WHAT}."),
    "not-json": (b"{not json", f"not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
                               f"(char 1)); give {WHAT}."),
    "nan": (b'{"schema": NaN}', f"not valid JSON (NaN is not JSON); give {WHAT}."),
    "infinity": (b'{"seed": -Infinity}', f"not valid JSON (-Infinity is not JSON); give {WHAT}."),
    "latin-1": ('{"schema": "é"}'.encode("latin-1"), f"not UTF-8 text (byte 0xe9 at offset 12); give {WHAT}."),
    "utf-16": ("{}".encode("utf-16"), f"not UTF-8 text (byte 0xff at offset 0); give {WHAT}."),
    "bom-then-bad": (b"\xef\xbb\xbf{\xff", f"not UTF-8 text (byte 0xff at offset 4); give {WHAT}."),
    "deep": (b"[" * 100_000, f"JSON nested more than 64 levels deep; give {WHAT}."),
    "deep-object": (b'{"a":' * 65 + b"1" + b"}" * 65, f"JSON nested more than 64 levels deep; give {WHAT}."),
    "huge-int": (b'{"seed": -' + b"9" * 5000 + b"}",
                 f"not valid JSON (a 5000-digit integer is longer than any uint256); give {WHAT}."),
    "long-int": (b'{"seed": ' + b"9" * 79 + b"}",
                 f"not valid JSON (a 79-digit integer is longer than any uint256); give {WHAT}."),
    "empty-object": (b"{}", f"schema is missing; {FIX}"),
}


@pytest.mark.parametrize("case", sorted(RAW))
def test_unreadable_file_is_one_sentence(tmp_path: Path, case: str) -> None:
    data, sentence = RAW[case]
    path = tmp_path / "attestation.json"
    path.write_bytes(data)
    result = invoke("verify", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: {path}: {sentence}\n"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    result = invoke("verify", str(path))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {path}: file not found; give the path of {WHAT}.\n"


def test_brackets_inside_strings_do_not_count_as_nesting(base: dict, tmp_path: Path) -> None:
    doc = copy.deepcopy(base)
    doc["evidence"]["tool"]["version"] = "[" * 100 + '"{'  # changes the hash, not the shape
    path = write(tmp_path / "attestation.json", doc)
    result = invoke("verify", str(path), "--json")
    assert result.exit_code == 1
    failed = {c["name"] for c in json.loads(result.stdout)["checks"] if not c["ok"]}
    assert failed == {"evidence_hash"}


def test_utf8_bom_is_accepted(base: dict, tmp_path: Path) -> None:
    path = tmp_path / "attestation.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base).encode())
    result = invoke("verify", str(path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith("All checks hold.\n")


def test_bad_expect_signer(base: dict, tmp_path: Path) -> None:
    path = write(tmp_path / "attestation.json", base)
    result = invoke("verify", str(path), "--expect-signer", "0xzz")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: --expect-signer '0xzz' is not an address; give 0x followed by 40 hex digits.\n"


def test_markup_and_control_characters_are_shown_literally(base: dict, tmp_path: Path) -> None:
    doc = copy.deepcopy(base)
    doc["schema"] = "[/x]\x1b[31m"
    doc["evidence"]["contributors"] = "[bold]"
    path = write(tmp_path / "[red]attestation.json", doc)
    result = invoke("verify", str(path))
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "verify [red]attestation.json" in result.stderr
    assert "schema [/x]\\x1b[31m != recorded hokusai.atte…" in result.stderr
    assert result.stderr.endswith("3 check(s) failed.\n")


def test_deeper_wrong_types_fail_checks_not_the_command(base: dict, tmp_path: Path) -> None:
    doc = copy.deepcopy(base)
    doc["evidence"]["contributors"] = 5
    doc["typedData"]["message"]["payload"] = []
    doc["typedData"]["domain"]["chainId"] = 1e308
    path = write(tmp_path / "attestation.json", doc)
    result = invoke("verify", str(path), "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["evidence_message"]["detail"].startswith("cannot check: ")
    assert checks["contract_rules"]["detail"] == "cannot check: domain.chainId 1e+308 is not a uint256; give a non-negative integer."
    assert [c["name"] for c in json.loads(result.stdout)["checks"] if c["ok"]] == [
        "schema", "dry_run", "gate", "signature_order", "expected_signers"]


def test_library_verify_reports_non_list_signers() -> None:
    doc = signed_attestation()
    doc["signers"] = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    checks = {c.name: c for c in eip712.verify_attestation(doc)}
    assert not checks["signers"].ok
    assert checks["signers"].detail == f"signers is a string, not an array of addresses; {FIX}"
    assert not checks["signature[0]"].ok  # two signatures, no signers
    assert eip712.document_problem(doc) == checks["signers"].detail
    assert eip712.document_problem(signed_attestation()) is None
    assert eip712.document_problem([]) == f"the attestation is an array, not a JSON object; {FIX}"


def test_attest_from_a_malformed_file(base: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.attest.documents import unsigned_attestation

    doc = copy.deepcopy(base)
    doc["signers"] = None
    path = write(tmp_path / "attestation.json", doc)
    result = invoke("attest", "--from", str(path))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {path}: signers is null, not an array of addresses; {FIX}\n"
    doc = unsigned_attestation()
    del doc["evidence"]["dryRun"]
    path = write(tmp_path / "unsigned.json", doc)
    monkeypatch.setenv("ATTESTER_KEY", "0x" + "11" * 32)
    for force in ((), ("--force",)):
        result = invoke("attest", "--from", str(path), "--sign-key-env", "ATTESTER_KEY", *force)
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == ("Error: evidence.dryRun or evidence.gate.passed is missing or not true/false, so it "
                                 "is unknown whether run HokusaiEvaluationFlow/1 may be signed; attest from the run "
                                 "again.\n")
    result = invoke("attest", "--from", str(path))  # nothing to sign: printed as it is, marked
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == doc
    assert "[dry-run]; 0 signature(s)" in result.stderr
