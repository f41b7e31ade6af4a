"""Write a mixed-type classification project from the Palmer penguins table, as published.

    python make_split.py DIR

The table is `palmerpenguins/data/penguins.csv` inside the `palmerpenguins` package (MIT
licence; `pip install palmerpenguins`): 344 penguins, the text columns `species`, `island`
and `sex`, four measurements and the year, and gaps written `NA`. Nothing is cleaned: its
lines are shuffled with seed 0 and copied, header first, into DIR/data/benchmark.csv (120
lines), base.csv (40), contrib_alice.csv (90) and contrib_bob.csv (the other 94), each part
in the file's own order. The same command always writes the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import palmerpenguins

SOURCE = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
PARTS = {"benchmark": slice(0, 120), "base": slice(120, 160), "contrib_alice": slice(160, 250),
         "contrib_bob": slice(250, None)}


def main(folder: str) -> None:
    header, *lines = SOURCE.read_text().splitlines(keepends=True)
    order = np.random.RandomState(0).permutation(len(lines))
    out = Path(folder) / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name, picked in PARTS.items():
        chosen = sorted(order[picked])
        (out / f"{name}.csv").write_text(header + "".join(lines[i] for i in chosen))
        gaps = sum(lines[i].rstrip("\n").split(",").count("NA") for i in chosen)
        print(f"{out / name}.csv: {len(chosen)} rows, {gaps} empty value(s) written NA")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python make_split.py DIR")
    main(sys.argv[1])
