"""One resume per failed run: two `hokusai resume RUN` at once (two terminals, a retried CI
job) would each make a successful run, so one evaluation would get two MLflow runs and two
attestations. A lock per origin run lets one win; the other refuses in one sentence."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Where the per-run lock files live, inside the project (beside the MLflow store and marks).
LOCKS = Path(".hokusai") / "locks"


@contextmanager
def resume_lock(project_dir: Path, origin_run_id: str) -> Iterator[None]:
    """Hold an exclusive lock on resuming `origin_run_id` for the block. The kernel drops a
    `flock` when its process ends in any way (exit, Ctrl-C, SIGKILL), so a lock never outlives
    the resume that took it. A resume already holding it: RunError naming its process."""
    import fcntl

    from pipeline.errors import RunError

    path = project_dir / LOCKS / f"resume-{origin_run_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise RunError(
                f"Run {origin_run_id} is already being resumed (by process {holder}); wait for that resume to end "
                "and see `hokusai runs`: run it again only if that resume did not succeed."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_not_resumed(project_dir: Path, origin: Any) -> None:
    """Refuse to resume a run that an earlier resume already completed (its successful run
    carries the evaluation: a second would duplicate it). Checked under `resume_lock`."""
    from pipeline.errors import RunError
    from pipeline.runs.report import resumed_from
    from pipeline.runs.runner import list_runs

    for run in list_runs(project_dir):
        if run.id != origin.id and run.successful and resumed_from(run) == origin.id:
            raise RunError(
                f"Run {origin.id} was already resumed as run {run.id}, which succeeded; see `hokusai inspect {run.id}` "
                "(start a new evaluation with `hokusai run` instead)."
            )
