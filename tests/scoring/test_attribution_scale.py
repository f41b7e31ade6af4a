"""Fifty contributors, generated (scikit-learn's make_classification): 44 genuine, four whose
60 rows carry flipped labels, two that duplicate others. Sampled attribution must complete
with a standard error per contributor, rank the harmful four last, pay them nothing, and
give weights summing to exactly 10000."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.config import Settings
from pipeline.data.contributions import ORIGIN, Contribution
from pipeline.data.tables import Schema
from pipeline.modelling.models import fit
from pipeline.modelling.task import resolve_settings
from pipeline.modelling.training import fit_clone
from pipeline.scoring.delta import compare_and_attribute
from pipeline.scoring.evaluation import evaluate_models

HARMFUL = (7, 19, 33, 46)
DUPLICATES = {48: 10, 49: 11}


def fifty_contributors() -> tuple:
    from sklearn.datasets import make_classification

    features, labels = make_classification(n_samples=3000, n_features=10, n_informative=6, random_state=0, flip_y=0.02)
    frame = pd.DataFrame(features, columns=[f"x{i}" for i in range(10)]).round(6)
    frame["target"] = labels
    schema = Schema(tuple(f"x{i}" for i in range(10)), "target")
    base, bench, pool = frame.iloc[:60], frame.iloc[60:660], frame.iloc[660:]
    parts: list[pd.DataFrame] = []
    for i in range(50):
        part = pool.iloc[i * 24:(i + 1) * 24].copy()
        if i in HARMFUL:
            part = pool.iloc[1200 + i * 20:1260 + i * 20].copy()
            part["target"] = 1 - part["target"]
        if i in DUPLICATES:
            part = parts[DUPLICATES[i]].copy()
        parts.append(part)
    wallets = ["0x" + f"{i + 1:040x}" for i in range(50)]
    return schema, base, bench, parts, wallets


@pytest.mark.timeout(600)
def test_fifty_contributors_sampled_with_standard_errors_harmful_last() -> None:
    schema, base, bench, parts, wallets = fifty_contributors()
    training = pd.concat([base.assign(**{ORIGIN: -1})] + [p.assign(**{ORIGIN: i}) for i, p in enumerate(parts)],
                         ignore_index=True)
    baseline = fit("logistic_regression", {}, 42, base[list(schema.features)], base["target"])
    candidate = fit_clone(baseline, training, schema)
    base_metrics, cand_metrics, predictions = evaluate_models(baseline, candidate, bench, schema, [0, 1])
    contributions = [Contribution(f"f{i}", w, "0x", "0x", len(p), len(p), 0, 0)
                     for i, (p, w) in enumerate(zip(parts, wallets))]
    settings = resolve_settings(Settings.model_validate(
        {"evaluation": {"attribution_budget": 500, "attribution_target_se_bps": 5}}), "binary")
    delta = compare_and_attribute(settings, base_metrics, cand_metrics, predictions, len(bench), contributions,
                                  baseline, training, bench, schema, [0, 1])
    assert delta.weight_method == "monte_carlo_shapley" and delta.stopped_by == "budget"
    # three blocks of five permutations, what a budget of 500 buys without truncation (ceil(500 / (5 x 49)));
    # truncation made them cost 284 retrainings; + 50 leave-one-out
    assert (delta.permutations, delta.retrainings) == (15, 334)
    assert all(c.se_bps is not None and float(c.se_bps) > 0 for i, c in enumerate(delta.contributors) if i not in HARMFUL)
    ranked = sorted(range(50), key=lambda i: float(delta.contributors[i].value_bps))
    assert sorted(ranked[:4]) == list(HARMFUL)
    assert all(delta.contributors[i].weight_bps == 0 for i in HARMFUL)
    assert sum(c.weight_bps for c in delta.contributors) == 10000
    # efficiency: the sampled values add up to DeltaOne (every permutation's marginals do)
    assert abs(sum(float(c.value_bps) for c in delta.contributors) - delta.deltaone_bps) < 0.5
