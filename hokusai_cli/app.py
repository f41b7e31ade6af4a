"""The Typer app. Each command parses options, calls one `pipeline` function and renders.

Exit codes: 0 success (a failed DeltaOne gate is still a successful evaluation), 2 bad input
or usage, 3 the flow itself failed."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from hokusai_cli import attest, benchmark, evaluate, init, inspect, promote, publish, reproduce, validate
from hokusai_cli.common import state
from pipeline import __version__

EXIT_CODES = """Exit codes: 0 success (a failed gate is still a successful evaluation),
1 the gate failed under --fail-on-gate, `verify` found a mismatch or `reproduce` a difference, 2 bad input or usage,
3 the flow failed, 130 interrupted (Ctrl-C)."""

app = typer.Typer(
    name="hokusai",
    help=f"Did this contributed data make the model better? Evidence, DeltaOne and attestations.\n\n{EXIT_CODES}",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hokusai {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Write logs as JSON lines (for machines) instead of console text.")
    ] = False,
) -> None:
    """Example: hokusai dry-run"""
    state["log_json"] = log_json


# Every command, in the order `hokusai --help` lists them; command modules never import this one.
app.command()(init.init)
app.command()(validate.validate)
app.command()(evaluate.run)
app.command("dry-run")(evaluate.dry_run)
app.command()(inspect.inspect)
app.command()(inspect.runs)
app.command()(inspect.resume)
app.command()(inspect.track)
app.command()(promote.promote)
app.command()(reproduce.reproduce)
app.add_typer(benchmark.app)
app.command()(attest.attest)
app.command()(attest.verify)
app.command()(publish.publish)


def main() -> None:
    """Console-script entry point."""
    app()
