"""`hokusai inspect`, `runs`, `resume`, `--fail-on-gate` and Ctrl-C: the report logic on fake
Client objects, then real runs of `hokusai init` projects (one that succeeds, one forced to
fail in evaluate_on_benchmark and resumed, one interrupted). Table cells and JSON values."""

from __future__ import annotations

import glob
import json
import re
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.runs import report
from pipeline.runs.artifacts import rebuild
from pipeline.runs.runner import INTERRUPTED_TAG, STEPS, resumable_run, resume_events
from tests.conftest import ALICE, BOB, invoke

CLI = [sys.executable, "-m", "hokusai_cli"]
T0 = datetime(2026, 1, 2, 3, 4, 5)


def cells(text: str) -> list[list[str]]:
    """The cells of every rich table row in `text` (rows framed by │, headers by ┃)."""
    return [[c.strip() for c in line.strip().strip(line[0]).split(line[0])]
            for line in text.splitlines() if line[:1] in ("│", "┃")]


def row(text: str, first: str) -> list[str]:
    found = [r for r in cells(text) if r[0] == first]
    assert found, f"no table row starting with {first!r} in:\n{text}"
    return found[0]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


# --- report logic on fakes ---------------------------------------------------------------

@dataclass
class FakeTask:
    successful: bool = True
    finished_at: datetime | None = T0 + timedelta(seconds=2)
    created_at: datetime = T0
    exception: Any = None
    stderr: str = ""
    pathspec: str = "F/1/s/1"
    metadata_dict: dict | None = None
    data: Any = None

    def __post_init__(self):
        self.metadata_dict = self.metadata_dict or {"origin-run-id": "None"}


class FakeRun:
    def __init__(self, steps: dict[str, list[FakeTask]], successful: bool = False, tags: frozenset = frozenset()):
        self.steps, self.successful, self.user_tags = steps, successful, tags
        self.id, self.pathspec = "42", "HokusaiEvaluationFlow/42"
        self.created_at, self.finished_at = T0, T0 + timedelta(seconds=30) if successful else None

    def __getitem__(self, name):
        return self.steps[name]

    def __iter__(self):
        return iter(reversed(list(self.steps.values())))


def test_task_status_covers_interrupted_and_running():
    assert report.task_status(FakeTask()) == "successful"
    failed = FakeTask(successful=False, exception=SimpleNamespace(type="builtins.OSError", exception="disk full"))
    assert report.task_status(failed) == "failed"
    assert report.task_status(FakeTask(successful=False)) == "failed"  # ended, no exception: killed
    assert report.task_status(FakeTask(successful=False, finished_at=None)) == "running"


def test_steps_of_a_failed_run_and_its_failure():
    boom = FakeTask(successful=False, stderr="line 1\n\nTraceback ...\nValueError: boom\nTask failed.\n",
                    exception=SimpleNamespace(type="builtins.ValueError", exception="boom"), pathspec="F/42/train_new_model/4")
    run = FakeRun({"start": [FakeTask()], "load_baseline_model": [FakeTask()],
                   "integrate_contributed_data": [FakeTask()], "train_new_model": [boom]})
    steps = report.step_rows(run)
    assert [(s["name"], s["status"]) for s in steps] == [
        ("start", "successful"), ("load_baseline_model", "successful"), ("integrate_contributed_data", "successful"),
        ("train_new_model", "failed"), *[(name, "not reached") for name in STEPS[4:]]]
    assert steps[0]["duration_s"] == 2.0 and steps[0]["cloned"] is False
    assert report.run_status(run, steps) == "failed"
    run.created_at = T0 + timedelta(hours=1)  # a tag added later moves the run's own created_at
    assert report.run_start(run) == run["start"][0].created_at
    failure = report.failure(run, steps, Path("my project"))
    assert failure == {
        "step": "train_new_model", "task": "F/42/train_new_model/4", "exception_type": "builtins.ValueError",
        "message": "boom", "bad_input": False,
        "stderr_tail": ["line 1", "Traceback ...", "ValueError: boom", "Task failed."],
        "resume_command": "hokusai resume 42 --project 'my project'",
        "resume_from_start_command": "hokusai resume 42 --project 'my project' --step start",
    }


def test_an_interrupted_run_is_failed_not_running():
    killed = FakeTask(successful=False, finished_at=None)  # killed before it could record its end
    steps = {"start": [FakeTask()], "load_baseline_model": [killed]}
    assert report.run_status(FakeRun(steps)) == "running"
    run = FakeRun(steps, tags=frozenset({INTERRUPTED_TAG}))
    rows = report.step_rows(run)
    assert [s["status"] for s in rows[:3]] == ["successful", "failed", "not reached"]
    assert report.run_status(run, rows) == "failed"
    failure = report.failure(run, rows)
    assert (failure["step"], failure["message"]) == ("load_baseline_model", "the run was interrupted (Ctrl-C) in this step")
    between = FakeRun({"start": [FakeTask()]}, tags=frozenset({INTERRUPTED_TAG}))
    failure = report.failure(between, report.step_rows(between))
    assert (failure["step"], failure["task"], failure["message"]) == (
        "load_baseline_model", None, "the run was interrupted (Ctrl-C) before this step")


def test_resume_log_lines_merged_by_parallel_clones():
    line = ("2026-11-26 07:06:08.637 2026-11-26 07:06:08.638 [77/monitor_and_log/2] Cloning previously run task "
            "5/monitor_and_log/82026-11-26 07:06:08.639 [77/start/6] Cloning previously run task 5/start/1")
    assert [(e.run_id, e.step, e.state) for e in resume_events(line)] == [
        ("77", "monitor_and_log", "done"), ("77", "start", "done")]
    running = resume_events("2026-11-26 07:06:09.000 [77/end/9 (pid 12)] Task is starting.")
    assert [(e.step, e.state) for e in running] == [("end", "running")]
    assert resume_events("2026-11-26 07:06:08.916 HokusaiEvaluationFlow/5 cloned!") == []


def test_bad_input_failure_resumes_from_start():
    bad = FakeTask(successful=False, exception=SimpleNamespace(type="pipeline.errors.DataError", exception="x.csv: bad"))
    run = FakeRun({"start": [FakeTask()], "load_baseline_model": [FakeTask()], "integrate_contributed_data": [bad]})
    failure = report.failure(run, report.step_rows(run))
    assert failure["bad_input"] is True and failure["resume_command"] == "hokusai resume 42 --step start"


def test_metric_rows_carry_a_ci_only_when_the_delta_has_one():
    plain = SimpleNamespace(metric="accuracy", baseline=0.9, candidate=0.95, baseline_bps=9000, candidate_bps=9500,
                            delta_bps=500, relative=0.05 / 0.9)
    rows = report.metric_rows(SimpleNamespace(metrics=[plain]), None, None)
    assert "ci" not in rows[0] and rows[0]["delta_bps"] == 500
    with_ci = SimpleNamespace(**vars(plain), ci_low_bps=120, ci_high_bps=880)
    delta = SimpleNamespace(metrics=[with_ci], ci=SimpleNamespace(low_bps=120, high_bps=880, confidence=0.95))
    assert report.metric_rows(delta, None, None)[0]["ci"] == {"low_bps": 120, "high_bps": 880, "confidence": 0.95}


def test_inspect_table_shows_a_ci_column_only_when_present():
    from rich.console import Console

    from hokusai_cli.inspect import render_inspect

    def render(metric: dict) -> str:
        rep = {"status": "successful", "pathspec": "HokusaiEvaluationFlow/42", "run_id": "42", "dry_run": False,
               "resumed_from": None, "started_at": "2026-01-02T03:04:05.000Z", "duration_s": 30.0,
               "contrib_files": [], "steps": [], "primary_metric": "accuracy", "metrics": [metric],
               "verdict": None, "contributors": [], "benchmark": None, "baseline": None, "candidate": None,
               "attestation_hash": None, "mlflow": None, "failure": None}
        console = Console(width=120, record=True, file=open(os.devnull, "w"))
        console.print(render_inspect(rep))
        return console.export_text()

    metric = {"metric": "accuracy", "baseline": 0.9, "candidate": 0.95, "delta_bps": 500, "delta": 0.05,
              "relative": 0.05 / 0.9}
    assert row(render(metric), "accuracy *") == ["accuracy *", "0.9000", "0.9500", "+500 bps", "+5.56%"]
    text = render({**metric, "ci": {"low_bps": 120, "high_bps": 880}})
    assert row(text, "accuracy *") == ["accuracy *", "0.9000", "0.9500", "+500 bps", "+5.56%", "[+120, +880] bps"]
    assert row(text, "metric")[-1] == "CI"


def test_a_narrow_terminal_shortens_wallets_then_names_the_columns_it_leaves_out():
    """Issue 25, point 6: at 100 columns the value, LOO and weight used to be cut silently."""
    from rich.console import Console

    from hokusai_cli.inspect import contributor_table

    files = [{"file": "data/contrib_alice.csv", "rows_kept": 180, "rows_in": 180, "content_sha256": "0x5fc7" + "0" * 56 + "a026"}]
    rep = {"verdict": {"weight_method": "exact_shapley"}, "contributors": [
        {"wallet": ALICE, "rows": 180, "weight_bps": 3929, "value_bps": "275.00", "loo_bps": "50.00", "files": files}]}

    def shown(width: int) -> tuple[str, list[str]]:
        console = Console(width=width, record=True, file=open(os.devnull, "w"))
        console.print(contributor_table(rep, width))
        text = console.export_text()
        return " ".join(text.split("┏")[0].split()), next(r for r in cells(text) if r[0].startswith("0x"))

    title, found = shown(120)
    assert title == "Contributors (exact_shapley); value, leave-one-out (LOO) and weight in bps"
    assert found == [ALICE, "data/contrib_alice", "180/180", "0x5fc7…a026", "275.00", "50.00", "3929"]
    title, found = shown(100)
    assert title.endswith("(wallets shortened; widen the terminal or see --json)")
    assert found == ["0x7099…79C8", "data/contrib_alice", "180/180", "0x5fc7…a026", "275.00", "50.00", "3929"]
    title, found = shown(80)
    assert title.endswith("(wallets shortened; +1 more column: data sha256; widen the terminal or see --json)")
    assert found == ["0x7099…79C8", "data/contrib_alice", "180/180", "275.00", "50.00", "3929"]
    title, found = shown(60)
    assert title.endswith("+2 more columns: data sha256, file; widen the terminal or see --json)")
    assert found == ["0x7099…79C8", "180", "275.00", "50.00", "3929"]  # every number whole


def test_gate_reasons():
    cond = SimpleNamespace(name="delta_bps", value=40, threshold=100, passed=False, rule="delta_bps >= min_improvement_bps")
    assert report.gate_reason(cond) == "DeltaOne 40 bps is below the minimum of 100 bps"
    other = SimpleNamespace(name="new_rule", value=3, threshold=1, passed=True, rule="new_rule >= 1")
    assert report.gate_reason(other) == "new_rule = 3 meets new_rule >= 1"


def test_contributors_group_files_by_wallet():
    def contribution(file, wallet, kept):
        return SimpleNamespace(file=file, wallet=wallet, content_sha256="0x" + "a" * 64, file_sha256="0x" + "b" * 64,
                               rows_in=kept + 1, rows_kept=kept, duplicates_dropped=1, benchmark_rows_dropped=0)

    delta = SimpleNamespace(contributors=[SimpleNamespace(wallet=ALICE, rows=30, weight_bps=7500),
                                          SimpleNamespace(wallet=BOB, rows=10, weight_bps=2500)])
    rows = report.contributor_rows([contribution("a.csv", ALICE, 20), contribution("b.csv", BOB, 10),
                                    contribution("c.csv", ALICE, 10)], delta)
    assert [(r["wallet"], r["rows"], r["weight_bps"], [f["file"] for f in r["files"]]) for r in rows] == [
        (ALICE, 30, 7500, ["a.csv", "c.csv"]), (BOB, 10, 2500, ["b.csv"])]
    assert report.contributor_rows([contribution("a.csv", None, 5)], None)[0]["weight_bps"] is None


def test_project_arg_and_iso(tmp_path):
    assert report.project_arg(tmp_path, cwd=tmp_path) is None
    assert report.project_arg(tmp_path, cwd=tmp_path.parent) == tmp_path
    assert report.iso(None) is None
    assert report.iso(datetime(2026, 1, 2, 3, 4, 5, 678900).astimezone()).endswith(".678Z")


# --- a successful run of a fresh `hokusai init` project ----------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`hokusai init demo && cd demo && hokusai run --contrib ...` as a user types it."""
    parent = tmp_path_factory.mktemp("accept")
    assert cli("init", "demo", cwd=parent).returncode == 0
    project = parent / "demo"
    result = cli("run", "--json", "--contrib", f"data/contrib_alice.csv:{ALICE}",
                 "--contrib", f"data/contrib_bob.parquet:{BOB}", cwd=project)
    assert result.returncode == 0, result.stderr[-3000:]
    return project, json.loads(result.stdout)


@pytest.mark.timeout(600)
def test_inspect_shows_nine_successful_steps_and_the_metric_table(demo):
    project, summary = demo
    result = cli("inspect", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stderr
    assert result.stdout == ""
    assert f"Run {summary['pathspec']}  successful" in out
    for name in STEPS:
        assert row(out, name)[1] == "successful"
    assert row(out, "metric")[:5] == ["metric", "baseline", "candidate", "abs delta", "rel delta"]
    assert row(out, "accuracy *")[:5] == ["accuracy *", "0.9100", "0.9800", "+700 bps", "+7.69%"]
    assert row(out, "auroc")[:5] == ["auroc", "0.9777", "0.9950", "+173 bps", "+1.78%"]
    assert "DeltaOne 7.00 pp (700 bps) on accuracy" in out
    assert "DeltaOne 700 bps reaches the minimum of 100 bps" in out
    alice = row(out, ALICE)
    assert alice[1].startswith("data/contrib_") and alice[2] == "180/180"
    assert alice[-3:] == ["275.00", "50.00", "3929"]  # value, leave-one-out, weight: bps, named in the title
    assert "Contributors (exact_shapley); value, leave-one-out (LOO) and weight in bps" in out
    assert f"Attestation hash: {summary['attestation_hash']}" in out
    assert ("Attests for: local (chain 31337, DeltaVerifier 0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9) (the run's "
            "[attestation] settings; `hokusai attest --network` picks another)") in " ".join(out.split())
    assert f"MLflow run: {summary['mlflow']['run_id']} (runs:/{summary['mlflow']['run_id']})" in out


@pytest.mark.timeout(600)
def test_inspect_json_carries_the_run_artifacts(demo):
    from metaflow import Run

    project, summary = demo
    result = invoke("inspect", summary["run_id"], "--project", str(project), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    run = Run(summary["pathspec"])
    delta, data = rebuild("delta", run.data.delta), run.data
    assert doc["schema"] == "hokusai.inspect/v1" and doc["status"] == "successful" and doc["failure"] is None
    assert [(s["name"], s["status"], s["cloned"]) for s in doc["steps"]] == [(n, "successful", False) for n in STEPS]
    assert all(s["duration_s"] > 0 and s["started_at"].endswith("Z") for s in doc["steps"])
    assert [(m["metric"], m["baseline"], m["candidate"], m["delta_bps"], m["relative"]) for m in doc["metrics"]] == [
        (m.metric, m.baseline, m.candidate, m.delta_bps, m.relative) for m in delta.metrics]
    assert doc["verdict"]["deltaone_bps"] == delta.deltaone_bps == 700
    assert doc["verdict"]["passed"] is delta.passed is True
    assert [(g["name"], g["value"], g["threshold"]) for g in doc["verdict"]["gate"]] == [
        (g.name, g.value, g.threshold) for g in delta.gate]
    assert [(c["wallet"], c["rows"], c["weight_bps"]) for c in doc["contributors"]] == [
        (c.wallet, c.rows, c.weight_bps) for c in delta.contributors]
    assert [f["content_sha256"] for c in doc["contributors"] for f in c["files"]] == [
        c["content_sha256"] for c in data.contributions]
    assert doc["benchmark"] == {"name": "benchmark.csv", "sha256": data.benchmark_info["sha256"], "rows": 200,
                                "spec_id": "hokusai-demo-breast-cancer-v1"}
    assert doc["baseline"]["sha256"] == data.baseline_info["sha256"]
    assert doc["baseline"]["source"] == "trained:logistic_regression"
    assert doc["candidate"]["sha256"] == data.candidate_info["sha256"]
    assert doc["attestation_hash"] == data.attestation["attestationHash"] == summary["attestation_hash"]
    assert doc["mlflow"]["run_id"] == data.mlflow_run_id
    assert doc["mlflow"]["tracking_uri"] == f"sqlite:///{project / '.hokusai' / 'mlflow.db'}"
    assert doc["dry_run"] is False and doc["resumed_from"] is None
    assert doc["contrib_files"] == [f"data/contrib_alice.csv:{ALICE}", f"data/contrib_bob.parquet:{BOB}"]


@pytest.mark.timeout(600)
def test_runs_lists_the_run(demo):
    project, summary = demo
    result = invoke("runs", "--project", str(project))
    assert result.exit_code == 0, result.stderr
    cells_ = row(result.stderr, summary["run_id"])
    assert cells_[1] == "successful" and cells_[4:] == ["no", "+700 bps", "passed", "logged"]
    doc = json.loads(invoke("runs", "--project", str(project), "--json").stdout)
    assert doc["schema"] == "hokusai.runs/v1"
    assert [(r["run_id"], r["status"], r["deltaone_bps"], r["gate_passed"], r["dry_run"]) for r in doc["runs"]] == [
        (summary["run_id"], "successful", 700, True, False)]


@pytest.mark.timeout(600)
def test_one_sentence_errors_for_runs_that_cannot_be_used(demo, tmp_path):
    project, summary = demo
    cases = [
        (("inspect", "123", "--project", str(project)),
         f"Error: Run 123 not found in {project}; list runs with `hokusai runs`."),
        (("inspect", "OtherFlow/5", "--project", str(project)),
         "Error: OtherFlow/5 is a run of OtherFlow, not of HokusaiEvaluationFlow; pass a hokusai run id."),
        (("resume", summary["run_id"], "--project", str(project)),
         f"Error: Run {summary['run_id']} finished successfully; there is nothing to resume "
         f"(see `hokusai inspect {summary['run_id']}`)."),
        (("resume", "--step", "fit", "--project", str(project)),
         "Error: 'fit' is not a step of HokusaiEvaluationFlow; use one of start, load_baseline_model,"),
        (("inspect", "--project", str(tmp_path)),
         f"Error: No runs in {tmp_path}; start one with `hokusai run --contrib FILE` or `hokusai dry-run`."),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert " ".join(result.stderr.split()).startswith(message), result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    empty = invoke("runs", "--project", str(tmp_path), "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout)["runs"] == []
    assert "No runs in" in empty.stderr


# --- a run forced to fail in evaluate_on_benchmark, then resumed -------------------------

FLAKY_METRIC = '''
from pathlib import Path


def flaky(y_true, y_pred, y_proba):
    """A metric whose source is down while OFFLINE exists in the project (not bad input)."""
    if Path("OFFLINE").exists():
        raise RuntimeError("the metric service is offline")
    return 0.5
'''


@pytest.fixture(scope="module")
def failed(tmp_path_factory):
    """A project whose custom metric raises (not bad input: exit 3) while OFFLINE exists,
    with a gate it cannot pass (min_improvement_bps = 5000). A tracking failure would not do:
    it never fails a run."""
    project = tmp_path_factory.mktemp("fail") / "proj"
    assert invoke("init", str(project)).exit_code == 0
    toml = project / "hokusai.toml"
    text = toml.read_text().replace("min_improvement_bps = 100 ", "min_improvement_bps = 5000 ", 1)
    text = re.sub(r"^# custom_metrics = \{\}", 'custom_metrics = {flaky = {function = "flaky_metric:flaky"}}', text,
                  count=1, flags=re.M)
    assert "flaky_metric:flaky" in text and "min_improvement_bps = 5000" in text
    toml.write_text(text)
    (project / "flaky_metric.py").write_text(FLAKY_METRIC)
    (project / "OFFLINE").write_text("")
    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")
    assert result.exit_code == 3, result.stderr[-3000:]
    run_id = result.stderr.rsplit("hokusai resume ", 1)[1].split()[0]
    return project, run_id, result.stderr


@pytest.mark.timeout(600)
def test_failed_run_says_which_step_and_how_to_resume(failed):
    project, run_id, stderr = failed
    assert "Error: Step evaluate_on_benchmark failed: builtins.RuntimeError: the metric service is offline" \
        in " ".join(stderr.split())
    result = invoke("inspect", run_id, "--project", str(project))
    assert result.exit_code == 0, result.stderr
    out = result.stderr
    assert f"Run HokusaiEvaluationFlow/{run_id}  failed" in out
    assert row(out, "train_new_model")[1] == "successful"
    assert row(out, "evaluate_on_benchmark")[1] == "failed"
    assert row(out, "end")[1:] == ["not reached", "", ""]
    assert "Failed at step evaluate_on_benchmark: builtins.RuntimeError: the metric service is offline" \
        in " ".join(out.split())
    assert f"  hokusai resume {run_id} --project {project}\n" in out
    doc = json.loads(invoke("inspect", run_id, "--project", str(project), "--json").stdout)
    assert doc["status"] == "failed" and doc["verdict"] is None and doc["mlflow"] is None
    # the run starts with its start task (its created_at moves when the failed tag is added)
    assert doc["started_at"] == doc["steps"][0]["started_at"] and doc["duration_s"] > 1
    # the baseline is trained (with every fit) in train_new_model, which finished
    assert doc["baseline"]["source"] == "trained:logistic_regression" and doc["baseline"]["training_rows"] > 0
    failure = doc["failure"]
    assert (failure["step"], failure["exception_type"], failure["bad_input"]) == (
        "evaluate_on_benchmark", "builtins.RuntimeError", False)
    assert failure["stderr_tail"][-2:] == ["RuntimeError: the metric service is offline", "Task failed."]
    assert failure["resume_command"] == f"hokusai resume {run_id} --project {project}"


@pytest.mark.timeout(600)
def test_a_failed_run_cannot_be_attested(failed):
    project, run_id, _ = failed
    result = invoke("attest", run_id, "--project", str(project))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: Run {run_id} failed; only a successful run has results "
                             f"(see `hokusai inspect {run_id}`).\n")


@pytest.fixture(scope="module")
def resumed(failed):
    project, run_id, _ = failed
    (project / "OFFLINE").unlink()  # fix the cause
    result = invoke("resume", run_id, "--project", str(project), "--fail-on-gate", "--json")
    return project, run_id, result


@pytest.mark.timeout(600)
def test_resume_completes_the_failed_run(resumed):
    project, origin, result = resumed
    assert result.exit_code == 1, result.stderr[-3000:]  # completed, but the gate failed: --fail-on-gate
    summary = json.loads(result.stdout)
    assert summary["resumed_from"] == origin and summary["run_id"] != origin
    assert summary["gate_passed"] is False and summary["deltaone_bps"] == 500
    assert row(result.stderr, "start")[1] == "done" and row(result.stderr, "end")[1] == "done"
    doc = json.loads(invoke("inspect", summary["run_id"], "--project", str(project), "--json").stdout)
    assert doc["status"] == "successful" and doc["resumed_from"] == origin
    assert [(s["name"], s["cloned"]) for s in doc["steps"]] == [
        *[(name, True) for name in STEPS[:6]], *[(name, False) for name in STEPS[6:]]]
    assert doc["verdict"]["passed"] is False
    assert doc["verdict"]["gate"][0]["reason"] == "DeltaOne 500 bps is below the minimum of 5000 bps"
    text = invoke("inspect", summary["run_id"], "--project", str(project)).stderr
    assert row(text, "train_new_model")[1] == "successful (cloned)"
    assert "FAILED DeltaOne 500 bps is below the minimum of 5000 bps" in text
    listing = invoke("runs", "--project", str(project)).stderr
    assert row(listing, summary["run_id"])[1] == "successful (resumed)"
    assert row(listing, origin)[1] == "failed at evaluate_on_benchmark"


# --- Ctrl-C ------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_ctrl_c_stops_the_run_and_names_the_resume_command(tmp_path):
    project = tmp_path / "ctrlc"
    assert invoke("init", str(project)).exit_code == 0
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen([*CLI, "run", "--project", str(project), "--contrib", "data/contrib_alice.csv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    pattern = str(project / ".metaflow" / "HokusaiEvaluationFlow" / "*" / "load_baseline_model")
    while not glob.glob(pattern) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    run_id = glob.glob(pattern)[0].split(os.sep)[-2]
    message = " ".join(stderr.split())
    assert f"Error: Run {run_id} stopped at step " in message
    assert f"without an error (interrupted or killed); resume it with: hokusai resume {run_id} --project {project}" \
        in message
    doc = json.loads(invoke("inspect", run_id, "--project", str(project), "--json").stdout)
    assert doc["status"] == "failed" and doc["failure"]["exception_type"] is None
    assert doc["failure"]["message"].startswith("the run was interrupted (Ctrl-C) ")
    assert doc["failure"]["resume_command"] == f"hokusai resume {run_id} --project {project}"
    assert resumable_run(project, run_id).id == run_id  # `hokusai resume` accepts it
