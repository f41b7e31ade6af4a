"""`hokusai run` and `hokusai dry-run`: launch the flow, show progress, render the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from hokusai_cli.app import _state, app, handled

ContribOpt = Annotated[
    Optional[list[str]],
    typer.Option("--contrib", "-c", metavar="FILE[:WALLET]",
                 help="Contributed data file (CSV, TSV, JSON, JSONL, Parquet), optionally :WALLET to credit. Repeat for more files."),
]
ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", file_okay=False, help="Project folder (holds hokusai.toml; runs are stored there).")
]
ConfigOpt = Annotated[
    Optional[Path], typer.Option("--config", dir_okay=False, help="Config file to use instead of <project>/hokusai.toml.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show each step's log lines as they come.")]


def _evaluate(contrib: list[str], project: Path, config: Path | None, dry_run: bool, as_json: bool, verbose: bool) -> None:
    from hokusai_cli import render
    from pipeline.inputs import prepare_run
    from pipeline.runs import STEPS, launch, parse_line, summary

    project = project.resolve()
    out = render.console()
    with handled():
        prepare_run(project, contrib, dry_run, config)  # bad config or paths: fail before any run exists
        with render.StepProgress(STEPS, out) as progress:

            def on_line(line: str) -> None:
                event = parse_line(line)
                if event is not None:
                    progress.update(event.run_id, event.step, event.state)
                if verbose and (event is None or event.state == "log"):
                    progress.live.console.print(line.rstrip(), markup=False, highlight=False)

            run = launch(project, contrib, dry_run=dry_run, config_file=config,
                         log_json=_state["log_json"], on_line=on_line)
        result = summary(run)
    out.print(render.result(result))
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))


@app.command()
def run(
    contrib: ContribOpt = None,
    project: ProjectOpt = Path("."),
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate contributed data for real: baseline vs candidate on the benchmark, DeltaOne, evidence.

    Example: hokusai run --contrib data/new_rows.csv:0x70997970C51812dc3A010C7d01b50e0d17dc79C8
    """
    if not contrib:
        from hokusai_cli import render

        render.error("No contributed data was given; pass at least one file with --contrib FILE[:WALLET].")
        raise typer.Exit(2)
    _evaluate(contrib, project, config, dry_run=False, as_json=as_json, verbose=verbose)


@app.command("dry-run")
def dry_run(
    contrib: ContribOpt = None,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run the whole flow on the bundled demo (or this project's schema) without touching the real experiment.

    With no hokusai.toml, the demo data, mock baseline and sample contributions are used;
    --contrib checks your own file against that schema. Rows per file are capped at 5000
    and MLflow records go to the '<experiment>-dry-run' experiment.

    Example: hokusai dry-run --contrib my_rows.csv
    """
    _evaluate(contrib or [], project, None, dry_run=True, as_json=as_json, verbose=verbose)
