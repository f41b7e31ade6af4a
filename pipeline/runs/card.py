"""The run's Metaflow card (`@card(type="blank", id="report")` on `compare_and_output_delta`)
and reading it back for `hokusai inspect --card FILE`.

The card shows what the step found: the DeltaOne verdict in pp and bps with its CI and the
gate's reasons, the metric table, two Vega-Lite charts (baseline vs candidate score per
metric; the gain of every metric in bps with the primary metric's CI as an error bar and
the gate's minimum as a tick) and the contributor weights. Everything is built from the
plain `delta` artifact by pure functions; only `fill_card` touches Metaflow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.scoring.delta import Delta

CARD_ID = "report"
CARD_STEP = "compare_and_output_delta"
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
SERIES = ("baseline", "candidate")
COLORS = ("#9aa5b1", "#2563eb")  # baseline grey, candidate blue
GAIN, LOSS, CI_COLOR, MINIMUM_COLOR = "#16a34a", "#dc2626", "#111827", "#f97316"


# --- text --------------------------------------------------------------------------------

def _bps(value: int) -> str:
    return f"{value:+d}"


def ci_text(delta: Delta) -> str | None:
    """`95% CI [+350, +1150] bps ([3.50, 11.50] pp), paired bootstrap, 1000 resamples, seed 42`."""
    from pipeline.scoring.delta import bps_to_pp

    ci = delta.ci
    if ci is None:
        return None
    return (f"{ci.confidence * 100:g}% CI [{_bps(ci.low_bps)}, {_bps(ci.high_bps)}] bps "
            f"([{bps_to_pp(ci.low_bps)}, {bps_to_pp(ci.high_bps)}] pp), paired bootstrap, "
            f"{ci.resamples} resamples, seed {ci.seed}")


def headline(delta: Delta) -> str:
    """The card's title (Markdown): DeltaOne in pp and bps, its CI, the gate with its reasons
    and the run's notes."""
    from pipeline.runs.report import gate_reason

    verdict = "passed" if delta.passed else "FAILED"
    lines = [f"# DeltaOne {delta.deltaone_pp} pp ({delta.deltaone_bps} bps) on {delta.primary_metric}: "
             f"gate {verdict}", ""]
    ci = ci_text(delta)
    if ci is not None:
        lines += [f"**{ci}**", ""]
    lines += [f"- {'passed' if g.passed else '**FAILED**'}: {gate_reason(g)} (`{g.rule}`)" for g in delta.gate]
    lines += ["", *(f"> {note}" for note in delta.notes)]
    return "\n".join(lines).rstrip() + "\n"


# --- tables ------------------------------------------------------------------------------

METRIC_HEADERS = ["metric", "baseline", "candidate", "delta (bps, + = better)", "CI (bps)"]
WEIGHT_HEADERS = ["wallet", "rows", "value (bps)", "leave-one-out (bps)", "weight (bps)"]


def metric_rows(delta: Delta) -> list[list[str]]:
    """metric (primary marked, lower-is-better noted), both scores, delta bps, CI."""
    rows = []
    for m in delta.metrics:
        name = m.metric + (" (primary)" if m.metric == delta.primary_metric else "") \
            + ("" if m.higher_is_better else " (lower is better)")
        ci = "" if m.ci_low_bps is None or m.metric != delta.primary_metric else f"[{_bps(m.ci_low_bps)}, {_bps(m.ci_high_bps)}]"
        rows.append([name, f"{m.baseline:.4f}", f"{m.candidate:.4f}", _bps(m.delta_bps), ci])
    return rows


def weight_rows(delta: Delta) -> list[list[str]]:
    """wallet, kept rows, attributed value (bps, exact to 0.01; ± its standard error when
    sampled), leave-one-out (bps), weight (bps; they sum to 10000)."""
    return [[c.wallet or "(no wallet)", str(c.rows), (c.value_bps or "") + (f" ± {c.se_bps}" if c.se_bps else ""),
             c.loo_bps or "", str(c.weight_bps)] for c in delta.contributors]


# --- charts ------------------------------------------------------------------------------

def _metric_axis(delta: Delta) -> dict[str, Any]:
    """Axis labels: the metric's name, with an arrow when lower is better."""
    lower = [m.metric for m in delta.metrics if not m.higher_is_better]
    return {"labelFontSize": 12, "labelExpr": f"indexof({lower!r}, datum.value) >= 0 ? datum.value + ' \u2193' "
                                                ": datum.value"}


def scores_spec(delta: Delta) -> dict[str, Any]:
    """Vega-Lite: grouped bars of the baseline's and the candidate's score per metric. The
    CI is drawn on the gain (`gains_spec`), not here: it is an interval of the paired
    difference, and baseline + its upper bound can exceed any possible score."""
    lower = any(not m.higher_is_better for m in delta.metrics)
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": {"text": "Baseline vs candidate per metric",
                  "subtitle": "scores on the same benchmark rows" + ("; \u2193 lower is better" if lower else "")},
        "height": 260,
        "data": {"values": [{"metric": m.metric, "series": s, "score": getattr(m, s)}
                            for m in delta.metrics for s in SERIES]},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "metric", "type": "nominal", "sort": [m.metric for m in delta.metrics], "title": None,
                  "axis": {**_metric_axis(delta), "labelAngle": 0}},
            "xOffset": {"field": "series", "type": "nominal", "scale": {"domain": list(SERIES)}},
            "y": {"field": "score", "type": "quantitative", "title": "score"},
            "color": {"field": "series", "type": "nominal", "title": None,
                      "scale": {"domain": list(SERIES), "range": list(COLORS)}, "legend": {"orient": "top"}},
        },
    }


def gains_spec(delta: Delta) -> dict[str, Any]:
    """Vega-Lite: the gain of every metric in bps (positive = better) as horizontal bars, the
    primary metric's CI as an error bar, and the gate's minimum as a tick on its row."""
    order = [m.metric for m in delta.metrics]
    y = {"field": "metric", "type": "nominal", "sort": order, "title": None, "axis": _metric_axis(delta)}
    title = "gain (bps, positive = better)"  # on every layer: Vega-Lite would join the layers' field names
    layers: list[dict[str, Any]] = [{
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": y,
            "x": {"field": "delta_bps", "type": "quantitative", "title": title},
            "color": {"condition": {"test": "datum.delta_bps < 0", "value": LOSS}, "value": GAIN},
        },
    }]
    if delta.ci is not None:
        layers.append({
            "data": {"values": [{"metric": delta.primary_metric, "ci_low_bps": delta.ci.low_bps,
                                 "ci_high_bps": delta.ci.high_bps}]},
            "mark": {"type": "errorbar", "ticks": {"size": 12}, "thickness": 2, "color": CI_COLOR},
            "encoding": {"y": y, "x": {"field": "ci_low_bps", "type": "quantitative", "title": title},
                         "x2": {"field": "ci_high_bps"},
                         "tooltip": [{"field": "ci_low_bps", "title": "CI low (bps)"},
                                     {"field": "ci_high_bps", "title": "CI high (bps)"}]},
        })
    minimum = next((g.threshold for g in delta.gate if g.name == "delta_bps"), None)
    if minimum is not None:
        layers.append({  # on the primary metric's row only: the minimum applies to DeltaOne alone
            "data": {"values": [{"metric": delta.primary_metric, "minimum_bps": minimum,
                                 "label": f"minimum {minimum} bps"}]},
            "mark": {"type": "tick", "thickness": 3, "opacity": 1, "color": MINIMUM_COLOR},
            "encoding": {"y": y, "x": {"field": "minimum_bps", "type": "quantitative", "title": title},
                         "tooltip": [{"field": "label", "title": "gate"}]},
        })
    notes = [f"error bar: {delta.ci.confidence * 100:g}% CI of the {delta.primary_metric} gain"] \
        if delta.ci is not None else []
    if minimum is not None:
        notes.append(f"orange tick: the gate's minimum, {minimum} bps")
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": {"text": "Gain per metric (bps)", "subtitle": "; ".join(notes)},
        "height": {"step": 26},
        "data": {"values": [{"metric": m.metric, "delta_bps": m.delta_bps} for m in delta.metrics]},
        "layer": layers,
    }


# --- the card ----------------------------------------------------------------------------

def fill_card(card: Any, delta_plain: dict[str, Any]) -> None:
    """Append the report to a Metaflow card (`current.card["report"]`): the verdict, the
    metric table, the charts and the contributor weights, from the plain `delta` artifact."""
    from metaflow.cards import Markdown, Table, VegaChart

    from pipeline.runs.artifacts import delta as rebuild_delta

    delta = rebuild_delta(delta_plain)
    card.append(Markdown(headline(delta)))
    card.append(Markdown("## Metrics"))
    card.append(Table(metric_rows(delta), headers=METRIC_HEADERS))
    card.append(VegaChart(scores_spec(delta)))
    card.append(VegaChart(gains_spec(delta)))
    card.append(Markdown(f"## Contributor weights ({delta.weight_method})\n\nValue: the {delta.primary_metric} gain "
                         f"attributed to the wallet's rows; weights are in bps and sum to 10000."))
    card.append(Table(weight_rows(delta), headers=WEIGHT_HEADERS))


def card_html(run: Any) -> str:
    """The HTML of a run's report card. A run whose `compare_and_output_delta` did not
    finish, or that has no card, is a RunError."""
    from metaflow.cards import get_cards
    from metaflow.exception import MetaflowException

    from pipeline.errors import RunError

    try:
        tasks = list(run[CARD_STEP])
    except KeyError:
        tasks = []
    if not tasks or not tasks[0].successful:
        raise RunError(f"Run {run.id} has no card: its step {CARD_STEP} did not finish "
                       f"(see `hokusai inspect {run.id}`).")
    try:
        cards = get_cards(tasks[0], id=CARD_ID)
        html = cards[0].get() if len(cards) else None
    except MetaflowException:
        html = None
    if not html:
        raise RunError(f"Run {run.id} has no report card (a run made before hokusai wrote cards, or its card "
                       f"failed to render); see its results with `hokusai inspect {run.id}`.")
    return html


def write_card(run: Any, path: Path) -> Path:
    """Write the run's card HTML to `path` whole (a temporary file renamed into place)."""
    import os
    import tempfile

    from pipeline.errors import InputError

    html = card_html(run)
    target = path.expanduser()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(html)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a card is an ordinary file
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise InputError(f"Cannot write the card to {path}: {exc.strerror}; "
                         "choose a file in a writable folder.") from None
    return target
