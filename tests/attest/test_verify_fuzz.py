"""`hokusai verify` on any input: exit 0, 1 or 2 with a sentence, never a traceback.

Property tests: a real, valid attestation with random mutations (any sub-value replaced by
random JSON, keys deleted or added, values moved between fields), entirely random JSON,
random JSON with the right top-level shape, and random bytes. The command runs in-process
through the real Typer app; anything but SystemExit escapes and fails the test with its
traceback, which Hypothesis shrinks to the smallest input.
"""

from __future__ import annotations

import atexit
import copy
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.attest.documents import TEST_KEY, signed_attestation
from tests.conftest import ALICE, BOB

pytestmark = pytest.mark.timeout(300)

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SMALL = settings(FUZZ, max_examples=100)
SHAPED = settings(FUZZ, max_examples=60)

BASE = signed_attestation(TEST_KEY)  # one signer: each ECDSA recovery costs ~20 ms


def _command():
    import typer

    from hokusai_cli.app import app

    return typer.main.get_command(app)


COMMAND = _command()  # built once: CliRunner.invoke rebuilds the whole app on every call
WORKDIR = Path(tempfile.mkdtemp(prefix="hokusai-verify-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)


def verify_bytes(data: bytes, *options: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `hokusai verify FILE` on a file holding `data`."""
    from typer.testing import CliRunner

    path = WORKDIR / "attestation.json"
    path.write_bytes(data)
    code: Any = 0
    with CliRunner().isolation(env={"COLUMNS": "120"}) as (out, err, _):
        try:
            COMMAND.main(args=["verify", str(path), *options], prog_name="hokusai")
        except SystemExit as exc:
            code = exc.code
        finally:
            stdout, stderr = out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")
    return code, stdout, stderr


def assert_handled(code: Any, out: str, err: str) -> None:
    """Exit 0 or 1 with the check table and a verdict, or exit 2 with one sentence."""
    assert code in (0, 1, 2), (code, out, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert out == ""
        assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    elif code == 1:
        assert err.endswith(" check(s) failed.\n"), err
    else:
        assert err.endswith("All checks hold.\n"), err


def test_base_document_verifies() -> None:
    code, out, err = verify_bytes(json.dumps(BASE).encode())
    assert (code, out) == (0, ""), err
    assert err.endswith("All checks hold.\n")


# --- strategies ------------------------------------------------------------------------

SIGNATURE = BASE["signatures"][0]
INTERESTING_STRINGS = [
    "", " ", "0x", "0X", "0x0", "0x" + "0" * 40, "0x" + "0" * 64, "0x" + "f" * 64, "0x" + "F" * 64,
    ALICE, ALICE.lower(), BOB, BOB.upper(), SIGNATURE, SIGNATURE.upper(), SIGNATURE[:-2],
    SIGNATURE[:-2] + "1d", "0x" + "zz" * 65, "7", "07", "-1", "1e3", "1.0", "10000", "10001",
    str(2**53), str(2**256 - 1), str(2**256), "9" * 80, "NaN", "Infinity", "null", "[/]", "[bold]",
    "[/bold red]", "\x1b[31mred", "\x00", "\u202e", "\ud800", "é", "MintRequest", "hokusai.attestation/v1",
    "hokusai.evidence/v1", "HokusaiDeltaVerifier", "accuracy", "uint256", "bytes32", "address",
]
INTERESTING_NUMBERS = [0, 1, -1, 7, 10000, 10001, 31337, 2**53 - 1, 2**53, 2**64, 2**255, 2**256 - 1, 2**256,
                       -(2**256), 10**77, 0.5, -0.0, 1e308, 7.0, 1e-300]


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every path in `node`, containers and leaves (the root excluded)."""
    found = [path] if path else []
    if isinstance(node, dict):
        found += [p for k, v in node.items() for p in _paths(v, path + (k,))]
    elif isinstance(node, list):
        found += [p for i, v in enumerate(node) for p in _paths(v, path + (i,))]
    return found


def _at(node: Any, path: tuple) -> Any:
    for key in path:
        node = node[key]
    return node


PATHS = _paths(BASE)
KEYS = sorted({k for p in _paths(BASE) for k in p if isinstance(k, str)} | {"", "[/]", "0", "__proto__"})
CONTAINERS = [()] + [p for p in PATHS if isinstance(_at(BASE, p), (dict, list))]
VALUES_IN_BASE = [_at(BASE, p) for p in PATHS]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**300), max_value=2**300),
    st.integers(min_value=-3, max_value=20000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(INTERESTING_STRINGS),
    st.sampled_from(INTERESTING_NUMBERS),
)
keys = st.one_of(st.text(max_size=8), st.sampled_from(KEYS))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)

# Half the draws hit a top-level field or a part of typedData, where a wrong type matters most;
# the other half any of the ~170 paths.
paths = st.one_of(st.sampled_from([p for p in PATHS if len(p) <= 2]), st.sampled_from(PATHS))
mutation = st.one_of(
    st.tuples(st.just("replace"), paths, json_values),
    st.tuples(st.just("replace"), paths, st.sampled_from(VALUES_IN_BASE)),
    st.tuples(st.just("delete"), paths, st.none()),
    st.tuples(st.just("add"), st.sampled_from(CONTAINERS), st.tuples(keys, json_values)),
)


def mutate(doc: Any, op: str, path: tuple, arg: Any) -> Any:
    """Apply one mutation; a path that an earlier mutation removed is skipped."""
    try:
        parent = _at(doc, path[:-1]) if path else None
        if op == "replace":
            parent[path[-1]] = copy.deepcopy(arg)
        elif op == "delete":
            del parent[path[-1]]
        else:
            container = _at(doc, path)
            key, value = arg
            if isinstance(container, dict):
                container[key] = value
            else:
                container.append(value)
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return doc


SIGNED_PARTS = ("evidence", "attestationHash", "digest", "signers")
TYPED_PARTS = ("types", "primaryType", "domain", "message")


def signed_content(doc: dict) -> tuple:
    typed = doc.get("typedData") or {}
    return (tuple(doc.get(k) for k in SIGNED_PARTS), tuple(typed.get(k) for k in TYPED_PARTS),
            [s.lower() for s in doc.get("signatures", [])])


# --- properties ------------------------------------------------------------------------


@FUZZ
@given(st.lists(mutation, min_size=1, max_size=3))
def test_mutated_attestation_never_crashes(mutations: list) -> None:
    doc = copy.deepcopy(BASE)
    for op, path, arg in mutations:
        mutate(doc, op, path, arg)
    code, out, err = verify_bytes(json.dumps(doc).encode())
    assert_handled(code, out, err)
    if code == 0:  # whatever was changed, nothing the signature covers
        assert signed_content(doc) == signed_content(BASE), mutations


@SMALL
@given(json_values)
def test_random_json_never_crashes(value: Any) -> None:
    assert_handled(*verify_bytes(json.dumps(value).encode(), "--expect-signer", BOB))


def _hex(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n).map(lambda h: "0x" + h)


shaped_documents = st.fixed_dictionaries({
    "schema": st.one_of(st.just("hokusai.attestation/v1"), st.text(max_size=10)),
    "evidence": st.one_of(st.just(BASE["evidence"]), st.dictionaries(keys, json_values, max_size=5)),
    "attestationHash": st.one_of(st.just(BASE["attestationHash"]), _hex(64), st.text(max_size=10)),
    "typedData": st.one_of(
        st.just(BASE["typedData"]),
        st.fixed_dictionaries({"types": st.just(BASE["typedData"]["types"]), "primaryType": st.just("MintRequest"),
                               "domain": st.one_of(st.just(BASE["typedData"]["domain"]), json_values),
                               "message": st.one_of(json_values, st.dictionaries(keys, json_values))}),
        st.dictionaries(keys, json_values, max_size=5)),
    "digest": st.one_of(st.just(BASE["digest"]), _hex(64), st.text(max_size=10)),
    "signatures": st.lists(st.one_of(_hex(130), st.just(SIGNATURE)), max_size=2),
    "signers": st.lists(st.one_of(_hex(40), st.sampled_from([ALICE, BOB, BOB.lower()])), max_size=2),
})


@SHAPED
@given(shaped_documents)
def test_random_document_with_the_right_shape_never_crashes(doc: dict) -> None:
    code, out, err = verify_bytes(json.dumps(doc).encode())
    assert_handled(code, out, err)
    if code == 2:  # the shape is right: only an integer beyond uint256 is refused on reading
        assert "-digit integer is longer than any uint256); give an attestation" in err, err


@SMALL
@given(st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode),
                 st.sampled_from([b"", b" \n", b"\xef\xbb\xbf", b"[]", b"null", b"{", b"{}", b"\xff{}",
                                  b'{"a": NaN}', b"[" * 50000, b'{"a":' * 50000])))
def test_random_bytes_never_crash(data: bytes) -> None:
    code, out, err = verify_bytes(data)
    assert_handled(code, out, err)
    assert code == 2
