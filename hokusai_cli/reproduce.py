"""`hokusai reproduce`: run a finished evaluation again from what it recorded and compare.
The work is `pipeline.runs.reproduce`; this module renders it and picks the exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hokusai_cli.common import JsonOpt, ProjectOpt, VerboseOpt, handled


def render_reproduction(result: Any) -> Any:
    """The comparison table, the verdict and the environments, for stderr."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=None, show_lines=False)
    for column in ("compared", "recorded", "reproduced", "same"):
        table.add_column(column)
    for row in [*result.inputs, *result.artifacts]:
        table.add_row(row.name, row.recorded, row.reproduced,
                      Text("yes", style="green") if row.same else Text("NO", style="bold red"))
    parts: list[Any] = [table]
    first = result.first_difference
    if result.identical:
        evidence = next(c.recorded for c in result.artifacts if c.name == "evidence")
        parts.append(Text(f"Identical: run {result.run} reproduces step by step (evidence {evidence}).",
                          style="bold green"))
    elif first is not None:
        parts.append(Text(f"Differs: the first difference is the {first.name}"
                          + (f" ({first.detail})." if first.detail else "."), style="bold red"))
    from pipeline.runs.provenance import describe

    parts.append(Text(f"Recorded environment: {describe(result.recorded_environment)}"))
    if result.current_environment is not None:
        parts.append(Text(f"Current environment:  {describe(result.current_environment)}"))
    if result.environment_differences:
        parts.append(Text("Environment differences:"))
        parts += [Text(f"  {line}") for line in result.environment_differences]
    if result.scratch:
        parts.append(Text(f"Reproduction kept in {result.scratch} (run {result.reproduced_run})", style="dim"))
    return Group(*parts)


def reproduce(
    run: Annotated[Optional[str], typer.Argument(
        metavar="[RUN]", help="Run id or HokusaiEvaluationFlow/<id> of a successful run; default: the latest run.")] = None,
    project: ProjectOpt = Path("."),
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the scratch folder (its Metaflow store and MLflow file) and print where it is.")] = False,
    scratch: Annotated[Optional[Path], typer.Option(
        "--scratch", metavar="DIR", file_okay=False,
        help="Run the reproduction in DIR (created if missing, kept) instead of a temporary folder.")] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a finished evaluation again from its recorded settings and inputs, and compare it step by step.

    The input files are checked against their recorded sha256 first; then the flow runs with the
    recorded settings and seeds in a scratch folder (the project's runs and MLflow are untouched),
    and the baseline and candidate model bytes, benchmark predictions, attribution, metrics, delta
    and evidence hash are compared in that order, with the recorded and current environments
    (libraries, CPU, BLAS kernel and threads).

    Exit codes: 0 identical, 1 an input or an artifact differs (the first is named), 2 bad input
    (no such run, a run that did not succeed, an input file not found), 3 the reproduction failed.

    Example: hokusai reproduce 1795674766048057
    """
    from hokusai_cli import render
    from pipeline.runs.reproduce import reproduce as reproduce_run
    from pipeline.runs.runner import STEPS, parse_line

    out = render.console()
    progress = render.StepProgress(STEPS, out)
    with handled():
        project = project.resolve()

        def on_start(origin: Any) -> None:
            out.print(f"Reproducing run {origin.pathspec}: checking its inputs, then running it again",
                      soft_wrap=True, markup=False)

        def on_line(line: str) -> None:
            event = parse_line(line)
            if event is not None:
                if not progress.live.is_started:
                    progress.__enter__()
                progress.update(event.run_id, event.step, event.state)
            if verbose and (event is None or event.state == "log"):
                out.print(line.rstrip(), markup=False, highlight=False)

        try:
            result = reproduce_run(project, run, scratch=scratch, keep=keep, on_line=on_line, on_start=on_start)
        finally:
            if progress.live.is_started:
                progress.__exit__(None, None, None)
    out.print(render_reproduction(result))
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    raise typer.Exit(0 if result.identical else 1)
