"""Wall time of `hokusai --help` and `hokusai dry-run`, median of several runs, each with a
reference measured in the same run: `python -c pass` for start-up, a bare nine-step
Metaflow flow for the dry-run. Prints a table; `--json` for machines.

    python bench/dry_run.py [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str], cwd: str) -> float:
    env = {**os.environ, "METAFLOW_USER": os.environ.get("METAFLOW_USER", "bench")}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_of(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(timed(cmd, tmp))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    hokusai = [sys.executable, "-m", "hokusai_cli"]
    rows = {
        "python -c pass": median_of([sys.executable, "-c", "pass"], max(args.runs, 5)),
        "hokusai --help": median_of([*hokusai, "--help"], max(args.runs, 5)),
        "bare 9-step flow": median_of([sys.executable, str(HERE / "bare_flow.py"), "--quiet", "run"], args.runs),
        "hokusai dry-run": median_of([*hokusai, "dry-run"], args.runs),
    }
    ratios = {
        "help / python": rows["hokusai --help"] / rows["python -c pass"],
        "dry-run / bare flow": rows["hokusai dry-run"] / rows["bare 9-step flow"],
    }
    if args.json:
        print(json.dumps({"seconds": rows, "ratios": ratios}, indent=2))
        return
    for name, seconds in rows.items():
        print(f"{name:22s} {seconds:8.2f} s (median of {max(args.runs, 5) if 'flow' not in name and 'dry' not in name else args.runs})")
    for name, ratio in ratios.items():
        print(f"{name:22s} {ratio:8.2f} x")


if __name__ == "__main__":
    main()
