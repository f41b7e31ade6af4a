"""`hokusai run` and `hokusai dry-run`: launch the flow, show progress, render the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from hokusai_cli.common import (
    ConfigOpt, ContribOpt, ExcludeOpt, FailOnGateOpt, JsonOpt, MaxWorkersOpt, ProjectOpt, VerboseOpt, WithOpt, handled,
    state,
)



@contextmanager
def interruptible(progress: Any, project: Path, decospecs: list[str] | None = None) -> Iterator[None]:
    """Ctrl-C (exit 130) or SIGTERM (exit 143) stops the run and names the exact command that
    resumes it (with the run's --with decorators).

    While the flow runs, the launcher handles SIGINT: it kills the run's processes and
    raises KeyboardInterrupt. Only that is an interruption: a task that dies on its own (a
    crash, the OOM killer) is a failure (exit 3), never reported as Ctrl-C."""
    from hokusai_cli import render
    from pipeline.runs.report import project_arg, resume_command
    from pipeline.runs.runner import Terminated, mark_interrupted

    def interrupted(step: str | None, terminated: bool) -> typer.Exit:
        how = "terminated (SIGTERM)" if terminated else "interrupted or killed"
        if not progress.run_id:
            render.error(f"{'Terminated' if terminated else 'Interrupted'} before the run started; nothing was recorded.")
        else:
            where = f" at step {step}" if step else ""
            render.error(f"Run {progress.run_id} stopped{where} without an error ({how}); "
                         f"resume it with: {resume_command(progress.run_id, project_arg(project), decospecs=decospecs)}")
        return typer.Exit(143 if terminated else 130)

    try:
        yield
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        step = mark_interrupted(project, progress.run_id, terminated) if progress.run_id else None
        raise interrupted(step, terminated) from None


def finish(result: dict[str, Any], out: Any, as_json: bool, fail_on_gate: bool) -> None:
    """Render a finished run's result, print its JSON, and exit 1 on a failed gate when asked."""
    from hokusai_cli import render

    out.print(render.result(result))
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
    if fail_on_gate and not result["gate_passed"]:
        raise typer.Exit(1)


def _evaluate(contrib: list[str], project: Path, config: Path | None, dry_run: bool, as_json: bool, verbose: bool,
              fail_on_gate: bool = False, decospecs: list[str] | None = None, exclude: list[str] | None = None,
              max_workers: int | None = None) -> None:
    from hokusai_cli import render
    from pipeline.runs.runner import STEPS, launch, parse_line, preflight, remote_decorators, summary
    from pipeline.validation import check_run

    project = project.resolve()
    out = render.console()
    # `start` on other compute cannot read the project's parse cache: no handover to store
    local_start = not remote_decorators(decospecs or [])
    with handled():
        # bad config, params, columns or paths: fail before any run exists; the flow gets the
        # files as found here (relative to the project when inside it, else absolute), and
        # `start` the pre-check's parse of each (pipeline.data.parse_cache)
        contrib = check_run(project, contrib, dry_run, config, exclude or [], handover=local_start)
        checked = preflight(project, config, decospecs or [])  # the datastore and MLflow store, before any drawing
        progress = render.StepProgress(STEPS, out)
        with interruptible(progress, project, decospecs), progress:

            def on_line(line: str) -> None:
                event = parse_line(line)
                if event is not None:
                    progress.update(event.run_id, event.step, event.state)
                if verbose and (event is None or event.state == "log"):
                    progress.live.console.print(line.rstrip(), markup=False, highlight=False)

            run = launch(project, contrib, dry_run=dry_run, config_file=config,
                         log_json=state["log_json"], on_line=on_line, decospecs=decospecs or [],
                         exclude=exclude or [], max_workers=max_workers, checked=checked)
        result = summary(run)
    finish(result, out, as_json, fail_on_gate)


def run(
    contrib: ContribOpt = None,
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    fail_on_gate: FailOnGateOpt = False,
    with_: WithOpt = None,
    exclude: ExcludeOpt = None,
    max_workers: MaxWorkersOpt = None,
) -> None:
    """Evaluate contributed data for real: baseline vs candidate on the benchmark, DeltaOne, evidence.

    Exit codes: 0 success (a failed gate too, unless --fail-on-gate), 1 the gate failed with
    --fail-on-gate, 2 bad input or usage, 3 the flow failed, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).

    Example: hokusai run --contrib data/new_rows.csv:0x70997970C51812dc3A010C7d01b50e0d17dc79C8
    """
    _evaluate(contrib or [], project, config, dry_run=False, as_json=as_json, verbose=verbose, fail_on_gate=fail_on_gate,
              decospecs=with_, exclude=exclude, max_workers=max_workers)


def dry_run(
    contrib: ContribOpt = None,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    fail_on_gate: FailOnGateOpt = False,
    with_: WithOpt = None,
    exclude: ExcludeOpt = None,
    max_workers: MaxWorkersOpt = None,
) -> None:
    """Run the whole flow on the bundled demo (or this project's schema) without touching the real experiment.

    With no hokusai.toml, the demo data, mock baseline and sample contributions are used;
    --contrib checks your own file against that schema. Rows per file are capped at 5000
    and MLflow records go to the '<experiment>-dry-run' experiment.

    Example: hokusai dry-run --contrib my_rows.csv
    """
    _evaluate(contrib or [], project, None, dry_run=True, as_json=as_json, verbose=verbose, fail_on_gate=fail_on_gate,
              decospecs=with_, exclude=exclude, max_workers=max_workers)
