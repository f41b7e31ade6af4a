"""README.md's tour shows real output: the same commands are run here (init, validate, run) and
the README's quoted hashes, scores, verdict and contributor rows must be what they print."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def hokusai(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_")} | {"COLUMNS": "100"}
    return subprocess.run([sys.executable, "-c", "from hokusai_cli.app import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.timeout(900)
def test_the_tour_quotes_what_the_commands_print(tmp_path):
    assert hokusai("init", "demo", cwd=tmp_path).returncode == 0
    project = tmp_path / "demo"
    checked = hokusai("validate", "data/contrib_alice.csv", cwd=project)
    assert checked.returncode == 0, checked.stderr[-2000:]
    for line in ("content sha256 0x1d39bfa5c290c9b89d9578521b2333482b1eaf8552dbd36ece8e4ebcbc3f60f2",
                 "Valid: 180 of 180 rows would be used."):
        assert line in checked.stderr + checked.stdout and line in README
    done = hokusai("run", "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}",
                   "--json", cwd=project)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert f"Attestation hash: {summary['attestation_hash']}" in README
    shown = squeeze(done.stderr)
    for line in ("DeltaOne 7.00 pp (700 bps) on accuracy: gate passed",
                 "delta_bps >= min_improvement_bps: 700 vs 100 ok", "ci_low_bps > 0: 350 vs 0 ok",
                 f"│ {ALICE} │ 180 │ 275.00 bps │ 50.00 bps │ 3929 bps │",
                 f"│ {BOB} │ 169 │ 425.00 bps │ 200.00 bps │ 6071 bps │",
                 "│ accuracy * │ 0.9100 │ 0.9800 │ +700 bps │ [+350, +1150] │"):
        assert line in shown, line
        assert line in squeeze(README), line


def test_the_readme_links_every_document():
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)\)", README))
    assert linked == {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert all((ROOT / path).is_file() for path in linked)
