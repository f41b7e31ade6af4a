"""``hokusai run`` on 10M contributed rows x 32 columns (~6 GB CSV) vs the plain pandas +
scikit-learn script the other run figures use (``figures.run:plain_sklearn``).

Issue 22's scale target: the run completes on one machine, and the peak RSS of its process
tree stays within 1.5x the plain script's (or a streaming design states its ceiling). The file
is the run figures' rows (breast-cancer features with noise, full precision) plus
bench/validate.py's free-text ``comment`` column, which hokusai's PII scan reads and then
drops, as the script does: 30 features, the label and the comment, ~600 bytes a row.

The file is built on first use, in a child process, and cached: ``--cache DIR``, else
``$HOKUSAI_BENCH_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/hokusai-bench``. Its name holds
the rows, the seed, a digest of the example's header and the generator version, so a change
of any of them builds a new file; it is written under a temporary name and renamed, so an
interrupted build is never used. Delete the folder to free the disk.

Not in the default plan (~5 min on 2 cores once the file is built, ~6 GB of disk):
``--only run-10m``. ``--rows N`` runs it at N rows instead, to try it quickly (``--quick`` alone does not shrink it). That is
its own cached file, its rows are named ``run-10m@<N>``, and the RSS target is judged at 10M
only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import TIMEOUT, Bench, base_env, child, label, say
from figures import run

NAME = "run-10m"
REFERENCE = "the run figures' plain pandas + scikit-learn script (figures.run:plain_sklearn), same file"
ORDER = 50
DEFAULT = False
ROWS = 10_000_000
SEED = 13
VERSION = 1  # of the file's definition: bump when make_contrib's output changes
BYTES_PER_ROW = 650  # a little above what it writes (599), for the free-space check


def options(parser: Any) -> None:
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="run-10m: folder of its generated file (default $HOKUSAI_BENCH_CACHE, else "
                             "${XDG_CACHE_HOME:-~/.cache}/hokusai-bench)")


def sizes(args: Any) -> list[int]:
    return [args.rows or ROWS]


def entry(rows: int) -> str:
    return NAME if rows == ROWS else f"{NAME}@{label(rows)}"


def cache_dir(args: Any) -> Path:
    chosen = getattr(args, "cache", None) or os.environ.get("HOKUSAI_BENCH_CACHE")
    if chosen:
        return Path(chosen).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "hokusai-bench"


def cached_file(bench: Bench, rows: int) -> tuple[Path, bool]:
    """The generated file for `rows`, built now if it is not in the cache; (path, was cached)."""
    header_of = run.template(bench) / "data" / "base.csv"
    header = header_of.read_text().splitlines()[0]
    digest = hashlib.sha256(header.encode()).hexdigest()[:10]
    folder = cache_dir(bench.args)
    path = folder / f"contrib-{rows}x32-seed{SEED}-{digest}-v{VERSION}.csv"
    if path.exists():
        say(f"  cached {path} ({path.stat().st_size / 1e9:.2f} GB)")
        return path, True
    folder.mkdir(parents=True, exist_ok=True)
    need, free = rows * BYTES_PER_ROW, shutil.disk_usage(folder).free
    if free < need * 1.1:
        raise SystemExit(f"run-10m: {rows} rows need ~{need / 1e9:.1f} GB in {folder}, {free / 1e9:.1f} GB free; "
                         "free some or choose another folder with --cache")
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    say(f"  building {path} ({rows} rows, ~{need / 1e9:.1f} GB; once)")
    start = time.perf_counter()
    try:
        subprocess.run(child("figures.run:make_contrib", partial, rows, header_of, SEED, "comment"), check=True,
                       env=base_env())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    say(f"  generated {rows} rows x 32 columns ({path.stat().st_size / 1e6:.0f} MB) "
        f"in {time.perf_counter() - start:.1f} s")
    return path, False


def measure(bench: Bench, rows: int) -> None:
    path, cached = cached_file(bench, rows)
    full = rows >= ROWS
    run.compare(bench, entry(rows), path, rows, f"{label(rows)} rows", None, columns_text=" x 32 cols",
                wall_target="completes", rss_limit=1.5 if full else None,
                rss_target="<= 1.5x" if full else f"({label(ROWS)}: <= 1.5x)", timeout=2 * TIMEOUT,
                info={"csv": str(path), "cached": cached, "columns": 32})
