"""What every command shares: the error edge (`handled`), global state set by the app's
callback, and the options several commands take. Command modules import this, never `app`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from pipeline.errors import HokusaiError

#: Set by the app's callback (`--log-json`) before any command runs.
state: dict[str, Any] = {"log_json": False}

#: Paths are found as `hokusai validate` finds its FILEs (`pipeline.data.inputs.find_contribution`).
ContribOpt = Annotated[
    Optional[list[str]],
    typer.Option("--contrib", "-c", metavar="FILE[:WALLET]",
                 help="Contributed data file (CSV, TSV, JSON, JSONL, Parquet), optionally :WALLET to credit. Repeat "
                      "for more files. A relative FILE is looked up in the current folder, then in the project "
                      "folder."),
]
ProjectOpt = Annotated[
    Path, typer.Option("--project", "-p", file_okay=False, help="Project folder (holds hokusai.toml; runs are stored there).")
]
ConfigOpt = Annotated[
    Optional[Path], typer.Option("--config", dir_okay=False, help="Config file to use instead of <project>/hokusai.toml.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show each step's log lines as they come.")]
FailOnGateOpt = Annotated[
    bool, typer.Option("--fail-on-gate", help="Exit 1 when the run completes but the DeltaOne gate failed (for CI jobs).")
]
ExcludeOpt = Annotated[
    Optional[list[str]],
    typer.Option("--exclude", "-x", metavar="WALLET|FILE",
                 help="Leave a contributor out of the evaluation: a WALLET, or a --contrib FILE. Repeat for more. "
                      "The evidence names each one with the reason; a run's harm advice prints the command."),
]
MaxWorkersOpt = Annotated[
    Optional[int],
    typer.Option("--max-workers", min=1, max=256,
                 help="Most Metaflow tasks at once (Metaflow's own default: 16); attribution fan-out branches run "
                      "this many in parallel."),
]
WithOpt = Annotated[
    Optional[list[str]],
    typer.Option("--with", metavar="DECORATOR",
                 help="Add a Metaflow decorator to every step, as Metaflow's `run --with` (e.g. kubernetes, batch, "
                      "'kubernetes:cpu=4,memory=16000'). Repeat for more. kubernetes and batch need the S3 "
                      "datastore and an MLflow tracking server: see docs/scale-out.md."),
]



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
