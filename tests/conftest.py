"""Shared fixtures: a pinned terminal width, a Metaflow user, and session-scoped real runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("METAFLOW_USER", "hokusai-tests")
os.environ["COLUMNS"] = "120"  # rich output is stable only at a fixed width
os.environ.pop("HOKUSAI_LOG_JSON", None)

FIXTURES = Path(__file__).resolve().parents[1] / "pipeline" / "fixtures"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"

PROJECT_TOML = """\
[model]
id = 7
target = "target"
estimator = "logistic_regression"
primary_metric = "accuracy"

[data]
base = "data/base.csv"
benchmark = "data/benchmark.csv"

[evaluation]
seed = 42
min_improvement_bps = 100

[tracking]
experiment = "tests"
"""


def make_project(root: Path) -> Path:
    """A project folder with config and data copied from the bundled demo."""
    (root / "data").mkdir(parents=True)
    for name in ("base.csv", "benchmark.csv", "contrib_alice.csv", "contrib_bob.parquet"):
        shutil.copy(FIXTURES / name, root / "data" / name)
    (root / "hokusai.toml").write_text(PROJECT_TOML)
    return root


class ProjectRun:
    """A Client `Run` that reads its own project's store on every access. The Client's metadata
    provider is global to the process, and any in-process command on another project (`invoke(...,
    "--project", other)`) points it elsewhere; a bare `Run` would then read that store (`run.data`
    None)."""

    def __init__(self, project: Path, pathspec: str) -> None:
        self._project, self._pathspec = project, pathspec

    def _run(self):
        from metaflow import Run

        from pipeline.runs.runner import use_project

        use_project(self._project)
        return Run(self._pathspec)

    def __getattr__(self, name: str):
        return getattr(self._run(), name)

    def __getitem__(self, step: str):
        return self._run()[step]

    def __iter__(self):
        return iter(self._run())


@pytest.fixture(scope="session")
def project_run(tmp_path_factory: pytest.TempPathFactory):
    """One real `run` of the flow through metaflow.Runner on a project (baseline trained
    from its base data), read back through the Client API."""
    from metaflow import Runner

    from pipeline.runs.runner import FLOW_FILE, metaflow_env

    project = make_project(tmp_path_factory.mktemp("project"))
    env = {**os.environ, **metaflow_env(project)}
    with Runner(str(FLOW_FILE), show_output=False, pylint=False, cwd=str(project), env=env) as runner:
        result = runner.run(
            contrib_files=f"data/contrib_alice.csv:{ALICE},data/contrib_bob.parquet:{BOB}",
            project_dir=str(project),
        )
        assert result.status == "successful", result.stderr[-3000:]
        yield project, ProjectRun(project, result.run.pathspec)


def invoke(*args: str):
    """Run the CLI in-process with a pinned width; stdout and stderr kept apart."""
    from typer.testing import CliRunner

    from hokusai_cli.app import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "120"})


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory):
    """Two `hokusai dry-run --json` in an empty folder: the folder, both parsed JSON
    summaries, and the first run's stderr."""
    folder = tmp_path_factory.mktemp("empty")
    results = []
    for _ in range(2):
        result = invoke("dry-run", "--json", "--project", str(folder))
        assert result.exit_code == 0, result.stderr[-3000:]
        results.append((json.loads(result.stdout), result.stderr))
    return {"project": folder, "first": results[0][0], "second": results[1][0], "stderr": results[0][1]}


