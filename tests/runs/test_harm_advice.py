"""Harm advice and --exclude on public data, through the real CLI and flow: scikit-learn's
digits (1,797 rows, 64 pixel columns, 10 classes), split as published (seed 0): benchmark
30 %, base 10 %, then three contributors of ~360 rows; Carol's labels are shuffled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ALICE, BOB
from tests.runs.test_real_tables import cli, flat

CAROL = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
CONTRIBS = ["--contrib", f"data/alice.csv:{ALICE}", "--contrib", f"data/bob.csv:{BOB}",
            "--contrib", f"data/carol.csv:{CAROL}"]


def client_run(project: Path, pathspec: str):
    from metaflow import Run

    from pipeline.runs.runner import use_project

    use_project(project)
    return Run(pathspec)


def run_data(project: Path, pathspec: str):
    return client_run(project, pathspec).data


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    order = np.random.RandomState(0).permutation(len(frame))
    project = tmp_path_factory.mktemp("digits")
    (project / "data").mkdir()
    frame.iloc[order[:539]].to_csv(project / "data" / "benchmark.csv", index=False)
    frame.iloc[order[539:718]].to_csv(project / "data" / "base.csv", index=False)
    alice, bob, carol = np.array_split(order[718:], 3)
    frame.iloc[alice].to_csv(project / "data" / "alice.csv", index=False)
    frame.iloc[bob].to_csv(project / "data" / "bob.csv", index=False)
    shuffled = frame.iloc[carol].copy()
    shuffled["target"] = np.random.RandomState(1).permutation(shuffled["target"].to_numpy())
    shuffled.to_csv(project / "data" / "carol.csv", index=False)
    (project / "hokusai.toml").write_text('[model]\ntarget = "target"\n')
    return project


@pytest.fixture(scope="module")
def harmed(digits: Path) -> dict:
    done = cli("run", "--json", *CONTRIBS, cwd=digits)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"summary": json.loads(done.stdout), "text": flat(done.stderr)}


@pytest.mark.timeout(300)
def test_the_verdict_names_the_harmful_contributor_and_the_measured_rest(harmed: dict) -> None:
    summary = harmed["summary"]
    assert (summary["deltaone_bps"], summary["gate_passed"]) == (-390, False)
    assert [(c["value_bps"], c["loo_bps"], c["weight_bps"]) for c in summary["contributors"]] == [
        ("832.00", "705.00", 5266), ("748.00", "445.00", 4734), ("-1970.00", "-928.00", 0)]
    command = ("hokusai run --contrib data/alice.csv:" + ALICE + " --contrib data/bob.csv:" + BOB
               + " --contrib data/carol.csv:" + CAROL + " --exclude " + CAROL)
    assert summary["advice"] == {
        "harmful": [CAROL], "exclude": [CAROL], "deltaone_bps": 538, "deltaone_pp": "5.38", "ci_low_bps": 334,
        "ci_high_bps": 779, "passed": True, "failed": [], "command": command}
    assert (f"Note: Harmful: {CAROL}. Without them, measured by retraining: DeltaOne 538 bps (CI 334..779 bps), which "
            f"passes the gate. Evaluate without them: {command}") in harmed["text"]
    assert "leave-one-out" in harmed["text"]


@pytest.mark.timeout(300)
def test_inspect_and_the_card_show_the_advice(digits: Path, harmed: dict) -> None:
    run_id = harmed["summary"]["run_id"]
    shown = json.loads(cli("inspect", "--json", run_id, cwd=digits).stdout)
    assert shown["verdict"]["advice"] == harmed["summary"]["advice"]
    shown_text = cli("inspect", run_id, cwd=digits)
    text = flat(shown_text.stdout + shown_text.stderr)
    assert f"Harmful: {CAROL}. Without them, measured by retraining: DeltaOne 538 bps" in text
    card = digits / "card.html"
    assert cli("inspect", run_id, "--card", str(card), cwd=digits).returncode == 0
    from tests.runs.test_card import card_data

    data = json.dumps(card_data(card.read_text()))
    assert "leave-one-out (bps)" in data and "-928.00" in data and "DeltaOne 538 bps (CI 334..779 bps)" in data


@pytest.mark.timeout(300)
def test_the_exclude_command_passes_the_gate_and_names_the_excluded(digits: Path, harmed: dict) -> None:
    import shlex

    args = shlex.split(harmed["summary"]["advice"]["command"])[2:]
    done = cli("run", "--json", *args, cwd=digits)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert (summary["deltaone_bps"], summary["ci"]["low_bps"], summary["gate_passed"]) == (538, 334, True)
    assert [c["wallet"] for c in summary["contributors"]] == [ALICE, BOB]
    assert summary["excluded"] == [{"file": "data/carol.csv", "wallet": CAROL, "rows_kept": 359,
                                    "file_sha256": summary["excluded"][0]["file_sha256"],
                                    "reason": "excluded on request (--exclude WALLET)", "ref": CAROL}]
    assert (f"Note: Excluded on request, so not evaluated or paid: {CAROL} (data/carol.csv, 359 rows).") in flat(done.stderr)
    shown = json.loads(cli("inspect", "--json", summary["run_id"], cwd=digits).stdout)
    assert shown["verdict"]["excluded"] == summary["excluded"] and shown["verdict"]["advice"] is None
    evidence = run_data(digits, summary["pathspec"]).attestation["evidence"]
    assert evidence["excluded"] == [{"wallet": CAROL, "fileSha256": summary["excluded"][0]["file_sha256"],
                                     "rowsKept": 359, "reason": "excluded on request (--exclude WALLET)"}]
    assert [c["wallet"] for c in evidence["contributors"]] == [ALICE, BOB]


@pytest.mark.timeout(300)
def test_fanned_out_attribution_equals_the_in_process_one(digits: Path, harmed: dict) -> None:
    """The small game forced through the foreach, two branches at once: same values, same
    advice, same evidence hash (how a run executes is not part of what it found)."""
    done = cli("run", "--json", "--max-workers", "2", *CONTRIBS, cwd=digits,
               env={"HOKUSAI_EVALUATION__ATTRIBUTION_FAN_OUT": "always"})
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["contributors"] == harmed["summary"]["contributors"]
    assert summary["advice"] == harmed["summary"]["advice"]
    assert summary["attestation_hash"] == harmed["summary"]["attestation_hash"]
    branches = list(client_run(digits, summary["pathspec"])["retrain_coalitions"])
    assert len(branches) == 2 and sum(len(t.data.coalition_values) for t in branches) >= 6


def test_an_exclude_naming_nothing_is_refused_before_a_run(digits: Path) -> None:
    runs = digits / ".metaflow" / "HokusaiEvaluationFlow"
    before = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
    done = cli("run", *CONTRIBS, "--exclude", "data/nobody.csv", cwd=digits)
    assert done.returncode == 2
    assert flat(done.stderr) == ("Error: --exclude data/nobody.csv names no contributed file or wallet of this run; use "
                                 "a --contrib FILE (as given or its name) or a WALLET that one of them credits.")
    assert (sorted(p.name for p in runs.iterdir()) if runs.exists() else []) == before  # no run was started
