"""Regenerate the bundled demo data in pipeline/fixtures from scikit-learn's breast-cancer
set (shipped inside scikit-learn, no download). Deterministic: run it twice, same bytes.

    python examples/make_fixtures/make_fixtures.py              # rewrite pipeline/fixtures
    python examples/make_fixtures/make_fixtures.py --out DIR    # write the files into DIR instead
    python examples/make_fixtures/make_fixtures.py --check      # exit 1 unless pipeline/fixtures is reproduced byte for byte
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer

import pipeline
from pipeline.modelling.models import dump_model, fit

#: This repository's pipeline/fixtures; for a copy of this script outside the repository, the
#: installed package's (the repository's again in an editable install).
FIXTURES = Path(__file__).resolve().parents[2] / "pipeline" / "fixtures"
if not FIXTURES.is_dir():
    FIXTURES = Path(pipeline.__file__).resolve().parent / "fixtures"
SPLITS = {"benchmark": 200, "base": 20, "contrib_alice": 180}  # the rest goes to bob


def write(out: Path) -> list[Path]:
    """Write the five fixture files into `out`; return their paths, sorted by name."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame = frame.iloc[np.random.RandomState(0).permutation(len(frame))].reset_index(drop=True)
    frame = frame.round(6)
    start, parts = 0, {}
    for name, size in SPLITS.items():
        parts[name] = frame.iloc[start : start + size]
        start += size
    parts["contrib_bob"] = frame.iloc[start:]
    out.mkdir(parents=True, exist_ok=True)
    for name in ("benchmark", "base", "contrib_alice"):
        parts[name].to_csv(out / f"{name}.csv", index=False)
    parts["contrib_bob"].reset_index(drop=True).to_parquet(out / "contrib_bob.parquet", index=False)
    base = parts["base"]
    model = fit("logistic_regression", {}, 42, base.drop(columns="target"), base["target"])
    (out / "baseline.skops").write_bytes(dump_model(model))
    return sorted(out.iterdir())


def check() -> int:
    """Regenerate into a temporary folder and compare with FIXTURES byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write(Path(tmp))
        differ = [p.name for p in fresh if not (FIXTURES / p.name).is_file()
                  or (FIXTURES / p.name).read_bytes() != p.read_bytes()]
    if differ:
        print(f"pipeline/fixtures differs from a fresh build in: {', '.join(differ)}", file=sys.stderr)
        return 1
    print(f"pipeline/fixtures is up to date: {len(fresh)} files reproduced byte for byte")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES, help="folder to write (default: pipeline/fixtures)")
    parser.add_argument("--check", action="store_true", help="compare a fresh build with pipeline/fixtures; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    for path in write(args.out):
        print(path.name, path.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
