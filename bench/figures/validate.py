"""Validation + hashing throughput (1M rows x 32 columns; ``--quick``: 20k): bench/validate.py's
own file (30 features, the label, a free-text column) and its worker, i.e. the pipeline's
``load_contribution`` + ``integrate_contributions`` path, vs ``pandas.read_csv`` of the same
file; rows/s timed inside the worker after imports (as bench/validate.py reports it), each
worker in a fresh process.

Reading a CSV is the least any tool does with a contributed file; the ratio says what checking
it (PII scan, types, duplicates, content hash) costs on top.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from harness import HERE, ROOT, Bench, base_env, label, load, say

NAME = "validate"
REFERENCE = "pandas.read_csv of the same file, in the same worker (bench/validate.py)"
ORDER = 40
VALIDATE = HERE / "validate.py"


def sizes(args: Any) -> list[int]:
    return [args.rows or (20_000 if args.quick else 1_000_000)]


def measure(bench: Bench, rows: int) -> None:
    path = bench.tmp / f"validate-{rows}.csv"
    start = time.perf_counter()
    subprocess.run([sys.executable, str(VALIDATE), "--make", str(path), str(rows)], check=True, env=base_env(),
                   cwd=ROOT)
    say(f"  generated {rows} rows x 32 columns ({path.stat().st_size / 1e6:.0f} MB) "
        f"in {time.perf_counter() - start:.1f} s")
    subs, refs = [], []
    for i in range(bench.args.repeat):
        for kind, bucket in (("reference", refs), ("hokusai", subs)):
            folder = bench.folder(f"validate-{kind}-{i}")
            env = {**base_env(), "PYTHONPATH": str(ROOT)}
            sample = bench.measure([sys.executable, str(VALIDATE), "--worker", kind, str(path)], folder, env, kind)
            inner = json.loads((folder / f"{kind}.out").read_text().strip().splitlines()[-1])
            sample.extra.update(inner)
            bucket.append(sample)
            say(f"  validate {kind} {i + 1}/{bench.args.repeat}: {inner['seconds']:.2f} s timed "
                f"({rows / inner['seconds']:,.0f} rows/s), {sample.wall_s:.2f} s process wall (load {load()[0]})")
            bench.done_with(folder)
    size = path.stat().st_size / 1e6
    path.unlink()
    ms, rs = (statistics.median(s.extra["seconds"] for s in b) for b in (subs, refs))
    bench.record("validate: load_contribution + integrate_contributions", subs, rows=rows, csv_mb=size,
                 timed_s=ms, rows_per_s=rows / ms,
                 stages_median_s={k: statistics.median(s.extra["stages"][k] for s in subs)
                                  for k in subs[0].extra["stages"]})
    bench.record("validate: pandas.read_csv", refs, rows=rows, csv_mb=size, timed_s=rs, rows_per_s=rows / rs)
    ratio = rs / ms
    bench.figure("validate", f"validation + hashing, {label(rows)} rows x 32 cols ({size:.0f} MB)", rows / ms,
                 rows / rs, "rows/s", ratio, ">= 0.5x", ratio >= 0.5, None,
                 "throughput vs pandas.read_csv (ratio = hokusai rows/s / read_csv rows/s)")
