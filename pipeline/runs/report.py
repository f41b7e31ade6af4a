"""What `hokusai inspect` and `hokusai runs` show: plain dicts built from a Metaflow Client
`Run` and its artifacts. The CLI renders them as tables or prints them as JSON; nothing here
prints. Every function takes duck-typed Client objects, so it is testable with fakes.

Only artifacts the flow already writes are read (settings, baseline_info, contributions,
candidate_info, benchmark_info, delta, attestation, tracking, mlflow_run_id, and the
parameters dry_run / contrib_files / project_dir), each from the step that produced it.
Derived here, not stored by the flow: statuses and durations (from task timestamps), the
absolute delta of each metric as a score (candidate - baseline), contributors joined with
their files, the gate's reasons, the MLflow `runs:/` URI and the resume commands."""

from __future__ import annotations

import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from pipeline.runs.runner import FAILED_TAG, FLOW_NAME, INTERRUPTED_TAG, STEPS, TERMINATED_TAG

INSPECT_SCHEMA = "hokusai.inspect/v1"
RUNS_SCHEMA = "hokusai.runs/v1"

SUCCESSFUL, FAILED, KILLED, RUNNING, NOT_REACHED = "successful", "failed", "killed", "running", "not reached"
STDERR_TAIL_LINES = 12


# --- time --------------------------------------------------------------------------------

def iso(moment: datetime | None) -> str | None:
    """A Client timestamp (naive local time) as ISO 8601 UTC with milliseconds, or None."""
    if moment is None:
        return None
    aware = moment.astimezone(timezone.utc)  # a naive datetime is taken as local time
    return aware.strftime("%Y-%m-%dT%H:%M:%S.") + f"{aware.microsecond // 1000:03d}Z"


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


# --- commands a user can type ------------------------------------------------------------

def resume_command(run_id: str, project_dir: Path | None = None, step: str | None = None,
                   decospecs: Sequence[str] | None = None) -> str:
    """`hokusai resume ID` (+ `--project DIR` when the project is not the current folder,
    + `--step S` to re-run from an earlier step, + `--with D` for each decorator the run used)."""
    parts = ["hokusai", "resume", run_id]
    if project_dir is not None:
        parts += ["--project", str(project_dir)]
    if step is not None:
        parts += ["--step", step]
    for spec in decospecs or ():
        parts += ["--with", spec]
    return " ".join(shlex.quote(p) for p in parts)


def exclude_command(refs: list[str], *, contrib_files: str, project_dir: Path, config_file: str, dry_run: bool,
                    excluded: list[str] = ()) -> str:
    """The run's own command with `--exclude` for each reference (and those it already had)."""
    from pipeline.data.inputs import split_contribs

    parts = ["hokusai", "dry-run" if dry_run else "run"]
    project = project_arg(project_dir)
    if project is not None:
        parts += ["--project", str(project)]
    if config_file:
        parts += ["--config", config_file]
    for spec in split_contribs(contrib_files):
        parts += ["--contrib", spec]
    for ref in [*excluded, *refs]:
        parts += ["--exclude", ref]
    return " ".join(shlex.quote(p) for p in parts)


def project_arg(project_dir: Path, cwd: Path | None = None) -> Path | None:
    """The project to name in a printed command: None when it is the current folder."""
    here = (cwd or Path.cwd()).resolve()
    return None if project_dir.resolve() == here else project_dir


# --- steps -------------------------------------------------------------------------------

def task_status(task: Any, interrupted: bool = False, gone: bool = False) -> str:
    """successful; failed (ended without success, or stopped by Ctrl-C); killed (no end
    recorded and the run's process is gone); or running (no end recorded yet)."""
    if task.successful:
        return SUCCESSFUL
    if task.finished_at is not None or task.exception is not None or interrupted:
        return FAILED
    return KILLED if gone else RUNNING


def _tags(run: Any) -> frozenset[str]:
    try:
        return frozenset(run.user_tags)
    except Exception:  # noqa: BLE001 - tags are a nicety
        return frozenset()


def interrupted(run: Any) -> bool:
    """Whether `hokusai run`/`resume` recorded that this run was stopped (Ctrl-C)."""
    return INTERRUPTED_TAG in _tags(run)


def seen_failing(run: Any) -> bool:
    """Whether `hokusai run`/`resume` saw this run end unsuccessfully."""
    return FAILED_TAG in _tags(run)


def marked(run: Any) -> dict[str, str] | None:
    """The status mark `hokusai run`/`resume` wrote in place when the run failed where no tag
    could be written (a full disk); None otherwise (`pipeline.runs.liveness`)."""
    from pipeline.runs.liveness import read_mark, status_mark

    try:
        from metaflow import get_metadata

        kind, _, root = get_metadata().partition("@")
    except Exception:  # noqa: BLE001 - the mark is a nicety
        return None
    if kind != "local":
        return None
    return read_mark(status_mark(root, run.id))


def killed(run: Any) -> bool:
    """Whether an unfinished run's process is gone (see `pipeline.runs.liveness`)."""
    from pipeline.runs.liveness import runtime_gone

    try:
        return not run.successful and runtime_gone(run.user_tags)
    except Exception:  # noqa: BLE001 - tags are a nicety
        return False


def _step(run: Any, name: str) -> Any | None:
    try:
        return run[name]
    except KeyError:
        return None


def _task(run: Any, name: str) -> Any | None:
    step = _step(run, name)
    if step is None:
        return None
    tasks = list(step)
    return tasks[0] if tasks else None


def _metadata(task: Any) -> dict[str, Any]:
    try:
        return task.metadata_dict
    except Exception:  # noqa: BLE001 - metadata is a nicety, never a reason to fail
        return {}


def _origin(task: Any) -> str | None:
    """The run that `resume` continued, recorded on every task of a resumed run; else None."""
    origin = _metadata(task).get("origin-run-id")
    return None if origin in (None, "", "None") else origin


def _cloned(task: Any) -> bool:
    """Whether `resume` copied this task from the original run instead of running it."""
    return _metadata(task).get("origin-task-id") not in (None, "", "None")


def _datastore_root(run: Any) -> str | None:
    """Where the run's artifacts live (`ds-root` of its first task), for the full-disk check."""
    task = _task(run, "start")
    return None if task is None else _metadata(task).get("ds-root")


def resumed_from(run: Any) -> str | None:
    """The run this one resumed (from its `start` task's metadata), else None."""
    task = _task(run, "start")
    return _origin(task) if task is not None else None


def step_rows(run: Any) -> list[dict[str, Any]]:
    """One row per flow step, in flow order: status, start, end, duration, cloned."""
    stopped, gone = interrupted(run) or seen_failing(run), killed(run)
    rows = []
    for name in STEPS:
        step = _step(run, name)
        tasks = list(step) if step is not None else []
        if not tasks:
            rows.append({"name": name, "status": NOT_REACHED, "started_at": None, "finished_at": None,
                         "duration_s": None, "cloned": False, "task": None})
            continue
        statuses = [task_status(t, stopped, gone) for t in tasks]
        status = next((s for s in (FAILED, KILLED, RUNNING) if s in statuses), SUCCESSFUL)
        started = min(t.created_at for t in tasks)
        ends = [t.finished_at for t in tasks]
        finished = None if any(e is None for e in ends) else max(ends)
        rows.append({
            "name": name, "status": status, "started_at": iso(started), "finished_at": iso(finished),
            "duration_s": seconds(started, finished), "cloned": all(_cloned(t) for t in tasks),
            "task": tasks[0].pathspec,
        })
    return rows


def run_start(run: Any) -> datetime:
    """When a run started: its `start` task's creation. (The run's own `created_at` moves
    each time a tag is added, and hokusai tags a run at launch and when it fails, so a failed
    run would seem to start after its last task ended.)"""
    step = _step(run, "start")
    tasks = list(step) if step is not None else []
    return min(t.created_at for t in tasks) if tasks else run.created_at


def run_end(run: Any, status: str) -> datetime | None:
    """When a run ended: its finish time, or for a failed run the end of its last task."""
    if status == SUCCESSFUL:
        return run.finished_at
    if status in (FAILED, KILLED):
        ends = [t.finished_at for s in run for t in s if t.finished_at is not None]
        return max(ends) if ends else None
    return None


def run_status(run: Any, steps: list[dict[str, Any]] | None = None) -> str:
    if run.successful:
        return SUCCESSFUL
    steps = step_rows(run) if steps is None else steps
    if interrupted(run) or seen_failing(run) or any(s["status"] == FAILED for s in steps) or marked(run):
        return FAILED
    return KILLED if any(s["status"] == KILLED for s in steps) or killed(run) else RUNNING


# --- artifacts ---------------------------------------------------------------------------

def artifact(run: Any, name: str, damaged: list[str] | None = None) -> Any | None:
    """Artifact `name` from the step that writes it, or None when that step has not
    succeeded (a failed or unfinished run). A damaged one raises `DamagedArtifact`, or, given
    a `damaged` list, is added to it as its sentence and read as None (show what still reads)."""
    from pipeline.errors import DamagedArtifact
    from pipeline.runs.artifacts import PRODUCER, rebuild, stored

    producers = PRODUCER[name]
    for step in (producers,) if isinstance(producers, str) else producers:
        task = _task(run, step)
        if task is None or not task.successful:
            continue
        try:
            value = getattr(stored(task), name, None)
        except DamagedArtifact as exc:
            if damaged is None:
                raise
            damaged.append(exc.message)
            return None
        if value is not None:
            return rebuild(name, value)
    return None


def _ci(obj: Any) -> dict[str, Any] | None:
    """A bootstrap confidence interval carried by a metric delta (`ci_low_bps`,
    `ci_high_bps`) or by the delta (`ci`: low_bps, high_bps, confidence, ...), if any."""
    low = getattr(obj, "ci_low_bps", None)
    if low is not None:
        return {"low_bps": low, "high_bps": getattr(obj, "ci_high_bps", None)}
    interval = getattr(obj, "ci", None)
    if interval is None or getattr(interval, "low_bps", None) is None:
        return None
    out = {"low_bps": interval.low_bps, "high_bps": getattr(interval, "high_bps", None)}
    for extra in ("confidence", "resamples", "method", "seed"):
        if getattr(interval, extra, None) is not None:
            out[extra] = getattr(interval, extra)
    return out


def metric_rows(delta: Any, baseline: dict[str, float] | None, candidate: dict[str, float] | None) -> list[dict[str, Any]]:
    """metric | baseline | candidate | abs delta (bps and score) | rel delta (| CI)."""
    if delta is not None:
        rows = []
        for m in delta.metrics:
            row = {"metric": m.metric, "baseline": m.baseline, "candidate": m.candidate,
                   "baseline_bps": m.baseline_bps, "candidate_bps": m.candidate_bps,
                   "delta_bps": m.delta_bps, "delta": m.candidate - m.baseline, "relative": m.relative}
            if getattr(m, "higher_is_better", None) is not None:
                row["higher_is_better"] = m.higher_is_better
            ci = _ci(m)
            if ci is not None:
                confidence = getattr(getattr(delta, "ci", None), "confidence", None)
                row["ci"] = ci if confidence is None else {**ci, "confidence": confidence}
            rows.append(row)
        return rows
    if baseline is None or candidate is None:
        return []
    return [{"metric": k, "baseline": v, "candidate": candidate.get(k), "baseline_bps": None,
             "candidate_bps": None, "delta_bps": None,
             "delta": None if candidate.get(k) is None else candidate[k] - v,
             "relative": None if not v or candidate.get(k) is None else (candidate[k] - v) / v}
            for k, v in baseline.items()]


_REASONS = {
    "delta_bps": ("DeltaOne {value} bps reaches the minimum of {threshold} bps",
                  "DeltaOne {value} bps is below the minimum of {threshold} bps"),
    "ci_low_bps": ("the CI lower bound {value} bps is above {threshold} bps: the gain is unlikely to be noise",
                   "the CI lower bound {value} bps is not above {threshold} bps: the gain may be noise"),
    "benchmark_rows": ("the benchmark has {value} rows, at least the {threshold} required",
                       "the benchmark has {value} rows, fewer than the {threshold} required"),
}


def gate_reason(condition: Any) -> str:
    """Why one gate condition passed or failed, in words (a guardrail as Hokusai's pipeline
    words it: `f1 observed 0.8123 is below threshold 0.85`)."""
    name, value, threshold = condition.name, condition.value, condition.threshold
    if name.startswith("guardrail:"):
        metric, observed, bound = name.split(":", 1)[1], value / 10000, threshold / 10000
        if condition.passed:
            return f"{metric} observed {observed:.4g} is within threshold {bound:.4g}"
        side = "below" if ">=" in getattr(condition, "rule", ">=") else "exceeds"
        tail = "" if getattr(condition, "blocking", True) else " (not blocking: reported only)"
        return f"{metric} observed {observed:.4g} {'is below' if side == 'below' else 'exceeds'} threshold {bound:.4g}{tail}"
    if name.startswith("max_drop:"):
        what = name.split(":", 1)[1]
        if condition.passed:
            return f"{what} changed {value:+d} bps, within the allowed drop of {-threshold} bps"
        return f"{what} fell {-value} bps, more than the allowed drop of {-threshold} bps"
    ok, bad = _REASONS.get(condition.name, ("{name} = {value} meets {rule}", "{name} = {value} fails {rule}"))
    template = ok if condition.passed else bad
    return template.format(name=condition.name, value=condition.value, threshold=condition.threshold,
                           rule=getattr(condition, "rule", condition.name))


def verdict(delta: Any) -> dict[str, Any] | None:
    if delta is None:
        return None
    out = {
        "deltaone_bps": delta.deltaone_bps,
        "deltaone_pp": delta.deltaone_pp,
        "primary_metric": delta.primary_metric,
        "passed": delta.passed,
        "gate": [{"name": g.name, "rule": g.rule, "value": g.value, "threshold": g.threshold,
                  "passed": g.passed, "blocking": getattr(g, "blocking", True), "reason": gate_reason(g)}
                 for g in delta.gate],
        "weight_method": delta.weight_method,
        "notes": list(delta.notes),
        "advice": getattr(delta, "advice", None),  # runs before the advice existed have none
        "excluded": list(getattr(delta, "excluded", [])),
    }
    ci = _ci(delta)
    if ci is not None:
        out["ci"] = ci
    return out


def contributor_rows(contributions: list[Any] | None, delta: Any) -> list[dict[str, Any]]:
    """One entry per wallet (first-appearance order, as weighted): kept rows, weight, and the
    files it brought with their hashes. Weights are None until the delta exists."""
    if not contributions:
        return []
    credited = {c.wallet: c for c in delta.contributors} if delta is not None else {}
    by_wallet: dict[str | None, dict[str, Any]] = {}
    for c in contributions:
        if c.wallet not in by_wallet:
            credit = credited.get(c.wallet)
            by_wallet[c.wallet] = {"wallet": c.wallet, "rows": 0,
                                   "weight_bps": None if credit is None else credit.weight_bps,
                                   "value_bps": getattr(credit, "value_bps", None),
                                   "loo_bps": getattr(credit, "loo_bps", None), "se_bps": getattr(credit, "se_bps", None),
                                   "files": []}
        entry = by_wallet[c.wallet]
        entry["rows"] += c.rows_kept
        entry["files"].append({
            "file": c.file, "content_sha256": c.content_sha256, "file_sha256": c.file_sha256,
            "rows_in": c.rows_in, "rows_kept": c.rows_kept, "duplicates_dropped": c.duplicates_dropped,
            "benchmark_rows_dropped": c.benchmark_rows_dropped,
        })
    return list(by_wallet.values())


def failure(run: Any, steps: list[dict[str, Any]], project_dir: Path | None = None) -> dict[str, Any] | None:
    """The failing step, its error, the end of its stderr and the commands that resume it."""
    from pipeline.errors import INPUT_ERROR_TYPES
    from pipeline.runs.liveness import full_disk

    stopped, ended, gone = interrupted(run), seen_failing(run), killed(run)
    failed = next((s for s in steps if s["status"] in (FAILED, KILLED)), None)
    if failed is None and (stopped or ended or gone):  # stopped between two steps
        failed = next((s for s in steps if s["status"] != SUCCESSFUL), None)
    if failed is None:
        return None
    task = next((t for t in _step(run, failed["name"]) or []
                 if task_status(t, stopped or ended, gone) in (FAILED, KILLED)), None)
    exc = None if task is None else task.exception
    if exc is not None:
        kind = getattr(exc, "type", None) or type(exc).__name__
        message = str(getattr(exc, "exception", exc)).strip()
    elif stopped:
        how = "terminated (SIGTERM)" if TERMINATED_TAG in _tags(run) else "interrupted (Ctrl-C)"
        kind, message = None, f"the run was {how} " + ("in this step" if task else "before this step")
    elif (full := full_disk([_datastore_root(run)])) is not None:
        kind, message = None, (f"the disk holding {full} is full (No space left on device): the task died "
                               "writing to it; free space there, then resume")
    elif (mark := marked(run)) is not None:  # what `hokusai run` saw, written when no tag could be
        kind, message = None, mark["reason"]
    elif ended:
        kind, message = None, ("the task process died without an error (a crash or a kill: out of memory, "
                               "a signal) " + ("in this step" if task else "before this step"))
    elif gone:
        kind, message = None, ("the run's process is gone without recording an end: it was killed (SIGKILL, out "
                               "of memory, a shutdown) " + ("in this step" if task else "before this step"))
    else:
        kind, message = None, "the task stopped without an exception (it was interrupted or killed)"
    try:
        stderr = (task.stderr or "") if task is not None else ""
    except Exception:  # noqa: BLE001 - logs may be missing on a remote datastore
        stderr = ""
    tail = [line.rstrip() for line in stderr.splitlines() if line.strip()][-STDERR_TAIL_LINES:]
    bad_input = kind in INPUT_ERROR_TYPES
    return {
        "step": failed["name"],
        "task": None if task is None else task.pathspec,
        "exception_type": kind,
        "message": message,
        "bad_input": bad_input,
        "stderr_tail": tail,
        # Inputs and settings are read in `start`: after fixing them, re-run from there.
        "resume_command": resume_command(run.id, project_dir, "start" if bad_input else None),
        "resume_from_start_command": resume_command(run.id, project_dir, "start"),
    }


def tracking_state(run: Any, damaged: list[str] | None = None) -> dict[str, Any] | None:
    """Where the run is recorded in MLflow: `status` logged | failed, with the reason of a
    failure, the MLflow run id, its `runs:/` URI and, on a server, its UI URL. A run logged
    later by `hokusai track` carries the MLflow run id as a tag."""
    from pipeline.runs.tracking import TRACKED_TAG, ui_url

    tracking = dict(artifact(run, "tracking", damaged) or {})
    later = sorted(t[len(TRACKED_TAG):] for t in _tags(run) if t.startswith(TRACKED_TAG))
    if not tracking and not later:
        return None
    if later and tracking.get("status") != "logged":
        tracking |= {"status": "logged", "reason": None, "run_id": later[-1], "logged_by": "hokusai track"}
    rid = tracking.get("run_id")
    uri, exp = tracking.get("tracking_uri"), tracking.get("experiment_id")
    return {"status": tracking.get("status", "logged"), "reason": tracking.get("reason"), "run_id": rid,
            "experiment_id": exp, "tracking_uri": uri, "run_uri": f"runs:/{rid}" if rid else None,
            "ui_url": ui_url(uri, exp, rid) if uri and exp and rid else None}


def inspect_report(run: Any, project_dir: Path | None = None) -> dict[str, Any]:
    """Everything `hokusai inspect` shows about one run (keys documented in docs/cli.md).
    `project_dir` is named in the resume commands (None: the current folder)."""
    damaged: list[str] = []  # sentences of artifacts that cannot be read: the rest is shown
    steps = step_rows(run)
    status = run_status(run, steps)
    delta = artifact(run, "delta", damaged)
    settings = artifact(run, "settings", damaged)
    baseline_info = artifact(run, "baseline_info", damaged)
    candidate_info = artifact(run, "candidate_info", damaged)
    benchmark_info = artifact(run, "benchmark_info", damaged)
    attestation = artifact(run, "attestation", damaged)
    evaluated = _task(run, "evaluate_on_benchmark")
    raw = _raw_metrics(evaluated, damaged) if evaluated is not None and evaluated.successful and delta is None \
        else (None, None)
    contrib_files = artifact(run, "contrib_files", damaged)
    finished = run_end(run, status)
    return {
        "schema": INSPECT_SCHEMA,
        "flow": FLOW_NAME,
        "run_id": run.id,
        "pathspec": run.pathspec,
        "status": status,
        "resumed_from": resumed_from(run),
        "started_at": iso(run_start(run)),
        "finished_at": iso(finished),
        "duration_s": seconds(run_start(run), finished),
        "dry_run": artifact(run, "dry_run", damaged),
        "contrib_files": [s for s in (contrib_files or "").split(",") if s.strip()],
        "code_version": artifact(run, "code_version", damaged),
        "steps": steps,
        "primary_metric": delta.primary_metric if delta is not None
        else settings.model.primary_metric if settings is not None else None,
        "metrics": metric_rows(delta, *raw),
        "verdict": verdict(delta),
        "contributors": contributor_rows(artifact(run, "contributions", damaged), delta),
        "benchmark": None if benchmark_info is None else {
            "name": benchmark_info.name, "sha256": benchmark_info.sha256, "rows": benchmark_info.rows,
            "spec_id": settings.attestation.benchmark_spec_id if settings is not None else None},
        "baseline": None if baseline_info is None else {
            "source": baseline_info.source, "estimator": baseline_info.estimator, "sha256": baseline_info.sha256,
            "training_rows": baseline_info.training_rows},
        "candidate": None if candidate_info is None else {
            "sha256": candidate_info.sha256, "training_rows": candidate_info.training_rows},
        "attestation_hash": attestation["attestationHash"] if attestation else None,
        "attestation_target": attestation_target(settings) if attestation else None,
        "environment": artifact(run, "environment", damaged),
        "mlflow": tracking_state(run, damaged),
        "failure": failure(run, steps, project_dir) if status in (FAILED, KILLED) else None,
        "damaged": damaged,
    }


def _raw_metrics(evaluated: Any, damaged: list[str]) -> tuple[Any, Any]:
    """Both models' metrics from `evaluate_on_benchmark` (a run that stopped before its delta)."""
    from pipeline.errors import DamagedArtifact
    from pipeline.runs.artifacts import stored

    try:
        data = stored(evaluated)
        return data.baseline_metrics, data.candidate_metrics
    except DamagedArtifact as exc:
        damaged.append(exc.message)
        return None, None


def attestation_target(settings: Any) -> dict[str, Any] | None:
    """The network `hokusai attest` signs this run for by default: the run's recorded
    [attestation] network, chain id and contract (`attest --network` etc. can pick another)."""
    from pipeline.attest.networks import resolve_target
    from pipeline.errors import HokusaiError

    if settings is None:
        return None
    try:
        target = resolve_target(settings.attestation)
    except HokusaiError:  # a recorded network this version does not know
        return None
    return {"network": target.network, "chain_id": target.chain_id,
            "verifying_contract": target.verifying_contract, "description": target.describe()}


def run_row(run: Any, damaged: list[str] | None = None) -> dict[str, Any]:
    """One line of `hokusai runs`: id, status, start, duration, dry-run, DeltaOne, gate
    (`damaged` collects the sentences of artifacts that cannot be read, as in `artifact`)."""
    steps = None if run.successful else step_rows(run)
    status = run_status(run, steps)
    delta = artifact(run, "delta", damaged)
    ended = run_end(run, status)
    return {
        "run_id": run.id,
        "pathspec": run.pathspec,
        "status": status,
        "started_at": iso(run_start(run)),
        "finished_at": iso(ended),
        "duration_s": seconds(run_start(run), ended),
        "dry_run": artifact(run, "dry_run", damaged),
        "deltaone_bps": delta.deltaone_bps if delta is not None else None,
        "gate_passed": delta.passed if delta is not None else None,
        "failed_step": next((s["name"] for s in steps or [] if s["status"] in (FAILED, KILLED)), None),
        "reason": (marked(run) or {}).get("reason") if status == FAILED else None,
        "resumed_from": resumed_from(run),
        "tracking": _tracking_word(run, damaged) if status == SUCCESSFUL else None,
    }


def _tracking_word(run: Any, damaged: list[str] | None = None) -> str | None:
    """`logged`, or `failed (<reason>)` for `hokusai runs`."""
    state = tracking_state(run, damaged)
    if state is None:
        return None
    return "logged" if state["status"] == "logged" else f"failed ({state['reason']})"


def runs_report(runs: list[Any]) -> dict[str, Any]:
    damaged: list[str] = []
    return {"schema": RUNS_SCHEMA, "runs": [run_row(r, damaged) for r in runs], "damaged": damaged}
