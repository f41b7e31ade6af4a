"""Contributor attribution: how much of the gain each contributor group brought.

A group is every row credited to one wallet (rows without a wallet form one group). The
value of a set S of groups is the primary metric, in integer bps, of the baseline's
estimator retrained on base + S and scored on the benchmark; v(empty) is the baseline's
score and v(all) the candidate's, so the values add up to DeltaOne. Shapley values are
computed exactly (Fractions over integer bps: no float drift) when the retrainings fit
the budget, else by truncated Monte-Carlo permutation sampling (seeded); leave-one-out is
the cheap option."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from fractions import Fraction

#: Monte-Carlo permutations stop adding marginals once the prefix is this close (bps) to v(all).
TRUNCATION_BPS = 0


@dataclass(frozen=True)
class Attribution:
    method: str  # "single" | "exact_shapley" | "monte_carlo_shapley" | "leave_one_out"
    values: dict[Hashable, Fraction]  # per group, in bps
    retrainings: int
    permutations: int = 0


def exact_shapley(groups: list[Hashable], value: Callable[[frozenset], int]) -> dict[Hashable, Fraction]:
    """Shapley value of each group: the weighted mean of its marginal gains over all subsets."""
    k = len(groups)
    out = {}
    for g in groups:
        others = [h for h in groups if h != g]
        total = Fraction(0)
        for size in range(k):
            weight = Fraction(math.factorial(size) * math.factorial(k - size - 1), math.factorial(k))
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                total += weight * (value(s | {g}) - value(s))
        out[g] = total
    return out


def monte_carlo_shapley(
    groups: list[Hashable], value: Callable[[frozenset], int], permutations: int, seed: int,
) -> dict[Hashable, Fraction]:
    """Mean marginal gain over seeded random orders; once a prefix reaches v(all) (within
    TRUNCATION_BPS) the rest of that order counts as zero, saving retrainings."""
    import numpy as np

    rng = np.random.Generator(np.random.PCG64(seed))
    full = value(frozenset(groups))
    sums = {g: Fraction(0) for g in groups}
    for _ in range(permutations):
        prefix: frozenset = frozenset()
        before = value(prefix)
        for index in rng.permutation(len(groups)):
            g = groups[int(index)]
            if abs(full - before) <= TRUNCATION_BPS:
                continue
            after = value(prefix | {g})
            sums[g] += after - before
            prefix, before = prefix | {g}, after
    return {g: s / permutations for g, s in sums.items()}


def leave_one_out(groups: list[Hashable], value: Callable[[frozenset], int]) -> dict[Hashable, Fraction]:
    """v(all) - v(all without g): what the coalition loses without each group."""
    everyone = frozenset(groups)
    return {g: Fraction(value(everyone) - value(everyone - {g})) for g in groups}


def attribute(
    groups: list[Hashable], value: Callable[[frozenset], int], *, method: str, budget: int, seed: int,
) -> Attribution:
    """Pick and run the method. `auto` is exact Shapley when its 2^k - 2 retrainings fit in
    `budget`, else Monte-Carlo with as many permutations as the budget allows (at least one)."""
    calls: set[frozenset] = set()
    cache: dict[frozenset, int] = {}

    def counted(s: frozenset) -> int:
        if s not in cache:
            cache[s] = value(s)
            calls.add(s)
        return cache[s]

    k = len(groups)
    everyone = frozenset(groups)
    if k == 1:
        return Attribution("single", {groups[0]: Fraction(value(everyone) - value(frozenset()))}, 0)
    if method == "auto":
        method = "exact_shapley" if 2**k - 2 <= budget else "monte_carlo_shapley"
    if method == "exact_shapley":
        values = exact_shapley(groups, counted)
        permutations = 0
    elif method == "monte_carlo_shapley":
        permutations = max(1, budget // max(1, k - 1))
        values = monte_carlo_shapley(groups, counted, permutations, seed)
    elif method == "leave_one_out":
        values, permutations = leave_one_out(groups, counted), 0
    else:
        raise ValueError(f"unknown attribution method {method!r}")
    retrained = len(calls - {frozenset(), everyone})
    return Attribution(method, values, retrained, permutations)

