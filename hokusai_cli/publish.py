"""`hokusai publish`: sign a run's attestation and hand the relayer its mint_request on Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hokusai_cli.attest import (
    AllowDryRunOpt, AllowGateFailedOpt, AttachOpt, ChainIdOpt, CommitmentOpt, ContractOpt, DeadlineDaysOpt,
    DeadlineOpt, FromOpt, KeyEnvOpt, KeyFileOpt, NetworkOpt, ProjectOpt, RelayerOpt, RpcOpt, RunArg, ZeroCostOpt,
    attestation_document, chain_settings,
)
from hokusai_cli.common import handled

#: Checks a --force publish may fail: the contract accepts such a request (and pays nothing).
FORCIBLE = frozenset({"min_improvement", "budget"})


def publish(
    run: RunArg = None,
    redis_url: Annotated[str, typer.Option("--redis-url", envvar="HOKUSAI_REDIS_URL", metavar="URL", help="The relayer's Redis: redis://\\[user:password@]HOST:PORT/DB (rediss:// for TLS); or set HOKUSAI_REDIS_URL, which keeps a password off the command line.")] = "",
    queue: Annotated[str, typer.Option("--queue", help="The relayer's inbound list.")] = "hokusai:mint_requests",
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
    allow_zero_cost: ZeroCostOpt = False,
    force: Annotated[bool, typer.Option("--force", help="Publish an idempotency key already published to this queue, and sign what `attest` refuses without --force.")] = False,
    allow_dry_run: AllowDryRunOpt = False,
    allow_gate_failed: AllowGateFailedOpt = False,
    rpc: RpcOpt = None,
    relayer: RelayerOpt = None,
    webhook: Annotated[Optional[list[str]], typer.Option("--webhook", metavar="URL", help="Also POST Hokusai's signed deltaone.achieved webhook to this URL (repeatable); without --redis-url only the webhook is sent.")] = None,
    webhook_secret_env: Annotated[Optional[str], typer.Option("--webhook-secret-env", metavar="VAR", help="Environment variable holding the webhook's shared secret (the receiver checks X-Hokusai-Signature with it).")] = None,
) -> None:
    """Sign the attestation of a run (or take a signed one with --from), check it as `verify` does (a
    dry-run or a failed gate only with --allow-dry-run / --allow-gate-failed), and LPUSH the relayer's
    mint_request v1.0 message onto its Redis list, once per idempotency key (with --rpc or \\[attestation] rpc_url,
    only after the live DeltaVerifier's preflight passes, as `verify --rpc` runs it) (a retry after a lost answer
    finds the message on Redis and pushes nothing); the message on the queue is printed on stdout. With
    --webhook, also POST Hokusai's signed deltaone.achieved (three attempts; exit 3 if it is not delivered).

    Example: hokusai publish --sign-key-env ATTESTER_KEY --network sepolia --redis-url redis://127.0.0.1:6379/0

    Example: hokusai publish --from attestation.json --webhook https://hooks.example.com/hokusai --webhook-secret-env HOOK_SECRET
    """
    from hokusai_cli import render
    from pipeline.attest.evidence import POLICY_OPTIONS, run_of, verify_document
    from pipeline.attest.publish import publish as push
    from pipeline.attest.relayer import mint_request
    from pipeline.config import STATE_DIR
    from pipeline.errors import AttestationError, InputError

    with handled():
        if not redis_url and not webhook:
            raise InputError("--redis-url is missing; give the relayer's Redis, e.g. redis://127.0.0.1:6379/0, "
                             "or set HOKUSAI_REDIS_URL (or give only --webhook URL to send the webhook alone).")
        secret = _webhook_secret(webhook or [], webhook_secret_env)
        now = int(time.time())
        doc = attestation_document(
            project=project, run=run, from_file=from_file, sign_key_file=sign_key_file, sign_key_env=sign_key_env,
            attach=attach, network=network, chain_id=chain_id, verifying_contract=verifying_contract,
            deadline_days=deadline_days, deadline=deadline, baseline_commitment=baseline_commitment,
            allow_zero_cost=allow_zero_cost, force=force, now=now,
        )
        checks = verify_document(doc, now=now, allow_dry_run=allow_dry_run, allow_gate_failed=allow_gate_failed)
        for check in checks:  # never raises: a malformed file fails a check
            if check.ok or (force and check.name in FORCIBLE):
                continue
            option = POLICY_OPTIONS.get(check.name)
            if option and check.detail.endswith(f"; pass {option} to accept it"):
                raise AttestationError(
                    f"The attestation of {run_of(doc)} fails the `hokusai verify` check {check.name}: "
                    f"{check.detail.removesuffix(f'; pass {option} to accept it')}, so it is not published; "
                    f"pass {option} to publish it anyway."
                )
            raise AttestationError(
                f"The attestation fails the `hokusai verify` check {check.name} ({check.detail}), so it is "
                "not published; attest the run again."
            )
        url, sender = chain_settings(project, rpc, relayer)
        reward = _preflight(doc, url, sender, force) if url else None
        message = mint_request(doc)
        result = push(message, redis_url=redis_url, queue=queue, record_dir=project.resolve() / STATE_DIR,
                      force=force) if redis_url else None
    if result is not None:
        typer.echo(json.dumps(result.message, indent=2))
    if reward is not None:
        from pipeline.attest.chain import public_url, tokens

        render.console().print(f"Preflight at {public_url(url)}: submitMintRequest from {sender} would mint "
                               f"{tokens(reward)} tokens.", soft_wrap=True, markup=False)
    if result is not None:
        _report_push(result)
    if webhook:
        with handled():
            _send_webhooks(doc, webhook, secret, project)


def _report_push(result: Any) -> None:
    from hokusai_cli import render

    queued = result.message
    if result.already_queued:
        render.console().print(
            f"mint_request {result.message_id} (idempotency key {result.idempotency_key}) was already pushed to "
            f"{result.queue} on {result.redis} at {queued.get('timestamp')} by a publish this project had no record "
            "of (its answer was lost, or it ran elsewhere), so nothing was pushed again; recorded in "
            f".hokusai/published.jsonl; the list now holds {result.queue_length} message(s).",
            soft_wrap=True, markup=False,
        )
        return
    again = " again" if result.republished else ""
    render.console().print(
        f"Published mint_request {result.message_id}{again} to {result.queue} on {result.redis}: eval "
        f"{result.eval_id}, idempotency key {result.idempotency_key}, {len(queued['contributors'])} "
        f"contributor(s), {len(queued['attester_signatures'])} signature(s), actualCostUsdMicro "
        f"{queued['evaluation']['actual_cost_usd_micro']}; the list now holds {result.queue_length} message(s).",
        soft_wrap=True, markup=False,
    )


def _webhook_secret(urls: list[str], env: str | None) -> str:
    """The shared secret of --webhook (checked before anything is signed or pushed)."""
    import os

    from pipeline.errors import InputError

    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--webhook {url!r} is not an http(s) URL; give e.g. https://hooks.example.com/hokusai.")
    if not urls:
        return ""
    if not env:
        raise InputError("--webhook needs --webhook-secret-env VAR, the variable holding the shared secret the "
                         "receiver checks X-Hokusai-Signature with.")
    secret = os.environ.get(env, "")
    if not secret:
        raise InputError(f"--webhook-secret-env {env}: the variable is not set or empty; export the webhook's "
                         "shared secret in it.")
    return secret


def _send_webhooks(doc: dict, urls: list[str], secret: str, project: Path) -> None:
    """POST deltaone.achieved to each URL; a URL that never took it is a DeliveryError (exit 3)
    after every delivery was tried and reported."""
    from hokusai_cli import render
    from pipeline.attest.chain import public_url
    from pipeline.attest.webhook import ACHIEVED, achieved_payload, deliver
    from pipeline.errors import DeliveryError

    mlflow_run_id, evaluated_at = _run_facts(doc, project)
    payload = achieved_payload(doc, mlflow_run_id=mlflow_run_id, evaluated_at=evaluated_at)
    failed = []
    for url in urls:
        done = deliver(url, payload, secret)
        if done.delivered:
            render.console().print(f"Webhook {ACHIEVED} delivered to {public_url(url)} (HTTP {done.status}, attempt "
                                   f"{done.attempts} of 3).", soft_wrap=True, markup=False)
        else:
            failed.append(f"{public_url(url)} ({done.error})")
    if failed:
        raise DeliveryError(
            f"The {ACHIEVED} webhook was not delivered to {', '.join(failed)} after 3 attempts each; check the "
            "endpoint, then send it again with `hokusai publish --from FILE --webhook URL --webhook-secret-env VAR` "
            "(without --redis-url: nothing is pushed twice)."
        )


def _run_facts(doc: dict, project: Path) -> tuple[str | None, str]:
    """(MLflow run id, start time) of the attested run when this project holds it, else (None, now)."""
    from datetime import datetime, timezone

    from pipeline.attest.evidence import run_of
    from pipeline.errors import HokusaiError
    from pipeline.runs.report import iso, run_start, tracking_state
    from pipeline.runs.runner import get_run, has_runs_store

    try:
        if has_runs_store(project.resolve()):
            run = get_run(project.resolve(), run_of(doc))
            state = tracking_state(run) or {}
            return (state.get("run_id") if state.get("status") == "logged" else None), iso(run_start(run))
    except HokusaiError:  # a file attested elsewhere: its run is not here
        pass
    return None, iso(datetime.now(timezone.utc))


def _preflight(doc: dict, url: str, sender: str, force: bool) -> int | None:
    """The reward the live DeltaVerifier would mint (wei), or the first failing preflight row as
    one sentence: nothing is pushed that the contract would refuse (or, unless --force, pay 0 for)."""
    from pipeline.attest.chain import FORCIBLE, preflight
    from pipeline.attest.evidence import run_of
    from pipeline.errors import AttestationError

    result = preflight(doc, url, sender)
    for check in result.checks:
        if not check.ok and not (force and check.name in FORCIBLE):
            forcible = "; pass --force to publish it anyway" if check.name in FORCIBLE else ""
            raise AttestationError(f"The attestation of {run_of(doc)} fails the --rpc preflight row {check.name} "
                                   f"({check.detail}), so it is not published{forcible}.")
    return result.reward_wei
