"""Attribution fanned out on Metaflow: when, in how many batches, and the join.

`train_new_model` decides (`fan_out`) and splits the plan (`batches`); each
`retrain_coalitions` branch computes its coalitions' values (`attribution.run_batch`);
`join_attribution` replays the plan over them (`from_branches`), which gives exactly the
in-process result."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pipeline.scoring.attribution import BLOCK_PERMUTATIONS, Attribution, Plan

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import Settings
    from pipeline.data.contributions import Contribution
    from pipeline.data.tables import Schema

#: `auto` fans out from this many planned retrainings. Below it one process is faster: a branch
#: costs a process start, imports and loading the tables (seconds), a small retraining ~40 ms
#: (bench/attribution.py: 50 contributors at budget 100 in 17 branches took 3.8x the in-process wall).
FAN_OUT_FROM = 1024
#: Fewest retrainings per branch (a branch's fixed cost stays a small share of its work).
PER_BRANCH = 256


def planned_retrainings(plan: Plan) -> int:
    """An upper bound of the retrainings `plan` needs (sampling without truncation)."""
    return len(plan.coalitions) + plan.blocks * BLOCK_PERMUTATIONS * max(0, plan.k - 1)


def fan_out(mode: str, plan: Plan, workers: int) -> bool:
    """always / never, or auto: from FAN_OUT_FROM planned retrainings when there are workers
    to spread them over (`hokusai run --max-workers N`, or remote steps)."""
    if plan.method == "single":
        return False
    return mode == "always" or (mode == "auto" and workers >= 2 and planned_retrainings(plan) >= FAN_OUT_FROM)


def batches(plan: Plan, workers: int) -> list[dict[str, list]]:
    """The plan split for the branches (plain data: a foreach input): one batch per worker
    (`--max-workers`; on one machine more branches only add process starts: measured in
    bench/attribution.py), at least two, and none under PER_BRANCH retrainings."""
    return plan.batches(max(2, min(workers, math.ceil(planned_retrainings(plan) / PER_BRANCH))))


def from_branches(
    settings: Settings, plan: Plan, branch_values: list[list[tuple[list[int], int]]], predictions: dict[str, Any],
    contributions: list[Contribution], baseline_model_bytes: bytes, training_data: pd.DataFrame,
    benchmark_data: pd.DataFrame, schema: Schema, project_dir: str | None,
) -> tuple[Attribution, dict[str, Any] | None]:
    """Step `join_attribution`: the attribution replayed over the branches' values, and the
    harm advice's predictions (the one retraining here, only when someone is harmful)."""
    from pipeline.scoring.attribution import attribute_plan
    from pipeline.scoring.delta import attribution_game
    from pipeline.scoring.harm import predictions_without

    known = {frozenset(c): v for values in branch_values for c, v in values}
    groups, game = attribution_game(settings, None, predictions, training_data, benchmark_data, schema,
                                    contributions, project_dir)
    attribution = attribute_plan(plan, groups, lambda s: known[s] if s in known else game(s))
    if not attribution.harmful():
        return attribution, None
    from pipeline.modelling.models import load_model

    model = load_model(baseline_model_bytes, "baseline.skops")
    return attribution, predictions_without(attribution, contributions, model, training_data, benchmark_data, schema)
