"""Every figure of the performance targets (issues 11 and 22) as a ratio to a reference measured
in the same run.

    python bench/run.py [--quick] [--repeat N] [--only NAME[,NAME]] [--out FILE.json]
                        [--rows N] [--markdown] [--keep] [--cache DIR]
    python bench/run.py --profile [--out FILE.json] [--keep]     # import profile of a dry-run

This file only reads the options, picks the figures and writes the report. The measuring is
bench/harness.py; each figure is one module of bench/figures/, found there when this runs, so
adding a figure is adding a file (the contract is in bench/figures/__init__.py).

``--quick`` (what CI runs): 20k rows for the run and validation figures (one run figure,
"run-20k", instead of 100k and 1M) and 1 repeat, unless ``--repeat`` is given. ``--rows N``
sets every row count to N (tests; ``--only run-10m --rows N`` tries the 10M figure small).

Each sample runs one command in a fresh temp folder, measured and reference interleaved
(reference first), and the median of ``--repeat`` (default 3; ``help`` takes at least 5
because it is short and noisy) is reported for each quantity separately.

For every `hokusai` run the JSON also holds each step's duration and where the rest of the
wall went (``phases``: launch -> first task start, between steps, last step end -> exit), read
back with ``hokusai inspect --json`` after the clock stops.

Output: a table on stdout and JSON (default bench/results/latest.json, ignored by git).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # harness and figures, also when imported

# re-exported: bench/attribution.py imports these from here
from harness import HERE, Bench, base_env, hokusai_cmd, label, load, machine, markdown, measure, say, table  # noqa: E402

__all__ = ["Bench", "base_env", "hokusai_cmd", "label", "load", "machine", "main", "markdown", "measure", "say",
           "selected", "table"]

#: The hidden options that ran a child process before figures had modules: kept as aliases of ``--call``.
ALIASES = {"--bare-runner": "figures.dry_run:bare_runner", "--plain-sklearn": "figures.run:plain_sklearn",
           "--make-contrib": "figures.run:make_contrib"}


def call(argv: list[str]) -> bool:
    """``--call module:function ARG...`` (harness.child): run it in this fresh process, nothing else
    imported. False when `argv` asks for something else."""
    if not argv or (argv[0] != "--call" and argv[0] not in ALIASES):
        return False
    import importlib

    target, args = (argv[1], argv[2:]) if argv[0] == "--call" else (ALIASES[argv[0]], argv[1:])
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)(*args)
    return True


def parse(argv: list[str] | None = None, figures: list[Any] | None = None) -> Any:
    import argparse
    import re

    import harness
    from figures import _import_profile, discover

    figures = discover() if figures is None else figures
    description = "\n\n".join([
        __doc__.strip(),
        "Figures (``--only`` names in brackets):",
        *(f"[{f.name}]  " + re.sub(r"\n(?=.)", "\n    ", f.doc) for f in figures),
        harness.__doc__[harness.__doc__.index("How the process tree"):].strip(),
        "``--profile``: " + _import_profile.__doc__.split("\n\n", 1)[1].strip(),
    ])
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20k rows, 1 repeat (CI smoke test)")
    p.add_argument("--repeat", type=int, default=None, help="samples per figure, median reported (default 3; "
                                                              "--quick: 1)")
    p.add_argument("--only", default="", help=f"comma-separated figures: {', '.join(f.name for f in figures)} "
                                              "(run: every size; run-100k, run-1m, run-20k: one size)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "latest.json", help="JSON output file")
    p.add_argument("--rows", type=int, default=None, help="row count for every run and validation figure")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temp folders (their path is printed)")
    p.add_argument("--profile", action="store_true",
                   help="instead of the figures: one dry-run with PYTHONPROFILEIMPORTTIME=1, per-step import "
                        "profile (table; JSON to --out, default bench/results/profile.json)")
    for figure in figures:
        figure.options(p)
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def selected(args: Any, figures: list[Any] | None = None) -> list[tuple[Any, int | None]]:
    """[(figure, rows)] in the order they run: cheap first. Without ``--only``, every figure
    in the default plan at its sizes; a name gives that figure at its sizes; another word goes
    to the figures' ``parse`` (``run-50k``)."""
    from figures import discover

    figures = discover() if figures is None else figures
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    if not wanted:
        return [(f, n) for f in figures if f.default for n in f.sizes(args)]
    by_name = {f.name.lower(): f for f in figures}
    chosen: list[tuple[Any, int | None]] = []
    bad = []
    for word in wanted:
        if word.lower() in by_name:
            figure = by_name[word.lower()]
            chosen += [(figure, n) for n in figure.sizes(args)]
            continue
        hits = [(f, n) for f in figures if (n := f.parse(word)) is not None]
        if hits:
            chosen.append(hits[0])
        else:
            bad.append(word)
    if bad:
        raise SystemExit(f"--only: unknown figure(s) {', '.join(sorted(bad))}; use "
                         f"{', '.join(f.name for f in figures)} or run-<rows>")
    unique = {(f.name, n): (f, n) for f, n in chosen}
    return sorted(unique.values(), key=lambda fn: (fn[0].order, fn[1] or 0))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if call(argv):
        return
    import json
    import shutil
    import tempfile
    import time

    from figures import discover

    figures = discover()
    args = parse(argv, figures)
    if args.profile:
        from figures._import_profile import profile

        profile(args)
        return
    plan = selected(args, figures)
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="hokusai-bench-"))
    say(f"bench: {', '.join(f.entry(n) for f, n in plan)}; repeat {args.repeat}; temp {tmp}; load {load()}")
    bench = Bench(args, tmp)
    try:
        for figure, rows in plan:
            name = figure.entry(rows)
            say(f"{name}:")
            before, t0 = load(), time.perf_counter()
            figure.measure(bench, rows)
            bench.loads[name] = {"before": before, "after": load(), "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "total_s": round(time.time() - started, 1),
        "args": {"quick": args.quick, "repeat": args.repeat, "only": args.only, "rows": args.rows},
        "machine": machine(),
        "load_average": bench.loads,
        "figures": bench.figures,
        "measurements": bench.measurements,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table(bench.figures)
    if args.markdown:
        print(markdown(bench.figures))
    print(f"JSON: {args.out}  ({report['total_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
