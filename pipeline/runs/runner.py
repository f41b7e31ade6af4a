"""Launching the flow through `metaflow.Runner` and reading finished runs back through the
Client API. The CLI renders what these functions return; nothing here prints."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import INPUT_ERROR_TYPES, FlowFailed, InputError

FLOW_FILE = Path(__file__).resolve().parents[1] / "flow.py"
FLOW_NAME = "HokusaiEvaluationFlow"
STEPS = (
    "start", "load_baseline_model", "integrate_contributed_data", "train_new_model",
    "retrain_coalitions", "join_attribution", "evaluate_on_benchmark", "compare_and_output_delta", "generate_attestation_output",
    "monitor_and_log", "end",
)
DEFAULT_USER = "hokusai"
_STATUS = re.compile(r"\[(?P<run>[^/\]]+)/(?P<step>\w+)/(?P<task>\d+) \(pid \d+\)\] (?P<text>.*)$")


def ensure_user() -> None:
    """Metaflow needs a user name; CI and containers often have none."""
    if not any(os.environ.get(v) for v in ("METAFLOW_USER", "USER", "USERNAME")):
        os.environ["METAFLOW_USER"] = DEFAULT_USER


def metaflow_env(project_dir: Path, log_json: bool = False) -> dict[str, str]:
    """Environment of a run: metadata always local inside the project folder; artifacts there
    too, or on S3 with `[metaflow] datastore = "s3"` (see `datastore_env`)."""
    ensure_user()
    from pipeline.logs import LOG_JSON_ENV

    env = {
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(project_dir),
        **datastore_env(project_dir),
        LOG_JSON_ENV: "1" if log_json else "0",
    }
    return env


def datastore_env(project_dir: Path) -> dict[str, str]:
    """Metaflow's datastore variables for the project's `[metaflow]` settings (hokusai.toml +
    HOKUSAI_METAFLOW__* variables): local, or S3 under `root` (+ the endpoint of a non-AWS
    store). The datastore is a project setting: `inspect`, `attest`... read it from here too."""
    from pipeline.config import load_settings

    section = load_settings(project_dir).metaflow
    if section.datastore == "local":
        return {"METAFLOW_DEFAULT_DATASTORE": "local"}
    env = {"METAFLOW_DEFAULT_DATASTORE": "s3", "METAFLOW_DATASTORE_SYSROOT_S3": section.root.rstrip("/")}
    if section.s3_endpoint_url:
        env["METAFLOW_S3_ENDPOINT_URL"] = section.s3_endpoint_url
    return env


def use_datastore(project_dir: Path) -> dict[str, str]:
    """Export the project's datastore variables into this process before Metaflow is imported
    (it reads them at import; a Client without the endpoint hangs reading S3), after checking
    that an S3 store can be reached without hanging: boto3 installed, credentials present."""
    import sys

    env = datastore_env(project_dir)
    if env["METAFLOW_DEFAULT_DATASTORE"] == "s3":
        _check_s3_access(env["METAFLOW_DATASTORE_SYSROOT_S3"])
    os.environ.update(env)
    config = sys.modules.get("metaflow.metaflow_config")
    if config is not None and "METAFLOW_S3_ENDPOINT_URL" in env:  # imported already (an in-process caller)
        config.S3_ENDPOINT_URL = env["METAFLOW_S3_ENDPOINT_URL"]
        config.DATATOOLS_CLIENT_PARAMS["endpoint_url"] = env["METAFLOW_S3_ENDPOINT_URL"]
    return env


#: Where boto3 finds credentials without a network call; an EC2/EKS instance role is asked last.
_AWS_CREDENTIAL_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def _check_s3_access(root: str) -> None:
    """Without credentials Metaflow retries S3 for ever: refuse in one sentence instead."""
    import importlib.util

    from pipeline.errors import ConfigError

    if importlib.util.find_spec("boto3") is None:
        raise ConfigError(f'[metaflow] datastore = "s3" needs boto3 to reach {root}; install it with: pip install boto3')
    environ = os.environ
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return
    if any(environ.get(name) for name in _AWS_CREDENTIAL_VARS):
        return
    files = (environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials",
             environ.get("AWS_CONFIG_FILE") or "~/.aws/config")
    if any(Path(f).expanduser().is_file() for f in files):
        return
    if environ.get("AWS_EC2_METADATA_DISABLED", "").lower() != "true":
        try:  # an instance role (EC2, EKS node): botocore asks the metadata endpoint, 1 s timeout
            import botocore.session

            if botocore.session.get_session().get_credentials() is not None:
                return
        except Exception:  # noqa: BLE001 - no credentials is the answer either way
            pass
    raise ConfigError(
        f"No AWS credentials for the S3 datastore {root}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        "(or AWS_PROFILE, or a ~/.aws/credentials file), or set [metaflow] datastore = \"local\"."
    )


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
    decospecs: Sequence[str] = (),
    exclude: Sequence[str] = (),
    max_workers: int | None = None,
    checked: Checked | None = None,
) -> Any:
    """Run the flow with the Runner, feeding each log line to `on_line`; return the
    Client `Run`. A failed run raises: InputError for bad input, FlowFailed otherwise.
    `decospecs` are Metaflow's `run --with` decorators for every step (e.g. "kubernetes").
    `checked` is what `preflight` returned when the caller ran it before drawing anything;
    without it, the checks run here."""
    if checked is None:
        checked = preflight(project_dir, config_file, decospecs)
    params: dict[str, Any] = {"contrib_files": ",".join(contrib), "dry_run": dry_run,
                              "project_dir": str(project_dir)}
    if config_file is not None:
        params["config_file"] = str(config_file)
    if decospecs:
        params["decospecs"] = list(decospecs)
    if exclude:
        params["exclude"] = ",".join(exclude)
    if max_workers is not None:
        params["max_workers"] = max_workers  # Metaflow's option: tasks at once
    # the flow's: as many attribution branches as workers; remote steps each bring their own
    # cores (Metaflow's default of 16 at once); on this machine none unless asked for (measured
    # in bench/attribution.py: process starts cost more than two local cores save at ~40 ms a fit)
    remote = bool(remote_decorators(decospecs))
    params["branches"] = max_workers or (16 if remote else 1)
    try:
        return execute(project_dir, lambda runner: runner.async_run(**params), "flow", log_json, on_line)
    finally:
        checked.join()


def preflight(project_dir: Path, config_file: Path | None = None, decospecs: Sequence[str] = (),
              *, mlflow: bool = True) -> Any:
    """The checks a run needs before it exists, run before the CLI draws its live table (so a
    refusal is the only thing printed): the datastore (`_check_datastore`: the project's, S3 for
    remote steps, S3 credentials) and, with `mlflow`, the MLflow store (a damaged one stops
    here; a new one is created on a thread while the flow runs, which `launch` joins)."""
    from pipeline.config import load_settings, mlflow_uri
    from pipeline.runs.tracking import prepare_store_early

    settings = load_settings(project_dir, config_file=config_file)
    _check_datastore(project_dir, settings, config_file, decospecs)
    return Checked(prepare_store_early(mlflow_uri(settings, project_dir)) if mlflow else None)


@dataclass(frozen=True)
class Checked:
    """A passed `preflight`: the MLflow store being created meanwhile (None: nothing to wait for)."""

    store: Any = None

    def join(self) -> None:
        if self.store is not None:
            self.store.join()


#: Decorators that run steps off this machine: their tasks cannot read a local datastore.
REMOTE_DECORATORS = frozenset({"kubernetes", "batch"})


def remote_decorators(decospecs: Sequence[str]) -> list[str]:
    """The `--with` decorators (sorted) that run steps off this machine."""
    return sorted({spec.split(":", 1)[0] for spec in decospecs} & REMOTE_DECORATORS)


def _check_datastore(project_dir: Path, settings: Any, config_file: Path | None, decospecs: Sequence[str]) -> None:
    """Before a run: the datastore is the project's (a --config file cannot move it, or
    `inspect` would look elsewhere), remote steps need S3, and S3 must be reachable
    (use_datastore); then its variables are exported for the Client of this process."""
    from pipeline.config import load_settings
    from pipeline.errors import ConfigError

    if config_file is not None and settings.metaflow != load_settings(project_dir).metaflow:
        raise ConfigError(
            f"[metaflow] in {config_file} differs from the project's; the datastore is a project setting that "
            f"inspect, attest and resume read from {project_dir / 'hokusai.toml'}: set it there (or with "
            "HOKUSAI_METAFLOW__* variables)."
        )
    remote = remote_decorators(decospecs)
    if remote and settings.metaflow.datastore != "s3":
        raise ConfigError(
            f"--with {remote[0]} runs steps off this machine, which needs the S3 datastore: set [metaflow] "
            'datastore = "s3" and root = "s3://bucket/prefix" in hokusai.toml.'
        )
    uri = settings.tracking.mlflow_uri  # empty = a SQLite file in the project
    if remote and (not uri or uri.startswith(("sqlite:", "file:", "/", "."))):
        raise ConfigError(
            f"--with {remote[0]} runs monitor_and_log off this machine, where the project's MLflow store is out of "
            "reach: set [tracking] mlflow_uri to a tracking server (http://host:5000) in hokusai.toml."
        )
    use_datastore(project_dir)


def execute(
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

    from pipeline.runs.liveness import record_mark, reserve_mark, runtime_tag, status_mark

    async def go() -> Any:
        with Runner(str(FLOW_FILE), show_output=False, pylint=False, cwd=str(project_dir),
                    env={**os.environ, **metaflow_env(project_dir, log_json)}) as runner:
            interrupted: list[int] = []
            started: list[Any] = []
            mark = None

            def on_signal(signum: int) -> None:
                interrupted.append(signum)
                for executing in started:
                    executing.command_obj.kill()

            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):  # replaces the Runner's own handler
                loop.add_signal_handler(signum, on_signal, signum)
            try:
                try:
                    executing = await start(runner)
                except RuntimeError as exc:
                    raise FlowFailed(f"The {what} could not start: {str(exc).strip().splitlines()[-1]}") from None
                started.append(executing)
                if interrupted:
                    executing.command_obj.kill()
                    raise stopped_by(interrupted[0])
                try:
                    executing.run.add_tag(runtime_tag(executing.command_obj.process.pid))
                except Exception:  # noqa: BLE001 - the runtime already exited: its status says why
                    pass
                mark = status_mark(project_dir, executing.run.id)
                reserve_mark(mark)
                async for _, line in executing.stream_log("stdout"):
                    on_line(line)
                await executing.wait()
            except BaseException:
                for executing in started:
                    executing.command_obj.kill()
                raise
            finally:
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)
            if interrupted:
                raise stopped_by(interrupted[0])
            if executing.status != "successful":
                error = failure(executing.run, project_dir / ".metaflow")
                try:  # seen ending: a task that died without recording its end is failed, not killed
                    executing.run.add_tag(FAILED_TAG)
                except Exception:  # noqa: BLE001 - a full disk: the mark, written in place, says it
                    pass
                record_mark(mark, "failed", error.message)
                raise error
            return executing.run

    return asyncio.run(go())


class Terminated(KeyboardInterrupt):
    """The CLI got SIGTERM (a CI cancel, `kill`, a shutdown) while a run was going: like
    Ctrl-C, the run is stopped and the resume command printed; exit 143."""


def stopped_by(signum: int) -> KeyboardInterrupt:
    import signal

    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


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
    from pipeline.runs.artifacts import stored

    data = stored(run)
    delta = rebuild_delta(data.delta)
    return {
        "pathspec": run.pathspec,
        "run_id": run.id,
        "dry_run": bool(data.attestation["evidence"]["dryRun"]),
        "task": dict(getattr(data, "task", None) or {}) or None,
        "primary_metric": delta.primary_metric,
        "metrics": [asdict(m) for m in delta.metrics],
        "deltaone_bps": delta.deltaone_bps,
        "deltaone_pp": delta.deltaone_pp,
        "gate_passed": delta.passed,
        "gate": [asdict(g) for g in delta.gate],
        "contributors": [asdict(c) for c in delta.contributors],
        "weight_method": delta.weight_method,
        "ci": asdict(delta.ci) if delta.ci is not None else None,
        "test": delta.test,
        "advice": delta.advice,  # who hurt and what the rest gives (`scoring.harm`), when anyone did
        "excluded": delta.excluded,
        # the data's notes first (a benchmark whose values repeat...), then the verdict's
        "notes": [*((getattr(data, "data_manifest", None) or {}).get("notes", [])), *delta.notes],
        "attestation_hash": data.attestation["attestationHash"],
        "mlflow": dict(data.tracking),
    }


def use_project(project_dir: Path) -> None:
    """Point the Metaflow Client of this process at the project's local metadata, with the
    project's datastore variables exported first (an S3 run is read from S3)."""
    ensure_user()
    use_datastore(project_dir)  # before metaflow is imported: it reads its config at import
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
TERMINATED_TAG = "hokusai:terminated"  # beside INTERRUPTED_TAG: the stop was a SIGTERM, not Ctrl-C
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
    """Whether the project holds a Metaflow store (`metadata("local@DIR")` raises without).
    Metadata stays local with the S3 datastore too, so this holds for every project."""
    return (project_dir / ".metaflow").is_dir()


def mark_interrupted(project_dir: Path, run_id: str, terminated: bool = False) -> str | None:
    """After a Ctrl-C (or SIGTERM: `terminated`): when no task of the run raised, tag the run
    as interrupted (and terminated) and return the first step that did not finish; None when a
    task failed with an exception (a real failure) or the run cannot be read."""
    try:
        run = get_run(project_dir, run_id)
        if any(task.exception is not None for step in run for task in step if not task.successful):
            return None
        stopped = next((name for name in STEPS if not _step_done(run, name)), None)
        if stopped is not None:
            run.add_tag(INTERRUPTED_TAG)
            if terminated:
                run.add_tag(TERMINATED_TAG)
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
    decospecs: Sequence[str] = (),
    checked: bool = False,
) -> Any:
    """Resume a failed run with `Runner.resume(origin_run_id=...)`: finished steps are
    cloned, the failed one (or `step` and everything after it) runs again. Returns the new
    Client `Run`; a failed resume raises like `launch`. Interrupting it (Ctrl-C) stops the
    Metaflow process too. `decospecs` as in `launch` (pass them again: Metaflow's resume does not
    reuse the original run's `--with`). `checked`: the caller ran `preflight` already."""
    if not checked:
        preflight(project_dir, None, decospecs, mlflow=False)
    kwargs: dict[str, Any] = {"origin_run_id": origin_run_id}  # always: else Metaflow picks `latest_run`
    if step is not None:
        kwargs["step_to_rerun"] = step
    if decospecs:
        kwargs["decospecs"] = list(decospecs)
    return execute(project_dir, lambda runner: runner.async_resume(**kwargs), "resume", log_json, on_line)


def track_run(project_dir: Path, ref: str | None = None) -> dict[str, Any]:
    """`hokusai track`: log a finished run to MLflow from its Metaflow artifacts, at most
    once (an MLflow run tagged with its pathspec is reused), and tag the Metaflow run with
    the MLflow run id so `runs`/`inspect` show it tracked."""
    from pipeline.errors import TrackingError
    from pipeline.runs import artifacts as a
    from pipeline.runs.tracking import TRACKED_TAG, log_run, tracked_models

    run = finished_run(project_dir, ref)
    data = a.stored(run)
    tracking = log_run(
        settings=a.settings(data.settings), project_dir=project_dir, dry_run=bool(data.dry_run),
        pathspec=run.pathspec, delta=a.delta(data.delta), attestation=data.attestation,
        manifest=data.data_manifest, baseline_info=a.model_info(data.baseline_info),
        models=tracked_models({"baseline": data.baseline_model_bytes, "candidate": data.candidate_model_bytes},
                              data.predictions, data.model_types),
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
