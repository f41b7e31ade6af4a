"""`hokusai promote`: move a Model Registry alias to the model of a run whose gate passed.
The work is `pipeline.runs.promotion.promote`; this module renders it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hokusai_cli.common import JsonOpt, ProjectOpt, handled
from hokusai_cli.inspect import RunArg

AliasOpt = Annotated[
    str, typer.Option("--alias", metavar="ALIAS",
                      help="The alias to move (upstream serves models:/NAME@production); its version is tagged "
                           "lifecycle_stage = the alias capitalised, the version it leaves Archived."),
]


def promote(run: RunArg = None, alias: AliasOpt = "production", project: ProjectOpt = Path("."),
            as_json: JsonOpt = False) -> None:
    """Promote the candidate a run registered: move an alias (production) of its registered model to it.

    Only a real run whose DeltaOne gate passed can be promoted (else one sentence, exit 2).
    `\\[data] baseline = "models:/hokusai-<id>@production"` then makes the next run start from it.

    Example: hokusai promote 1795674766048057 --alias production
    """
    from hokusai_cli import render
    from pipeline.runs.promotion import promote as promote_run

    with handled():
        result = promote_run(project.resolve(), run, alias)
    if result["already"]:
        line = (f"Run {result['pathspec']}: {result['model']} version {result['version']} already holds "
                f"@{result['alias']}; nothing changed.")
    else:
        before = f" (version {result['previous']} left it" + (", tagged Archived)" if result["archived"] else ")") \
            if result["previous"] else ""
        line = (f"Run {result['pathspec']}: {result['model']} version {result['version']} is now {result['model_uri']}"
                f"{before}, at {result['tracking_uri']}.")
    render.console().print(line, soft_wrap=True, markup=False)
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
