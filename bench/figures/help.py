"""``hokusai --help`` wall vs a bare ten-command Typer app (written to the temp folder).

The CLI's start-up is what every command pays; a Typer app with as many commands and options
that imports nothing else is the floor. Median of at least 5 (``--repeat`` if higher): the
command is short and noisy.
"""

from __future__ import annotations

import sys
from typing import Any

from harness import Bench, hokusai_cmd

NAME = "help"
REFERENCE = "a bare ten-command Typer app (python bare_typer.py --help)"
ORDER = 10
COMMANDS = ("run", "dry-run", "attest", "verify", "init", "inspect", "runs", "resume", "validate", "version")


def bare_typer() -> str:
    """The reference app's source: ten commands with the options hokusai's commands have."""
    text = '''\
"""A bare ten-command Typer app: the reference for `hokusai --help`."""
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="A bare ten-command Typer app.", no_args_is_help=True)
'''
    for i, name in enumerate(COMMANDS):
        text += f'''

@app.command("{name}")
def command_{i}(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Input files.")] = None,
    project: Annotated[Path, typer.Option("--project", "-p", help="Project folder.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More output.")] = False,
) -> None:
    """Command {name}: does nothing.

    Example: bare {name} --project .
    """
'''
    return text + '\n\nif __name__ == "__main__":\n    app()\n'


def measure(bench: Bench, rows: Any) -> None:
    repeat = max(bench.args.repeat, 5)
    script = bench.tmp / "bare_typer.py"
    script.write_text(bare_typer())
    subs, refs = bench.pair("help", (hokusai_cmd() + ["--help"], "help", None),
                            ([sys.executable, str(script), "--help"], "help", None), repeat)
    m = bench.record("help: hokusai --help", subs, cmd="hokusai --help")
    r = bench.record("help: bare ten-command Typer app --help", refs, cmd="python bare_typer.py --help")
    bench.wall_figure("help", "`hokusai --help` wall", m, r, 1.5, f"median of {repeat}")
