"""Regenerate the bundled demo data in pipeline/fixtures from scikit-learn's breast-cancer
set (shipped inside scikit-learn, no download). Deterministic: run it twice, same bytes.

    python examples/make_fixtures.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

from pipeline.modelling.models import dump_model, fit

OUT = Path(__file__).resolve().parents[1] / "pipeline" / "fixtures"
SPLITS = {"benchmark": 200, "base": 20, "contrib_alice": 180}  # the rest goes to bob


def main() -> None:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame = frame.iloc[np.random.RandomState(0).permutation(len(frame))].reset_index(drop=True)
    frame = frame.round(6)
    start, parts = 0, {}
    for name, size in SPLITS.items():
        parts[name] = frame.iloc[start : start + size]
        start += size
    parts["contrib_bob"] = frame.iloc[start:]
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("benchmark", "base", "contrib_alice"):
        parts[name].to_csv(OUT / f"{name}.csv", index=False)
    parts["contrib_bob"].reset_index(drop=True).to_parquet(OUT / "contrib_bob.parquet", index=False)
    base = parts["base"]
    model = fit("logistic_regression", {}, 42, base.drop(columns="target"), base["target"])
    (OUT / "baseline.skops").write_bytes(dump_model(model))
    for path in sorted(OUT.iterdir()):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
