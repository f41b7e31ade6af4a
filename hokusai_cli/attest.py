"""`hokusai attest` and `hokusai verify`: the attestation a DeltaVerifier accepts, and its check."""

from __future__ import annotations

import codecs
import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hokusai_cli.common import handled
from pipeline.errors import AttestationError, InputError


def _read_key(key_file: Path | None, key_env: str | None) -> list[tuple[bytes, str]]:
    """(private key, where it came from) from a file and/or an environment variable, each
    checked by `parse_private_key`; the key is never echoed anywhere, not even in part."""
    from pipeline.attest.eip712 import parse_private_key

    keys = []
    if key_file is not None:
        source = f"--sign-key-file {key_file}"
        try:
            data = key_file.read_bytes()
        except OSError as exc:
            raise InputError(f"{source}: cannot be read ({exc.strerror}); give a readable file.") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{source}: the file is not UTF-8 text; put only the hex private key in it.") from None
        keys.append((parse_private_key(text, source), source))
    if key_env is not None:
        source = f"--sign-key-env {key_env}"
        value = os.environ.get(key_env, "").strip()
        if not value:
            raise InputError(f"{source}: the variable is not set or empty; export the key in it.")
        keys.append((parse_private_key(value, source), source))
    return keys


MAX_JSON_NESTING = 64  # an attestation is 6 levels deep
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _nesting(text: str) -> int:
    """How deep the arrays and objects of a JSON text go (brackets inside strings skipped)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _load_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path` (strict JSON: no NaN/Infinity, no integer beyond uint256's
    78 digits, nesting bounded), or one sentence saying why not."""
    from pipeline.attest.eip712 import json_kind

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > 78:  # also keeps int() below Python's 4300-digit limit
            raise ValueError(f"a {len(digits.lstrip('-'))}-digit integer is longer than any uint256")
        return int(digits)

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; give the path of {what}.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); give the path of {what}.") from None
    if not raw.strip():
        raise InputError(f"{path}: the file is empty; give {what}.")
    body = raw.removeprefix(codecs.BOM_UTF8)  # as some Windows editors save it
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(raw) - len(body)
        raise InputError(f"{path}: not UTF-8 text (byte 0x{raw[offset]:02x} at offset {offset}); give {what}.") from None
    if _nesting(text) > MAX_JSON_NESTING:
        # checked first: once eth-account is imported (py_ecc raises the recursion limit to
        # 100000) a deep enough document overflows the C stack in json.loads instead of raising
        raise InputError(f"{path}: JSON nested more than {MAX_JSON_NESTING} levels deep; give {what}.")
    try:
        data = json.loads(text, parse_constant=refuse, parse_int=integer)
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); give {what}.") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: holds {json_kind(data)}, not {what}.")
    return data


def _load_attestation(path: Path) -> dict[str, Any]:
    """An attestation file with the shape `hokusai attest` writes, or one sentence naming the field."""
    from pipeline.attest.eip712 import document_problem

    doc = _load_json(path, "an attestation written by `hokusai attest`")
    problem = document_problem(doc)
    if problem:
        raise AttestationError(f"{path}: {problem}")
    return doc


def _printable(text: str) -> str:
    """`text` with control and unencodable characters escaped: details quote the file's values."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def attest(
    run: Annotated[Optional[str], typer.Argument(help="Run id or HokusaiEvaluationFlow/<id>; default: the latest run.")] = None,
    project: Annotated[Path, typer.Option("--project", "-p", file_okay=False, help="Project folder holding the runs.")] = Path("."),
    from_file: Annotated[Optional[Path], typer.Option("--from", dir_okay=False, help="Start from this attestation JSON instead of a run (to add signatures).")] = None,
    sign_key_file: Annotated[Optional[Path], typer.Option("--sign-key-file", dir_okay=False, help="Sign with the hex private key in this file.")] = None,
    sign_key_env: Annotated[Optional[str], typer.Option("--sign-key-env", metavar="VAR", help="Sign with the hex private key in this environment variable.")] = None,
    attach: Annotated[Optional[list[str]], typer.Option("--attach", metavar="SIG", help="Add a 65-byte signature made elsewhere (e.g. a hardware wallet); it must recover over this digest.")] = None,
    chain_id: Annotated[Optional[int], typer.Option("--chain-id", help="EIP-712 domain chainId (default: [attestation] chain_id).")] = None,
    verifying_contract: Annotated[Optional[str], typer.Option("--verifying-contract", help="DeltaVerifier address (default: [attestation] verifying_contract).")] = None,
    deadline_days: Annotated[Optional[int], typer.Option("--deadline-days", min=1, help="Deadline = now + this many days (default: [attestation] deadline_days).")] = None,
    deadline: Annotated[Optional[int], typer.Option("--deadline", metavar="UNIX", help="Absolute deadline (unix seconds); overrides --deadline-days.")] = None,
    baseline_commitment: Annotated[Optional[str], typer.Option("--baseline-commitment", help="bytes32 to use as baselineCommitment (must equal the model's on-chain head).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Sign even a dry-run or a run whose gate failed (stays marked in the evidence).")] = False,
) -> None:
    """Print the attestation of a successful run as JSON on stdout (EIP-712 MintRequest for DeltaVerifier).

    Example: hokusai attest 1795674766048057 --sign-key-env ATTESTER_KEY > attestation.json
    """
    from hokusai_cli import render

    with handled():
        if from_file is not None:
            doc = _load_attestation(from_file)
            if any(v is not None for v in (run, chain_id, verifying_contract, deadline_days, deadline, baseline_commitment)):
                raise InputError("--from takes an attestation as it is; drop RUN and the --chain-id/--verifying-contract/--deadline*/--baseline-commitment options.")
        else:
            doc = _from_run(project.resolve(), run, chain_id, verifying_contract, deadline_days, deadline, baseline_commitment)
        keys = _read_key(sign_key_file, sign_key_env)
        if keys or attach:
            from pipeline.attest.eip712 import add_signature, sign
            from pipeline.attest.evidence import refuse_unfit_for_signing

            refuse_unfit_for_signing(doc["evidence"], force)
            for key, source in keys:
                doc = add_signature(doc, sign(doc["typedData"], key, source))
            for signature in attach or []:
                doc = add_signature(doc, signature)
    typer.echo(json.dumps(doc, indent=2))
    out = render.console()
    evidence = doc["evidence"]
    gate = evidence.get("gate")
    marks = [m for m, on in (("dry-run", evidence.get("dryRun") is not False),
                             ("gate failed", not isinstance(gate, dict) or gate.get("passed") is not True)) if on]
    flags = f" [{', '.join(marks)}]" if marks else ""
    out.print(f"Attestation {doc['attestationHash']} digest {doc['digest']}{flags}; "
              f"{len(doc['signatures'])} signature(s)", soft_wrap=True, markup=False)


def _from_run(project: Path, ref: str | None, chain_id: int | None, contract: str | None,
              deadline_days: int | None, deadline: int | None, baseline_commitment: str | None) -> dict[str, Any]:
    from pipeline.attest.evidence import SECONDS_PER_DAY, build_attestation
    from pipeline.runs.artifacts import settings as rebuild_settings
    from pipeline.runs.runner import finished_run

    run = finished_run(project, ref)
    settings = rebuild_settings(run.data.settings).attestation
    if deadline is None:
        deadline = int(time.time()) + SECONDS_PER_DAY * (deadline_days or settings.deadline_days)
    return build_attestation(
        run.data.attestation["evidence"], run.data.attestation["attestationHash"],
        pipeline_run_id=run.pathspec,
        chain_id=chain_id if chain_id is not None else settings.chain_id,
        verifying_contract=contract or settings.verifying_contract,
        deadline=deadline,
        max_cost_usd_micro=settings.max_cost_usd_micro,
        actual_cost_usd_micro=settings.actual_cost_usd_micro,
        baseline_commitment=baseline_commitment or settings.baseline_commitment,
    )


def verify(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Attestation JSON written by `hokusai attest`.")],
    expect_signer: Annotated[Optional[list[str]], typer.Option("--expect-signer", metavar="ADDR", help="An address that must be among the signers. Repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON on stdout.")] = False,
) -> None:
    """Recompute the evidence hash, idempotency key and digest, recover every signer; exit 1 on any mismatch.

    Example: hokusai verify attestation.json --expect-signer 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
    """
    from rich.table import Table
    from rich.text import Text

    from hokusai_cli import render
    from pipeline.attest.evidence import evidence_matches_message
    from pipeline.attest.eip712 import CHECK_ERRORS, Check, is_address, verify_attestation

    with handled():
        for address in expect_signer or []:
            if not is_address(address):
                raise InputError(f"--expect-signer {address!r} is not an address; give 0x followed by 40 hex digits.")
        doc = _load_attestation(file)
    checks = verify_attestation(doc, expect_signers=expect_signer or [])
    try:
        ok, detail = evidence_matches_message(doc)
    except CHECK_ERRORS as exc:
        ok, detail = False, f"cannot check: {exc}"
    checks.insert(checks.index(next(c for c in checks if c.name == "digest")) + 1, Check("evidence_message", ok, detail))
    passed = all(c.ok for c in checks)
    if as_json:
        typer.echo(json.dumps({"ok": passed, "checks": [c.__dict__ for c in checks]}, indent=2))
    table = Table(title=Text(_printable(f"verify {file.name}")), title_justify="left", header_style="bold")
    for column in ("check", "result", "detail"):
        table.add_column(column, overflow="fold")
    for c in checks:  # Text, not markup: a detail quotes the file, which may hold "[/...]"
        table.add_row(Text(c.name), Text("ok" if c.ok else "FAILED", style="green" if c.ok else "bold red"),
                      Text(_printable(c.detail)))
    out = render.console()
    out.print(table)
    out.print(Text("All checks hold." if passed else f"{sum(not c.ok for c in checks)} check(s) failed.",
                   style="bold green" if passed else "bold red"))
    raise typer.Exit(0 if passed else 1)
