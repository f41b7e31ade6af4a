"""The report card of `compare_and_output_delta` and `hokusai inspect --card FILE`: the pure
builders on a plain delta, then the card of a real run (the session's `project_run`: DeltaOne
700 bps, CI [350, 1150], ALICE 3929 bps / BOB 6071 bps) read back from the HTML, whose
component data Metaflow's blank card embeds as base64 JSON."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

from pipeline.runs import card as report_card
from pipeline.runs.artifacts import delta as rebuild_delta
from pipeline.runs.artifacts import plain
from pipeline.scoring.bootstrap import BootstrapCI
from pipeline.scoring.delta import Contributor, Delta, GateCondition, MetricDelta
from tests.conftest import ALICE, BOB, invoke, make_project

RUN_CARD = pytest.mark.timeout(600)


def plain_delta(passed: bool = True, ci: bool = True) -> dict:
    """A plain `delta` artifact as the step writes it."""
    gain = 700 if passed else 40
    metrics = [
        MetricDelta("accuracy", 0.91, 0.91 + gain / 10000, 9100, 9100 + gain, gain, gain / 9100, True,
                    *((350, 1150) if ci else (None, None))),
        MetricDelta("auroc", 0.9777, 0.995, 9777, 9950, 173, 0.0177, True),
        MetricDelta("log_loss", 0.2039, 0.0814, 2039, 814, 1225, 0.6008, False),
    ]
    gate = [GateCondition("delta_bps", gain, 100, gain >= 100, "delta_bps >= min_improvement_bps")]
    if ci:
        gate.append(GateCondition("ci_low_bps", 350, 0, True, "ci_low_bps > 0"))
    gate.append(GateCondition("benchmark_rows", 200, 50, True, "benchmark_rows >= min_benchmark_rows"))
    return plain(Delta(
        primary_metric="accuracy", deltaone_bps=gain, deltaone_pp="7.00" if passed else "0.40", metrics=metrics,
        gate=gate, passed=all(g.passed for g in gate),
        contributors=[Contributor(ALICE, 180, 3929, "275.00"), Contributor(BOB, 169, 6071, "425.00")],
        weight_method="exact_shapley", notes=[] if passed else ["A note."],
        ci=BootstrapCI(350, 1150, 1000, 0.95, 42) if ci else None, retrainings=2,
    ))


def card_data(html: str) -> dict:
    """The component tree a blank card embeds: `window.__MF_DATA__["<id>"] = "<base64 JSON>"`."""
    match = re.search(r'window\.__MF_DATA__\["[^"]+"\] = "([A-Za-z0-9+/=]+)"', html)
    assert match, "no card data in the HTML"
    return json.loads(base64.b64decode(match[1]))


def components(html: str) -> list[dict]:
    """The card's components in order (page -> sections -> components)."""
    found = []
    for page in card_data(html)["components"]:
        for part in page["contents"]:
            found += part["contents"] if part["type"] == "section" else [part]
    return found


# --- the builders, on a plain delta ------------------------------------------------------

def test_headline_gives_deltaone_in_pp_and_bps_with_its_ci_and_the_gate_reasons():
    text = report_card.headline(rebuild_delta(plain_delta()))
    assert text.splitlines() == [
        "# DeltaOne 7.00 pp (700 bps) on accuracy: gate passed",
        "",
        "**95% CI [+350, +1150] bps ([3.50, 11.50] pp), paired bootstrap, 1000 resamples, seed 42**",
        "",
        "- passed: DeltaOne 700 bps reaches the minimum of 100 bps (`delta_bps >= min_improvement_bps`)",
        "- passed: the CI lower bound 350 bps is above 0 bps: the gain is unlikely to be noise (`ci_low_bps > 0`)",
        "- passed: the benchmark has 200 rows, at least the 50 required (`benchmark_rows >= min_benchmark_rows`)",
    ]


def test_a_failed_gate_without_ci_says_so_and_draws_no_error_bar():
    delta = rebuild_delta(plain_delta(passed=False, ci=False))
    text = report_card.headline(delta)
    assert text.splitlines()[0] == "# DeltaOne 0.40 pp (40 bps) on accuracy: gate FAILED"
    assert "- **FAILED**: DeltaOne 40 bps is below the minimum of 100 bps (`delta_bps >= min_improvement_bps`)" in text
    assert "CI" not in text.replace("ci_low", "") and text.rstrip().endswith("> A note.")
    gains = report_card.gains_spec(delta)
    assert [layer["mark"]["type"] for layer in gains["layer"]] == ["bar", "tick"]
    assert gains["title"]["subtitle"] == "orange tick: the gate's minimum, 100 bps"
    assert report_card.metric_rows(delta)[0] == ["accuracy (primary)", "0.9100", "0.9140", "+40", ""]


def test_tables_hold_every_metric_and_every_wallet():
    delta = rebuild_delta(plain_delta())
    assert report_card.metric_rows(delta) == [
        ["accuracy (primary)", "0.9100", "0.9800", "+700", "[+350, +1150]"],
        ["auroc", "0.9777", "0.9950", "+173", ""],
        ["log_loss (lower is better)", "0.2039", "0.0814", "+1225", ""],
    ]
    assert report_card.weight_rows(delta) == [[ALICE, "180", "275.00", "", "3929"], [BOB, "169", "425.00", "", "6071"]]


def test_chart_specs_plot_both_series_and_the_ci_of_the_gain():
    delta = rebuild_delta(plain_delta())
    scores = report_card.scores_spec(delta)
    assert scores["$schema"] == "https://vega.github.io/schema/vega-lite/v5.json"
    assert scores["data"]["values"] == [
        {"metric": "accuracy", "series": "baseline", "score": 0.91},
        {"metric": "accuracy", "series": "candidate", "score": 0.98},
        {"metric": "auroc", "series": "baseline", "score": 0.9777},
        {"metric": "auroc", "series": "candidate", "score": 0.995},
        {"metric": "log_loss", "series": "baseline", "score": 0.2039},
        {"metric": "log_loss", "series": "candidate", "score": 0.0814},
    ]
    enc = scores["encoding"]
    assert (enc["x"]["field"], enc["xOffset"]["field"], enc["y"]["field"]) == ("metric", "series", "score")
    assert enc["color"]["scale"]["domain"] == ["baseline", "candidate"]
    assert "indexof(['log_loss'], datum.value)" in enc["x"]["axis"]["labelExpr"]
    gains = report_card.gains_spec(delta)
    bars, errorbar, tick = gains["layer"]
    assert gains["data"]["values"] == [{"metric": "accuracy", "delta_bps": 700}, {"metric": "auroc", "delta_bps": 173},
                                       {"metric": "log_loss", "delta_bps": 1225}]
    assert errorbar["mark"]["type"] == "errorbar"
    assert errorbar["data"]["values"] == [{"metric": "accuracy", "ci_low_bps": 350, "ci_high_bps": 1150}]
    assert tick["data"]["values"] == [{"metric": "accuracy", "minimum_bps": 100, "label": "minimum 100 bps"}]
    assert gains["title"]["subtitle"] == ("error bar: 95% CI of the accuracy gain; "
                                          "orange tick: the gate's minimum, 100 bps")
    assert {layer["encoding"]["x"]["title"] for layer in gains["layer"]} == {"gain (bps, positive = better)"}


def test_fill_card_appends_title_metrics_charts_and_weights_in_order():
    from metaflow.cards import Markdown, Table, VegaChart

    appended: list = []

    class Card:
        def append(self, component):
            appended.append(component)

    report_card.fill_card(Card(), plain_delta())
    assert [type(c) for c in appended] == [Markdown, Markdown, Table, VegaChart, VegaChart, Markdown, Table]
    rendered = [c.render() for c in appended]
    assert rendered[0]["source"].startswith("# DeltaOne 7.00 pp (700 bps) on accuracy: gate passed")
    assert rendered[2]["columns"] == report_card.METRIC_HEADERS
    assert rendered[3]["spec"]["data"] == report_card.scores_spec(rebuild_delta(plain_delta()))["data"]
    assert rendered[6]["data"] == [[ALICE, "180", "275.00", "", "3929"], [BOB, "169", "425.00", "", "6071"]]


# --- the card of a real run --------------------------------------------------------------

@pytest.fixture(scope="module")
def written(project_run, tmp_path_factory):
    """`hokusai inspect RUN --card out.html --project P --json` on the session's real run."""
    project, run = project_run
    out = tmp_path_factory.mktemp("card") / "out.html"
    result = invoke("inspect", run.id, "--card", str(out), "--project", str(project), "--json")
    return project, run, out, result


@RUN_CARD
def test_inspect_card_writes_the_html_and_says_so(written):
    _, run, out, result = written
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Card of run {run.pathspec} written to {out}\n"
    assert json.loads(result.stdout)["verdict"]["deltaone_bps"] == 700  # --json still gives the report
    html = out.read_text()
    assert html.lstrip().startswith("<!DOCTYPE html>") and "</html>" in html
    assert card_data(html)["metadata"]["pathspec"] == f"{run.pathspec}/compare_and_output_delta/" \
        f"{run['compare_and_output_delta'].task.id}"
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@RUN_CARD
def test_the_card_holds_the_verdict_with_its_ci_and_the_metric_table(written):
    _, run, out, _ = written
    parts = components(out.read_text())
    assert [p["type"] for p in parts] == ["markdown", "markdown", "table", "vegaChart", "vegaChart",
                                          "markdown", "table"]
    title = parts[0]["source"].splitlines()
    assert title[0] == "# DeltaOne 7.00 pp (700 bps) on accuracy: gate passed"
    assert "**95% CI [+350, +1150] bps ([3.50, 11.50] pp), paired bootstrap, 1000 resamples, seed 42**" in title
    assert "- passed: DeltaOne 700 bps reaches the minimum of 100 bps (`delta_bps >= min_improvement_bps`)" in title
    metrics = parts[2]
    assert metrics["columns"] == ["metric", "baseline", "candidate", "delta (bps, + = better)", "CI (bps)"]
    assert metrics["data"][0] == ["accuracy (primary)", "0.9100", "0.9800", "+700", "[+350, +1150]"]
    delta = run.data.delta
    assert [r[0].split(" ")[0] for r in metrics["data"]] == [m["metric"] for m in delta["metrics"]]
    assert [r[3] for r in metrics["data"]] == [f"{m['delta_bps']:+d}" for m in delta["metrics"]]


@RUN_CARD
def test_the_card_charts_baseline_and_candidate_per_metric_and_the_ci(written):
    _, run, out, _ = written
    scores, gains = [p["spec"] for p in components(out.read_text()) if p["type"] == "vegaChart"]
    delta = run.data.delta
    names = [m["metric"] for m in delta["metrics"]]
    assert "accuracy" in names and "log_loss" in names
    assert scores["data"]["values"] == [{"metric": m["metric"], "series": s, "score": m[s]}
                                        for m in delta["metrics"] for s in ("baseline", "candidate")]
    assert scores["encoding"]["x"]["sort"] == names
    assert scores["encoding"]["color"]["scale"]["domain"] == ["baseline", "candidate"]
    assert scores["width"] == "container"  # Metaflow fits the chart to the card
    assert gains["data"]["values"] == [{"metric": m["metric"], "delta_bps": m["delta_bps"]} for m in delta["metrics"]]
    errorbar = next(layer for layer in gains["layer"] if layer["mark"]["type"] == "errorbar")
    assert errorbar["data"]["values"] == [{"metric": "accuracy", "ci_low_bps": 350, "ci_high_bps": 1150}]


@RUN_CARD
def test_the_card_lists_the_contributor_weights(written):
    _, _, out, _ = written
    parts = components(out.read_text())
    assert parts[5]["source"].startswith("## Contributor weights (exact_shapley)")
    weights = parts[6]
    assert weights["columns"] == ["wallet", "rows", "value (bps)", "leave-one-out (bps)", "weight (bps)"]
    assert [(r[0], r[1], r[4]) for r in weights["data"]] == [(ALICE, "180", "3929"), (BOB, "169", "6071")]
    assert sum(int(r[4]) for r in weights["data"]) == 10000


# --- runs without a card, and files that cannot be written -------------------------------

@pytest.fixture(scope="module")
def failed_in_start(tmp_path_factory):
    """A real run that fails in `start` (a contributed file that does not exist), launched
    with the Runner directly: `hokusai run` would refuse it before starting."""
    from metaflow import Runner

    from pipeline.runs.runner import FLOW_FILE, metaflow_env

    project = make_project(tmp_path_factory.mktemp("early") / "proj")
    env = {**os.environ, **metaflow_env(project)}
    with Runner(str(FLOW_FILE), show_output=False, pylint=False, cwd=str(project), env=env) as runner:
        result = runner.run(contrib_files="data/missing.csv", project_dir=str(project))
        assert result.status == "failed"
        return project, result.run.id


@RUN_CARD
def test_a_run_whose_compare_step_did_not_finish_has_no_card(failed_in_start, tmp_path):
    project, run_id = failed_in_start
    out = tmp_path / "out.html"
    result = invoke("inspect", run_id, "--card", str(out), "--project", str(project))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: Run {run_id} has no card: its step compare_and_output_delta did not "
                             f"finish (see `hokusai inspect {run_id}`).\n")
    assert not out.exists() and list(tmp_path.iterdir()) == []


@RUN_CARD
def test_a_run_without_a_card_says_so(project_run, tmp_path):
    project, run = project_run
    cards = project / ".metaflow" / "mf.cards" / "HokusaiEvaluationFlow" / "runs" / run.id
    aside = cards.with_name(run.id + ".aside")
    assert cards.is_dir()
    cards.rename(aside)  # as a run made before hokusai wrote cards
    try:
        result = invoke("inspect", run.id, "--card", str(tmp_path / "out.html"), "--project", str(project))
    finally:
        aside.rename(cards)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: Run {run.id} has no report card (a run made before hokusai wrote cards, or "
                             f"its card failed to render); see its results with `hokusai inspect {run.id}`.\n")
    assert list(tmp_path.iterdir()) == []


@RUN_CARD
def test_a_card_file_that_cannot_be_written(project_run, tmp_path):
    project, run = project_run
    missing = tmp_path / "no-such-folder" / "out.html"
    result = invoke("inspect", run.id, "--card", str(missing), "--project", str(project))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: Cannot write the card to {missing}: No such file or directory; choose a "
                             "file in a writable folder.\n")
    folder = invoke("inspect", run.id, "--card", str(tmp_path), "--project", str(project))
    assert folder.exit_code == 2 and "is a directory" in " ".join(folder.stderr.split())

