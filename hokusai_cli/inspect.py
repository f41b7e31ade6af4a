"""`hokusai inspect`, `hokusai runs` and `hokusai resume`: look at runs, and continue a
failed one. Reports are built by `pipeline.runs.report`; this module only renders them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from hokusai_cli.common import FailOnGateOpt, JsonOpt, ProjectOpt, VerboseOpt, WithOpt, handled, state

RunArg = Annotated[
    Optional[str],
    typer.Argument(metavar="[RUN]", help="Run id or HokusaiEvaluationFlow/<id>; default: the latest run of the project."),
]
STATUS_STYLE = {"successful": "green", "failed": "bold red", "killed": "bold red", "running": "yellow", "not reached": "dim"}


# --- formatting --------------------------------------------------------------------------

def _local(iso: str | None, fmt: str) -> str:
    if iso is None:
        return ""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime(fmt)


def _duration(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(round(value)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def tiny_hash(value: str) -> str:
    """0x5fc7…a026: a hash in a table that must fit 120 columns (JSON has it whole)."""
    return value if len(value) <= 12 else f"{value[:6]}…{value[-4:]}"


def short_hash(value: str | None) -> str:
    """0x1234abcd…89abcdef: enough to recognise a hash in a table (JSON has it whole)."""
    if not value:
        return ""
    return value if len(value) <= 20 else f"{value[:10]}…{value[-8:]}"


def _signed_bps(value: int | None) -> str:
    return "" if value is None else f"{value:+d} bps"


def _relative(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.2f}%"


def _ci(ci: dict[str, Any] | None) -> str:
    if not ci:
        return ""
    high = ci.get("high_bps")
    return f"[{ci['low_bps']:+d}, {high:+d}] bps" if high is not None else f">= {ci['low_bps']:+d} bps"


# --- inspect -----------------------------------------------------------------------------

def render_inspect(report: dict[str, Any]) -> Any:
    """The human view of an inspect report: header, steps, metrics, verdict, inputs, failure."""
    from rich.console import Group

    from hokusai_cli import render
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    status = report["status"]
    parts.append(Text.assemble(
        "Run ", (report["pathspec"], "bold"), "  ", (status, STATUS_STYLE.get(status, "")),
        " (dry-run)" if report["dry_run"] else "",
        f"  resumed from {report['resumed_from']}" if report["resumed_from"] else "",
    ))
    when = [f"started {_local(report['started_at'], '%Y-%m-%d %H:%M:%S')}"]
    if report["duration_s"] is not None:
        when.append(f"took {_duration(report['duration_s'])}")
    if report["contrib_files"]:
        when.append("contributions: " + ", ".join(report["contrib_files"]))
    parts.append(Text("; ".join(when), style="dim"))

    steps = Table(title="Steps", title_justify="left", header_style="bold")
    for name, justify in (("step", "left"), ("status", "left"), ("started", "left"), ("duration", "right")):
        steps.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in report["steps"]:
        shown = s["status"] + (" (cloned)" if s["cloned"] else "")
        steps.add_row(s["name"], Text(shown, style=STATUS_STYLE.get(s["status"], "")),
                      _local(s["started_at"], "%H:%M:%S"), _duration(s["duration_s"]))
    parts.append(steps)

    if report["metrics"]:
        # the gate's CI (the primary metric's); every metric's is in --json
        with_ci = any("ci" in m and m["metric"] == report["primary_metric"] for m in report["metrics"])
        metrics = Table(title="Metrics (* primary)", title_justify="left", header_style="bold")
        for name in ("metric", "baseline", "candidate", "abs delta", "rel delta") + (("CI",) if with_ci else ()):
            metrics.add_column(name, justify="left" if name == "metric" else "right")
        for m in report["metrics"]:
            name = m["metric"] + (" *" if m["metric"] == report["primary_metric"] else "")
            absolute = _signed_bps(m["delta_bps"]) if m["delta_bps"] is not None else (
                "" if m["delta"] is None else f"{m['delta']:+.4f}")
            cells = [name, f"{m['baseline']:.4f}", "" if m["candidate"] is None else f"{m['candidate']:.4f}",
                     absolute, _relative(m["relative"])]
            if with_ci:
                cells.append(_ci(m.get("ci")) if m["metric"] == report["primary_metric"] else "")
            metrics.add_row(*cells)
        parts.append(metrics)

    verdict = report["verdict"]
    if verdict is not None:
        passed = verdict["passed"]
        ci = f", CI {_ci(verdict['ci'])}" if verdict.get("ci") else ""
        parts.append(Text.assemble(
            "DeltaOne ", (f"{verdict['deltaone_pp']} pp ({verdict['deltaone_bps']} bps)", "bold"),
            f" on {verdict['primary_metric']}{ci}: gate ",
            ("passed" if passed else "failed", "bold green" if passed else "bold red"),
        ))
        for g in verdict["gate"]:
            parts.append(Text.assemble("  ", ("ok    " if g["passed"] else "FAILED", "green" if g["passed"] else "red"),
                                       f" {g['reason']} ({g['rule']})"))
        for note in verdict["notes"]:
            parts.append(Text(f"Note: {note}", style="yellow"))

    if report["contributors"]:
        parts.append(contributor_table(report, render.console().width))

    inputs = []
    if report["benchmark"]:
        b = report["benchmark"]
        inputs.append(f"Benchmark: {b['name']}, {b['rows']} rows, sha256 {b['sha256']} (spec {b['spec_id']})")
    if report["baseline"]:
        b = report["baseline"]
        inputs.append(f"Baseline: {b['source']} ({b['estimator']}), sha256 {b['sha256']}")
    if report["candidate"]:
        c = report["candidate"]
        inputs.append(f"Candidate: trained on {c['training_rows']} rows, sha256 {c['sha256']}")
    if report["attestation_hash"]:
        inputs.append(f"Attestation hash: {report['attestation_hash']}")
    if report.get("attestation_target"):
        inputs.append(f"Attests for: {report['attestation_target']['description']} (the run's [attestation] "
                      "settings; `hokusai attest --network` picks another)")
    if report.get("environment"):
        from pipeline.runs.provenance import describe

        inputs.append(f"Fitted with: {describe(report['environment'])}")
    if report["mlflow"]:
        inputs.append(render.tracking_line(report["mlflow"], report["run_id"]))
    parts += [Text(line) for line in inputs]

    failure = report["failure"]
    if failure is not None:
        kind = f"{failure['exception_type']}: " if failure["exception_type"] else ""
        parts.append(Text.assemble(("Failed at step ", "bold red"), (failure["step"], "bold red"),
                                   f": {kind}{failure['message']}"))
        if failure["stderr_tail"]:
            parts.append(Text("Last lines of its stderr:", style="bold"))
            parts += [Text("  " + line, style="dim") for line in failure["stderr_tail"]]
        if failure["bad_input"]:
            parts.append(Text("This is bad input, read in step start: fix it, then re-run from start with:"))
        else:
            parts.append(Text("Fix the cause, then resume the run (finished steps are reused) with:"))
        parts.append(Text("  " + failure["resume_command"], style="bold"))
        if not failure["bad_input"]:
            parts.append(Text("(after changing hokusai.toml or an input file, which are read in start: "
                              f"{failure['resume_from_start_command']})", style="dim"))
    elif report["status"] == "running":
        parts.append(Text(f"The run is still running; look again with: hokusai inspect {report['run_id']}",
                          style="yellow"))
    return Group(*parts)


#: Contributor columns left out, in this order, when the table cannot fit the terminal.
DROPPABLE = ("data sha256", "file", "rows kept")


def contributor_table(report: dict[str, Any], width: int) -> Any:
    """The contributors at `width` characters without cutting a number: wallets are shortened
    (0x7099…79C8), then whole columns left out, as the title says (`--json` has everything)."""
    from rich.console import Console
    from rich.measure import Measurement

    measure = Console(width=100_000)  # the table's natural width, not clamped to the terminal's
    tries = [(False, ())] + [(True, DROPPABLE[:n]) for n in range(len(DROPPABLE) + 1)]
    for short, dropped in tries:
        table = _contributors(report, short, dropped)
        if Measurement.get(measure, measure.options, table).maximum <= width:  # nothing squeezed
            return table
    return table


def _contributors(report: dict[str, Any], short: bool, dropped: tuple[str, ...]) -> Any:
    from hokusai_cli import render
    from rich.table import Table

    contributors = report["contributors"]
    with_value = any(c.get("value_bps") is not None for c in contributors)
    method = f" ({report['verdict']['weight_method']})" if report["verdict"] else ""
    unit = "; value, leave-one-out (LOO) and weight in bps" if with_value else "; weight in bps"
    cut = (["wallets shortened"] if short else []) + \
        ([f"+{len(dropped)} more column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}"] if dropped else [])
    more = f" ({'; '.join(cut)}; widen the terminal or see --json)" if cut else ""
    table = Table(title=f"Contributors{method}{unit}{more}", title_justify="left", header_style="bold")
    table.add_column("wallet", no_wrap=True, min_width=13 if short else 42)  # an address is never cut
    if "file" not in dropped:
        longest = max((len(f["file"]) for c in contributors for f in c["files"]), default=4)
        table.add_column("file", overflow="fold", min_width=min(longest, 18), max_width=18)  # long names fold
    if "rows kept" not in dropped:
        table.add_column("rows kept", justify="right", no_wrap=True)
    if "data sha256" not in dropped:
        table.add_column("data sha256", no_wrap=True)
    if with_value:  # units in the headers: the numbers never wrap, the file names keep their width
        table.add_column("value", justify="right", no_wrap=True)
        table.add_column("LOO", justify="right", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    for c in contributors:
        files = c["files"] if "file" not in dropped else c["files"][:1]
        for i, f in enumerate(files):
            first = i == 0
            wallet = c["wallet"] if not short or c["wallet"] is None else f"{c['wallet'][:6]}…{c['wallet'][-4:]}"
            cells = [(wallet or "(no wallet)") if first else ""]
            if "file" not in dropped:
                cells.append(f["file"])
            if "rows kept" not in dropped:
                cells.append(f"{f['rows_kept']}/{f['rows_in']}" if "file" not in dropped
                             else f"{c['rows']}")
            if "data sha256" not in dropped:
                cells.append(tiny_hash(f["content_sha256"]))
            if with_value:
                cells.append(render.value_cell(c, unit=False) if first else "")
                cells.append(c["loo_bps"] if first and c.get("loo_bps") is not None else "")
            cells.append(str(c["weight_bps"]) if first and c["weight_bps"] is not None else "")
            table.add_row(*cells)
    return table


def inspect(
    run: RunArg = None,
    project: ProjectOpt = Path("."),
    as_json: JsonOpt = False,
    card: Annotated[Optional[Path], typer.Option(
        "--card", metavar="FILE", dir_okay=False,
        help="Write the run's report card (HTML: DeltaOne with its CI and the gate, metric table, charts, "
             "contributor weights) to FILE instead of showing the report; open it in a browser.",
    )] = None,
) -> None:
    """Show one run: steps, metrics and deltas, the gate verdict, contributors, hashes, MLflow, and for a failed run the error and how to resume.

    Example: hokusai inspect 1795674766048057 --json
    Example: hokusai inspect --card report.html
    """
    from hokusai_cli import render
    from pipeline.runs.report import inspect_report, project_arg
    from pipeline.runs.runner import get_run

    with handled():
        project = project.resolve()
        found = get_run(project, run)
        if card is not None:
            from pipeline.runs.card import write_card

            write_card(found, card)
        report = inspect_report(found, project_arg(project)) if card is None or as_json else None
    if card is not None:
        render.console().print(f"Card of run {found.pathspec} written to {card}", soft_wrap=True, markup=False)
    else:
        render.console().print(render_inspect(report))
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    _exit_if_damaged(report)


def _exit_if_damaged(report: dict[str, Any] | None) -> None:
    """After showing what still reads: each damaged artifact as its sentence, exit 3."""
    from hokusai_cli import render

    for sentence in (report or {}).get("damaged", []):
        render.error(sentence)
    if (report or {}).get("damaged"):
        raise typer.Exit(3)


# --- runs --------------------------------------------------------------------------------

def render_runs(report: dict[str, Any], project: Path) -> Any:
    from rich.table import Table
    from rich.text import Text

    if not report["runs"]:
        return Text(f"No runs in {project}; start one with `hokusai run --contrib FILE` or `hokusai dry-run`.")
    table = Table(title="Runs (newest first)", title_justify="left", header_style="bold")
    table.add_column("run", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for name, justify in (("started", "left"), ("duration", "right"), ("dry-run", "left"),
                          ("DeltaOne", "right"), ("gate", "left"), ("tracking", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in report["runs"]:
        status = r["status"] + (f" at {r['failed_step']}" if r["failed_step"] else "")
        status += " (disk full)" if r.get("reason") and "No space left on device" in r["reason"] else ""
        status += " (resumed)" if r["resumed_from"] else ""
        gate = "" if r["gate_passed"] is None else ("passed" if r["gate_passed"] else "failed")
        table.add_row(r["run_id"], Text(status, style=STATUS_STYLE.get(r["status"], "")),
                      _local(r["started_at"], "%Y-%m-%d %H:%M"), _duration(r["duration_s"]),
                      "" if r["dry_run"] is None else ("yes" if r["dry_run"] else "no"),
                      _signed_bps(r["deltaone_bps"]),
                      Text(gate, style="green" if gate == "passed" else "red"),
                      Text(r["tracking"] or "", style="red" if (r["tracking"] or "").startswith("failed") else ""))
    return table


def runs(
    project: ProjectOpt = Path("."),
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many runs (newest first).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List the project's recent runs: id, status, start, duration, dry-run, DeltaOne and gate verdict.

    Example: hokusai runs --limit 5 --json
    """
    from hokusai_cli import render
    from pipeline.runs.report import runs_report
    from pipeline.runs.runner import list_runs

    with handled():
        project = project.resolve()
        report = runs_report(list_runs(project, limit))
    render.console().print(render_runs(report, project))
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    _exit_if_damaged(report)


# --- track -------------------------------------------------------------------------------

def track(run: RunArg = None, project: ProjectOpt = Path("."), as_json: JsonOpt = False) -> None:
    """Log a finished run to MLflow (after a tracking outage), at most once: a run already logged is left as it is.

    Example: hokusai track 1795674766048057
    """
    from hokusai_cli import render
    from pipeline.runs.runner import track_run

    with handled():
        result = track_run(project.resolve(), run)
    mlflow = result["mlflow"]
    verb = "was already logged as" if mlflow["existing"] else "logged as"
    render.console().print(f"Run {result['pathspec']} {verb} MLflow run {mlflow['run_id']} "
                           f"({mlflow['ui_url'] or mlflow['tracking_uri']})", soft_wrap=True, markup=False)
    for note in mlflow.get("notes", []):  # a partial MLflow run completed, or closed as FAILED
        render.console().print(note, soft_wrap=True, markup=False)
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))


# --- resume ------------------------------------------------------------------------------

def resume(
    run: RunArg = None,
    project: ProjectOpt = Path("."),
    step: Annotated[Optional[str], typer.Option(
        "--step", metavar="STEP",
        help="Re-run from this step instead of the failed one; use 'start' after changing hokusai.toml or an input file (they are read in start).",
    )] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    fail_on_gate: FailOnGateOpt = False,
    with_: WithOpt = None,
) -> None:
    """Resume a failed run: finished steps are reused, the failed step and the ones after it run again (a new run id).

    Give --with again as the run was started (Metaflow's resume does not reuse it). Only one
    resume of a run at a time: a second one refuses while the first runs, and once it succeeded.

    Exit codes: 0 the resumed run succeeded, 1 it did but the gate failed (with --fail-on-gate),
    2 bad input or a run that cannot be resumed, 3 the flow failed again.

    Example: hokusai resume 1795674766048057
    Example: hokusai resume 1795674766048057 --with kubernetes
    """
    from hokusai_cli import render
    from hokusai_cli.evaluate import finish, interruptible
    from pipeline.runs.resume_guard import check_not_resumed, resume_lock
    from pipeline.runs.runner import STEPS, preflight, resumable_run, resume_events, summary
    from pipeline.runs.runner import resume as resume_run

    out = render.console()
    with handled():
        project = project.resolve()
        origin = resumable_run(project, run, step)
        preflight(project, None, with_ or [], mlflow=False)  # every check before anything is drawn
        with resume_lock(project, origin.id):
            check_not_resumed(project, origin)
            out.print(f"Resuming run {origin.id}" + (f" from step {step}" if step else " from its failed step"))
            progress = render.StepProgress(STEPS, out)
            with interruptible(progress, project, with_ or []), progress:

                def on_line(line: str) -> None:
                    events = resume_events(line)
                    for event in events:
                        progress.update(event.run_id, event.step, event.state)
                    if verbose and (not events or events[0].state == "log"):
                        progress.live.console.print(line.rstrip(), markup=False, highlight=False)

                new_run = resume_run(project, origin.id, step=step, log_json=state["log_json"], on_line=on_line,
                                     decospecs=with_ or [], checked=True)
        result = {**summary(new_run), "resumed_from": origin.id}
    finish(result, out, as_json, fail_on_gate)
