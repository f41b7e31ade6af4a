"""pipeline.scoring.delta: integer basis points, the gate, and contributor weights."""

from __future__ import annotations

import pytest

from pipeline.data.contributions import Contribution
from pipeline.scoring.delta import (
    Contributor,
    GateCondition,
    bps_to_pp,
    compare,
    largest_remainder,
    row_share_weights,
    to_bps,
)

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def contribution(wallet: str | None, rows_kept: int, file: str = "c.csv") -> Contribution:
    return Contribution(
        file=file, wallet=wallet, file_sha256="0x" + "1" * 64, content_sha256="0x" + "2" * 64,
        rows_in=rows_kept, rows_kept=rows_kept, duplicates_dropped=0, benchmark_rows_dropped=0,
    )


# --- to_bps / bps_to_pp ----------------------------------------------------------------


def test_to_bps_examples() -> None:
    assert to_bps(0.03) == 300
    assert to_bps(0.57) == 5700
    assert to_bps(0.0) == 0
    assert to_bps(1.0) == 10000
    assert to_bps(1 / 3) == 3333
    assert to_bps(2 / 3) == 6667
    assert to_bps(0.12345) == 1234  # half to even
    assert to_bps(0.12355) == 1236
    assert to_bps(0.29 + 0.01) == 3000  # 0.29999999999999993


def test_every_two_decimal_step_of_one_hundredth_is_exactly_100_bps() -> None:
    wrong = []
    for cents in range(99):
        low, high = cents / 100, (cents + 1) / 100
        if to_bps(high) - to_bps(low) != 100:
            wrong.append((low, high, to_bps(low), to_bps(high)))
    assert wrong == []
    assert to_bps(0.03) - to_bps(0.02) == 100
    assert to_bps(0.30) - to_bps(0.29) == 100
    assert to_bps(0.58) - to_bps(0.57) == 100


def test_every_two_decimal_score_is_exact() -> None:
    assert [to_bps(cents / 100) for cents in range(101)] == [cents * 100 for cents in range(101)]
    assert [to_bps(float(f"0.{cents:02d}")) for cents in range(100)] == [c * 100 for c in range(100)]


def test_bps_to_pp() -> None:
    assert bps_to_pp(175) == "1.75"
    assert bps_to_pp(-5) == "-0.05"
    assert bps_to_pp(0) == "0.00"
    assert bps_to_pp(100) == "1.00"
    assert bps_to_pp(10000) == "100.00"
    assert bps_to_pp(-10000) == "-100.00"


# --- weights ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "weights"),
    [
        ([1, 1, 1], [3334, 3333, 3333]),
        ([1, 2], [3333, 6667]),
        ([2, 1, 1], [5000, 2500, 2500]),
        ([5], [10000]),
        ([0, 3], [0, 10000]),
        ([1] * 7, [1429, 1429, 1429, 1429, 1428, 1428, 1428]),
        ([1, 1, 1, 1, 1, 1], [1667, 1667, 1667, 1667, 1666, 1666]),
        ([3, 3, 1], [4286, 4286, 1428]),  # remainders .714, .714, .571
    ],
)
def test_largest_remainder(shares: list[int], weights: list[int]) -> None:
    assert largest_remainder(shares) == weights
    assert sum(largest_remainder(shares)) == 10000


def test_largest_remainder_other_total() -> None:
    assert largest_remainder([1, 1, 1], total=100) == [34, 33, 33]


def test_largest_remainder_sums_exactly_for_many_shapes() -> None:
    for n in range(1, 101):
        shares = [(i * 7919) % 13 + 1 for i in range(n)]
        assert sum(largest_remainder(shares)) == 10000, shares


def test_largest_remainder_needs_a_positive_total() -> None:
    with pytest.raises(ValueError, match="^largest_remainder needs a positive total share$"):
        largest_remainder([0, 0])


def test_row_share_weights_group_by_wallet_in_first_appearance_order() -> None:
    contributors = row_share_weights(
        [contribution(BOB, 10, "b1.csv"), contribution(ALICE, 5, "a.csv"), contribution(BOB, 15, "b2.csv")]
    )

    assert contributors == [Contributor(BOB, 25, 8333), Contributor(ALICE, 5, 1667)]


def test_one_contributor_gets_everything() -> None:
    assert row_share_weights([contribution(ALICE, 3)]) == [Contributor(ALICE, 3, 10000)]


def test_a_wallet_with_no_kept_row_gets_zero() -> None:
    assert row_share_weights([contribution(ALICE, 4), contribution(BOB, 0)]) == [
        Contributor(ALICE, 4, 10000), Contributor(BOB, 0, 0)
    ]


# --- compare ---------------------------------------------------------------------------

BASELINE = {"accuracy": 0.57, "precision": 0.5, "recall": 0.0, "f1": 0.6, "auroc": 0.8}
CANDIDATE = {"accuracy": 0.58, "precision": 0.55, "recall": 0.25, "f1": 0.59, "auroc": 0.8}


def test_compare_passing_gate() -> None:
    delta = compare(BASELINE, CANDIDATE, "accuracy", 100, 50, 50, [contribution(ALICE, 3)])

    assert delta.primary_metric == "accuracy"
    assert delta.deltaone_bps == 100
    assert delta.deltaone_pp == "1.00"
    assert delta.gate == [
        GateCondition("delta_bps", 100, 100, True, "delta_bps >= min_improvement_bps"),
        GateCondition("benchmark_rows", 50, 50, True, "benchmark_rows >= min_benchmark_rows"),
    ]
    assert delta.passed is True
    assert delta.contributors == [Contributor(ALICE, 3, 10000)]
    assert delta.weight_method == "row_share"
    assert delta.notes == []


def test_compare_metric_rows() -> None:
    delta = compare(BASELINE, CANDIDATE, "f1", 1, 1, 10, [contribution(ALICE, 3)])

    assert [(m.metric, m.baseline_bps, m.candidate_bps, m.delta_bps) for m in delta.metrics] == [
        ("accuracy", 5700, 5800, 100),
        ("precision", 5000, 5500, 500),
        ("recall", 0, 2500, 2500),
        ("f1", 6000, 5900, -100),
        ("auroc", 8000, 8000, 0),
    ]
    relative = {m.metric: m.relative for m in delta.metrics}
    assert relative["precision"] == pytest.approx(0.1)
    assert relative["recall"] is None  # baseline 0
    assert relative["auroc"] == 0.0
    assert (delta.deltaone_bps, delta.deltaone_pp) == (-100, "-1.00")


def test_compare_failing_gate_conditions() -> None:
    delta = compare(BASELINE, CANDIDATE, "accuracy", 101, 50, 49, [contribution(ALICE, 3)])

    assert [(g.name, g.value, g.threshold, g.passed) for g in delta.gate] == [
        ("delta_bps", 100, 101, False),
        ("benchmark_rows", 49, 50, False),
    ]
    assert all(isinstance(g.value, int) and isinstance(g.threshold, int) for g in delta.gate)
    assert delta.passed is False


def test_compare_fails_when_only_one_condition_fails() -> None:
    too_few_rows = compare(BASELINE, CANDIDATE, "accuracy", 1, 50, 49, [contribution(ALICE, 3)])
    too_small = compare(BASELINE, CANDIDATE, "f1", 1, 50, 50, [contribution(ALICE, 3)])

    assert [g.passed for g in too_few_rows.gate] == [True, False]
    assert too_few_rows.passed is False
    assert [g.passed for g in too_small.gate] == [False, True]
    assert too_small.passed is False


def test_compare_weights_and_unattributed_note() -> None:
    delta = compare(
        BASELINE, CANDIDATE, "accuracy", 1, 1, 10,
        [contribution(ALICE, 1), contribution(None, 1), contribution(BOB, 1)],
    )

    assert delta.contributors == [  # the tied unit goes to the smaller lower-case wallet: Bob's 0x3c44…
        Contributor(ALICE, 1, 3333), Contributor(None, 1, 3333), Contributor(BOB, 1, 3334)
    ]
    assert sum(c.weight_bps for c in delta.contributors) == 10000
    assert delta.notes == ["Some rows carry no wallet: they are unattributable and cannot be attested."]


def test_delta_to_dict() -> None:
    as_dict = compare(BASELINE, CANDIDATE, "accuracy", 1, 1, 10, [contribution(ALICE, 2)]).to_dict()

    assert as_dict["deltaone_bps"] == 100
    assert as_dict["contributors"] == [{"wallet": ALICE, "rows": 2, "weight_bps": 10000, "value_bps": None,
                                        "loo_bps": None, "se_bps": None}]
    assert as_dict["gate"][0] == {
        "name": "delta_bps", "value": 100, "threshold": 1, "passed": True,
        "rule": "delta_bps >= min_improvement_bps", "blocking": True,
    }


def test_a_remainder_tie_goes_to_the_smaller_lower_case_wallet() -> None:
    """Issue 24, item 5: upstream gives a tied remainder to the lexicographically smaller
    identity, whichever order the contributors came in."""
    from pipeline.scoring.delta import identity_keys

    bob, alice, carol = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", \
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
    assert identity_keys([carol, None]) == [carol.lower(), "\U0010ffff"]
    for order in ([alice, bob, carol], [carol, alice, bob], [bob, carol, alice]):
        weights = dict(zip(order, largest_remainder([1, 1, 1], keys=identity_keys(order))))
        assert weights == {bob: 3334, alice: 3333, carol: 3333}, order
    # two of three tie for the last unit: the smaller wallet of the two gets it
    assert largest_remainder([1, 1, 1], total=5, keys=identity_keys([carol, alice, bob])) == [1, 2, 2]
