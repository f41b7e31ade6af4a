"""Write PROJECT/incoming/pooled.parquet: one Parquet export holding the rows of two
contributors, each row credited through a `wallet` column, the way a data warehouse or a
data co-op would send them.

    python make_contribution.py demo      # demo = a folder made by `hokusai init demo`

From the project's sample data it takes Bob's 169 rows (data/contrib_bob.parquet) and
credits the first 100 to Bob and the other 69 to Carol; Carol also re-sends 5 of Alice's
rows (data/contrib_alice.csv), which the run drops as duplicates when Alice's file is given
first. An extra column, `exported_at` (a timestamp the model does not use), is dropped at load.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"    # Hardhat test account #2
CAROL = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # Hardhat test account #3


def main(project: Path) -> None:
    pooled = pd.read_parquet(project / "data" / "contrib_bob.parquet")
    resent = pd.read_csv(project / "data" / "contrib_alice.csv").head(5)
    pooled["wallet"] = [BOB] * 100 + [CAROL] * (len(pooled) - 100)
    resent["wallet"] = CAROL
    pooled = pd.concat([pooled, resent], ignore_index=True)
    pooled["exported_at"] = pd.Timestamp("2026-01-15T09:00:00Z")
    out = project / "incoming" / "pooled.parquet"
    out.parent.mkdir(exist_ok=True)
    pooled.to_parquet(out, index=False)
    rows = pooled["wallet"].value_counts(sort=False)
    print(f"{out}: {len(pooled)} rows, {len(pooled.columns)} columns")
    for wallet, count in rows.items():
        print(f"  {wallet}: {count} rows")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python make_contribution.py PROJECT_DIR")
    main(Path(sys.argv[1]))
