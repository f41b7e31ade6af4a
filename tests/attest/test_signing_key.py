"""Signing keys: exactly 32 bytes (64 hex digits), refused otherwise with a sentence that names
where the key came from and never echoes any part of it (issue 10: a 63-digit key used to
sign, silently, as a different address)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.attest import eip712
from pipeline.errors import AttestationError
from tests.attest.documents import KEY_B, TEST_KEY, unsigned_attestation, write
from tests.conftest import BOB, invoke

N = eip712.SECP256K1_N
TAIL = ("give one private key: exactly 64 hex digits (32 bytes), optionally prefixed with 0x, "
        "not zero and below the secp256k1 curve order.")

BAD_KEYS = {
    "63-digits": (TEST_KEY[:-1], "has 63 hex digits, not 64"),
    "63-digits-no-prefix": (TEST_KEY[3:], "has 63 hex digits, not 64"),
    "65-digits": (TEST_KEY + "7", "has 65 hex digits, not 64"),
    "prefix-only": ("0x", "has 0 hex digits, not 64"),
    "non-hex": (TEST_KEY[:40] + "g" + TEST_KEY[41:], "contains a character that is not a hex digit"),
    "space-inside": (TEST_KEY[:34] + " " + TEST_KEY[34:], "contains a character that is not a hex digit"),
    "two-keys-one-line": (f"{TEST_KEY} {KEY_B}", "contains a character that is not a hex digit"),
    "two-keys-two-lines": (f"{TEST_KEY}\n{KEY_B}\n", "spans 2 lines"),
    "zero": ("0x" + "0" * 64, "is zero"),
    "curve-order": (f"0x{N:064x}", "is not below the secp256k1 curve order"),
    "all-f": ("0x" + "f" * 64, "is not below the secp256k1 curve order"),
}
FILE_ONLY = {"empty": ("", "is empty"), "blank": (" \n\t\n", "is empty")}  # an empty variable: own sentence


def no_part_of(key: str, text: str) -> None:
    """Not even 8 characters in a row of the key appear in `text`."""
    leaked = [key[i:i + 8] for i in range(len(key) - 7) if key[i:i + 8] in text]
    assert not leaked, leaked


@pytest.fixture()
def unsigned(tmp_path: Path) -> Path:
    return write(tmp_path / "unsigned.json", unsigned_attestation())


@pytest.mark.parametrize("case", sorted({**BAD_KEYS, **FILE_ONLY}))
def test_bad_key_file(unsigned: Path, tmp_path: Path, case: str) -> None:
    key, problem = {**BAD_KEYS, **FILE_ONLY}[case]
    key_file = tmp_path / "attester.key"
    key_file.write_text(key)
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(key_file))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: --sign-key-file {key_file}: the key {problem}; {TAIL}\n"
    no_part_of(key, result.stdout + result.stderr)


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
def test_bad_key_env(unsigned: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    key, problem = BAD_KEYS[case]
    monkeypatch.setenv("ATTESTER_KEY", key)
    result = invoke("attest", "--from", str(unsigned), "--sign-key-env", "ATTESTER_KEY")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"Error: --sign-key-env ATTESTER_KEY: the key {problem}; {TAIL}\n"
    no_part_of(key, result.stdout + result.stderr)


def test_63_digit_key_no_longer_signs_as_another_address(unsigned: Path, tmp_path: Path) -> None:
    from eth_account import Account

    short = TEST_KEY[:-1]
    padded_address = Account.from_key(short).address  # what eth-account silently signed as
    assert padded_address != BOB
    key_file = tmp_path / "attester.key"
    key_file.write_text(short + "\n")
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(key_file))
    assert result.exit_code == 2
    assert padded_address not in result.stdout + result.stderr
    with pytest.raises(AttestationError) as err:
        eip712.sign(json.loads(unsigned.read_text())["typedData"], short)
    assert str(err.value) == f"private_key: the key has 63 hex digits, not 64; {TAIL}"


@pytest.mark.parametrize(
    "text",
    [TEST_KEY, TEST_KEY + "\n", f"\n  {TEST_KEY} \r\n", TEST_KEY[2:], "0X" + TEST_KEY[2:].upper(),
     "\ufeff" + TEST_KEY + "\n"],
    ids=["plain", "newline", "whitespace-crlf", "no-prefix", "upper-case", "utf8-bom"],
)
def test_key_file_forms_that_sign_as_bob(unsigned: Path, tmp_path: Path, text: str) -> None:
    key_file = tmp_path / "attester.key"
    key_file.write_text(text, encoding="utf-8")
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(key_file))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["signers"] == [BOB]
    no_part_of(TEST_KEY[2:], result.stdout + result.stderr)


def test_largest_key_below_the_curve_order_signs(unsigned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eth_account import Account

    key = f"0x{N - 1:064x}"
    monkeypatch.setenv("ATTESTER_KEY", key)
    result = invoke("attest", "--from", str(unsigned), "--sign-key-env", "ATTESTER_KEY")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["signers"] == [Account.from_key(key).address]


def test_file_and_env_sign_twice_and_one_bad_key_signs_nothing(unsigned: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from eth_account import Account

    key_file = tmp_path / "attester.key"
    key_file.write_text(TEST_KEY)
    monkeypatch.setenv("SECOND_KEY", KEY_B)
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(key_file), "--sign-key-env", "SECOND_KEY")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["signers"] == sorted([BOB, Account.from_key(KEY_B).address],
                                                          key=lambda a: int(a, 16))
    monkeypatch.setenv("SECOND_KEY", KEY_B[:-1])
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(key_file), "--sign-key-env", "SECOND_KEY")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: --sign-key-env SECOND_KEY: the key has 63 hex digits, not 64; {TAIL}\n"


def test_unset_variable_unreadable_and_non_utf8_key_file(unsigned: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    result = invoke("attest", "--from", str(unsigned), "--sign-key-env", "NO_SUCH_KEY")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("Error: --sign-key-env NO_SUCH_KEY: the variable is not set or empty; "
                             "export the key in it.\n")
    missing = tmp_path / "missing.key"
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(missing))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"Error: --sign-key-file {missing}: cannot be read (No such file or directory); "
                             "give a readable file.\n")
    binary = tmp_path / "binary.key"
    binary.write_bytes(b"\xff\xfe" + TEST_KEY.encode("utf-16-le"))
    result = invoke("attest", "--from", str(unsigned), "--sign-key-file", str(binary))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"Error: --sign-key-file {binary}: the file is not UTF-8 text; "
                             "put only the hex private key in it.\n")


def test_key_is_checked_before_the_dry_run_refusal(tmp_path: Path) -> None:
    doc = unsigned_attestation()
    doc["evidence"]["dryRun"] = True  # the refusal comes from the evidence flag, hash aside
    path = write(tmp_path / "dry.json", doc)
    key_file = tmp_path / "attester.key"
    key_file.write_text("not a key")
    result = invoke("attest", "--from", str(path), "--sign-key-file", str(key_file))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: --sign-key-file {key_file}: the key contains a character that is "
                             f"not a hex digit; {TAIL}\n")


# --- the one validating function --------------------------------------------------------


def test_parse_private_key_bytes_and_types() -> None:
    assert eip712.parse_private_key(bytes.fromhex(TEST_KEY[2:])) == bytes.fromhex(TEST_KEY[2:])
    with pytest.raises(AttestationError) as err:
        eip712.parse_private_key(b"\x01" * 31, "K")
    assert str(err.value) == f"K: the key is 31 bytes, not 32; {TAIL}"
    with pytest.raises(AttestationError) as err:
        eip712.parse_private_key(int(TEST_KEY, 16), "K")
    assert str(err.value) == f"K: the key is of type int, not text; {TAIL}"
    with pytest.raises(AttestationError) as err:
        eip712.parse_private_key(b"\x00" * 32, "K")
    assert str(err.value) == f"K: the key is zero; {TAIL}"


STRICT = re.compile(r"\s*(?:0[xX])?([0-9a-fA-F]{64})\s*")


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(
    st.text(alphabet="0123456789abcdefABCDEFxX \t\r\n", max_size=80),
    st.integers(min_value=0, max_value=2**257).map(lambda n: f"0x{n:064x}"),
    st.builds(lambda prefix, n, digits, suffix: prefix + f"{n:x}".zfill(digits)[-digits:] + suffix,
              st.sampled_from(["", "0x", " 0x", "0X"]), st.integers(0, 2**256 - 1), st.integers(60, 68),
              st.sampled_from(["", "\n", "\r\n", " \n "])),
))
def test_parse_private_key_accepts_exactly_the_strict_form(text: str) -> None:
    match = STRICT.fullmatch(text)
    valid = bool(match) and 0 < int(match.group(1), 16) < N
    try:
        key = eip712.parse_private_key(text, "K")
    except AttestationError as exc:
        assert not valid, text
        assert str(exc).startswith("K: the key ") and str(exc).endswith(TAIL)
        no_part_of(text, str(exc))
    else:
        assert valid, text
        assert key == bytes.fromhex(match.group(1))
