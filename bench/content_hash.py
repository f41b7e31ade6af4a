"""Content hash throughput: `hokusai.content/v2` (one sha256 per row) vs `hokusai.content/v3`
(vectorised, `pipeline/data/content_hash.py`) vs plain `pandas.read_csv` of the same file.

Generated tables of 100k and 1M rows x 32 columns (20 floats, 4 floats with gaps, 4 integers,
4 text columns: a low-cardinality one with gaps, a city name with accents, a 10k-value name,
a near-unique free-text note), written once as CSV in a temporary folder and read back with
`pandas.read_csv` (so every hash sees the frame a run would). Each figure is the median of
`--runs` runs in this process (after one warm-up of v3); "rows/s" is rows over seconds and
"x read_csv" is that throughput over read_csv's (higher is faster; the hash of a frame
already read: the work `hokusai validate` adds on top of the parse).

    python bench/content_hash.py [--rows 100000 1000000] [--runs 5] [--skip-v2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CITIES = ["Zürich", "Malmö", "São Paulo", "Kraków", "Reykjavík", "Łódź", "Québec", "Tromsø", "Köln", "Oslo",
          "Ñuñoa", "İzmir", "東京", "Αθήνα", "Москва", "Lima"]


def make_frame(rows: int, seed: int = 22) -> object:
    """`rows` x 32: 28 numeric columns (some with gaps) and 4 text columns."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(20):
        columns[f"f{i:02d}"] = np.round(rng.normal(0, 10 ** (i % 4), rows), 6)
    for i in range(4):
        values = np.round(rng.random(rows) * 100, 3)
        values[rng.random(rows) < 0.05] = np.nan
        columns[f"g{i}"] = values
    for i in range(4):
        columns[f"n{i}"] = rng.integers(-1000, 1000 * (i + 1), rows)
    grade = rng.choice(np.array(["A", "B", "C", "D", "E"], dtype=object), rows)
    grade[rng.random(rows) < 0.1] = None
    columns["grade"] = grade
    columns["city"] = rng.choice(np.array(CITIES, dtype=object), rows)
    columns["name"] = np.array([f"person {i} Ærø" for i in range(10_000)], dtype=object)[rng.integers(0, 10_000, rows)]
    columns["note"] = np.array([f"visit {i}, batch {i % 97}" for i in rng.integers(0, rows * 4, rows)], dtype=object)
    return pd.DataFrame(columns)


def timed(fn, runs: int) -> tuple[tuple[float, float], object]:
    """(median wall seconds, median CPU seconds of this process) over `runs` calls, and the result."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return (statistics.median(walls), statistics.median(cpus)), result


def measure(rows: int, runs: int, skip_v2: bool, folder: Path) -> dict[str, object]:
    import pandas as pd

    from pipeline.data.content_hash import canonical_order, content_sha256, content_sha256_v2

    path = folder / f"table_{rows}.csv"
    make_frame(rows).to_csv(path, index=False)
    read, frame = timed(lambda: pd.read_csv(path), runs)
    content_sha256(frame)  # warm-up: imports (pyarrow) are not the hash's cost
    out: dict[str, object] = {"rows": rows, "MB": path.stat().st_size / 1e6, "read_csv": read}
    out["v3"], _ = timed(lambda: content_sha256(frame), runs)
    out["v3 order"], _ = timed(lambda: canonical_order(frame), runs)
    if not skip_v2:
        out["v2"], _ = timed(lambda: content_sha256_v2(frame), runs)
    return out


def table(results: list[dict[str, object]], runs: int) -> str:
    lines = [
        "| rows x 32 cols (CSV MB) | read_csv s | v2 s | v3 s (of it: order) | v2 x read_csv | v3 x read_csv "
        "| v3 speed-up over v2 | read+v3 x read_csv |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        (read, read_cpu), (v3, v3_cpu), order = r["read_csv"], r["v3"], r["v3 order"][0]
        v2, v2_cpu = r.get("v2") or (None, None)
        lines.append(
            f"| {r['rows']:,} ({r['MB']:.0f}) | {read:.2f} (cpu {read_cpu:.2f}) "
            f"| {f'{v2:.2f} (cpu {v2_cpu:.2f})' if v2 else '-'} | {v3:.2f} ({order:.2f}) (cpu {v3_cpu:.2f}) "
            f"| {f'{read / v2:.2f}x' if v2 else '-'} | {read / v3:.2f}x "
            f"| {f'{v2 / v3:.1f}x (cpu {v2_cpu / v3_cpu:.1f}x)' if v2 else '-'} | {read / (read + v3):.2f}x |"
        )
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines.append("")
    lines.append(f"Median of {runs} runs, wall seconds (CPU seconds of this process beside them). `x read_csv` = "
                 "throughput relative to pandas.read_csv of the same file (higher is faster). Load average at the "
                 f"end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} CPUs.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-v2", action="store_true", help="v3 and read_csv only (v2 takes ~10 s per 1M rows)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hokusai-content-hash-") as folder:
        results = [measure(rows, args.runs, args.skip_v2, Path(folder)) for rows in args.rows]
    print(table(results, args.runs))


if __name__ == "__main__":
    main()
