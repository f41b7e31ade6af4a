"""CLI tests: exact sentences, table cells, exit codes. Rich width is pinned (COLUMNS=120)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hokusai_cli.app import app
from tests.conftest import FIXTURES, invoke, make_project

@pytest.mark.timeout(300)
def test_dry_run_table_and_verdict(demo_runs):
    summary, stderr = demo_runs["first"], demo_runs["stderr"]
    assert "Evaluation (dry-run)" in stderr
    assert "│ accuracy *        │   0.9100 │    0.9800 │  +700 bps │ [+350, +1150] │" in stderr
    assert "│ auroc             │   0.9777 │    0.9950 │  +173 bps │               │" in stderr
    assert "│ log_loss          │   0.2039 │    0.0814 │ +1225 bps │               │" in stderr
    assert "│ 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 │  180 │ 275.00 bps │     50.00 bps │ 3929 bps │" in stderr
    assert "  ci_low_bps > 0: 350 vs 0 ok" in stderr
    assert "DeltaOne 7.00 pp (700 bps) on accuracy: gate passed" in stderr
    assert f"Run: {summary['pathspec']} (dry-run)" in stderr
    assert "│ monitor_and_log             │ done   │" in stderr
    assert summary["dry_run"] is True and summary["deltaone_bps"] == 700


@pytest.mark.timeout(300)
def test_two_dry_runs_identical(demo_runs):
    first, second = demo_runs["first"], demo_runs["second"]
    assert first["run_id"] != second["run_id"]
    for key in ("metrics", "deltaone_bps", "contributors", "attestation_hash"):
        assert first[key] == second[key]


@pytest.mark.timeout(300)
def test_dry_run_uses_its_own_experiment(demo_runs):
    import mlflow

    summary = demo_runs["first"]
    client = mlflow.MlflowClient(tracking_uri=summary["mlflow"]["tracking_uri"])
    experiment = client.get_experiment(summary["mlflow"]["experiment_id"])
    assert experiment.name == "hokusai-dry-run"
    assert client.get_experiment_by_name("hokusai") is None


@pytest.mark.timeout(300)
def test_run_rejects_contribution_missing_a_column(tmp_path):
    project = make_project(tmp_path)
    frame = pd.read_csv(FIXTURES / "contrib_alice.csv").drop(columns=["mean_radius", "worst_area"])
    frame.to_csv(project / "data" / "bad.csv", index=False)
    result = invoke("run", "--project", str(project), "--contrib", "data/bad.csv")
    assert result.exit_code == 2
    assert "Error: data/bad.csv: missing column(s) 'mean_radius', 'worst_area'; the model needs" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_run_without_contrib(tmp_path):
    result = invoke("run", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert "Error: No contributed data was given; pass at least one file with --contrib FILE[:WALLET]." in result.stderr


def test_missing_contribution_file_fails_before_any_run(tmp_path):
    project = make_project(tmp_path)
    result = invoke("run", "--project", str(project), "--contrib", "data/nope.csv")
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f"Error: Contribution data/nope.csv: file not found in the current folder ({Path.cwd()}) or the project "
        f"folder ({project}); check the path.")
    assert not (project / ".metaflow").exists()


def test_invalid_config_lists_every_bad_field(tmp_path):
    project = make_project(tmp_path)
    (project / "hokusai.toml").write_text('[model]\nestimator = "svm"\n[evaluation]\nseed = "abc"\n')
    result = invoke("run", "--project", str(project), "--contrib", "data/contrib_alice.csv")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert message.startswith("Error: Invalid configuration in hokusai.toml: model.estimator: input should be")
    assert "evaluation.seed: input should be a valid integer" in message


def test_bad_wallet_is_refused(tmp_path):
    project = make_project(tmp_path)
    bad = "0x70997970c51812dc3A010C7d01b50e0d17dc79C8"
    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{bad}")
    assert result.exit_code == 2
    assert f"{bad!r} is not a valid EIP-55 address" in " ".join(result.stderr.split())


def test_version():
    from pipeline import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"hokusai {__version__}\n"


def test_every_command_has_help_and_an_example():
    import typer.main

    group = typer.main.get_command(app)
    assert group.commands, "no commands registered"
    for name, command in group.commands.items():
        assert command.help and "Example:" in command.help, f"{name} lacks help with an example"
        for param in command.params:
            if param.name != "help":
                assert getattr(param, "help", None), f"{name} --{param.name} lacks help"


def test_help_keeps_every_config_section_it_names():
    """Rich markup takes a bare `[data]` in a docstring or option help for a style tag and drops
    it (`hokusai promote --help` said "` baseline = ..."`): each must be written `\\[data]`."""
    import re

    import typer.main

    for name, command in typer.main.get_command(app).commands.items():
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        bare = [m.group(0) for text in texts for m in re.finditer(r"(?<!\\)\[[a-z_.]+\]", text)]
        assert not bare, f"hokusai {name} --help would drop {bare}: write them as \\[section]"
    shown = {name: " ".join(invoke(name, "--help").output.split()) for name in ("promote", "publish")}
    assert '`[data] baseline = "models:/hokusai-<id>@production"` then makes' in shown["promote"]
    assert "(with --rpc or [attestation] rpc_url, only after" in shown["publish"]
