"""The Typer app. Each command parses options, calls one `pipeline` function and renders.

Exit codes: 0 success (a failed DeltaOne gate is still a successful evaluation), 2 bad input
or usage, 3 the flow itself failed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional

import typer

from pipeline import __version__
from pipeline.errors import HokusaiError

EXIT_CODES = """Exit codes: 0 success (a failed gate is still a successful evaluation),
1 the gate failed under --fail-on-gate or `verify` found a mismatch, 2 bad input or usage,
3 the flow failed, 130 interrupted (Ctrl-C)."""

app = typer.Typer(
    name="hokusai",
    help=f"Did this contributed data make the model better? Evidence, DeltaOne and attestations.\n\n{EXIT_CODES}",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state: dict[str, Any] = {"log_json": False}


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
    _state["log_json"] = log_json


@contextmanager
def handled() -> Iterator[None]:
    """Turn domain errors into one sentence on stderr and their exit code: no traceback."""
    from hokusai_cli import render

    try:
        yield
    except HokusaiError as exc:
        render.error(exc.message)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        render.error("Interrupted; the run stopped. Resume it with `hokusai resume RUN` (see `hokusai runs`).")
        raise typer.Exit(130) from None


def _register() -> None:
    """Each command group lives in its own module; importing it registers its commands."""
    from hokusai_cli import attest, evaluate, init, inspect, validate  # noqa: F401


_register()


def main() -> None:
    """Console-script entry point."""
    app()
