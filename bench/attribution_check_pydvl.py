"""pyDVL's side of bench/attribution_check.py: Shapley values of precomputed coalition-value
tables, with pyDVL 0.10, which pins numpy<2 and so runs in its own virtualenv
(bench/.venv-pydvl, made by bench/attribution_check.py). Imports nothing from hokusai.

    bench/.venv-pydvl/bin/python bench/attribution_check_pydvl.py IN.json OUT.json

IN:  {"games": [{"name": str, "players": n, "table": [[[sorted player indexes], bps], ...]
                 (all 2^n coalitions, the empty one included), "valuation_api": bool,
                 "mc_permutations": int, "mc_seeds": [int, ...]}]}
OUT: {"pydvl": version, "games": {name: {"exact": [value of player 0, 1, ...],
      "exact_valuation": [...] | null, "mc": [{"seed", "permutations", "values", "stderr"}],
      "seconds": {...}}}}

Per game:

- "exact": ``pydvl.value.shapley.naive.combinatorial_exact_shapley`` (the ``pydvl.value``
  API, deprecated in 0.10 but still shipped): sum over every subset S of N - {i} of
  (u(S + i) - u(S)) / C(n-1, |S|), divided by n.
- "exact_valuation": 0.10's ``pydvl.valuation`` API, ``ShapleyValuation`` with a
  ``DeterministicUniformSampler`` (every subset of every complement, once) and
  ``NoStopping(sampler)`` (runs until the finite sampler is exhausted): a second code path
  (log-space semivalue coefficients, running-mean result updates). 20-40 s at 16 players.
- "mc": ``ShapleyValuation`` with a ``PermutationSampler(truncation=NoTruncation(), seed)``
  stopped by ``MaxSamples(sampler, P)``: plain permutation Monte-Carlo, for reference.

How the table is fed to pyDVL (nothing is fitted or scored):

- ``pydvl.utils.Utility`` (old API) normally clones a model, fits it on the subset and
  scores it; its ``__call__`` freezes the indices and calls ``_utility``, which returns 0.0
  for the empty set. ``TableUtility`` subclasses it and overrides ``_utility`` with the
  table look-up, so u(empty) is our v(empty) (the baseline's score, not 0: otherwise every
  singleton's marginal, and so every value, would shift). ``data`` is pyDVL's own
  ``DummyGameDataset(n)`` (the one its toy games use): the algorithm only reads
  ``len(u.data)``, ``u.data.indices`` (0..n-1) and ``u.data.data_names``. Subclassing,
  rather than duck-typing, keeps pyDVL's ``__call__``, cache wrapper and pickling hooks.
- ``pydvl.valuation.UtilityBase`` (new API) is just ``__call__(sample)``, with ``sample``
  None or a ``Sample`` whose ``subset`` is an index array; it must return the same value for
  None and an empty subset (we return v(empty) for both). ``with_dataset``'s default shallow
  copy shares the table. The ``Dataset`` passed to ``fit`` is n rows x = 0..n-1: only its
  indices are used.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

warnings.simplefilter("ignore")  # pyDVL's deprecation and "Large dataset!" warnings

import numpy as np  # noqa: E402

import pydvl  # noqa: E402
from pydvl.utils import Utility  # noqa: E402
from pydvl.valuation import (  # noqa: E402
    Dataset,
    DeterministicUniformSampler,
    MaxSamples,
    NoStopping,
    PermutationSampler,
    ShapleyValuation,
)
from pydvl.valuation.samplers.truncation import NoTruncation  # noqa: E402
from pydvl.valuation.utility.base import UtilityBase  # noqa: E402
from pydvl.value.games import DummyGameDataset, DummyModel  # noqa: E402
from pydvl.value.shapley.naive import combinatorial_exact_shapley  # noqa: E402


class TableUtility(Utility):
    """Old-API utility whose 'retraining' is a look-up in the coalition-value table."""

    def __init__(self, table: dict[frozenset, float], n: int) -> None:
        self.table = table
        super().__init__(DummyModel(), DummyGameDataset(n), catch_errors=False)

    def _utility(self, indices: frozenset) -> float:
        return self.table[frozenset(int(i) for i in indices)]


class TableValuationUtility(UtilityBase):
    """New-API (pydvl.valuation) utility over the same table."""

    def __init__(self, table: dict[frozenset, float]) -> None:
        self.table = table

    def __call__(self, sample) -> float:
        subset = () if sample is None else sample.subset
        return self.table[frozenset(int(i) for i in subset)]


def by_index(result, n: int, field: str = "values") -> list[float]:
    """A ValuationResult's values (or stderr) in player order 0..n-1."""
    got = dict(zip((int(i) for i in result.indices), (float(x) for x in getattr(result, field))))
    return [got[i] for i in range(n)]


def run_game(game: dict) -> dict:
    n = game["players"]
    table = {frozenset(c): float(v) for c, v in game["table"]}
    if len(table) != 2**n:
        raise SystemExit(f"{game['name']}: {len(table)} coalitions, expected {2**n}")
    data = Dataset(np.arange(n).reshape(-1, 1), np.zeros(n))
    out: dict = {"seconds": {}}

    t = time.perf_counter()
    out["exact"] = [float(x) for x in combinatorial_exact_shapley(TableUtility(table, n), progress=False).values]
    out["seconds"]["exact"] = time.perf_counter() - t

    out["exact_valuation"] = None
    if game.get("valuation_api", True):
        t = time.perf_counter()
        sampler = DeterministicUniformSampler(batch_size=4096)
        valuation = ShapleyValuation(TableValuationUtility(table), sampler, is_done=NoStopping(sampler),
                                     progress=False)
        valuation.fit(data)
        out["exact_valuation"] = by_index(valuation.result, n)
        out["seconds"]["exact_valuation"] = time.perf_counter() - t

    out["mc"] = []
    t = time.perf_counter()
    for seed in game.get("mc_seeds", []):
        sampler = PermutationSampler(truncation=NoTruncation(), seed=seed)
        valuation = ShapleyValuation(TableValuationUtility(table), sampler,
                                     is_done=MaxSamples(sampler, game["mc_permutations"]), progress=False)
        valuation.fit(data)
        out["mc"].append({"seed": seed, "permutations": int(sampler.n_samples),
                          "values": by_index(valuation.result, n), "stderr": by_index(valuation.result, n, "stderr")})
    out["seconds"]["mc"] = time.perf_counter() - t
    return out


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    games = json.loads(open(sys.argv[1]).read())["games"]
    results = {}
    for game in games:
        t = time.perf_counter()
        results[game["name"]] = run_game(game)
        print(f"pydvl: {game['name']} ({game['players']} players) {time.perf_counter() - t:.1f} s",
              file=sys.stderr, flush=True)
    with open(sys.argv[2], "w") as f:
        json.dump({"pydvl": pydvl.__version__, "numpy": np.__version__, "games": results}, f)


if __name__ == "__main__":
    main()
