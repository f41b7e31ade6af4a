"""`hokusai benchmark pin`: pin the benchmark file's hash in hokusai.toml, so a run on other
benchmark bytes is refused before it starts. The work is `pipeline.attest.benchmark_spec`."""

from __future__ import annotations

from pathlib import Path

import typer

from hokusai_cli.common import ProjectOpt, handled

app = typer.Typer(name="benchmark", help="The benchmark spec: pin the benchmark file.\n\nExample: hokusai benchmark pin",
                  no_args_is_help=True)


@app.command()
def pin(project: ProjectOpt = Path(".")) -> None:
    """Write the benchmark file's sha256 into hokusai.toml (setting data.benchmark_sha256).

    From then on a run whose benchmark bytes differ is refused before it starts (exit 2, both
    hashes named); pin again after changing the benchmark on purpose (a new benchmark is a new spec).

    Example: hokusai benchmark pin
    """
    from hokusai_cli import render
    from pipeline.attest.benchmark_spec import pin_benchmark

    with handled():
        done = pin_benchmark(project.resolve())
    render.console().print(
        f"Pinned {done['benchmark']}: [data] benchmark_sha256 = \"{done['pin']}\" in {done['config']}"
        + (" (unchanged)" if done["unchanged"] else ""), soft_wrap=True, markup=False)
