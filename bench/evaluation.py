"""Speed of the compare step's heavy parts, median of several runs, each against a reference
measured in the same run:

- paired bootstrap, 1000 resamples of a 100k-row benchmark (accuracy, f1, auroc), against
  a plain loop of scikit-learn calls over the same resamples (measured on 50, scaled x20);
- attribution for 2, 4 and 8 contributors (budget 64: exact Shapley for 2 and 4,
  Monte-Carlo for 8) against one retraining of the estimator.

    python bench/evaluation.py [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
from sklearn import metrics
from sklearn.datasets import make_classification

from pipeline.scoring.bootstrap import paired_bootstrap, resample_counts
from pipeline.config import Settings
from pipeline.data.contributions import ORIGIN, Contribution
from pipeline.scoring.delta import compare_and_attribute
from pipeline.scoring.evaluation import evaluate_models
from pipeline.modelling.models import fit
from pipeline.data.tables import Schema
from pipeline.modelling.training import fit_clone

WALLETS = [f"0x{i:040x}" for i in range(1, 9)]


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_bootstrap(runs: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    n = 100_000
    y = rng.integers(0, 2, n)
    pb = rng.random(n)
    pc = np.clip(pb + rng.normal(0, 0.1, n), 0, 1)
    base = {"y_pred": (pb > 0.5).astype(int), "proba": np.c_[1 - pb, pb]}
    cand = {"y_pred": (pc > 0.5).astype(int), "proba": np.c_[1 - pc, pc]}
    out = {}
    for metric in ("accuracy", "f1", "auroc"):
        out[f"bootstrap {metric} 1000x100k"] = median_time(
            lambda m=metric: paired_bootstrap(m, y, base, cand, [0, 1], resamples=1000, confidence=0.95, seed=1), runs)

    def naive() -> None:
        for counts in resample_counts(n, 50, seed=1):
            for row in counts:
                idx = np.repeat(np.arange(n), row.astype(int))
                metrics.roc_auc_score(y[idx], pb[idx])
                metrics.roc_auc_score(y[idx], pc[idx])

    out["reference: sklearn loop auroc 1000x100k (50 measured, x20)"] = median_time(naive, runs) * 20
    return out


def bench_attribution(runs: int) -> dict[str, float]:
    X, y = make_classification(n_samples=12_000, n_features=20, n_informative=8, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)]).assign(target=y)
    schema = Schema(tuple(f"f{i}" for i in range(20)), "target")
    base, bench, extra = frame.iloc[:1000], frame.iloc[1000:4000], frame.iloc[4000:]
    baseline = fit("logistic_regression", {}, 42, base[list(schema.features)], base["target"])
    out = {"reference: one retraining (9000 rows)": median_time(lambda: fit_clone(baseline, pd.concat([base, extra]), schema), runs)}
    for k in (2, 4, 8):
        parts = [extra.iloc[i * len(extra) // k:(i + 1) * len(extra) // k] for i in range(k)]
        training = pd.concat([base.assign(**{ORIGIN: -1})] + [p.assign(**{ORIGIN: i}) for i, p in enumerate(parts)])
        candidate = fit_clone(baseline, training, schema)
        bm, cm, pred = evaluate_models(baseline, candidate, bench, schema, [0, 1])
        contributions = [Contribution(f"f{i}", WALLETS[i], "0x", "0x", len(p), len(p), 0, 0) for i, p in enumerate(parts)]
        settings = Settings.model_validate({"evaluation": {"bootstrap_samples": 0}})
        out[f"attribution {k} contributors"] = median_time(
            lambda: compare_and_attribute(settings, bm, cm, pred, len(bench), contributions, baseline, training,
                                          bench, schema, [0, 1]), runs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = {**bench_bootstrap(args.runs), **bench_attribution(args.runs)}
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for name, seconds in rows.items():
        print(f"{name:60s} {seconds:8.2f} s")
    print(f"{'speed-up of vectorised auroc bootstrap over the sklearn loop':60s} "
          f"{rows['reference: sklearn loop auroc 1000x100k (50 measured, x20)'] / rows['bootstrap auroc 1000x100k']:8.1f} x")


if __name__ == "__main__":
    main()
