"""Contributor attribution: how much of the gain each contributor group brought.

A group is every row credited to one wallet (rows without a wallet form one group). The
value of a set S of groups is the primary metric, in integer bps, of the baseline's
estimator retrained on base + S and scored on the benchmark; v(empty) is the baseline's
score and v(all) the candidate's, so Shapley values add up to DeltaOne.

- Exact Shapley (Fractions over integer bps: no float drift) for up to `exact_max` groups
  (2^k - 2 retrainings).
- Beyond it, truncated Monte-Carlo permutation sampling (Ghorbani & Zou, "Data Shapley",
  ICML 2019): seeded permutations in blocks, each group's value the mean of its marginal
  gains with a standard error; sampling stops once every standard error is at most the
  target, or the budget of retrainings is spent. Group testing (Jia et al. 2019) needs fewer
  utility calls only for thousands of players and gives no per-player standard error;
  stratified sampling needs per-size strata allocations that cost more retrainings than our
  budgets allow at 50-500 players. TMC is unbiased, efficient (every permutation's marginals
  sum to v(all) - v(empty)) and each block is independent: a block is the unit a fan-out
  branch computes.
- Leave-one-out, v(all) - v(all without g), for every group in every run: the harm advice
  reads it beside the Shapley value.

Everything is a pure function of `value` and the seed, so the in-process path and the
Metaflow fan-out (`retrain_coalitions` branches, then `join_attribution` replaying the
blocks over the values they computed) give identical results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from fractions import Fraction

#: Monte-Carlo permutations stop adding marginals once the prefix is this close (bps) to v(all).
TRUNCATION_BPS = 0
#: Permutations per sampling block: the stop rule is checked after each block.
BLOCK_PERMUTATIONS = 5
#: Sampling never stops before this many permutations, by either rule (a standard error of fewer
#: is noise: bench/attribution_check.py measured 87 % coverage of 2 SE at 5 permutations).
MIN_PERMUTATIONS = 10
#: A contributor is harmful when value + Z * standard error < 0 (two-sided 95 %).
HARM_Z = 1.96

Coalition = frozenset


@dataclass(frozen=True)
class Attribution:
    method: str  # "single" | "exact_shapley" | "monte_carlo_shapley" | "leave_one_out"
    values: dict[Hashable, Fraction]  # per group, in bps
    retrainings: int
    permutations: int = 0
    standard_errors: dict[Hashable, float] = field(default_factory=dict)  # bps; empty when exact
    leave_one_out: dict[Hashable, Fraction] = field(default_factory=dict)  # bps
    stopped_by: str = ""  # sampling: "standard_error" | "budget"

    def harmful(self) -> list[Hashable]:
        """Groups whose value is negative beyond its uncertainty (exact: simply negative)."""
        return [g for g, v in self.values.items() if v + HARM_Z * self.standard_errors.get(g, 0.0) < 0]


@dataclass(frozen=True)
class Plan:
    """What an attribution will evaluate, fixed before any retraining so it can be split
    into batches: the explicit coalitions (exact Shapley's subsets, leave-one-out's) and the
    sampling blocks (indexes; block b's permutations come from seed (seed, b))."""

    method: str
    k: int
    coalitions: tuple[Coalition, ...] = ()
    blocks: int = 0
    budget: int = 0
    target_se_bps: float = 0.0
    seed: int = 0

    def batches(self, count: int) -> list[dict[str, list]]:
        """The work split into at most `count` batches of plain data (coalitions as sorted
        index lists, block indexes), round-robin so batches cost about the same."""
        count = max(1, min(count, len(self.coalitions) + self.blocks))
        out: list[dict[str, list]] = [{"coalitions": [], "blocks": []} for _ in range(count)]
        for i, c in enumerate(self.coalitions):
            out[i % count]["coalitions"].append(sorted(c))
        for b in range(self.blocks):
            out[(len(self.coalitions) + b) % count]["blocks"].append(b)
        return [b for b in out if b["coalitions"] or b["blocks"]]


def make_plan(k: int, method: str, *, exact_max: int, budget: int, target_se_bps: float, seed: int) -> Plan:
    """`auto` is exact Shapley for up to `exact_max` groups, else sampling. Groups are
    0..k-1; every plan also evaluates leave-one-out's k coalitions."""
    everyone = frozenset(range(k))
    loo = tuple(everyone - {g} for g in range(k))
    if k <= 1:
        return Plan("single", k)
    if method == "auto":
        method = "exact_shapley" if k <= exact_max else "monte_carlo_shapley"
    if method == "exact_shapley":
        subsets = tuple(frozenset(s) for size in range(1, k) for s in itertools.combinations(range(k), size))
        return Plan(method, k, subsets)
    if method == "monte_carlo_shapley":
        # the blocks the budget buys without truncation, and never fewer than MIN_PERMUTATIONS:
        # a standard error of fewer samples is not worth reporting (nor a harm verdict on it)
        blocks = max(MIN_PERMUTATIONS // BLOCK_PERMUTATIONS, math.ceil(budget / (BLOCK_PERMUTATIONS * (k - 1))))
        return Plan(method, k, loo, blocks, budget, target_se_bps, seed)
    if method == "leave_one_out":
        return Plan(method, k, loo)
    raise ValueError(f"unknown attribution method {method!r}")


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


def block_permutations(seed: int, block: int, k: int) -> list[list[int]]:
    """Block `block`'s permutations of 0..k-1: independent of every other block's."""
    import numpy as np

    rng = np.random.default_rng([seed, block])
    return [[int(i) for i in rng.permutation(k)] for _ in range(BLOCK_PERMUTATIONS)]


def walk_block(seed: int, block: int, k: int, value: Callable[[frozenset], int]) -> list[list[int]]:
    """Each permutation's marginal gains, indexed by group: once a prefix reaches v(all)
    (within TRUNCATION_BPS) the rest of that order counts as zero, saving retrainings."""
    full = value(frozenset(range(k)))
    out = []
    for order in block_permutations(seed, block, k):
        marginals = [0] * k
        prefix: frozenset = frozenset()
        before = value(prefix)
        for g in order:
            if abs(full - before) <= TRUNCATION_BPS:
                break
            after = value(prefix | {g})
            marginals[g] = after - before
            prefix, before = prefix | {g}, after
        out.append(marginals)
    return out


def _standard_errors(samples: list[list[int]], k: int) -> list[float]:
    n = len(samples)
    if n < 2:
        return [math.inf] * k
    out = []
    for g in range(k):
        column = [s[g] for s in samples]
        mean = sum(column) / n
        out.append(math.sqrt(sum((x - mean) ** 2 for x in column) / (n - 1) / n))
    return out


def sampled_shapley(plan: Plan, value: Callable[[frozenset], int]) -> tuple[list[Fraction], list[float], int, str, set]:
    """Blocks in order until every standard error is at most the target (from
    MIN_PERMUTATIONS on) or the distinct coalitions used reach the budget: values, standard
    errors, permutations, why it stopped, and the coalitions used."""
    used: set[frozenset] = set()

    def seen(s: frozenset) -> int:
        used.add(s)
        return value(s)

    samples: list[list[int]] = []
    stopped = "budget"
    for block in range(plan.blocks):
        samples += walk_block(plan.seed, block, plan.k, seen)
        errors = _standard_errors(samples, plan.k)
        if len(samples) < MIN_PERMUTATIONS:
            continue
        if max(errors) <= plan.target_se_bps:
            stopped = "standard_error"
            break
        if len(used - {frozenset(), frozenset(range(plan.k))}) >= plan.budget:
            break
    n = len(samples)
    values = [Fraction(sum(s[g] for s in samples), n) for g in range(plan.k)]
    return values, _standard_errors(samples, plan.k), n, stopped, used


def run_batch(plan: Plan, batch: dict[str, list], value: Callable[[frozenset], int]) -> dict[frozenset, int]:
    """One fan-out branch: the values of every coalition its batch touches."""
    seen: dict[frozenset, int] = {}

    def remember(s: frozenset) -> int:
        if s not in seen:
            seen[s] = value(s)
        return seen[s]

    for c in batch["coalitions"]:
        remember(frozenset(c))
    for block in batch["blocks"]:
        walk_block(plan.seed, block, plan.k, remember)
    return seen


def attribute_plan(plan: Plan, groups: list[Hashable], value: Callable[[frozenset], int]) -> Attribution:
    """Run `plan` over `value` (coalitions of group indexes): retrain in process, or, after a
    fan-out, look up the values the branches computed. Results are keyed by group."""
    calls: dict[frozenset, int] = {}

    def counted(s: frozenset) -> int:
        if s not in calls:
            calls[s] = value(s)
        return calls[s]

    k = plan.k
    everyone = frozenset(range(k))
    if plan.method == "single":
        return Attribution("single", {groups[0]: Fraction(value(everyone) - value(frozenset()))}, 0,
                           leave_one_out={groups[0]: Fraction(value(everyone) - value(frozenset()))})
    loo = {groups[g]: Fraction(counted(everyone) - counted(everyone - {g})) for g in range(k)}
    permutations, errors, stopped = 0, {}, ""
    if plan.method == "exact_shapley":
        exact = exact_shapley(list(range(k)), counted)
        values = {groups[g]: exact[g] for g in range(k)}
    elif plan.method == "monte_carlo_shapley":
        sampled, se, permutations, stopped, used = sampled_shapley(plan, counted)
        values = {groups[g]: sampled[g] for g in range(k)}
        errors = {groups[g]: se[g] for g in range(k)}
    else:
        values = dict(loo)
    retrained = len(set(calls) - {frozenset(), everyone})
    return Attribution(plan.method, values, retrained, permutations, errors, loo, stopped)


def attribute(
    groups: list[Hashable], value: Callable[[frozenset], int], *, method: str, budget: int, seed: int,
    exact_max: int = 6, target_se_bps: float = 10.0,
) -> Attribution:
    """Plan and run the attribution in this process; `value` takes sets of groups."""
    plan = make_plan(len(groups), method, exact_max=exact_max, budget=budget, target_se_bps=target_se_bps, seed=seed)
    return attribute_plan(plan, groups, lambda s: value(frozenset(groups[i] for i in s)))
