"""Rows per second and peak memory of contributed-data validation + hashing, on a generated
CSV (default 1 million rows: the demo's 30 features, the label, and one free-text column),
with a reference measured in the same run: plain `pandas.read_csv` of the same file.

Each measurement runs in a fresh process (so peak RSS is its own); the median of `--runs`
is reported. "hokusai" is what a run does to a contributed file: `load_contribution` (file
sha256, encoding and delimiter sniffing, parsing, PII scan of every column, extra columns
dropped) then `integrate_contributions` (columns, types, labels, invalid rows, minimum rows,
benchmark contamination, duplicates against the base and within the file, content sha256,
manifest), against the bundled demo base and benchmark.

    python bench/validate.py [--rows 1000000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "pipeline" / "fixtures"
WORDS = ["fine", "checked twice", "batch 7", "lab B", "repeat visit", "ok", "sample 1042", "n/a", "rechecked",
         "site 12, room 3", "v2 scanner"]


def make_file(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` distinct rows shaped like the demo: features drawn around the demo's rows."""
    import numpy as np
    import pandas as pd

    base = pd.read_csv(FIXTURES / "contrib_alice.csv")
    features = [c for c in base.columns if c != "target"]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(base), rows)
    values = base[features].to_numpy()[picks] * rng.normal(1.0, 0.05, (rows, len(features)))
    frame = pd.DataFrame(values.round(6), columns=features)
    frame["target"] = base["target"].to_numpy()[picks]
    comments = np.asarray(WORDS, dtype=object)[rng.integers(0, len(WORDS), rows)]
    distinct = rng.random(rows) < 0.2  # a fifth of the comments are distinct: the PII scan sees them all
    comments[distinct] = [f"note {i} of batch" for i in np.flatnonzero(distinct)]
    frame["comment"] = comments
    frame.to_csv(path, index=False)


def worker(kind: str, path: str) -> None:
    """One measurement in this (fresh) process; prints JSON."""
    import resource

    import pandas as pd

    from pipeline.config import DataSection
    from pipeline.data.conform import conform
    from pipeline.data.contributions import ContributionFile, integrate_contributions, load_contribution
    from pipeline.data.tables import Schema, read_table

    # everything imported and the demo tables read before the clock and the memory baseline
    base_raw = read_table("base.csv", (FIXTURES / "base.csv").read_bytes())
    schema = Schema(tuple(c for c in base_raw.columns if c != "target"), "target")
    base = conform(base_raw, schema, "base.csv", None)
    benchmark = conform(read_table("benchmark.csv", (FIXTURES / "benchmark.csv").read_bytes()), schema,
                        "benchmark.csv", [0, 1])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages: dict[str, float] = {}
    start = time.perf_counter()
    if kind == "reference":
        rows = len(pd.read_csv(path))
    else:
        data = Path(path).read_bytes()
        stages["read bytes"] = time.perf_counter() - start
        loaded = load_contribution(ContributionFile(Path(path).name, data, None), DataSection(), schema.columns)
        del data
        stages["load (hash, sniff, parse, PII, columns)"] = time.perf_counter() - start - sum(stages.values())
        result = integrate_contributions(base, benchmark, [loaded], schema, [0, 1])
        result.manifest()
        stages["integrate (validate, dedupe, content hash)"] = time.perf_counter() - start - sum(stages.values())
        rows = result.contributions[0].rows_in
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak / 1024,
                      "peak_rss_increase_mb": (peak - before) / 1024, "stages": stages}))


def measure(kind: str, path: Path, runs: int) -> dict:
    results = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, __file__, "--worker", kind, str(path)],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    seconds = statistics.median(r["seconds"] for r in results)
    stages = {k: statistics.median(r["stages"][k] for r in results) for k in results[0]["stages"]}
    return {"rows": results[0]["rows"], "seconds": seconds, "rows_per_second": results[0]["rows"] / seconds,
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
            "peak_rss_increase_mb": statistics.median(r["peak_rss_increase_mb"] for r in results),
            "stages": stages, "runs": [r["seconds"] for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, metavar=("FILE", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_file(Path(args.make[0]), int(args.make[1]))
        return
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contribution.csv"
        # in a child process: the parent stays small, and a child's peak RSS (which Linux
        # carries across fork + exec) starts from a small parent
        subprocess.run([sys.executable, __file__, "--make", str(path), str(args.rows)], check=True)
        size_mb = path.stat().st_size / 1e6
        results = {"reference: pandas.read_csv": measure("reference", path, args.runs),
                   "hokusai: load + integrate": measure("hokusai", path, args.runs)}
    ratio = results["hokusai: load + integrate"]["seconds"] / results["reference: pandas.read_csv"]["seconds"]
    if args.json:
        print(json.dumps({"file_mb": size_mb, "results": results, "hokusai_over_read_csv": ratio}, indent=2))
        return
    print(f"{args.rows} rows, 32 columns, {size_mb:.0f} MB CSV; median of {args.runs} runs, each in a fresh process")
    for name, r in results.items():
        print(f"{name:28s} {r['seconds']:7.2f} s  {r['rows_per_second']:>10,.0f} rows/s  "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB (+{r['peak_rss_increase_mb']:.0f} MB)")
        for stage, seconds in r["stages"].items():
            print(f"    {stage:44s} {seconds:6.2f} s")
    print(f"hokusai / read_csv: {ratio:.2f} x")


if __name__ == "__main__":
    main()
