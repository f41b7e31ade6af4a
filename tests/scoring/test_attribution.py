"""pipeline.scoring.attribution and the compare step on real bundled data: Shapley values, budgets,
weights that sum to 10000, the gate on genuine versus shuffled-label contributions."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from pipeline.scoring.attribution import attribute
from pipeline.config import Settings
from pipeline.data.contributions import ORIGIN, Contribution
from pipeline.scoring.delta import compare_and_attribute
from pipeline.scoring.evaluation import evaluate_models
from pipeline.modelling.models import fit
from pipeline.data.tables import Schema
from pipeline.modelling.training import fit_clone
from tests.conftest import ALICE, BOB, FIXTURES

CAROL = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # Hardhat test account #3


def glove_game(s: frozenset) -> int:
    """A and B are worth 600 together only; C always adds 300."""
    return (600 if {"A", "B"} <= s else 0) + (300 if "C" in s else 0)


def additive_game(s: frozenset) -> int:
    return sum({"A": 100, "B": -40, "C": 7}[g] for g in s)


def majority_game(s: frozenset) -> int:
    """Any two of three players win 900."""
    return 900 if len(s) >= 2 else 0


def null_and_symmetric_game(s: frozenset) -> int:
    """N changes nothing; P and Q are interchangeable (worth 500 each, 1200 together)."""
    pair = len(s & {"P", "Q"})
    return {0: 0, 1: 500, 2: 1200}[pair] + (50 if "R" in s else 0)


@pytest.mark.parametrize(("game", "groups", "expected"), [
    (additive_game, ["A", "B", "C"], {"A": 100, "B": -40, "C": 7}),
    (glove_game, ["A", "B", "C"], {"A": 300, "B": 300, "C": 300}),
    (majority_game, ["A", "B", "C"], {"A": 300, "B": 300, "C": 300}),
    (null_and_symmetric_game, ["N", "P", "Q", "R"], {"N": 0, "P": 600, "Q": 600, "R": 50}),
])
def test_exact_shapley_known_answers(game, groups, expected):
    result = attribute(groups, game, method="auto", budget=64, seed=1)
    assert result.method == "exact_shapley"
    assert result.values == {g: Fraction(v) for g, v in expected.items()}
    assert sum(result.values.values()) == game(frozenset(groups)) - game(frozenset())  # efficiency
    assert result.retrainings == 2 ** len(groups) - 2 and result.standard_errors == {}


def test_leave_one_out_reported_beside_shapley():
    result = attribute(["A", "B", "C"], glove_game, method="auto", budget=64, seed=1)
    assert result.leave_one_out == {"A": 600, "B": 600, "C": 300}
    loo = attribute(["A", "B", "C"], glove_game, method="leave_one_out", budget=64, seed=1)
    assert (loo.values, loo.retrainings) == ({"A": 600, "B": 600, "C": 300}, 3)


def twelve_player_game(s: frozenset) -> int:
    """Additive values with an interaction: players 0 and 1 are each worth 80 alone, 200 together."""
    worth = [0, 0, 30, 30, 25, 20, 15, 10, 5, 0, -20, -60]
    return sum(worth[g] for g in s) + (200 if {0, 1} <= s else 80 if s & {0, 1} else 0)


def exact_twelve() -> dict[int, Fraction]:
    from pipeline.scoring.attribution import exact_shapley

    return exact_shapley(list(range(12)), twelve_player_game)


def test_sampling_is_seeded_efficient_and_within_its_standard_error():
    groups = list(range(12))
    first = attribute(groups, twelve_player_game, method="auto", budget=5000, seed=7, target_se_bps=2.0)
    assert first.method == "monte_carlo_shapley"
    assert first == attribute(groups, twelve_player_game, method="auto", budget=5000, seed=7, target_se_bps=2.0)
    assert sum(first.values.values()) == twelve_player_game(frozenset(groups))  # every permutation adds up
    assert first.stopped_by == "standard_error" and max(first.standard_errors.values()) <= 2.0
    exact = exact_twelve()
    for g in groups:  # within 4 standard errors of the exact value (0 for the purely additive players)
        assert abs(float(first.values[g] - exact[g])) <= 4 * first.standard_errors[g] + 1e-9, g
    assert first.harmful() == [10, 11]
    assert first.leave_one_out[11] == -60


def test_sampling_stops_at_the_budget():
    result = attribute(list(range(12)), twelve_player_game, method="auto", budget=60, seed=7, target_se_bps=0.01)
    assert result.stopped_by == "budget"
    assert result.permutations == 10  # two blocks of 5: the budget is checked after each block
    assert max(result.standard_errors.values()) > 0.01


def test_fan_out_batches_replay_to_the_same_attribution():
    """Branches compute coalition values; the join replays the plan over them: identical."""
    from pipeline.scoring.attribution import attribute_plan, make_plan, run_batch

    groups = list(range(12))
    plan = make_plan(12, "auto", exact_max=6, budget=3000, target_se_bps=3.0, seed=11)
    value = lambda s: twelve_player_game(frozenset(s))  # noqa: E731
    merged: dict = {}
    batches = plan.batches(3)
    assert len(batches) == 3 and sum(len(b["blocks"]) for b in batches) == plan.blocks
    for batch in batches:
        merged.update(run_batch(plan, batch, value))
    replayed = attribute_plan(plan, groups, merged.__getitem__)
    assert replayed == attribute_plan(plan, groups, value)
    exact_plan = make_plan(4, "auto", exact_max=6, budget=64, target_se_bps=3.0, seed=11)
    merged = {frozenset(): 0, frozenset(range(4)): value(range(4))}  # v(empty), v(all): the two models' scores
    for batch in exact_plan.batches(2):
        merged.update(run_batch(exact_plan, batch, value))
    assert len(merged) == 16 and attribute_plan(exact_plan, [0, 1, 2, 3], merged.__getitem__).values == \
        attribute_plan(exact_plan, [0, 1, 2, 3], value).values


def test_auto_picks_method_by_number_of_groups():
    groups = ["A", "B", "C"]
    assert attribute(groups, glove_game, method="auto", budget=6, seed=1).method == "exact_shapley"
    sampled = attribute(groups, glove_game, method="auto", budget=5, seed=1, exact_max=2)
    assert (sampled.method, sampled.permutations, sampled.stopped_by) == ("monte_carlo_shapley", 10, "budget")  # never fewer
    assert attribute(["A"], glove_game, method="auto", budget=1, seed=1).method == "single"


# --- on the bundled breast-cancer data -------------------------------------------------

BASE = pd.read_csv(FIXTURES / "base.csv")
BENCH = pd.read_csv(FIXTURES / "benchmark.csv")
EXTRA = pd.concat([pd.read_csv(FIXTURES / "contrib_alice.csv"), pd.read_parquet(FIXTURES / "contrib_bob.parquet")],
                  ignore_index=True)
SCHEMA = Schema(tuple(c for c in BASE.columns if c != "target"), "target")


def shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    out = frame.copy()
    out["target"] = np.random.default_rng(seed).permutation(out["target"].to_numpy())
    return out


def assess(parts: list[pd.DataFrame], wallets: list[str], **evaluation):
    training = pd.concat([BASE.assign(**{ORIGIN: -1})] + [p.assign(**{ORIGIN: i}) for i, p in enumerate(parts)],
                         ignore_index=True)
    baseline = fit("logistic_regression", {}, 42, BASE[list(SCHEMA.features)], BASE["target"])
    candidate = fit_clone(baseline, training, SCHEMA)
    base_metrics, cand_metrics, predictions = evaluate_models(baseline, candidate, BENCH, SCHEMA, [0, 1])
    contributions = [Contribution(f"f{i}", w, "0x", "0x", len(p), len(p), 0, 0) for i, (p, w) in
                     enumerate(zip(parts, wallets))]
    from pipeline.modelling.task import resolve_settings

    settings = resolve_settings(Settings.model_validate({"evaluation": evaluation}), "binary")
    return compare_and_attribute(settings, base_metrics, cand_metrics, predictions, len(BENCH), contributions,
                                 baseline, training, BENCH, SCHEMA, [0, 1])


def test_genuine_rows_pass_the_gate():
    delta = assess([EXTRA], [ALICE])
    assert (delta.deltaone_bps, delta.ci.low_bps, delta.passed) == (700, 350, True)
    assert [(c.wallet, c.weight_bps) for c in delta.contributors] == [(ALICE, 10000)]


def test_shuffled_labels_fail_the_gate():
    delta = assess([shuffled(EXTRA, 1)], [ALICE])
    failed = {g.name for g in delta.gate if not g.passed}
    assert not delta.passed and {"delta_bps", "ci_low_bps"} <= failed
    assert delta.ci.low_bps <= 0
    assert delta.notes == ["No contributor improved accuracy (every attributed value is 0 bps or less): nobody is "
                           "paid (every weight is 0) and the run cannot be attested."]
    assert [(c.wallet, c.weight_bps) for c in delta.contributors] == [(ALICE, 0)]  # harm is never paid
    assert delta.weight_method == "single+none_improved"


def test_two_harmful_contributors_get_nothing_not_row_share():
    """Where nobody improves, the old fallback paid by kept rows (a shuffled-label file got
    over half the weight); now every weight is 0."""
    delta = assess([shuffled(EXTRA.iloc[:180], 3), shuffled(EXTRA.iloc[180:], 4)], [ALICE, BOB])
    assert not delta.passed and delta.deltaone_bps < 0
    assert [c.weight_bps for c in delta.contributors] == [0, 0]
    assert all(float(c.value_bps) <= 0 for c in delta.contributors)
    assert delta.weight_method == "exact_shapley+none_improved"
    assert not any("Credited 0 bps" in note for note in delta.notes)


def test_row_share_pays_nobody_when_deltaone_is_not_positive():
    delta = assess([shuffled(EXTRA, 1)], [ALICE], attribution="row_share")
    assert delta.deltaone_bps < 0 and delta.weight_method == "row_share+none_improved"
    assert [(c.wallet, c.weight_bps, c.value_bps) for c in delta.contributors] == [(ALICE, 0, None)]
    assert delta.notes[0] == (f"DeltaOne is {delta.deltaone_bps} bps: the contributed data did not improve accuracy, so "
                              "nobody is paid (every weight is 0) and the run cannot be attested.")


def test_helpful_contributor_outweighs_noise():
    helpful, noise = EXTRA.iloc[:180], shuffled(EXTRA.iloc[180:], 2)
    delta = assess([helpful, noise], [ALICE, BOB])
    weights = {c.wallet: c.weight_bps for c in delta.contributors}
    assert weights[ALICE] > weights[BOB] and sum(weights.values()) == 10000
    assert delta.weight_method == "exact_shapley"


def test_leave_one_out_and_three_groups():
    parts = [EXTRA.iloc[:120], EXTRA.iloc[120:240], EXTRA.iloc[240:]]
    delta = assess(parts, [ALICE, BOB, CAROL], attribution="leave_one_out")
    assert delta.weight_method == "leave_one_out" and delta.retrainings == 3
    assert sum(c.weight_bps for c in delta.contributors) == 10000
    sampled = assess(parts, [ALICE, BOB, CAROL], attribution_budget=4, attribution_exact_max=2)
    assert sampled.weight_method == "monte_carlo_shapley"
    assert sum(c.weight_bps for c in sampled.contributors) == 10000


@pytest.mark.timeout(120)
def test_weights_identical_across_processes():
    code = (
        "from tests.scoring.test_attribution import *\n"
        "d = assess([EXTRA.iloc[:180], shuffled(EXTRA.iloc[180:], 2)], [ALICE, BOB])\n"
        "print([(c.value_bps, c.weight_bps) for c in d.contributors], d.ci)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100,
                           cwd=str(FIXTURES.parents[1])) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout
    delta = assess([EXTRA.iloc[:180], shuffled(EXTRA.iloc[180:], 2)], [ALICE, BOB])
    assert runs[0].stdout.strip() == f"{[(c.value_bps, c.weight_bps) for c in delta.contributors]} {delta.ci}"


def test_fan_out_decision_and_branch_count():
    """auto fans out from 1024 planned retrainings when there are workers (--max-workers, or
    remote steps); one batch per worker, at least two, none under 256 retrainings."""
    from pipeline.scoring.attribution import make_plan
    from pipeline.scoring.fanout import batches, fan_out, planned_retrainings

    small = make_plan(2, "auto", exact_max=6, budget=64, target_se_bps=10, seed=1)
    assert (planned_retrainings(small), fan_out("auto", small, 16), fan_out("always", small, 1)) == (2, False, True)
    large = make_plan(50, "auto", exact_max=6, budget=4000, target_se_bps=10, seed=1)
    assert planned_retrainings(large) == 50 + 17 * 5 * 49
    assert (fan_out("auto", large, 2), fan_out("auto", large, 1), fan_out("never", large, 16)) == (True, False, False)
    assert [len(batches(large, w)) for w in (1, 2, 16, 64)] == [2, 2, 16, 17]
    assert make_plan(1, "auto", exact_max=6, budget=64, target_se_bps=10, seed=1).method == "single"
