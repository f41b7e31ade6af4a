"""rich rendering for humans (stderr). Only formatting lives here."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

STATE_STYLE = {"pending": "dim", "running": "yellow", "done": "green", "failed": "bold red"}


def console() -> Console:
    """A console on the current stderr (stdout carries data only). Width follows COLUMNS."""
    return Console(stderr=True, highlight=False)


def error(message: str) -> None:
    console().print(Text(f"Error: {message}", style="bold red"), soft_wrap=True)


def fmt_score(value: float) -> str:
    return f"{value:.4f}"


def fmt_bps(bps: int) -> str:
    return f"{bps:+d} bps"


class StepProgress:
    """Live table of the flow's steps fed by Metaflow status lines."""

    def __init__(self, steps: tuple[str, ...], out: Console) -> None:
        self.steps = steps
        self.state = {s: "pending" for s in steps}
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}
        self.run_id = ""
        self.live = Live(self._render(), console=out, refresh_per_second=4, transient=False)

    def __enter__(self) -> StepProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.update(self._render())
        self.live.__exit__(*exc)
        if not self.live.console.is_terminal:  # Live leaves no newline after its last frame there
            self.live.console.line()

    def update(self, run_id: str, step: str, state: str) -> None:
        if step not in self.state or state == "log":
            return
        self.run_id = run_id
        now = time.monotonic()
        if state == "running":
            self.started[step] = now
        elif step in self.started:
            self.elapsed[step] = now - self.started[step]
        self.state[step] = state
        self.live.update(self._render())

    def _render(self) -> Table:
        table = Table(title=f"HokusaiEvaluationFlow {self.run_id}".strip(), title_justify="left",
                      show_header=True, header_style="bold")
        table.add_column("step")
        table.add_column("status")
        table.add_column("time", justify="right")
        for step in self.steps:
            state = self.state[step]
            took = self.elapsed.get(step)
            if took is None and step in self.started:
                took = time.monotonic() - self.started[step]
            table.add_row(step, Text(state, style=STATE_STYLE[state]), f"{took:.1f}s" if took is not None else "")
        return table


def result(summary: dict[str, Any]) -> Group:
    """Metric table, DeltaOne verdict and run id of a finished run."""
    title = "Evaluation (dry-run)" if summary["dry_run"] else "Evaluation"
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (("metric", "left"), ("baseline", "right"), ("candidate", "right"), ("delta", "right"),
                          ("95% CI" if not summary.get("ci") else f"{round(summary['ci']['confidence'] * 100)}% CI", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in summary["metrics"]:
        name = m["metric"] + (" *" if m["metric"] == summary["primary_metric"] else "")
        primary = m["metric"] == summary["primary_metric"]  # the table shows the gate's CI; --json has every one
        ci = f"[{m['ci_low_bps']:+d}, {m['ci_high_bps']:+d}]" if primary and m.get("ci_low_bps") is not None else ""
        table.add_row(name, fmt_score(m["baseline"]), fmt_score(m["candidate"]), fmt_bps(m["delta_bps"]), ci)
    lines = [table]
    if summary.get("task"):
        lines.insert(0, Text(f"Task: {summary['task']['task']} ({summary['task']['why']})"))
    verdict = "passed" if summary["gate_passed"] else "failed"
    style = "bold green" if summary["gate_passed"] else "bold red"
    lines.append(Text.assemble(
        "DeltaOne ", (f"{summary['deltaone_pp']} pp ({summary['deltaone_bps']} bps)", "bold"),
        f" on {summary['primary_metric']}: gate ", (verdict, style),
    ))
    for g in summary["gate"]:
        mark = "ok" if g["passed"] else "FAILED" if g.get("blocking", True) else "breached (not blocking)"
        lines.append(Text(f"  {g['rule']}: {g['value']} vs {g['threshold']} {mark}"))
    if summary.get("test"):
        test = summary["test"]
        lines.append(Text(f"  {test['method']} ({test['family']}, reported, not gating): one-sided p = {test['p_value']}"))
    if summary["contributors"]:
        people = Table(title=f"Contributors ({summary['weight_method']})", title_justify="left", header_style="bold")
        for name in ("wallet", "rows", "value", "leave-one-out", "weight"):
            people.add_column(name, justify="left" if name == "wallet" else "right")
        for c in summary["contributors"]:
            loo = f"{c['loo_bps']} bps" if c.get("loo_bps") is not None else ""
            people.add_row(c["wallet"] or "(no wallet)", str(c["rows"]), value_cell(c), loo, f"{c['weight_bps']} bps")
        lines.append(people)
    for note in summary["notes"]:
        lines.append(Text(f"Note: {note}", style="yellow"))
    lines.append(Text(f"Attestation hash: {summary['attestation_hash']}"))
    lines.append(Text.assemble("Run: ", (summary["pathspec"], "bold"), " (dry-run)" if summary["dry_run"] else ""))
    lines.append(Text(tracking_line(summary["mlflow"], summary["run_id"])))
    return Group(*lines)


def value_cell(contributor: dict[str, Any], unit: bool = True) -> str:
    """A contributor's attributed value: '275.00 bps', '-31.20 ± 4.05 bps' when sampled, or ''."""
    if contributor.get("value_bps") is None:
        return ""
    se = f" ± {contributor['se_bps']}" if contributor.get("se_bps") is not None else ""
    return f"{contributor['value_bps']}{se}" + (" bps" if unit else "")


def tracking_line(mlflow: dict[str, Any], run_id: str) -> str:
    """Where the run is in MLflow, or why it is not and the command that logs it later."""
    if mlflow.get("status") == "failed":
        return (f"Tracking: failed ({mlflow['reason']}); the evaluation is complete. Log it to MLflow later with: "
                f"hokusai track {run_id}")
    where = mlflow.get("ui_url") or mlflow.get("tracking_uri")
    experiment = f" in experiment {mlflow['experiment_id']}" if mlflow.get("experiment_id") else ""
    return f"MLflow run: {mlflow['run_id']} (runs:/{mlflow['run_id']}){experiment} at {where}"
