"""compare_and_output_delta: per-metric deltas, DeltaOne in integer basis points, the gate,
and contributor weights. Scores become integers once (`to_bps`) and every comparison after
that is between integers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pipeline.contributions import Contribution

TOTAL_WEIGHT_BPS = 10000


def to_bps(score: float) -> int:
    """A score in [0, 1] as integer basis points: the shortest decimal of the float
    (its repr), times 10000, rounded half-to-even. 0.03 -> 300 exactly, not 299."""
    return int((Decimal(repr(float(score))) * TOTAL_WEIGHT_BPS).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def bps_to_pp(bps: int) -> str:
    """Percentage points as an exact decimal string: 175 -> '1.75', -5 -> '-0.05'."""
    return str(Decimal(bps).scaleb(-2).quantize(Decimal("0.01")))


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    baseline: float
    candidate: float
    baseline_bps: int
    candidate_bps: int
    delta_bps: int
    relative: float | None  # (candidate - baseline) / baseline, None when baseline is 0


@dataclass(frozen=True)
class GateCondition:
    name: str
    value: int
    threshold: int
    passed: bool
    rule: str


@dataclass(frozen=True)
class Contributor:
    wallet: str | None
    rows: int
    weight_bps: int


@dataclass(frozen=True)
class Delta:
    primary_metric: str
    deltaone_bps: int
    deltaone_pp: str
    metrics: list[MetricDelta]
    gate: list[GateCondition]
    passed: bool
    contributors: list[Contributor]
    weight_method: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def largest_remainder(shares: list[int], total: int = TOTAL_WEIGHT_BPS) -> list[int]:
    """Integer weights proportional to `shares` summing to exactly `total` (Hamilton's
    method; ties go to the earlier entry)."""
    whole = sum(shares)
    if whole <= 0:
        raise ValueError("largest_remainder needs a positive total share")
    quotas = [(s * total, i) for i, s in enumerate(shares)]
    weights = [q // whole for q, _ in quotas]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(quotas[i][0] % whole), i))
    for i in by_remainder[: total - sum(weights)]:
        weights[i] += 1
    return weights


def row_share_weights(contributions: list[Contribution]) -> list[Contributor]:
    """Group kept rows by wallet (first appearance order) and weight them by row share."""
    rows: dict[str | None, int] = {}
    for c in contributions:
        rows[c.wallet] = rows.get(c.wallet, 0) + c.rows_kept
    weights = largest_remainder(list(rows.values()))
    return [Contributor(w, r, weight) for (w, r), weight in zip(rows.items(), weights)]


def compare(
    baseline: dict[str, float],
    candidate: dict[str, float],
    primary_metric: str,
    min_improvement_bps: int,
    min_benchmark_rows: int,
    benchmark_rows: int,
    contributions: list[Contribution],
) -> Delta:
    """Deltas of every metric, DeltaOne of the primary one, the gate and the weights."""
    rows = []
    for metric in baseline:
        b, c = to_bps(baseline[metric]), to_bps(candidate[metric])
        relative = (candidate[metric] - baseline[metric]) / baseline[metric] if baseline[metric] else None
        rows.append(MetricDelta(metric, baseline[metric], candidate[metric], b, c, c - b, relative))
    primary = next(r for r in rows if r.metric == primary_metric)
    gate = [
        GateCondition("delta_bps", primary.delta_bps, min_improvement_bps,
                      primary.delta_bps >= min_improvement_bps, "delta_bps >= min_improvement_bps"),
        GateCondition("benchmark_rows", benchmark_rows, min_benchmark_rows,
                      benchmark_rows >= min_benchmark_rows, "benchmark_rows >= min_benchmark_rows"),
    ]
    contributors = row_share_weights(contributions)
    notes = []
    if any(c.wallet is None for c in contributors):
        notes.append("Some rows carry no wallet: they are unattributable and cannot be attested.")
    return Delta(
        primary_metric=primary_metric,
        deltaone_bps=primary.delta_bps,
        deltaone_pp=bps_to_pp(primary.delta_bps),
        metrics=rows,
        gate=gate,
        passed=all(g.passed for g in gate),
        contributors=contributors,
        weight_method="row_share",
        notes=notes,
    )
