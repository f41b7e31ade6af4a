"""The benchmark spec: `hokusai benchmark pin` pins the benchmark file, a changed byte is
refused before any run, and the spec's hash in the evidence follows what defines it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ALICE, invoke, make_project
from tests.test_precheck import assert_no_run, flat

pytestmark = pytest.mark.timeout(300)


def test_pin_writes_the_hash_and_a_changed_byte_is_refused_before_any_run(tmp_path: Path) -> None:
    import hashlib

    project = make_project(tmp_path)
    bench = project / "data" / "benchmark.csv"
    digest = hashlib.sha256(bench.read_bytes()).hexdigest()

    pinned = invoke("benchmark", "pin", "--project", str(project))
    again = invoke("benchmark", "pin", "--project", str(project))

    assert pinned.exit_code == 0, pinned.stderr
    assert flat(pinned.stderr) == (f'Pinned data/benchmark.csv: [data] benchmark_sha256 = "sha256:{digest}" in '
                                   f"{project / 'hokusai.toml'}")
    assert flat(again.stderr).endswith("(unchanged)")
    assert (project / "hokusai.toml").read_text().count(f'benchmark_sha256 = "sha256:{digest}"') == 1
    data = bench.read_bytes()
    bench.write_bytes(data.replace(b"0.", b"1.", 1))  # one byte
    changed = hashlib.sha256(bench.read_bytes()).hexdigest()

    result = invoke("run", "--project", str(project), "--contrib", f"data/contrib_alice.csv:{ALICE}")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        f"Error: data/benchmark.csv: its sha256 is {changed}, but [data] benchmark_sha256 pins {digest}; restore the "
        "pinned benchmark, or pin this one with `hokusai benchmark pin` (a new benchmark is a new spec).")
    assert_no_run(project)


def test_pin_needs_a_project(tmp_path: Path) -> None:
    result = invoke("benchmark", "pin", "--project", str(tmp_path))
    assert result.exit_code == 2
    assert flat(result.stderr) == f"Error: No hokusai.toml in {tmp_path}; run `hokusai init` first, or pass --project DIR."


def test_the_spec_hash_follows_what_defines_the_spec() -> None:
    from pipeline.attest.benchmark_spec import benchmark_spec, spec_sha256
    from pipeline.config import Settings
    from pipeline.modelling.task import resolve_settings

    plain = resolve_settings(Settings(), "binary")
    spec = benchmark_spec(plain, "0x" + "ab" * 32)
    assert spec["primaryMetric"] == {"name": "accuracy", "direction": "higher", "family": "proportion"}
    assert [m["name"] for m in spec["secondaryMetrics"]] == ["balanced_accuracy", "precision", "recall", "f1", "auroc",
                                                              "log_loss"]
    assert spec["secondaryMetrics"][-1]["direction"] == "lower"
    guarded = resolve_settings(Settings.model_validate(
        {"evaluation": {"guardrails": [{"metric": "f1", "threshold": 0.8}]}}), "binary")
    hashes = {spec_sha256(benchmark_spec(s, b)) for s, b in ((plain, "0x" + "ab" * 32), (guarded, "0x" + "ab" * 32),
                                                             (plain, "0x" + "cd" * 32))}
    assert len(hashes) == 3  # a guardrail or another benchmark is another spec
    assert spec_sha256(spec) == spec_sha256(benchmark_spec(plain, "0x" + "ab" * 32))


def test_the_evidence_carries_the_spec_hash(demo_runs) -> None:
    from pipeline.attest.benchmark_spec import benchmark_spec, spec_sha256
    from pipeline.runs import artifacts as a
    from pipeline.runs.runner import get_run

    run = get_run(demo_runs["project"], demo_runs["first"]["run_id"])
    evidence = run.data.attestation["evidence"]
    settings = a.settings(run.data.settings)
    assert settings.model.task == "binary"  # the run records its resolved settings
    assert evidence["benchmark"]["specSha256"] == spec_sha256(benchmark_spec(settings, evidence["benchmark"]["sha256"]))
    assert json.dumps(evidence).count("specSha256") == 1


def test_pin_keeps_the_config_permissions(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    config = project / "hokusai.toml"
    config.chmod(0o644)
    assert invoke("benchmark", "pin", "--project", str(project)).exit_code == 0
    assert config.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".hokusai.toml")) == []  # no temporary left
