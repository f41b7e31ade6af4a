"""Harm advice: which contributors hurt, and what the rest would give, measured.

A contributor is harmful when its Shapley value is negative beyond its uncertainty
(`Attribution.harmful`). `train_new_model` retrains once on base + everyone else and
predicts the benchmark (`predictions_without`); `compare_and_output_delta` scores that,
bootstraps it against the baseline and runs the whole gate on it (`advise`). Nothing is
extrapolated: the DeltaOne and CI shown are those of a real model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import Settings
    from pipeline.data.contributions import Contribution
    from pipeline.data.exclusion import Excluded
    from pipeline.data.tables import Schema
    from pipeline.scoring.attribution import Attribution
    from pipeline.scoring.delta import Delta


@dataclass(frozen=True)
class Advice:
    harmful: list[str | None]  # wallets (None: the rows without one)
    exclude: list[str]  # what --exclude takes for them: wallets, or the files of rows without one
    deltaone_bps: int | None = None  # the rest, measured; None when nobody is harmful
    deltaone_pp: str | None = None
    ci_low_bps: int | None = None
    ci_high_bps: int | None = None
    passed: bool | None = None  # the whole gate, on the rest
    failed: list[str] = field(default_factory=list)  # the gate conditions the rest still fails
    command: str = ""  # how to evaluate without them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """The verdict's line: who hurt, what the rest gives, the command."""
        if not self.harmful:
            return ("No contributor's attributed effect is negative: excluding one would not help; the batch as a "
                    "whole did not improve enough.")
        who = ", ".join(w or "the rows without a wallet" for w in self.harmful)
        ci = f" (CI {self.ci_low_bps}..{self.ci_high_bps} bps)" if self.ci_low_bps is not None else ""
        verdict = "passes the gate" if self.passed else f"still fails the gate ({', '.join(self.failed)})"
        return (f"Harmful: {who}. Without them, measured by retraining: DeltaOne {self.deltaone_bps} bps{ci}, which "
                f"{verdict}. Evaluate without them: {self.command}")


def exclusion_refs(attribution: Attribution, contributions: list[Contribution]) -> tuple[list[str | None], list[str]]:
    """The harmful groups and the --exclude references naming them."""
    harmful = attribution.harmful()
    refs: list[str] = []
    for wallet in harmful:
        refs += [wallet] if wallet is not None else sorted({c.file for c in contributions if c.wallet is None})
    return harmful, refs


def predictions_without(
    attribution: Attribution | None, contributions: list[Contribution], baseline_model: Any,
    training_data: pd.DataFrame, benchmark_data: pd.DataFrame, schema: Schema,
) -> dict[str, Any] | None:
    """Step `train_new_model`: the benchmark predictions of the baseline's estimator retrained
    on base + every contributor but the harmful ones; None when nobody is harmful."""
    from pipeline.data.contributions import ORIGIN
    from pipeline.modelling.training import fit_clone, predict

    if attribution is None or not attribution.harmful():
        return None
    harmful = set(attribution.harmful())
    keep = [-1, *(i for i, c in enumerate(contributions) if c.wallet not in harmful)]
    model = fit_clone(baseline_model, training_data[training_data[ORIGIN].isin(keep)], schema)
    return {"harmful": sorted(harmful, key=str), "predictions": predict(model, benchmark_data, schema)}


def advise(
    settings: Settings, baseline_metrics: dict[str, float], predictions: dict[str, Any], without: dict[str, Any] | None,
    benchmark_rows: int, contributions: list[Contribution], attribution: Attribution | None, gate_passed: bool,
    command: Any, project_dir: str | None = None,
) -> Advice | None:
    """Step `compare_and_output_delta`: advice when someone is harmful or the gate failed;
    `command(refs)` builds the exclude command. The rest's DeltaOne, CI and gate come from
    the same `compare_and_output_delta` the run used, on the retrained model's predictions."""
    from pipeline.scoring.delta import compare_and_output_delta
    from pipeline.scoring.evaluation import custom_metrics, score

    if attribution is None or (without is None and gate_passed):
        return None
    harmful, refs = exclusion_refs(attribution, contributions)
    if without is None:
        return Advice([], [])
    ev = settings.evaluation
    rest_predictions = {**predictions, "candidate": without["predictions"]}
    p = without["predictions"]
    rest_metrics = score(predictions["y_true"], p["y_pred"], p["proba"], predictions["classes"], ev.average,
                         custom_metrics(ev, project_dir))
    rest = [c for c in contributions if c.wallet not in set(harmful)]
    delta = compare_and_output_delta(settings, baseline_metrics, rest_metrics, rest_predictions, benchmark_rows, rest,
                                     None, project_dir)
    return Advice(harmful, refs, delta.deltaone_bps, delta.deltaone_pp,
                  delta.ci.low_bps if delta.ci else None, delta.ci.high_bps if delta.ci else None, delta.passed,
                  [g.name for g in delta.gate if g.blocking and not g.passed], command(refs))


def with_advice(delta: Delta, advice: Advice | None, excluded: list[Excluded]) -> Delta:
    """`delta` carrying the advice and the exclusions, each also as a note (so the verdict,
    `inspect` and the card say it in words)."""
    from dataclasses import replace

    notes = list(delta.notes)
    if excluded:
        notes.append("Excluded on request, so not evaluated or paid: " + ", ".join(
            f"{e.wallet or 'no wallet'} ({e.file}, {e.rows_kept} rows)" for e in excluded) + ".")
    if advice is not None:
        notes.append(advice.sentence())
    return replace(delta, notes=notes, advice=None if advice is None else advice.to_dict(),
                   excluded=[asdict(e) for e in excluded])
