"""Launching the flow through `metaflow.Runner` and reading finished runs back through the
Client API. The CLI renders what these functions return; nothing here prints."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import INPUT_ERROR_TYPES, FlowFailed, InputError

FLOW_FILE = Path(__file__).resolve().parents[1] / "flow.py"
FLOW_NAME = "HokusaiEvaluationFlow"
STEPS = (
    "start", "load_baseline_model", "integrate_contributed_data", "train_new_model",
    "evaluate_on_benchmark", "compare_and_output_delta", "generate_attestation_output",
    "monitor_and_log", "end",
)
DEFAULT_USER = "hokusai"
_STATUS = re.compile(r"\[(?P<run>[^/\]]+)/(?P<step>\w+)/(?P<task>\d+) \(pid \d+\)\] (?P<text>.*)$")


def ensure_user() -> None:
    """Metaflow needs a user name; CI and containers often have none."""
    if not any(os.environ.get(v) for v in ("METAFLOW_USER", "USER", "USERNAME")):
        os.environ["METAFLOW_USER"] = DEFAULT_USER


def metaflow_env(project_dir: Path, log_json: bool = False) -> dict[str, str]:
    """Environment of a run: local datastore and metadata inside the project folder."""
    ensure_user()
    from pipeline.logs import LOG_JSON_ENV

    env = {
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(project_dir),
        LOG_JSON_ENV: "1" if log_json else "0",
    }
    return env


@dataclass(frozen=True)
class StepEvent:
    """One line of the run's log: which step, and whether it started, finished or failed."""

    run_id: str
    step: str
    state: str  # "running" | "done" | "failed" | "log"
    text: str


def parse_line(line: str) -> StepEvent | None:
    """A Metaflow status line -> StepEvent; anything else -> None."""
    match = _STATUS.search(line)
    if not match:
        return None
    text = match["text"]
    state = {"Task is starting.": "running", "Task finished successfully.": "done"}.get(text)
    if state is None:
        state = "failed" if text.startswith("Task failed") else "log"
    return StepEvent(match["run"], match["step"], state, text)


def launch(
    project_dir: Path,
    contrib: list[str],
    *,
    dry_run: bool,
    config_file: Path | None = None,
    log_json: bool = False,
    on_line: Callable[[str], None] = lambda line: None,
) -> Any:
    """Run the flow with the Runner, feeding each log line to `on_line`; return the
    Client `Run`. A failed run raises: InputError for bad input, FlowFailed otherwise."""
    from pipeline.config import load_settings, mlflow_uri
    from pipeline.runs.tracking import prepare_store

    # Create or check the MLflow store before any run exists: a damaged store stops here.
    prepare_store(mlflow_uri(load_settings(project_dir, config_file=config_file), project_dir))
    params: dict[str, Any] = {"contrib_files": ",".join(contrib), "dry_run": dry_run,
                              "project_dir": str(project_dir)}
    if config_file is not None:
        params["config_file"] = str(config_file)
    return _execute(project_dir, lambda runner: runner.async_run(**params), "flow", log_json, on_line)


def _execute(
    project_dir: Path, start: Callable[[Any], Any], what: str, log_json: bool, on_line: Callable[[str], None],
) -> Any:
    """Start a Runner command (`start(runner)` -> awaitable ExecutingRun), stream its log
    lines, wait, and return the Client `Run`; a failed run raises `failure(run)`. If the
    caller stops (Ctrl-C or any error), the Metaflow process is killed too.

    The run is tagged with its runtime process (`liveness.runtime_tag`), so a run whose
    process dies without an end record is later reported as killed, not running. Ctrl-C is
    handled here: it kills the run and raises KeyboardInterrupt, so a task that crashed on
    its own (a segfault, the OOM killer) is never mistaken for an interruption."""
    import asyncio
    import signal

    ensure_user()  # before metaflow is imported: it reads the user name at import
    from metaflow import Runner

    from pipeline.runs.liveness import runtime_tag

    async def go() -> Any:
        with Runner(str(FLOW_FILE), show_output=False, pylint=False, cwd=str(project_dir),
                    env={**os.environ, **metaflow_env(project_dir, log_json)}) as runner:
            interrupted: list[bool] = []
            started: list[Any] = []

            def on_sigint() -> None:
                interrupted.append(True)
                for executing in started:
                    executing.command_obj.kill()

            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, on_sigint)  # replaces the Runner's own handler
            try:
                try:
                    executing = await start(runner)
                except RuntimeError as exc:
                    raise FlowFailed(f"The {what} could not start: {str(exc).strip().splitlines()[-1]}") from None
                started.append(executing)
                if interrupted:
                    executing.command_obj.kill()
                    raise KeyboardInterrupt
                try:
                    executing.run.add_tag(runtime_tag(executing.command_obj.process.pid))
                except Exception:  # noqa: BLE001 - the runtime already exited: its status says why
                    pass
                async for _, line in executing.stream_log("stdout"):
                    on_line(line)
                await executing.wait()
            except BaseException:
                for executing in started:
                    executing.command_obj.kill()
                raise
            finally:
                loop.remove_signal_handler(signal.SIGINT)
            if interrupted:
                raise KeyboardInterrupt
            if executing.status != "successful":
                try:  # seen ending: a task that died without recording its end is failed, not killed
                    executing.run.add_tag(FAILED_TAG)
                except Exception:  # noqa: BLE001 - only the status wording is at stake
                    pass
                raise failure(executing.run, project_dir / ".metaflow")
            return executing.run

    return asyncio.run(go())


def failure(run: Any, datastore: Path | None = None) -> InputError | FlowFailed:
    """The error a failed run stands for: its failing step's own error when that is bad
    input (exit 2), else FlowFailed naming the step, the error and how to resume. A full
    disk (an errno 28 error, or a task that died while the datastore's disk is full) is
    named with its path."""
    from pipeline.runs.liveness import full_disk, no_space

    def disk_full(step: str, path: str) -> FlowFailed:
        return FlowFailed(
            f"Run {run.pathspec} failed in step {step}: the disk holding {path} is full (No space left on "
            f"device); free space there, then resume with: hokusai resume {run.id}"
        )

    for step in run:
        for task in step:
            if task.successful or task.exception is None:
                continue
            exc = task.exception
            message = str(getattr(exc, "exception", exc)).strip()
            if getattr(exc, "type", "") in INPUT_ERROR_TYPES:
                return InputError(message)
            if no_space(message):
                return disk_full(step.id, str(datastore or "the datastore"))
            return FlowFailed(
                f"Step {step.id} failed: {getattr(exc, 'type', 'error')}: {message}; "
                f"fix the cause, then resume with: hokusai resume {run.id}"
            )
    unfinished = [step.id for step in run for task in step if not task.successful]
    if not unfinished:
        return FlowFailed(f"Run {run.pathspec} failed before any step ran; see its logs with: hokusai inspect {run.id}")
    full = full_disk([str(datastore) if datastore else None, tempfile.gettempdir()])
    if full is not None:
        return disk_full(unfinished[-1], full)
    return FlowFailed(
        f"Run {run.pathspec} failed in step {unfinished[-1]}: its task process died without an error "
        f"(a crash or a kill: out of memory, a signal); see `hokusai inspect {run.id}`, then resume with: "
        f"hokusai resume {run.id}"
    )


def summary(run: Any) -> dict[str, Any]:
    """What a finished run found, from its artifacts (the CLI's table and --json)."""
    from dataclasses import asdict

    from pipeline.runs.artifacts import delta as rebuild_delta

    data = run.data
    delta = rebuild_delta(data.delta)
    return {
        "pathspec": run.pathspec,
        "run_id": run.id,
        "dry_run": bool(data.attestation["evidence"]["dryRun"]),
        "primary_metric": delta.primary_metric,
        "metrics": [asdict(m) for m in delta.metrics],
        "deltaone_bps": delta.deltaone_bps,
        "deltaone_pp": delta.deltaone_pp,
        "gate_passed": delta.passed,
        "gate": [asdict(g) for g in delta.gate],
        "contributors": [asdict(c) for c in delta.contributors],
        "weight_method": delta.weight_method,
        "ci": asdict(delta.ci) if delta.ci is not None else None,
        "notes": list(delta.notes),
        "attestation_hash": data.attestation["attestationHash"],
        "mlflow": dict(data.tracking),
    }


def use_project(project_dir: Path) -> None:
    """Point the Metaflow Client of this process at the project's local metadata."""
    ensure_user()
    from metaflow import metadata, namespace

    metadata(f"local@{project_dir}")
    namespace(None)


def get_run(project_dir: Path, ref: str | None = None) -> Any:
    """The Client `Run` named by `ref` (a run id or `HokusaiEvaluationFlow/<id>`), or the
    latest run of the project when `ref` is None. Unknown ids and other flows are RunErrors."""
    from metaflow import Flow, Run
    from metaflow.exception import MetaflowNotFound

    from pipeline.errors import RunError

    if not has_runs_store(project_dir):
        raise RunError(f"No runs in {project_dir}; start one with `hokusai run --contrib FILE` or `hokusai dry-run`.")
    use_project(project_dir)
    if ref is None:
        try:
            run = Flow(FLOW_NAME).latest_run
        except MetaflowNotFound:
            run = None
        if run is None:
            raise RunError(f"No runs in {project_dir}; start one with `hokusai run --contrib FILE` or `hokusai dry-run`.")
        return run
    flow, _, run_id = ref.rpartition("/")
    if flow and flow != FLOW_NAME:
        raise RunError(f"{ref} is a run of {flow}, not of {FLOW_NAME}; pass a hokusai run id.")
    try:
        return Run(f"{FLOW_NAME}/{run_id}")
    except MetaflowNotFound:
        raise RunError(f"Run {run_id} not found in {project_dir}; list runs with `hokusai runs`.") from None


def finished_run(project_dir: Path, ref: str | None = None) -> Any:
    """Like get_run, but the run must have finished successfully."""
    from pipeline.errors import RunError

    run = get_run(project_dir, ref)
    if not run.successful:
        state = "failed" if _failed(run) else "has not finished"
        raise RunError(f"Run {run.id} {state}; only a successful run has results (see `hokusai inspect {run.id}`).")
    return run


def _failed(run: Any) -> bool:
    """A task that raised or ended unsuccessfully, a run stopped by Ctrl-C (tagged by the
    CLI), or a run whose process is gone (killed)."""
    from pipeline.runs.liveness import runtime_gone

    tags = run.user_tags
    return INTERRUPTED_TAG in tags or FAILED_TAG in tags or runtime_gone(tags) or any(
        not task.successful and (task.exception is not None or task.finished_at is not None)
        for step in run for task in step
    )


# --- listing and resuming runs (hokusai runs / hokusai resume) ---------------------------

#: Run tag added when `hokusai run`/`resume` is interrupted: the killed task may never record
#: its end, and without the tag such a run would look "running" forever.
INTERRUPTED_TAG = "hokusai:interrupted"
#: Run tag added when the launcher saw the run end unsuccessfully (a task that crashed
#: without recording its end is then failed, not killed).
FAILED_TAG = "hokusai:failed"
_CLONE = re.compile(r"\[(?P<run>[^/\]]+)/(?P<step>\w+)/(?P<task>\d+)\] Cloning previously run task")


def resume_events(line: str) -> list[StepEvent]:
    """The step events in a line of `resume`'s log: parse_line's, or "Cloning previously run
    task" records, which count as a step done (copied from the original run). Clones run in
    parallel threads whose output can share one line, so every record in it is returned."""
    clones = [StepEvent(m["run"], m["step"], "done", "cloned") for m in _CLONE.finditer(line)]
    if clones:
        return clones
    event = parse_line(line)
    return [] if event is None else [event]


def has_runs_store(project_dir: Path) -> bool:
    """Whether the project holds a Metaflow store (`metadata("local@DIR")` raises without)."""
    return (project_dir / ".metaflow").is_dir()


def mark_interrupted(project_dir: Path, run_id: str) -> str | None:
    """After a Ctrl-C: when no task of the run raised, tag the run as interrupted and return
    the first step that did not finish; None when a task failed with an exception (a real
    failure) or the run cannot be read."""
    try:
        run = get_run(project_dir, run_id)
        if any(task.exception is not None for step in run for task in step if not task.successful):
            return None
        stopped = next((name for name in STEPS if not _step_done(run, name)), None)
        if stopped is not None:
            run.add_tag(INTERRUPTED_TAG)
        return stopped
    except Exception:  # noqa: BLE001 - only a nicer message is at stake
        return None


def _step_done(run: Any, name: str) -> bool:
    try:
        return all(task.successful for task in run[name]) and any(True for _ in run[name])
    except KeyError:
        return False


def list_runs(project_dir: Path, limit: int | None = None) -> list[Any]:
    """The project's runs as Client `Run`s, newest first (at most `limit`)."""
    from metaflow import Flow
    from metaflow.exception import MetaflowNotFound

    if not has_runs_store(project_dir):
        return []
    use_project(project_dir)
    try:
        runs = Flow(FLOW_NAME).runs()
    except MetaflowNotFound:
        return []
    newest = sorted(runs, key=lambda r: r.created_at, reverse=True)
    return newest if limit is None else newest[:limit]


def resumable_run(project_dir: Path, ref: str | None, step: str | None = None) -> Any:
    """The run `ref` names (default: the latest), checked to be one `resume` can continue:
    not successful, not still running; `step`, when given, must be a step of the flow."""
    from pipeline.errors import RunError

    if step is not None and step not in STEPS:
        raise RunError(f"{step!r} is not a step of {FLOW_NAME}; use one of {', '.join(STEPS)}.")
    run = get_run(project_dir, ref)
    if run.successful:
        raise RunError(f"Run {run.id} finished successfully; there is nothing to resume (see `hokusai inspect {run.id}`).")
    if not _failed(run):
        raise RunError(
            f"Run {run.id} has not failed: it is still running (its process is alive, or it ran on another "
            f"host); wait for it to end (see `hokusai inspect {run.id}`), or start a new one with `hokusai run`."
        )
    return run


def resume(
    project_dir: Path,
    origin_run_id: str,
    *,
    step: str | None = None,
    log_json: bool = False,
    on_line: Callable[[str], None] = lambda line: None,
) -> Any:
    """Resume a failed run with `Runner.resume(origin_run_id=...)`: finished steps are
    cloned, the failed one (or `step` and everything after it) runs again. Returns the new
    Client `Run`; a failed resume raises like `launch`. Interrupting it (Ctrl-C) stops the
    Metaflow process too."""
    kwargs: dict[str, Any] = {"origin_run_id": origin_run_id}  # always: else Metaflow picks `latest_run`
    if step is not None:
        kwargs["step_to_rerun"] = step
    return _execute(project_dir, lambda runner: runner.async_resume(**kwargs), "resume", log_json, on_line)


def track_run(project_dir: Path, ref: str | None = None) -> dict[str, Any]:
    """`hokusai track`: log a finished run to MLflow from its Metaflow artifacts, at most
    once (an MLflow run tagged with its pathspec is reused), and tag the Metaflow run with
    the MLflow run id so `runs`/`inspect` show it tracked."""
    from pipeline.errors import TrackingError
    from pipeline.runs import artifacts as a
    from pipeline.runs.tracking import TRACKED_TAG, log_run

    run = finished_run(project_dir, ref)
    data = run.data
    tracking = log_run(
        settings=a.settings(data.settings), project_dir=project_dir, dry_run=bool(data.dry_run),
        pathspec=run.pathspec, delta=a.delta(data.delta), attestation=data.attestation,
        manifest=data.data_manifest, baseline_info=a.model_info(data.baseline_info),
        models={"baseline.skops": data.baseline_model_bytes, "candidate.skops": data.candidate_model_bytes},
        training_data=data.training_data,
    )
    if tracking["status"] != "logged":
        raise TrackingError(
            f"Logging run {run.id} to MLflow at {tracking['tracking_uri']} failed ({tracking['reason']}); check "
            f"that the tracking server is up, then run `hokusai track {run.id}` again."
        )
    tag = TRACKED_TAG + tracking["run_id"]
    if tag not in run.user_tags:
        run.add_tag(tag)
    return {"pathspec": run.pathspec, "mlflow": tracking}
