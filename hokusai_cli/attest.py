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


FORMATS = ("attestation", "mint-request", "attribution-report", "acceptance-event")
#: Formats read from the run as it is: nothing in them is signed.
UNSIGNED_FORMATS = ("attribution-report", "acceptance-event")

RunArg = Annotated[Optional[str], typer.Argument(help="Run id or HokusaiEvaluationFlow/<id>; default: the latest run.")]
ProjectOpt = Annotated[Path, typer.Option("--project", "-p", file_okay=False, help="Project folder holding the runs.")]
FromOpt = Annotated[Optional[Path], typer.Option("--from", dir_okay=False, help="Start from this attestation JSON instead of a run (to add signatures).")]
KeyFileOpt = Annotated[Optional[Path], typer.Option("--sign-key-file", dir_okay=False, help="Sign with the hex private key in this file.")]
KeyEnvOpt = Annotated[Optional[str], typer.Option("--sign-key-env", metavar="VAR", help="Sign with the hex private key in this environment variable.")]
AttachOpt = Annotated[Optional[list[str]], typer.Option("--attach", metavar="SIG", help="Add a 65-byte signature made elsewhere (e.g. a hardware wallet); it must recover over this digest.")]
NetworkOpt = Annotated[Optional[str], typer.Option("--network", metavar="NAME", help="Target DeltaVerifier: local, sepolia or mainnet (sets chainId and verifyingContract; default: \\[attestation] network).")]
ChainIdOpt = Annotated[Optional[int], typer.Option("--chain-id", help="EIP-712 domain chainId; beats --network (default: the network's).")]
ContractOpt = Annotated[Optional[str], typer.Option("--verifying-contract", help="DeltaVerifier address; beats --network (default: the network's).")]
DeadlineDaysOpt = Annotated[Optional[int], typer.Option("--deadline-days", min=1, help="Deadline = now + this many days (default: \\[attestation] deadline_days).")]
DeadlineOpt = Annotated[Optional[int], typer.Option("--deadline", metavar="UNIX", help="Absolute deadline (unix seconds, in the future); overrides --deadline-days.")]
CommitmentOpt = Annotated[Optional[str], typer.Option("--baseline-commitment", help="bytes32 to use as baselineCommitment (must equal the model's on-chain head).")]
ZeroCostOpt = Annotated[bool, typer.Option("--allow-zero-cost", help="Sign although no cost is configured (actualCostUsdMicro 0 turns the contract's budget check off).")]
AllowDryRunOpt = Annotated[bool, typer.Option("--allow-dry-run", help="Accept evidence marked dryRun (signed with --force): without it the check dry_run fails.")]
AllowGateFailedOpt = Annotated[bool, typer.Option("--allow-gate-failed", help="Accept evidence whose DeltaOne gate failed (gate.passed false, signed with --force): without it the check gate fails.")]
RpcOpt = Annotated[Optional[str], typer.Option("--rpc", envvar="HOKUSAI_RPC_URL", metavar="URL", help="JSON-RPC URL of a node of the attestation's chain: read the live DeltaVerifier and simulate submitMintRequest with eth_call (no transaction, no key sent); or set HOKUSAI_RPC_URL or \\[attestation] rpc_url.")]
RelayerOpt = Annotated[Optional[str], typer.Option("--relayer", metavar="ADDR", help="Address --rpc simulates the submission from (it must hold SUBMITTER_ROLE; default: \\[attestation] relayer).")]
RpcProjectOpt = Annotated[Path, typer.Option("--project", "-p", file_okay=False, help="Project whose \\[attestation] rpc_url and relayer apply.")]


def chain_settings(project: Path, rpc: str | None, relayer: str | None) -> tuple[str, str]:
    """(node URL, relayer) of the --rpc preflight: the options, else the project's [attestation]
    rpc_url and relayer (with their HOKUSAI_* variables); an empty URL means no preflight."""
    from pipeline.attest.eip712 import is_address
    from pipeline.config import load_settings

    if relayer is not None and not is_address(relayer):
        raise InputError(f"--relayer {relayer!r} is not an address; give 0x followed by 40 hex digits.")
    settings = load_settings(project.resolve()).attestation
    return (settings.rpc_url if rpc is None else rpc), (relayer or settings.relayer)


def attestation_document(
    *, project: Path, run: str | None, from_file: Path | None, sign_key_file: Path | None, sign_key_env: str | None,
    attach: list[str] | None, network: str | None, chain_id: int | None, verifying_contract: str | None,
    deadline_days: int | None, deadline: int | None, baseline_commitment: str | None, allow_zero_cost: bool,
    force: bool, now: int,
) -> dict[str, Any]:
    """The attestation `attest` and `publish` work on: built from a run (or read with --from),
    then signed by every key and attached signature, after the signing refusals."""
    from pipeline.attest.evidence import sign_attestation

    if from_file is not None:
        doc = _load_attestation(from_file)
        if any(v is not None for v in (run, network, chain_id, verifying_contract, deadline_days, deadline, baseline_commitment)):
            raise InputError("--from takes an attestation as it is; drop RUN and the --network/--chain-id/--verifying-contract/--deadline*/--baseline-commitment options.")
    else:
        doc = _from_run(project.resolve(), run, network, chain_id, verifying_contract, deadline_days, deadline,
                        baseline_commitment, now)
    keys = _read_key(sign_key_file, sign_key_env)
    return sign_attestation(doc, keys, list(attach or []), now=now, force=force, allow_zero_cost=allow_zero_cost)


def attest(
    run: RunArg = None,
    project: ProjectOpt = Path("."),
    from_file: FromOpt = None,
    sign_key_file: KeyFileOpt = None,
    sign_key_env: KeyEnvOpt = None,
    attach: AttachOpt = None,
    network: NetworkOpt = None,
    chain_id: ChainIdOpt = None,
    verifying_contract: ContractOpt = None,
    deadline_days: DeadlineDaysOpt = None,
    deadline: DeadlineOpt = None,
    baseline_commitment: CommitmentOpt = None,
    output_format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="attestation (the hokusai.attestation/v1 document), mint-request (the relayer's mint_request v1.0 message; needs a signature), attribution-report (Hokusai's attribution_report/v1 of the run: contributors, raw scores, weights; unsigned) or acceptance-event (Hokusai's deltaone.acceptance/v1 of an accepted run; unsigned).")] = "attestation",
    allow_zero_cost: ZeroCostOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Sign even a dry-run, a run whose gate failed, a gain below the network's minImprovementBps or a cost over budget.")] = False,
) -> None:
    """Print the attestation of a successful run as JSON on stdout (EIP-712 MintRequest for DeltaVerifier),
    or with --format the relayer's mint request, the run's attribution report or its acceptance event.

    Example: hokusai attest 1795674766048057 --network sepolia --sign-key-env ATTESTER_KEY > attestation.json

    Example: hokusai attest 1795674766048057 --format attribution-report > attribution_report.json

    Example: hokusai attest 1795674766048057 --format acceptance-event > deltaone_acceptance_event.json
    """
    from hokusai_cli import render

    with handled():
        if output_format not in FORMATS:
            raise InputError(f"--format {output_format!r} is not a format; use attestation, mint-request, "
                             "attribution-report or acceptance-event.")
        if output_format in UNSIGNED_FORMATS:
            signing = {"--from": from_file, "--sign-key-file": sign_key_file, "--sign-key-env": sign_key_env,
                       "--attach": attach, "--network": network, "--chain-id": chain_id,
                       "--verifying-contract": verifying_contract, "--deadline-days": deadline_days,
                       "--deadline": deadline, "--baseline-commitment": baseline_commitment,
                       "--allow-zero-cost": allow_zero_cost, "--force": force}
            given = [name for name, value in signing.items() if value not in (None, False, [])]
            if given:
                raise InputError(f"--format {output_format} is read from the run and is not signed; drop "
                                 f"{', '.join(given)}.")
        if output_format == "attribution-report":
            from pipeline.attest.attribution_report import report_json

            report = attribution_report_of(project, run)
            typer.echo(report_json(report))
        elif output_format == "acceptance-event":
            from pipeline.attest.acceptance import event_json

            event = acceptance_event_of(project, run, now=int(time.time()))
            typer.echo(event_json(event), nl=False)
        else:
            doc = attestation_document(
                project=project, run=run, from_file=from_file, sign_key_file=sign_key_file, sign_key_env=sign_key_env,
                attach=attach, network=network, chain_id=chain_id, verifying_contract=verifying_contract,
                deadline_days=deadline_days, deadline=deadline, baseline_commitment=baseline_commitment,
                allow_zero_cost=allow_zero_cost, force=force, now=int(time.time()),
            )
            if output_format == "mint-request":
                from pipeline.attest.relayer import mint_request

                typer.echo(json.dumps(mint_request(doc), indent=2))
            else:
                typer.echo(json.dumps(doc, indent=2))
    out = render.console()
    if output_format == "attribution-report":
        out.print(report_summary(report), soft_wrap=True, markup=False)
    elif output_format == "acceptance-event":
        out.print(f"Acceptance event of {event['eval_id']}: delta {event['delta_bps']} bps (threshold "
                  f"{event['delta_threshold_bps']}), {len(event['contributors'])} contributor(s), attestation "
                  f"{event['attestation_hash']}, MLflow run {event['mlflow_run_id']}", soft_wrap=True, markup=False)
    else:
        out.print(summary(doc), soft_wrap=True, markup=False)


def attribution_report_of(project: Path, ref: str | None) -> dict[str, Any]:
    """The `attribution_report/v1` of a successful run (`pipeline.attest.attribution_report`);
    a run that has not finished, or failed, gets `finished_run`'s sentence (exit 2)."""
    from pipeline.attest.attribution_report import report_of_run
    from pipeline.runs.runner import finished_run

    return report_of_run(finished_run(project.resolve(), ref))


def acceptance_event_of(project: Path, ref: str | None, *, now: int) -> dict[str, Any]:
    """The `deltaone.acceptance/v1` event of a successful run (`pipeline.attest.acceptance`): from
    its attestation as `attest` builds it (unsigned) and the MLflow run that logged it (also
    one logged later by `hokusai track`)."""
    from pipeline.attest.acceptance import event_of_run
    from pipeline.runs.artifacts import settings as rebuild_settings
    from pipeline.runs.artifacts import stored
    from pipeline.runs.report import tracking_state
    from pipeline.runs.runner import finished_run

    run = finished_run(project.resolve(), ref)
    data = stored(run)
    mlflow = tracking_state(run) or {}
    return event_of_run(data.attestation, rebuild_settings(data.settings).attestation, pathspec=run.pathspec,
                        mlflow_run_id=mlflow.get("run_id") if mlflow.get("status") == "logged" else None,
                        task_cpu_seconds=getattr(data, "task_cpu_seconds", None), now=now)


def report_summary(report: dict[str, Any]) -> str:
    """One line for stderr: the run, the contributors, the total weight and the method."""
    details = report.get("method_details", {})
    marks = [m for m, on in (("dry-run", details.get("dry_run")), ("gate failed", not details.get("gate_passed")))
             if on]
    flags = f" [{', '.join(marks)}]" if marks else ""
    return (f"Attribution report of {report['candidate_run_id']}: {len(report['contributors'])} contributor(s), "
            f"weight_bps_total {report['weight_bps_total']} ({details.get('weight_method')}){flags}")


def summary(doc: dict[str, Any]) -> str:
    """Two lines for stderr: hashes, marks and signatures; the target network and the cost."""
    from pipeline.attest.eip712 import CHECK_ERRORS
    from pipeline.attest.networks import target_of

    evidence = doc["evidence"]
    gate = evidence.get("gate")
    marks = [m for m, on in (("dry-run", evidence.get("dryRun") is not False),
                             ("gate failed", not isinstance(gate, dict) or gate.get("passed") is not True)) if on]
    flags = f" [{', '.join(marks)}]" if marks else ""
    try:
        domain, payload = doc["typedData"]["domain"], doc["typedData"]["message"]["payload"]
        target = (f"{target_of(int(domain['chainId']), domain['verifyingContract']).describe()}; "
                  f"{_cost_text(doc.get('cost'), payload)}")
    except CHECK_ERRORS:  # an unsigned file given with --from is printed as it is
        target = "unreadable typedData; check the file with `hokusai verify`"
    return (f"Attestation {doc['attestationHash']} digest {doc['digest']}{flags}; {len(doc['signatures'])} "
            f"signature(s)\nTarget: {target}")


def _cost_text(cost: Any, payload: dict[str, Any]) -> str:
    from pipeline.attest.cost import MEASURED

    actual = payload["actualCostUsdMicro"]
    if isinstance(cost, dict) and cost.get("method") == MEASURED:
        return f"actualCostUsdMicro {actual} ({cost['cpuSeconds']} CPU-s x {cost['usdPerCpuHour']} USD/h)"
    if str(actual) == "0":
        return "actualCostUsdMicro 0 (no cost configured: set [attestation] usd_per_cpu_hour)"
    return f"actualCostUsdMicro {actual}"


def _from_run(project: Path, ref: str | None, network: str | None, chain_id: int | None, contract: str | None,
              deadline_days: int | None, deadline: int | None, baseline_commitment: str | None,
              now: int) -> dict[str, Any]:
    from pipeline.attest.cost import run_cost
    from pipeline.attest.evidence import SECONDS_PER_DAY, build_attestation
    from pipeline.attest.networks import resolve_target, utc
    from pipeline.runs.artifacts import settings as rebuild_settings
    from pipeline.runs.artifacts import stored
    from pipeline.runs.runner import finished_run

    run = finished_run(project, ref)
    data = stored(run)
    settings = rebuild_settings(data.settings).attestation
    target = resolve_target(settings, network_name=network, chain_id=chain_id, verifying_contract=contract)
    if deadline is None:
        deadline = now + SECONDS_PER_DAY * (deadline_days or settings.deadline_days)
    elif deadline <= now:
        raise AttestationError(
            f"--deadline {deadline} ({utc(deadline)}) is not in the future, so DeltaVerifier would revert "
            "SignatureExpired; give a later unix time, or use --deadline-days."
        )
    cost = run_cost(settings, getattr(data, "task_cpu_seconds", None), f"Run {run.pathspec}")
    return build_attestation(
        data.attestation["evidence"], data.attestation["attestationHash"],
        pipeline_run_id=run.pathspec,
        chain_id=target.chain_id,
        verifying_contract=target.verifying_contract,
        deadline=deadline,
        max_cost_usd_micro=cost.max_usd_micro,
        actual_cost_usd_micro=cost.actual_usd_micro,
        baseline_commitment=baseline_commitment or settings.baseline_commitment,
        cost=cost.to_json(),
        model_name=settings.model_name,
        environment=getattr(data, "environment", None),
    )


def verify(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Attestation JSON written by `hokusai attest`.")],
    expect_signer: Annotated[Optional[list[str]], typer.Option("--expect-signer", metavar="ADDR", help="An address that must be among the signers. Repeatable.")] = None,
    at: Annotated[Optional[int], typer.Option("--at", metavar="UNIX", help="Check the deadline as of this unix time (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON on stdout.")] = False,
    allow_dry_run: AllowDryRunOpt = False,
    allow_gate_failed: AllowGateFailedOpt = False,
    rpc: RpcOpt = None,
    relayer: RelayerOpt = None,
    project: RpcProjectOpt = Path("."),
) -> None:
    """Recompute the evidence hash, idempotency key and digest, recover every signer, check that the
    evidence is of a real run that passed its gate, and check what the contract would do (deadline,
    minImprovementBps, budget); with --rpc, also read the live DeltaVerifier (head, attesters, threshold,
    idempotency key, minImprovementBps, mint budget) and simulate submitMintRequest; exit 1 on any failed check.

    Example: hokusai verify attestation.json --expect-signer 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC

    Example: hokusai verify attestation.json --rpc http://127.0.0.1:8545
    """
    from rich.table import Table
    from rich.text import Text

    from hokusai_cli import render
    from pipeline.attest.evidence import verify_document
    from pipeline.attest.eip712 import is_address

    with handled():
        for address in expect_signer or []:
            if not is_address(address):
                raise InputError(f"--expect-signer {address!r} is not an address; give 0x followed by 40 hex digits.")
        if at is not None and at < 0:
            raise InputError(f"--at {at} is before 1970; give a unix time in seconds.")
        doc = _load_attestation(file)
        url, sender = chain_settings(project, rpc, relayer)
        checks = verify_document(doc, expect_signer or [], now=int(time.time()) if at is None else at,
                                 allow_dry_run=allow_dry_run, allow_gate_failed=allow_gate_failed)
        reward = None
        if url:
            from pipeline.attest.chain import preflight

            result = preflight(doc, url, sender)
            checks, reward = checks + result.checks, result.reward_wei
    passed = all(c.ok for c in checks)
    if as_json:
        extra = {} if reward is None else {"reward_wei": str(reward)}
        typer.echo(json.dumps({"ok": passed, "checks": [c.__dict__ for c in checks], **extra}, indent=2))
    table = Table(title=Text(_printable(f"verify {file.name}")), title_justify="left", header_style="bold")
    for column in ("check", "result", "detail"):
        table.add_column(column, overflow="fold")
    for c in checks:  # Text, not markup: a detail quotes the file, which may hold "[/...]"
        table.add_row(Text(c.name), Text("ok" if c.ok else "FAILED", style="green" if c.ok else "bold red"),
                      Text(_printable(c.detail)))
    out = render.console()
    out.print(table)
    if passed and reward is not None:
        from pipeline.attest.chain import tokens

        verdict = f"All checks hold; submitMintRequest would mint {tokens(reward)} tokens."
    elif passed:
        verdict = "All checks hold."
    else:
        verdict = f"{sum(not c.ok for c in checks)} check(s) failed."
    out.print(Text(verdict, style="bold green" if passed else "bold red"))
    raise typer.Exit(0 if passed else 1)
