"""``hokusai dry-run`` wall vs bench/bare_flow.py (a nine-step Metaflow flow that does nothing)
launched the same way: a parent Python process driving ``metaflow.Runner`` with
``pylint=False``, local datastore and metadata in the temp folder.

The bare flow is the floor of any nine-step flow on this machine; what a dry-run costs above
it is hokusai's own. Each repeat makes a fresh empty folder and runs the dry-run twice:
"first run" creates the ``.metaflow`` store and the MLflow SQLite store
(``.hokusai/mlflow.db``, created and migrated once per project); "warm" is the second run in
the same folder.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from harness import HERE, Bench, child, hokusai_cmd, load, say

NAME = "dry-run"
REFERENCE = "bench/bare_flow.py (nine steps that do nothing) through metaflow.Runner(pylint=False)"
ORDER = 20
BARE_FLOW = HERE / "bare_flow.py"


def bare_runner() -> None:
    """The reference, in a child process: bench/bare_flow.py through metaflow.Runner, from the cwd."""
    from metaflow import Runner

    cwd = os.getcwd()
    env = {**os.environ, "METAFLOW_DEFAULT_DATASTORE": "local", "METAFLOW_DEFAULT_METADATA": "local",
           "METAFLOW_DATASTORE_SYSROOT_LOCAL": cwd}
    with Runner(str(BARE_FLOW), show_output=False, pylint=False, cwd=cwd, env=env) as runner:
        result = runner.run()
        if result.status != "successful":
            sys.exit(f"bare flow {result.status}: {result.stderr[-2000:]}")


def measure(bench: Bench, rows: Any) -> None:
    repeat = bench.args.repeat
    cold, warm, refs = [], [], []
    for i in range(repeat):
        folder = bench.folder(f"dry-run-reference-{i}")
        sample = bench.measure(child(f"{__name__}:bare_runner"), folder, None, "bare")
        refs.append(sample)
        say(f"  dry-run reference (bare flow) {i + 1}/{repeat}: {sample.wall_s:.2f} s wall, "
            f"{sample.cpu_s:.2f} s CPU (load {load()[0]})")
        bench.done_with(folder)
        folder = bench.folder(f"dry-run-hokusai-{i}")
        for label, bucket in (("first", cold), ("warm", warm)):
            sample = bench.measure(hokusai_cmd() + ["dry-run", "--project", ".", "--json"], folder, None, f"dry-{label}")
            bench.steps(folder, sample)
            bucket.append(sample)
            say(f"  dry-run hokusai ({label}) {i + 1}/{repeat}: {sample.wall_s:.2f} s wall, "
                f"{sample.cpu_s:.2f} s CPU (load {load()[0]})")
        bench.done_with(folder)
    r = bench.record("dry-run: bare nine-step flow via Runner", refs, cmd="Runner(bench/bare_flow.py).run()")
    for label, bucket in (("first run, fresh folder", cold), ("warm, second run in the folder", warm)):
        m = bench.record(f"dry-run: hokusai dry-run ({label})", bucket, cmd="hokusai dry-run",
                         step_median_s=bench.step_medians(bucket), phase_median_s=bench.step_medians(bucket, "phases"),
                         step_peak_rss_mb=bench.step_medians(bucket, "step_peak_rss_mb"))
        bench.wall_figure(f"dry-run-{label.split(',')[0].split(' ')[0]}", f"`hokusai dry-run` wall ({label})", m, r,
                          3, "vs bare 9-step flow via Runner")

