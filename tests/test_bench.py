"""Smoke test of bench/run.py: the cheapest figures run end to end, the JSON holds them with
positive numbers and the table prints; every figure module is registered; the harness
(bench/harness.py) times a small process tree and renders exact cells. No timing is asserted
beyond what a process is known to spend (CI machines vary)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"
FIGURES = BENCH.parent / "figures"


@pytest.fixture
def bench_dir(monkeypatch: pytest.MonkeyPatch) -> Path:
    """bench/ on sys.path, as bench/run.py has it: `harness`, `figures` and `run` importable."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    return BENCH.parent


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


def test_every_figure_module_is_registered_with_a_docstring(bench_dir: Path, capsys: pytest.CaptureFixture) -> None:
    from figures import discover

    run = importlib.import_module("run")
    modules = sorted(p.stem for p in FIGURES.glob("*.py") if not p.name.startswith("_"))
    figures = discover()
    assert sorted(f.module.__name__.rsplit(".", 1)[1] for f in figures) == modules
    assert {"help", "dry-run", "run", "validate", "run-10m"} <= {f.name for f in figures}
    assert len({f.name for f in figures}) == len(figures)
    for figure in figures:
        assert len(figure.doc) > 80, figure.name
        assert figure.reference.strip(), figure.name
        assert isinstance(figure.order, int) and callable(figure.module.measure), figure.name
    assert [f.order for f in figures] == sorted(f.order for f in figures)
    for path in FIGURES.glob("_*.py"):  # helpers say why they are there too
        assert (importlib.import_module(f"figures.{path.stem}").__doc__ or "").strip(), path.name

    with pytest.raises(SystemExit):
        run.parse(["--help"])
    text = capsys.readouterr().out
    for figure in figures:
        assert f"[{figure.name}]" in text and figure.name in text.split("--only")[-1], figure.name


def test_plan_resolves_only_names_and_sizes(bench_dir: Path) -> None:
    run = importlib.import_module("run")

    def plan(*argv: str) -> list[str]:
        return [f.entry(n) for f, n in run.selected(run.parse(list(argv)))]

    assert plan() == ["help", "dry-run", "run-100k", "run-1M", "validate-1M"]  # run-10m only on request
    assert plan("--quick") == ["help", "dry-run", "run-20k", "validate-20k"]
    assert plan("--only", "validate,help", "--rows", "2000") == ["help", "validate-2k"]
    assert plan("--only", "run-50k") == ["run-50k"]
    assert plan("--only", "run-10m") == ["run-10m"]
    assert plan("--only", "run-10m", "--rows", "2000") == ["run-10m@2k"]
    with pytest.raises(SystemExit, match="unknown figure.*run-lots"):
        plan("--only", "run-lots")


def test_measure_times_the_whole_process_tree(bench_dir: Path, tmp_path: Path) -> None:
    harness = importlib.import_module("harness")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    # the child's command line names a step, as a Metaflow task's does (`... step NAME --run-id ...`)
    parent = (f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}, 'step', 'fit_model'], "
              "check=True); print('done')")
    sample = harness.measure([sys.executable, "-c", parent], tmp_path, log="tiny")
    assert sample.returncode == 0 and (tmp_path / "tiny.out").read_text() == "done\n"
    assert sample.cpu_s >= 0.3 and sample.cpu_s == pytest.approx(sample.cpu_user_s + sample.cpu_sys_s)
    assert sample.wall_s >= 0.3  # 0.3 s of one thread's CPU takes at least that long
    assert sample.max_procs >= 2 and sample.peak_rss_tree_mb > 0 and sample.max_rss_single_mb > 0
    assert sample.extra["ended_epoch"] - sample.extra["started_epoch"] == pytest.approx(sample.wall_s)
    by_step = sample.extra["step_peak_rss_mb"]  # each step's processes, and the rest
    assert set(by_step) == {"(launcher)", "fit_model"} and all(mb > 1 for mb in by_step.values())
    assert harness.step_of(["python", "flow.py", "--quiet", "step", "train_new_model", "--run-id", "1"]) == \
        "train_new_model"
    assert harness.step_of(["python", "-m", "hokusai_cli", "run"]) == "(launcher)"
    assert harness.step_of(["python", "x.py", "step"]) == "(launcher)"

    with pytest.raises(RuntimeError, match=r"exited 3 in .*:\nboom$"):  # the stderr tail
        harness.measure([sys.executable, "-c", "import sys; sys.stderr.write('bo' + 'om'); sys.exit(3)"], tmp_path)

    summary = harness.summarise([harness.Sample(w, 1, 0, 1, 10 * w, 5, 1, 0) for w in (3.0, 1.0, 2.0)])
    assert summary["median"]["wall_s"] == 2.0 and summary["median"]["peak_rss_tree_mb"] == 20.0
    assert len(summary["samples"]) == 3

    done = subprocess.run(harness.child("harness:say", "from a child"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "from a child\n" and done.stdout == ""


def test_ratios_and_table_cells(bench_dir: Path, tmp_path: Path) -> None:
    harness = importlib.import_module("harness")
    bench = harness.Bench(SimpleNamespace(keep=False, repeat=1), tmp_path)
    ratio = bench.wall_figure("w", "`x` wall", {"wall_s": 3.0, "cpu_s": 2.0}, {"wall_s": 2.0, "cpu_s": 4.0}, 1.5)
    assert ratio == 1.5
    bench.wall_figure("c", "`x` wall, big", {"wall_s": 9.0, "cpu_s": 9.0}, {"wall_s": 2.0, "cpu_s": 3.0}, None,
                      target="completes", met=True)
    bench.figure("rss", "`x` peak RSS", 1842.4, 1229.0, "MB", 1842.4 / 1229.0, "(1M: <= 1.5x)", None)
    bench.figure("v", "validation", 104174.2, 1114169.0, "rows/s", 0.0935, ">= 0.5x", False)
    assert [f["met"] for f in bench.figures] == [True, True, None, False]
    assert bench.figures[0]["cpu_ratio"] == 0.5 and bench.figures[1]["ratio"] == 4.5

    assert harness.cells(bench.figures[3]) == (
        "validation", "104,174 rows/s", "1,114,169 rows/s", "0.09x", ">= 0.5x", "NO", "-")
    assert harness.markdown(bench.figures) == "\n".join([
        "| figure | measured | reference | ratio | target | met? | CPU ratio |",
        "|---|---|---|---|---|---|---|",
        "| `x` wall | 3.00 s | 2.00 s | 1.50x | <= 1.5x | yes | 0.50x |",
        "| `x` wall, big | 9.00 s | 2.00 s | 4.50x | completes | yes | 3.00x |",
        "| `x` peak RSS | 1,842 MB | 1,229 MB | 1.50x | (1M: <= 1.5x) | - | - |",
        "| validation | 104,174 rows/s | 1,114,169 rows/s | 0.09x | >= 0.5x | no | - |",
    ])
    assert [harness.label(n) for n in (20_000, 1_000_000, 10_000_000, 2500)] == ["20k", "1M", "10M", "2500"]
