"""Write a regression project's data from scikit-learn's diabetes table.

    python make_split.py DIR

The table (442 patients, ten baseline measurements, `target` = a measure of disease
progression one year later) ships with scikit-learn: `load_diabetes(as_frame=True)`. Its
rows are shuffled with seed 0 and cut into DIR/data/benchmark.csv (150 rows), base.csv (50),
contrib_alice.csv (120) and contrib_bob.csv (the other 122). Values are rounded to 6 decimals
so the CSV files are short; the same command always writes the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

PARTS = {"benchmark": slice(0, 150), "base": slice(150, 200), "contrib_alice": slice(200, 320),
         "contrib_bob": slice(320, None)}


def main(folder: str) -> None:
    data = load_diabetes(as_frame=True).frame.round(6)
    data = data.iloc[np.random.RandomState(0).permutation(len(data))].reset_index(drop=True)
    out = Path(folder) / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in PARTS.items():
        part = data.iloc[rows]
        part.to_csv(out / f"{name}.csv", index=False)
        print(f"{out / name}.csv: {len(part)} rows, target mean {part['target'].mean():.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python make_split.py DIR")
    main(sys.argv[1])
