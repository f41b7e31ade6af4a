"""Issue 25, point 8: the relayer's message is validated with jsonschema, at run time, against
the one vendored schema.

The schema ships in the package (pipeline/schemas/), byte for byte the relayer's file kept in
tests/vectors/; `check_message` validates against it (draft 2020-12, date-time checked) and
turns the first error into one sentence naming the field. Rules the old hand-written checks
never had (the timestamp's format, a contributor's optional fields, `_retryCount`) now hold,
and a changed schema changes the verdict: there is no second definition."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from pipeline.attest import relayer
from pipeline.attest.relayer import check_message, message_problem, mint_request
from pipeline.errors import AttestationError
from tests.attest.documents import signed_attestation
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]
NAME = "mint_request.consumer.v1.schema.json"


def test_the_vendored_schema_is_the_relayer_s_file() -> None:
    assert relayer.SCHEMA_FILE == ROOT / "pipeline" / "schemas" / NAME
    assert relayer.SCHEMA_FILE.read_bytes() == (ROOT / "tests" / "vectors" / NAME).read_bytes()


def test_jsonschema_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [d.split(">")[0].split("[")[0].strip() for d in project["dependencies"]]
    assert "jsonschema" in names and "rfc3339-validator" in names  # the latter checks format: date-time
    assert not any(d.startswith("jsonschema") for d in project["optional-dependencies"]["test"])
    assert "schemas/*" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["pipeline"]


def test_no_hand_written_copy_of_the_rules_is_left() -> None:
    source = Path(relayer.__file__).read_text()
    assert "Draft202012Validator" in source and "best_match" in source
    for gone in ("_REQUIRED", "_EVALUATION_REQUIRED", "re.compile", "_UINT_TEXT"):
        assert gone not in source, gone


@pytest.mark.parametrize(("mutate", "sentence"), [
    (lambda m: m.__setitem__("timestamp", "yesterday"),
     "mint_request.timestamp is 'yesterday'; give an RFC 3339 date-time, e.g. 2026-05-05T12:00:00.000000+00:00."),
    (lambda m: m["contributors"][0].__setitem__("recipientKind", "bank"),
     "mint_request.contributors[0].recipientKind is 'bank'; it must be one of wallet, escrow."),
    (lambda m: m["contributors"][1].__setitem__("submissionId", ""),
     "mint_request.contributors[1].submissionId is ''; give non-empty text."),
    (lambda m: m["contributors"][0].__setitem__("memo", "x"),
     "mint_request.contributors[0].memo is not a field of a contributor; remove it."),
    (lambda m: m.__setitem__("_retryCount", -1), "mint_request._retryCount is -1; it must be at least 0."),
    (lambda m: m.__setitem__("message_type", "burn_request"),
     "mint_request.message_type/schema_version is 'burn_request'/'1.0'; it must be 'mint_request'/'1.0'."),
    (lambda m: m["evaluation"].__setitem__("statistical_method", "x" * 129),
     "mint_request.evaluation.statistical_method is not text of at most 128 characters; shorten it."),
    (lambda m: m["evaluation"].pop("metric_name"),
     "mint_request.evaluation.metric_name is missing; rebuild it with `hokusai attest --format mint-request`."),
    (lambda m: m["evaluation"].__setitem__("verdict", "ok"),
     "mint_request.evaluation.verdict is not a field of the evaluation; remove it."),
    (lambda m: m["contributors"][0].__setitem__("wallet_address", "0x12"),
     "mint_request.contributors[0].wallet_address is not 0x + 40 hex digits; rebuild it with `hokusai attest "
     "--format mint-request`."),
    (lambda m: m.__setitem__("attester_signatures", ["0x" + "ab" * 65] * 9),
     "mint_request.attester_signatures holds 9 signatures; give from 1 to 8."),
    (lambda m: m.__setitem__("evaluation", []),
     "mint_request.evaluation is not an object; rebuild it with `hokusai attest --format mint-request`."),
], ids=["timestamp-format", "recipient-kind", "submission-id", "contributor-extra", "retry-count", "message-type",
        "method-length", "metric-missing", "evaluation-extra", "wallet", "nine-signatures", "evaluation-array"])
def test_one_sentence_per_schema_error(mutate, sentence) -> None:
    message = mint_request(signed_attestation())
    assert message_problem(message) is None
    mutate(message)
    with pytest.raises(AttestationError) as err:
        check_message(message)
    assert str(err.value) == sentence


def test_not_an_object() -> None:
    assert message_problem([]) == ("the mint_request is not a JSON object; rebuild it with `hokusai attest --format "
                                   "mint-request`.")


def test_a_changed_schema_changes_the_verdict(tmp_path, monkeypatch) -> None:
    """One definition: the validator reads the vendored file, nothing else."""
    schema = json.loads(relayer.SCHEMA_FILE.read_text())
    schema["properties"]["attester_signatures"]["maxItems"] = 1
    changed = tmp_path / NAME
    changed.write_text(json.dumps(schema))
    message = mint_request(signed_attestation())  # two signatures
    monkeypatch.setattr(relayer, "SCHEMA_FILE", changed)
    relayer._validator.cache_clear()
    try:
        assert message_problem(message) == "mint_request.attester_signatures holds 2 signatures; give from 1 to 1."
    finally:
        monkeypatch.undo()
        relayer._validator.cache_clear()
    assert message_problem(message) is None


@pytest.mark.timeout(120)
def test_attest_mint_request_refuses_a_schema_error_in_one_sentence(tmp_path) -> None:
    """Through the CLI: a failed gate condition with a 2000-character name makes a
    statistical_reason longer than the schema's 1024: exit 2, the sentence, nothing on stdout."""
    from tests.attest.documents import write

    doc = signed_attestation()
    doc["evidence"]["gate"] = {"passed": False, "conditions": [
        {"name": "n" * 2000, "value": 1, "threshold": 2, "passed": False}]}
    path = write(tmp_path / "attestation.json", doc)
    result = invoke("attest", "--from", str(path), "--format", "mint-request")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("Error: mint_request.evaluation.statistical_reason is not text of at most 1024 "
                             "characters; shorten it.\n")
