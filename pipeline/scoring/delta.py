"""compare_and_output_delta: per-metric deltas, DeltaOne in integer basis points, the gate,
and contributor weights. Scores become integers once (`to_bps`) and every comparison after
that is between integers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from numbers import Rational
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline.data.contributions import ORIGIN, Contribution
from pipeline.config import LOWER_IS_BETTER

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.scoring.attribution import Attribution, Plan
    from pipeline.scoring.bootstrap import BootstrapCI
    from pipeline.config import Settings
    from pipeline.data.tables import Schema

TOTAL_WEIGHT_BPS = 10000


def to_bps(score: float) -> int:
    """A score in [0, 1] as integer basis points: the shortest decimal of the float
    (its repr), times 10000, rounded half-to-even. 0.03 -> 300 exactly, not 299."""
    return int((Decimal(repr(float(score))) * TOTAL_WEIGHT_BPS).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def metric_bps(metric: str, score: float) -> int:
    """A metric's score in bps: r2 and explained variance (at most 1, unbounded below) are
    clipped at 0 first, as the contract takes 0..10000."""
    from pipeline.scoring.bootstrap import CLIPPED_AT_ZERO

    return to_bps(max(score, 0.0) if metric in CLIPPED_AT_ZERO else score)


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
    delta_bps: int  # improvement: candidate - baseline, or baseline - candidate when lower is better
    relative: float | None  # signed like delta_bps, relative to the baseline; None when it is 0
    higher_is_better: bool = True
    ci_low_bps: int | None = None  # paired-bootstrap interval of delta_bps (primary metric)
    ci_high_bps: int | None = None


@dataclass(frozen=True)
class GateCondition:
    name: str
    value: int
    threshold: int
    passed: bool
    rule: str
    blocking: bool = True  # a guardrail set `blocking = false` is reported, never fails the gate


@dataclass(frozen=True)
class Contributor:
    wallet: str | None
    rows: int
    weight_bps: int
    value_bps: str | None = None  # attributed gain of the primary metric (Shapley), to 0.01 bps
    loo_bps: str | None = None  # leave-one-out: v(all) - v(all without this contributor), bps
    se_bps: str | None = None  # standard error of value_bps when it was sampled (Monte-Carlo)


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
    ci: BootstrapCI | None = None
    retrainings: int = 0
    clipped_at_zero: list[str] = field(default_factory=list)  # r2 below 0 scored as 0 bps
    test: dict[str, str] | None = None  # the family's classical test (`scoring.significance`): method, family, p_value
    permutations: int = 0  # Monte-Carlo attribution: permutations sampled
    stopped_by: str = ""  # Monte-Carlo attribution: "standard_error" | "budget"
    advice: dict[str, Any] | None = None  # `scoring.harm.Advice`: who hurt and what the rest gives
    excluded: list[dict[str, Any]] = field(default_factory=list)  # `data.exclusion.Excluded`, by --exclude

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def largest_remainder(shares: list[Rational], total: int = TOTAL_WEIGHT_BPS, keys: list[str] | None = None) -> list[int]:
    """Integer weights proportional to `shares` (ints or Fractions) summing to exactly
    `total` (Hamilton's method). Equal remainders go to the entry whose key sorts first
    (upstream's rule with `identity_keys`: the lexicographically smaller lower-case wallet),
    else to the earlier entry. Exact: no floats."""
    whole = sum(Fraction(s) for s in shares)
    if whole <= 0:
        raise ValueError("largest_remainder needs a positive total share")
    quotas = [Fraction(s) * total / whole for s in shares]
    weights = [q.numerator // q.denominator for q in quotas]
    tie = keys if keys is not None else [""] * len(shares)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(quotas[i] - weights[i]), tie[i], i))
    for i in by_remainder[: total - sum(weights)]:
        weights[i] += 1
    return weights


def identity_keys(wallets: Any) -> list[str]:
    """Each wallet as upstream compares identities: lower-case; rows with no wallet sort last
    (they have no identity, and are never paid)."""
    return [w.lower() if w else "\U0010ffff" for w in wallets]


def fraction_text(value: Fraction) -> str:
    """A Fraction as a decimal string with two places, rounded half-even: '123.50'."""
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"), ROUND_HALF_EVEN))


def _rows_by_wallet(contributions: list[Contribution]) -> dict[str | None, int]:
    """Kept rows per wallet, wallets in first-appearance order."""
    rows: dict[str | None, int] = {}
    for c in contributions:
        rows[c.wallet] = rows.get(c.wallet, 0) + c.rows_kept
    return rows


def row_share_weights(contributions: list[Contribution]) -> list[Contributor]:
    """Group kept rows by wallet (first appearance order) and weight them by row share."""
    rows = _rows_by_wallet(contributions)
    weights = largest_remainder(list(rows.values()), keys=identity_keys(rows))
    return [Contributor(w, r, weight) for (w, r), weight in zip(rows.items(), weights)]


def wallet_groups(contributions: list[Contribution]) -> dict[str | None, list[int]]:
    """Contribution indexes per wallet, wallets in first-appearance order."""
    groups: dict[str | None, list[int]] = {}
    for index, c in enumerate(contributions):
        groups.setdefault(c.wallet, []).append(index)
    return groups


#: Suffix of `weight_method` when no contributor improved the primary metric: nobody is paid.
NONE_IMPROVED = "none_improved"


def attributed_weights(
    contributions: list[Contribution], attribution: Attribution | None, metric: str, deltaone_bps: int,
) -> tuple[list[Contributor], str, list[str]]:
    """Weights from attributed values, negative ones counting as zero; kept-row share only
    under `row_share` (no attribution). Harm is never paid: when no group added value (or,
    under row share, DeltaOne is not positive), every weight is 0 and the run cannot be
    attested; there is no fallback that would pay rows whose effect was measured harmful."""
    rows = _rows_by_wallet(contributions)
    if attribution is None:
        if deltaone_bps > 0:
            return row_share_weights(contributions), "row_share", []
        note = (f"DeltaOne is {deltaone_bps} bps: the contributed data did not improve {metric}, so nobody is "
                "paid (every weight is 0) and the run cannot be attested.")
        return [Contributor(w, r, 0) for w, r in rows.items()], f"row_share+{NONE_IMPROVED}", [note]
    values = [attribution.values[w] for w in rows]
    texts = [fraction_text(v) for v in values]
    loo = [fraction_text(attribution.leave_one_out[w]) if w in attribution.leave_one_out else None for w in rows]
    se = [f"{attribution.standard_errors[w]:.2f}" if w in attribution.standard_errors else None for w in rows]
    shares = [max(v, Fraction(0)) for v in values]
    if sum(shares) == 0:
        note = (f"No contributor improved {metric} (every attributed value is 0 bps or less): nobody is paid "
                "(every weight is 0) and the run cannot be attested.")
        return ([Contributor(w, r, 0, t, lo, e) for (w, r), t, lo, e in zip(rows.items(), texts, loo, se)],
                f"{attribution.method}+{NONE_IMPROVED}", [note])
    weights = largest_remainder(shares, keys=identity_keys(rows))
    return ([Contributor(w, r, weight, t, lo, e)
             for (w, r), weight, t, lo, e in zip(rows.items(), weights, texts, loo, se)], attribution.method, [])


def compare(
    baseline: dict[str, float],
    candidate: dict[str, float],
    primary_metric: str,
    min_improvement_bps: int,
    min_benchmark_rows: int,
    benchmark_rows: int,
    contributions: list[Contribution],
    *,
    lower_is_better: frozenset[str] = LOWER_IS_BETTER,
    ci: BootstrapCI | None = None,
    attribution: Attribution | None = None,
    metric_cis: dict[str, BootstrapCI] | None = None,
    guardrails: tuple[Any, ...] = (),
    max_drop_bps: int | None = None,
    class_recall: dict[str, tuple[int, int]] | None = None,
) -> Delta:
    """Deltas of every metric (positive = better), DeltaOne of the primary one with its CI,
    the gate (all integer comparisons: DeltaOne, CI, benchmark rows, then `guardrails` and
    `max_drop_bps` over the secondary metrics and each class's recall, `class_recall`:
    {class: (baseline bps, candidate bps)}) and the contributor weights."""
    from pipeline.config import UNBOUNDED
    from pipeline.scoring.bootstrap import CLIPPED_AT_ZERO

    rows = []
    for metric in baseline:
        b, c = metric_bps(metric, baseline[metric]), metric_bps(metric, candidate[metric])
        sign = -1 if metric in lower_is_better else 1
        relative = sign * (candidate[metric] - baseline[metric]) / baseline[metric] if baseline[metric] else None
        other = (metric_cis or {}).get(metric)
        interval = ((ci.low_bps, ci.high_bps) if ci is not None and metric == primary_metric
                    else (other.low_bps, other.high_bps) if other is not None else (None, None))
        # an error in the target's units (rmse): its delta is relative, in bps of the baseline's error
        change = (to_bps(relative) if relative is not None else 0) if metric in UNBOUNDED else sign * (c - b)
        rows.append(MetricDelta(metric, baseline[metric], candidate[metric], b, c, change, relative, sign == 1, *interval))
    clipped = [m for m in baseline if m in CLIPPED_AT_ZERO and min(baseline[m], candidate[m]) < 0]
    primary = next(r for r in rows if r.metric == primary_metric)
    gate = [
        GateCondition("delta_bps", primary.delta_bps, min_improvement_bps,
                      primary.delta_bps >= min_improvement_bps, "delta_bps >= min_improvement_bps"),
    ]
    if ci is not None:
        gate.append(GateCondition("ci_low_bps", ci.low_bps, 0, ci.low_bps > 0, "ci_low_bps > 0"))
    gate.append(GateCondition("benchmark_rows", benchmark_rows, min_benchmark_rows,
                              benchmark_rows >= min_benchmark_rows, "benchmark_rows >= min_benchmark_rows"))
    gate += guardrail_conditions(rows, primary_metric, guardrails, max_drop_bps, class_recall or {})
    contributors, method, notes = attributed_weights(contributions, attribution, primary_metric, primary.delta_bps)
    if any(c.wallet is None for c in contributors):
        notes.append("Some rows carry no wallet: they are unattributable and cannot be attested.")
    uncredited = [c.wallet for c in contributors if c.weight_bps == 0 and c.wallet is not None]
    if uncredited and not method.endswith(NONE_IMPROVED):
        notes.append(f"Credited 0 bps, so left out of the mint request (the evidence still names them): "
                     f"{', '.join(uncredited)}.")
    if clipped:
        notes.append(f"{', '.join(clipped)} below 0 counted as 0 bps (a score goes on chain as 0..10000 bps).")
    return Delta(
        primary_metric=primary_metric,
        deltaone_bps=primary.delta_bps,
        deltaone_pp=bps_to_pp(primary.delta_bps),
        metrics=rows,
        gate=gate,
        passed=all(g.passed for g in gate if g.blocking),
        contributors=contributors,
        weight_method=method,
        notes=notes,
        ci=ci,
        retrainings=attribution.retrainings if attribution is not None else 0,
        clipped_at_zero=clipped,
        permutations=attribution.permutations if attribution is not None else 0,
        stopped_by=attribution.stopped_by if attribution is not None else "",
    )


def guardrail_conditions(
    rows: list[MetricDelta], primary_metric: str, guardrails: tuple[Any, ...], max_drop_bps: int | None,
    class_recall: dict[str, tuple[int, int]],
) -> list[GateCondition]:
    """The gate's guardrails: each `[[evaluation.guardrails]]` as an absolute bound on the
    candidate's score in bps (equality passes; Hokusai's semantics), then `max_drop_bps`
    over every secondary metric's delta and every class's recall (ours)."""
    by_name = {r.metric: r for r in rows}
    out = []
    for guard in guardrails:
        row = by_name[guard.metric]
        direction = guard.direction or ("higher" if row.higher_is_better else "lower")
        threshold = to_bps(guard.threshold)
        passed = row.candidate_bps >= threshold if direction == "higher" else row.candidate_bps <= threshold
        sign = ">=" if direction == "higher" else "<="
        out.append(GateCondition(f"guardrail:{guard.metric}", row.candidate_bps, threshold, passed,
                                 f"{guard.metric} {sign} {guard.threshold}", guard.blocking))
    if max_drop_bps is not None:
        for row in rows:
            if row.metric != primary_metric:
                out.append(GateCondition(f"max_drop:{row.metric}", row.delta_bps, -max_drop_bps,
                                         row.delta_bps >= -max_drop_bps, f"{row.metric} delta_bps >= -max_drop_bps"))
        for label, (before, after) in class_recall.items():
            out.append(GateCondition(f"max_drop:recall[{label}]", after - before, -max_drop_bps,
                                     after - before >= -max_drop_bps, f"recall of class {label} delta_bps >= -max_drop_bps"))
    return out


def class_recall_bps(predictions: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Each class's recall on the benchmark, baseline and candidate, in bps."""
    import numpy as np

    y = np.asarray(predictions["y_true"])
    out = {}
    for label in predictions["classes"]:
        rows = y == label
        if rows.any():
            out[str(label)] = tuple(to_bps(float(np.mean(np.asarray(predictions[side]["y_pred"])[rows] == label)))
                                    for side in ("baseline", "candidate"))
    return out


def primary_custom_metric(settings: Settings, project_dir: str | None) -> Any:
    """The primary metric's function when it is a custom metric, else None (built-in)."""
    from pipeline.scoring.evaluation import load_custom_metric

    custom = settings.evaluation.custom_metrics.get(settings.model.primary_metric)
    return load_custom_metric(settings.model.primary_metric, custom, project_dir) if custom else None


def attribution_game(
    settings: Settings, baseline_model: Any, predictions: dict[str, Any], training_data: pd.DataFrame,
    benchmark_data: pd.DataFrame, schema: Schema, contributions: list[Contribution], project_dir: str | None = None,
) -> tuple[list[str | None], Callable[[frozenset], int]]:
    """The attribution's game, where scikit-learn and the baseline are loaded: the groups
    (wallets, first appearance order) and v(S) over sets of group indexes, which retrains the
    baseline's estimator on base + the rows of S and scores the primary metric on the
    benchmark; v(empty) and v(all) come from the baseline's and candidate's `predictions`
    (with "y_true" and "classes")."""
    from pipeline.modelling.training import fit_clone, predict
    from pipeline.scoring.evaluation import check_classes, score_metric

    ev, metric = settings.evaluation, settings.model.primary_metric
    custom_fn = primary_custom_metric(settings, project_dir)
    y, classes = predictions["y_true"], predictions["classes"]
    if classes:
        check_classes(y, classes)

    def bps(p: dict[str, Any]) -> int:
        if custom_fn is not None:
            return to_bps(custom_fn(y, p["y_pred"], p["proba"]))
        return metric_bps(metric, score_metric(metric, y, p["y_pred"], p["proba"], classes, ev.average))

    by_wallet = wallet_groups(contributions)
    groups = list(by_wallet)
    everyone = frozenset(range(len(groups)))

    def value(subset: frozenset) -> int:
        if not subset:
            return bps(predictions["baseline"])
        if subset == everyone:
            return bps(predictions["candidate"])
        keep = {-1, *(i for g in subset for i in by_wallet[groups[g]])}
        model = fit_clone(baseline_model, training_data[training_data[ORIGIN].isin(keep)], schema)
        return bps(predict(model, benchmark_data, schema))

    return groups, value


def attribution_plan(settings: Settings, contributions: list[Contribution]) -> Plan | None:
    """The configured attribution's plan; None under row share (nothing to retrain)."""
    from pipeline.scoring.attribution import make_plan

    ev = settings.evaluation
    if ev.attribution == "row_share":
        return None
    return make_plan(len(wallet_groups(contributions)), ev.attribution, exact_max=ev.attribution_exact_max,
                     budget=ev.attribution_budget, target_se_bps=ev.attribution_target_se_bps, seed=ev.seed)


def attribute_by_retraining(
    settings: Settings, baseline_model: Any, predictions: dict[str, Any], training_data: pd.DataFrame,
    benchmark_data: pd.DataFrame, schema: Schema, contributions: list[Contribution], project_dir: str | None = None,
) -> Attribution | None:
    """The whole attribution in this process (`attribution_game` + `attribution_plan`)."""
    from pipeline.scoring.attribution import attribute_plan

    plan = attribution_plan(settings, contributions)
    if plan is None:
        return None
    groups, value = attribution_game(settings, baseline_model, predictions, training_data, benchmark_data, schema,
                                     contributions, project_dir)
    return attribute_plan(plan, groups, value)


def compare_and_output_delta(
    settings: Settings,
    baseline_metrics: dict[str, float],
    candidate_metrics: dict[str, float],
    predictions: dict[str, Any],
    benchmark_rows: int,
    contributions: list[Contribution],
    attribution: Attribution | None,
    project_dir: str | None = None,
) -> Delta:
    """Step `compare_and_output_delta`: bootstrap CI of the primary metric from the per-row
    predictions, then `compare` (the attribution's retrainings ran in `train_new_model`), and
    the classical test of the metric's family beside it (`scoring.significance`)."""
    from pipeline.scoring.bootstrap import paired_bootstrap

    ev, metric = settings.evaluation, settings.model.primary_metric
    custom_fn = primary_custom_metric(settings, project_dir)
    lower = LOWER_IS_BETTER | {n for n, m in ev.custom_metrics.items() if m.direction == "lower"}
    ci = None
    if ev.bootstrap_samples:
        ci = paired_bootstrap(metric, predictions["y_true"], predictions["baseline"], predictions["candidate"],
                              predictions["classes"], resamples=ev.bootstrap_samples, confidence=ev.confidence,
                              seed=ev.seed, average=ev.average, custom=custom_fn)
    from dataclasses import replace

    from pipeline.scoring.significance import classical_test

    from pipeline.config import METRICS, REGRESSION_METRICS, UNBOUNDED

    # every other built-in metric's CI too (reported in JSON and inspect --json; the gate reads the primary's)
    metric_cis = {} if not ev.bootstrap_samples else {
        name: paired_bootstrap(name, predictions["y_true"], predictions["baseline"], predictions["candidate"],
                               predictions["classes"], resamples=ev.bootstrap_samples, confidence=ev.confidence,
                               seed=ev.seed, average=ev.average, lower_is_better=name in lower, relative=name in UNBOUNDED)
        for name in baseline_metrics if name != metric and name in (*METRICS, *REGRESSION_METRICS)}
    delta = compare(baseline_metrics, candidate_metrics, metric, ev.min_improvement_bps, ev.min_benchmark_rows,
                    benchmark_rows, contributions, lower_is_better=frozenset(lower), ci=ci, attribution=attribution,
                    metric_cis=metric_cis,
                    guardrails=tuple(ev.guardrails), max_drop_bps=ev.max_drop_bps,
                    class_recall=class_recall_bps(predictions) if ev.max_drop_bps is not None and predictions["classes"]
                    else None)
    test = classical_test(settings.attestation.metric_family, metric, baseline_metrics[metric],
                          candidate_metrics[metric], predictions)
    return replace(delta, test=None if test is None else asdict(test))


def compare_and_attribute(
    settings: Settings,
    baseline_metrics: dict[str, float],
    candidate_metrics: dict[str, float],
    predictions: dict[str, Any],
    benchmark_rows: int,
    contributions: list[Contribution],
    baseline_model: Any,
    training_data: pd.DataFrame,
    benchmark_data: pd.DataFrame,
    schema: Schema,
    classes: list[Any],
    project_dir: str | None = None,
) -> Delta:
    """Attribution by retraining, then `compare_and_output_delta`: the whole comparison in
    one call (the flow splits it between `train_new_model` and `compare_and_output_delta`)."""
    attribution = attribute_by_retraining(settings, baseline_model, {**predictions, "classes": classes}, training_data,
                                          benchmark_data, schema, contributions, project_dir)
    return compare_and_output_delta(settings, baseline_metrics, candidate_metrics, {**predictions, "classes": classes},
                                    benchmark_rows, contributions, attribution, project_dir)
