"""`hokusai promote RUN [--alias production]`: the run found, refused unless its gate passed,
its registered version given the alias (`registry.move_alias`). Apart from `runs.registry`,
which `runs.tracking` uses while logging, because finding a run needs `runs.runner`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.runs.registry import DEFAULT_ALIAS


def promote(project_dir: Path, ref: str | None, alias: str = DEFAULT_ALIAS) -> dict[str, Any]:
    """Move `alias` of the project's registered model to the version run `ref` registered. A
    dry-run, a failed gate, a run not logged to MLflow or without a registered version is refused
    in one sentence (RunError, exit 2)."""
    from pipeline.config import mlflow_uri
    from pipeline.errors import RunError
    from pipeline.runs import artifacts as a
    from pipeline.runs.registry import check_alias, move_alias, refuse_unpromotable, registered_name
    from pipeline.runs.report import tracking_state
    from pipeline.runs.runner import finished_run
    from pipeline.runs.store import mlflow_client

    check_alias(alias)
    run = finished_run(project_dir, ref)
    data = a.stored(run)
    refuse_unpromotable(data.attestation["evidence"], run.pathspec, alias)
    settings = a.settings(data.settings)
    uri, name = mlflow_uri(settings, project_dir), registered_name(settings)
    state = tracking_state(run) or {}
    if state.get("status") != "logged" or not state.get("run_id"):
        raise RunError(f"Run {run.pathspec} is not logged to MLflow, so it has no registered model; log it with "
                       f"`hokusai track {run.id}`, then promote it.")
    with mlflow_client(uri) as client:
        moved = move_alias(client, name, state["run_id"], alias)
    if moved is None:
        raise RunError(f"Run {run.pathspec} has no version of {name} in the Model Registry at {uri}; register it "
                       f"with `hokusai track {run.id}`, then promote it.")
    return {"pathspec": run.pathspec, **moved, "tracking_uri": uri}
