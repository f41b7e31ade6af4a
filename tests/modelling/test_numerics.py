"""pipeline.modelling.numerics: a model fitted on another BLAS kernel (its floats a few ulps
away) gives the same canonical bytes, predictions, metrics and evidence hash."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from pipeline.data.tables import sha256_hex
from pipeline.modelling.models import dump_model, fit, make_estimator
from pipeline.modelling.numerics import SIGNIFICANT_BITS, canonical_predictions, canonicalise, round_floats
from tests.conftest import ALICE, BOB, FIXTURES

BASE = pd.read_csv(FIXTURES / "base.csv")
ALICE_ROWS = pd.read_csv(FIXTURES / "contrib_alice.csv")
BENCH = pd.read_csv(FIXTURES / "benchmark.csv")
FEATURES = [c for c in BASE.columns if c != "target"]


def nudge(values: np.ndarray, ulps: int) -> np.ndarray:
    """Every value moved `ulps` units in the last place, alternately up and down (what
    another BLAS kernel's summation order does to a result)."""
    out = np.array(values, dtype=np.float64, copy=True)
    flat = out.reshape(-1)
    for i in range(flat.size):
        toward = np.inf if i % 2 == 0 else -np.inf
        for _ in range(ulps):
            flat[i] = np.nextafter(flat[i], toward)
    return out


def raw_fit(name: str, params: dict, rows: pd.DataFrame):
    """The estimator fitted without canonicalisation (what scikit-learn alone gives)."""
    return make_estimator(name, params, 42).fit(rows[FEATURES], rows["target"])


# --- round_floats --------------------------------------------------------------------


def test_round_floats_keeps_24_bits_ties_to_even() -> None:
    q = 2.0 ** -SIGNIFICANT_BITS
    values = np.array([1.0, 1 + q / 2, 1 + 3 * q / 2, 1 + q / 2 + 2**-40, -(1 + q / 2), 0.0, -0.0])
    assert round_floats(values).tolist() == [1.0, 1.0, 1 + 2 * q, 1 + q, -1.0, 0.0, -0.0]
    assert round_floats(0.1) == 0.100000001490116119384765625  # 13421773 / 2**27
    assert round_floats(0.1).hex() == "0x1.99999a0000000p-4"


def test_round_floats_leaves_non_finite_and_other_dtypes() -> None:
    special = np.array([np.nan, np.inf, -np.inf, np.finfo(np.float64).max])
    rounded = round_floats(special)
    assert np.isnan(rounded[0]) and rounded[1:].tolist() == special[1:].tolist()
    ints = np.array([1, 2, 3])
    assert round_floats(ints) is ints
    singles = np.array([0.1], dtype=np.float32)
    assert round_floats(singles) is singles


def test_round_floats_is_idempotent_and_monotonic() -> None:
    values = np.random.default_rng(0).normal(size=10_000) * 10.0 ** np.random.default_rng(1).integers(-8, 8, 10_000)
    once = round_floats(values)
    assert np.array_equal(round_floats(once), once)
    order = np.argsort(values)
    assert (np.diff(once[order]) >= 0).all()
    assert np.max(np.abs(once - values) / np.abs(values)) <= 2.0 ** -(SIGNIFICANT_BITS + 1)


# --- models ----------------------------------------------------------------------------


def test_a_logistic_fit_a_few_ulps_away_gives_the_same_bytes() -> None:
    rows = pd.concat([BASE, ALICE_ROWS])
    model = raw_fit("logistic_regression", {}, rows)
    other = copy.deepcopy(model)
    scaler, logistic = other[0], other[-1]
    for obj, name in ((scaler, "mean_"), (scaler, "scale_"), (scaler, "var_"),
                      (logistic, "coef_"), (logistic, "intercept_")):
        setattr(obj, name, nudge(getattr(obj, name), 40))  # 40 ulps: ~1e-14 relative, as measured
    assert dump_model(model) != dump_model(other)  # the raw fits differ, as on two kernels

    assert dump_model(canonicalise(model)) == dump_model(canonicalise(other))
    assert model[-1].coef_.tolist() == round_floats(model[-1].coef_).tolist()
    assert model[-1].C == 1.0 and model[-1].tol == 1e-4  # hyper-parameters are not rounded


def test_boosted_trees_a_few_ulps_away_give_the_same_bytes_and_keep_thresholds() -> None:
    model = raw_fit("hist_gradient_boosting", {"max_iter": 10}, pd.concat([BASE, ALICE_ROWS]))
    thresholds = [p.nodes["num_threshold"].copy() for row in model._predictors for p in row]
    other = copy.deepcopy(model)
    other._baseline_prediction = nudge(other._baseline_prediction, 3)
    for row in other._predictors:
        for predictor in row:
            predictor.nodes["value"] = nudge(predictor.nodes["value"], 3)

    assert dump_model(canonicalise(model)) == dump_model(canonicalise(other))
    after = [p.nodes["num_threshold"] for row in model._predictors for p in row]
    assert all(np.array_equal(a, b) for a, b in zip(thresholds, after))  # splits stay exact


def test_a_forest_keeps_its_thresholds_and_rounds_its_leaves() -> None:
    model = raw_fit("random_forest", {"n_estimators": 3}, pd.concat([BASE, ALICE_ROWS]))
    before = [t.tree_.threshold.copy() for t in model.estimators_]
    canonicalise(model)
    for tree, threshold in zip(model.estimators_, before):
        assert np.array_equal(tree.tree_.threshold, threshold)
        assert np.array_equal(tree.tree_.value, round_floats(tree.tree_.value))
        assert np.array_equal(tree.tree_.impurity, round_floats(tree.tree_.impurity))


def test_fit_returns_a_canonical_model() -> None:
    model = fit("logistic_regression", {}, 42, BASE[FEATURES], BASE["target"])
    assert dump_model(model) == dump_model(canonicalise(copy.deepcopy(model)))


# --- predictions, metrics and the evidence hash -----------------------------------------


def evidence_hash(baseline, candidate, nudge_ulps: int) -> tuple[str, dict, dict]:
    """The evidence hash of a two-contributor evaluation of `candidate` against `baseline`
    on the demo benchmark, with every predicted probability nudged by `nudge_ulps` before
    it is made canonical (as a prediction on another BLAS kernel would be)."""
    from pipeline.attest.evidence import evidence_for_run
    from pipeline.config import Settings
    from pipeline.data.contributions import Contribution
    from pipeline.modelling.baseline import ModelInfo
    from pipeline.scoring.delta import compare_and_output_delta
    from pipeline.scoring.evaluation import evaluate_on_benchmark

    predictions = {"y_true": BENCH["target"].to_numpy(), "classes": [0, 1]}
    for label, model in (("baseline", baseline), ("candidate", candidate)):
        proba = canonical_predictions(nudge(model.predict_proba(BENCH[FEATURES]), nudge_ulps))
        predictions[label] = {"y_pred": model.classes_[proba.argmax(axis=1)], "proba": proba}
    from pipeline.modelling.task import resolve_settings

    settings = resolve_settings(Settings.model_validate({"model": {"target": "target"},
                                                         "evaluation": {"bootstrap_samples": 200}}), "binary")
    info, base_scores, cand_scores = evaluate_on_benchmark(predictions, ("benchmark.csv", b"bench"), [0, 1],
                                                           settings.evaluation)
    contributions = [
        Contribution(file=f"{w}.csv", wallet=w, file_sha256="0x" + "1" * 64, content_sha256="0x" + "2" * 64,
                     rows_in=n, rows_kept=n, duplicates_dropped=0, benchmark_rows_dropped=0)
        for w, n in ((ALICE, 180), (BOB, 169))
    ]
    delta = compare_and_output_delta(settings, base_scores, cand_scores, predictions, info.rows, contributions, None)
    infos = [ModelInfo(src, "logistic_regression", sha256_hex(dump_model(m)), [0, 1], n)
             for src, m, n in (("trained", baseline, 20), ("candidate", candidate, 200))]
    return evidence_for_run(settings, False, *infos, info, contributions, delta)["attestationHash"], base_scores, cand_scores


def test_probabilities_a_few_ulps_away_give_the_same_metrics_and_evidence_hash() -> None:
    baseline = canonicalise(raw_fit("logistic_regression", {}, BASE))
    candidate = canonicalise(raw_fit("logistic_regression", {}, pd.concat([BASE, ALICE_ROWS])))
    here = evidence_hash(baseline, candidate, 0)
    there = evidence_hash(baseline, candidate, 4)
    assert here == there
    assert here[1]["accuracy"] < here[2]["accuracy"]  # a real evaluation, not an empty one


@pytest.mark.parametrize("ulps", [1, 4, 40])
def test_canonical_predictions_absorb_small_differences(ulps: int) -> None:
    model = raw_fit("logistic_regression", {}, BASE)
    proba = model.predict_proba(BENCH[FEATURES])
    assert np.array_equal(canonical_predictions(proba), canonical_predictions(nudge(proba, ulps)))
