"""Smoke test of bench/run.py: the cheapest figures run end to end, the JSON holds them with
positive numbers and the table prints. No timing is asserted (CI machines vary)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"


@pytest.mark.timeout(300)
def test_quick_bench_writes_figures_and_prints_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--repeat", "1", "--only", "help,validate", "--rows", "2000",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads(out.read_text())
    figures = {f["id"]: f for f in report["figures"]}
    assert set(figures) == {"help", "validate"}
    for figure in figures.values():
        for key in ("measured", "reference", "ratio"):
            assert figure[key] > 0, (figure["id"], key)
        assert figure["met"] in (True, False)
    for name, entry in report["measurements"].items():
        median = entry["median"]
        assert median["wall_s"] > 0 and median["cpu_s"] > 0 and median["peak_rss_tree_mb"] > 0, name
        assert len(entry["samples"]) >= 1
    assert report["measurements"]["validate: load_contribution + integrate_contributions"]["rows_per_s"] > 0
    assert report["machine"]["nproc"] >= 1 and report["machine"]["versions"]["metaflow"]

    for text in ("figure", "measured", "reference", "ratio", "target", "hokusai --help", "validation + hashing"):
        assert text in done.stdout, text


def test_only_rejects_an_unknown_figure() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--only", "nonsense"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "unknown figure" in done.stderr
