"""`hokusai init`: scaffold a project that `hokusai run` evaluates right away."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from hokusai_cli.common import handled


class ExampleName(str, Enum):
    """Examples of `hokusai init` (kept equal to `pipeline.scaffold.EXAMPLES`)."""

    breast_cancer = "breast-cancer"
    wine = "wine"


def init(
    directory: Annotated[Path, typer.Argument(
        metavar="[DIR]", file_okay=False, help="Folder to create the project in (created when missing); default: the current folder.",
    )] = Path("."),
    example: Annotated[ExampleName, typer.Option(
        "--example", "-e", help="Dataset to split into base, benchmark and sample contributions: "
        "breast-cancer (binary) or wine (multiclass, 3 classes).",
    )] = ExampleName.breast_cancer,
    force: Annotated[bool, typer.Option(
        "--force", help="Overwrite the project files (hokusai.toml, data/...) when they exist already.",
    )] = False,
) -> None:
    """Create a working project: hokusai.toml with every key commented, data/ split from a real dataset, .gitignore.

    Example: hokusai init demo --example wine && cd demo && hokusai run --contrib data/contrib_alice.csv
    """
    from rich.text import Text

    from hokusai_cli import render
    from pipeline.scaffold import EXAMPLES, init_project

    out = render.console()
    with handled():
        scaffold = init_project(directory, example.value, force)
    info = EXAMPLES[scaffold.example]
    out.print(Text.assemble("Created a project in ", (str(directory), "bold"),
                            f" from the {info.name} example: {info.dataset}, {info.task}."))
    for name in scaffold.written:
        out.print(Text(f"  {name}"))
    steps = []
    if directory.resolve() != Path.cwd().resolve():
        steps.append(f"cd {directory}")
    contribs = [f"  --contrib {path}:{wallet}" for path, wallet in scaffold.contributions]
    steps += ["hokusai run \\", *[c + " \\" for c in contribs[:-1]], contribs[-1],
              "hokusai inspect", "hokusai attest > run.attestation.json"]
    out.print(Text("Next steps:", style="bold"))
    for line in steps:
        out.print(Text("  " + line, style="cyan"), soft_wrap=True)  # unwrapped: copy-paste ready
