"""Attribution of 50 contributors through `hokusai run`: in-process vs fanned out on Metaflow.

    python bench/attribution.py [--repeat N] [--budget N] [--markdown] [--out FILE.json]

The project is the 50-contributor batch of tests/scoring/test_attribution_scale.py (generated
with scikit-learn's make_classification: 44 genuine files, four with 60 flipped labels, two
duplicating others), one file per contributor, `[evaluation] attribution_budget` retrainings
of Monte-Carlo Shapley. Each repeat runs, in fresh folders, interleaved:

- in-process: `HOKUSAI_EVALUATION__ATTRIBUTION_FAN_OUT=never` (every retraining inside
  `train_new_model`);
- fanned out: `...=always` with `--max-workers 2` (the `retrain_coalitions` foreach).

Reported: median wall and CPU of the process tree (bench/run.py's `measure`), the ratio
fanned-out / in-process, the load average, and a check that both runs gave the same
attestation hash (the fan-out replays the same plan, so it must). No assertion on time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from run import base_env, hokusai_cmd, load, measure, say  # noqa: E402


def make_project(folder: Path, budget: int) -> list[str]:
    """The 50-contributor project; returns the --contrib arguments."""
    from tests.scoring.test_attribution_scale import fifty_contributors

    _, base, bench, parts, wallets = fifty_contributors()
    data = folder / "data"
    data.mkdir(parents=True)
    base.to_csv(data / "base.csv", index=False)
    bench.to_csv(data / "benchmark.csv", index=False)
    args = []
    for i, (part, wallet) in enumerate(zip(parts, wallets)):
        part.to_csv(data / f"c{i:02d}.csv", index=False)
        args += ["--contrib", f"data/c{i:02d}.csv:{wallet}"]
    (folder / "hokusai.toml").write_text(
        '[model]\ntarget = "target"\n\n[data]\nbase = "data/base.csv"\nbenchmark = "data/benchmark.csv"\n\n'
        f"[evaluation]\nattribution_budget = {budget}\nattribution_target_se_bps = 5\n")
    return args


def one(mode: str, budget: int, workdir: Path) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir))
    contribs = make_project(folder, budget)
    env = {**base_env(), "HOKUSAI_EVALUATION__ATTRIBUTION_FAN_OUT": "never" if mode == "in-process" else "always"}
    extra = [] if mode == "in-process" else ["--max-workers", "2"]
    sample = measure([*hokusai_cmd(), "run", "--json", *extra, *contribs], folder, env, log=mode)
    result = json.loads((folder / f"{mode}.out").read_text())
    return {"wall_s": sample.wall_s, "cpu_s": sample.cpu_s, "peak_rss_tree_mb": sample.peak_rss_tree_mb,
            "hash": result["attestation_hash"], "weight_method": result["weight_method"],
            "harmful": (result["advice"] or {}).get("harmful", [])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode (median reported); default 3")
    parser.add_argument("--budget", type=int, default=500, help="attribution_budget (retrainings); default 500")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--out", type=Path, help="write the measurements as JSON")
    args = parser.parse_args(argv)
    samples: dict[str, list[dict]] = {"in-process": [], "fanned out (--max-workers 2)": []}
    loads = [load()]
    with tempfile.TemporaryDirectory(prefix="hokusai-attribution-bench-") as tmp:
        for i in range(args.repeat):
            for mode in samples:
                say(f"[{i + 1}/{args.repeat}] {mode} ...")
                samples[mode].append(one("in-process" if mode == "in-process" else "fanned-out", args.budget, Path(tmp)))
                loads.append(load())
    hashes = {s["hash"] for runs in samples.values() for s in runs}
    median = {mode: {k: statistics.median(s[k] for s in runs) for k in ("wall_s", "cpu_s", "peak_rss_tree_mb")}
              for mode, runs in samples.items()}
    inproc, fanned = median["in-process"], median["fanned out (--max-workers 2)"]
    report = {"budget": args.budget, "repeat": args.repeat, "median": median, "samples": samples,
              "wall_ratio": fanned["wall_s"] / inproc["wall_s"], "same_evidence": len(hashes) == 1,
              "load_average": loads, "harmful": samples["in-process"][0]["harmful"]}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    rows = [f"| {mode} | {m['wall_s']:.1f} s | {m['cpu_s']:.1f} s | {m['peak_rss_tree_mb']:.0f} MB |"
            for mode, m in median.items()]
    text = "\n".join([
        f"50 contributors, attribution_budget {args.budget}, median of {args.repeat}; load average "
        f"{loads[0]} .. {loads[-1]}",
        "", "| path | wall | CPU (tree) | peak RSS (tree) |", "|---|---|---|---|", *rows, "",
        f"fanned out / in-process wall: {report['wall_ratio']:.2f}x; same evidence hash: {report['same_evidence']}; "
        f"harmful named: {len(report['harmful'])}",
    ])
    print(text if args.markdown else json.dumps(report["median"], indent=2))
    if not report["same_evidence"]:
        sys.exit("the fanned-out run's evidence differs from the in-process run's")


if __name__ == "__main__":
    main()
