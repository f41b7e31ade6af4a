"""``hokusai run --contrib contrib.csv:WALLET`` with generated rows (100k and 1M; ``--quick``:
20k; ``--only run-<N>``: any size), in a fresh project made by ``hokusai init``
(breast-cancer example: 20 base rows, 200 benchmark rows, default settings), vs a plain
scikit-learn script in one process (``figures.run:plain_sklearn``): read base + contributed CSV with
pandas, fit StandardScaler + LogisticRegression(max_iter=1000, random_state=42) on base and on
base + contributed, predict the benchmark, accuracy.

That script is the real work of an evaluation with nothing around it, so the ratio is what
hokusai's steps, datastore and tracking cost on top. Wall ratio, and the peak-RSS ratio
(process tree). ``hokusai run`` is always a first run of its project (the MLflow store is
created inside the timed run, as a user's first run would); the dry-run's first/warm
difference shows what that costs. Rows: scikit-learn's breast-cancer data (569 rows, 30
features), sampled with replacement, every feature multiplied by N(1, 0.05) noise (so no row
duplicates a base or benchmark row), written with full float precision (~560 bytes a row).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from harness import WALLET, Bench, base_env, child, hokusai_cmd, label, load, say

NAME = "run"
REFERENCE = "a plain pandas + scikit-learn script in one process (figures.run:plain_sklearn)"
ORDER = 30


def sizes(args: Any) -> list[int]:
    if args.rows:
        return [args.rows]
    return [20_000] if args.quick else [100_000, 1_000_000]


def parse(word: str) -> int | None:
    """``run-<N>``, ``run-<N>k``, ``run-<N>m`` -> N rows (``run-50k``: one size not in the plan)."""
    text = word.lower()
    if not text.startswith("run-"):
        return None
    text = text[4:]
    scale = 1_000_000 if text.endswith("m") else 1000 if text.endswith("k") else 1
    try:
        rows = int(float(text.rstrip("km")) * scale)
    except (ValueError, OverflowError):
        return None
    return rows if rows > 0 else None


def measure(bench: Bench, rows: int) -> None:
    fid = f"run-{label(rows)}"
    compare(bench, fid, contrib(bench, rows), rows, f"{label(rows)} rows", 2.0 if rows >= 1_000_000 else 3.0,
            rss_limit=1.5 if rows >= 1_000_000 else None, rss_target="<= 1.5x" if rows >= 1_000_000 else "(1M: <= 1.5x)")


# --------------------------------------------------------------------------- shared with run_10m


def template(bench: Bench) -> Path:
    """One ``hokusai init`` project per bench run; each sample copies its data and settings."""
    def make() -> Path:
        path = bench.tmp / "template"
        subprocess.run(hokusai_cmd() + ["init", str(path)], env=base_env(), check=True, capture_output=True)
        return path

    return bench.memo("run:template", make)


def contrib(bench: Bench, rows: int) -> Path:
    """`rows` generated rows in the temp folder (once per size and bench run)."""
    def make() -> Path:
        path = bench.tmp / f"contrib-{rows}.csv"
        start = time.perf_counter()
        subprocess.run(child(f"{__name__}:make_contrib", path, rows, template(bench) / "data" / "base.csv"),
                       check=True, env=base_env())
        say(f"  generated {rows} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
        return path

    return bench.memo(f"run:contrib-{rows}", make)


def compare(bench: Bench, fid: str, contrib: Path, rows: int, rows_text: str, wall_limit: float | None, *,
            columns_text: str = "", rss_limit: float | None, rss_target: str, wall_target: str | None = None,
            timeout: float | None = None, info: dict[str, Any] | None = None) -> None:
    """`hokusai run` on `contrib` vs ``plain_sklearn`` on the same files, interleaved, each in a
    fresh copy of the template project; two rows: wall (CPU beside it, met when the ratio is at
    most `wall_limit`; with `wall_target` text instead, met because it completed) and peak tree RSS (`rss_limit`)."""
    template_ = template(bench)

    def setup(folder: Path) -> None:
        shutil.copytree(template_ / "data", folder / "data")
        shutil.copy(template_ / "hokusai.toml", folder / "hokusai.toml")
        try:  # no copy of a large file: a hard link, or a symlink across file systems
            os.link(contrib, folder / "data" / "contrib.csv")
        except OSError:
            os.symlink(contrib, folder / "data" / "contrib.csv")

    plain = child(f"{__name__}:plain_sklearn", "data/base.csv", "data/benchmark.csv", "data/contrib.csv")
    hok = hokusai_cmd() + ["run", "--project", ".", "--contrib", f"data/contrib.csv:{WALLET}", "--json"]
    extra = {} if timeout is None else {"timeout": timeout}
    subs, refs = [], []
    for i in range(bench.args.repeat):
        for who, cmd, bucket in (("reference", plain, refs), ("hokusai", hok, subs)):
            folder = bench.folder(f"{fid}-{who}-{i}")
            setup(folder)
            sample = bench.measure(cmd, folder, None, who, **extra)
            _accuracy(sample, folder / f"{who}.out", who)
            if who == "hokusai":
                bench.steps(folder, sample)
            bucket.append(sample)
            say(f"  {fid} {who} {i + 1}/{bench.args.repeat}: {sample.wall_s:.2f} s wall, {sample.cpu_s:.2f} s CPU, "
                f"{sample.peak_rss_tree_mb:.0f} MB peak tree RSS (load {load()[0]})")
            bench.done_with(folder)
    size = contrib.stat().st_size / 1e6
    m = bench.record(f"{fid}: hokusai run", subs, rows=rows, csv_mb=size, **(info or {}),
                     step_median_s=bench.step_medians(subs), phase_median_s=bench.step_medians(subs, "phases"),
                     step_peak_rss_mb=bench.step_medians(subs, "step_peak_rss_mb"))
    r = bench.record(f"{fid}: plain scikit-learn script", refs, rows=rows, csv_mb=size, **(info or {}))
    bench.wall_figure(f"{fid}-wall", f"`hokusai run` wall, {rows_text}{columns_text} ({size:.0f} MB CSV)", m, r,
                      wall_limit, "vs plain scikit-learn script; first run of a fresh project", wall_target,
                      met=None if wall_target is None else True)
    rss = m["peak_rss_tree_mb"] / r["peak_rss_tree_mb"]
    bench.figure(f"{fid}-rss", f"`hokusai run` peak RSS (tree), {rows_text}", m["peak_rss_tree_mb"],
                 r["peak_rss_tree_mb"], "MB", rss, rss_target, None if rss_limit is None else rss <= rss_limit, None,
                 f"largest single process {m['max_rss_single_mb']:.0f} MB")


def _accuracy(sample: Any, out: Path, who: str) -> None:
    """Both sides' accuracies into the sample: they must agree for the comparison to be fair."""
    try:
        result = json.loads(out.read_text())
        if who == "reference":
            sample.extra["accuracy"] = result["accuracy"]
        else:
            acc = {m["metric"]: m for m in result["metrics"]}.get("accuracy", {})
            sample.extra["accuracy"] = {"baseline": acc.get("baseline"), "candidate": acc.get("candidate")}
            sample.extra["deltaone_bps"] = result.get("deltaone_bps")
            sample.extra["weight_method"] = result.get("weight_method")
    except (ValueError, KeyError, TypeError) as exc:
        sample.extra["parse_error"] = repr(exc)


# --------------------------------------------------------------------------- child processes


def plain_sklearn(base: str, benchmark: str, contrib: str) -> None:
    """The reference: what the evaluation's real work costs in one plain process."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    base_df, bench_df, contrib_df = pd.read_csv(base), pd.read_csv(benchmark), pd.read_csv(contrib)
    features = [c for c in base_df.columns if c != "target"]

    def fit(frame: pd.DataFrame) -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=42))
        return model.fit(frame[features], frame["target"])

    baseline = fit(base_df)
    candidate = fit(pd.concat([base_df, contrib_df[base_df.columns]], ignore_index=True))
    accuracy = {name: accuracy_score(bench_df["target"], model.predict(bench_df[features]))
                for name, model in (("baseline", baseline), ("candidate", candidate))}
    print(json.dumps({"rows": len(contrib_df), "accuracy": accuracy}))


#: The extra free-text column (``comment=True``): bench/validate.py's words, a fifth distinct.
WORDS = ["fine", "checked twice", "batch 7", "lab B", "repeat visit", "ok", "sample 1042", "n/a", "rechecked",
         "site 12, room 3", "v2 scanner"]


def make_contrib(path: str, rows: int | str, header_of: str, seed: int | str = 11, comment: bool | str = False) -> None:
    """`rows` rows of the breast-cancer schema (columns as in `header_of`), sampled with noise,
    written 100k rows at a time (memory stays flat at any size); `comment` adds a free-text
    column that hokusai drops and its PII scan reads."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from sklearn.datasets import load_breast_cancer

    rows, seed, comment = int(rows), int(seed), comment in (True, "1", "comment")
    columns = Path(header_of).read_text().splitlines()[0].split(",")
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    features = [c for c in columns if c != "target"]
    if sorted(features) != sorted(names):
        raise SystemExit(f"{header_of}: columns differ from scikit-learn's breast-cancer features")
    X = data.data[:, [names.index(c) for c in features]]
    rng = np.random.default_rng(seed)
    chunk = 100_000
    out_columns = [*columns, "comment"] if comment else columns
    with open(path, "wb") as f:
        f.write((",".join(out_columns) + "\n").encode())
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            picks = rng.integers(0, len(X), n)
            values = X[picks] * rng.normal(1.0, 0.05, (n, len(features)))
            table = {c: values[:, i] for i, c in enumerate(features)}
            table["target"] = data.target[picks].astype("int64")
            if comment:
                text = np.asarray(WORDS, dtype=object)[rng.integers(0, len(WORDS), n)]
                distinct = rng.random(n) < 0.2
                text[distinct] = [f"note {lo + i} of batch" for i in np.flatnonzero(distinct)]
                table["comment"] = pa.array(text, pa.string())
            pcsv.write_csv(pa.table({c: table[c] for c in out_columns}), f, pcsv.WriteOptions(include_header=False))
