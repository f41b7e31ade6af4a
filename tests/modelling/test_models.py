"""pipeline.modelling.models: estimator factory, byte-stable skops dumps, and safe loading."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io

from pipeline.errors import ModelError
from pipeline.data.tables import sha256_hex
from pipeline.modelling.models import dump_model, fit, load_model, make_estimator

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [2, 3], [3, 2], [3, 3]], dtype=float)
Y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
ESTIMATORS = [
    ("logistic_regression", {}),
    ("random_forest", {"n_estimators": 5}),
    ("hist_gradient_boosting", {"max_iter": 5, "min_samples_leaf": 1}),
]
UNTRUSTED_TAIL = "use a scikit-learn LogisticRegression, RandomForest or HistGradientBoosting classifier."


@pytest.mark.parametrize(("name", "params"), ESTIMATORS)
def test_dump_is_byte_identical_for_two_fits(name: str, params: dict) -> None:
    first = dump_model(fit(name, params, 3, X, Y))
    second = dump_model(fit(name, params, 3, X, Y))

    assert first == second
    assert sha256_hex(first) == sha256_hex(second)


@pytest.mark.parametrize(("name", "params"), ESTIMATORS)
def test_dump_changes_with_the_seed(name: str, params: dict) -> None:
    assert dump_model(fit(name, params, 3, X, Y)) != dump_model(fit(name, params, 4, X, Y))


@pytest.mark.parametrize(("name", "params"), ESTIMATORS)
def test_load_round_trip_predicts_the_same(name: str, params: dict) -> None:
    model = fit(name, params, 3, X, Y)
    data = dump_model(model)

    loaded = load_model(data, "m.skops")

    assert type(loaded) is type(model)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.classes_.tolist() == [0, 1]
    assert dump_model(loaded) == data  # a reloaded model dumps to the same bytes


@pytest.mark.parametrize(("name", "params"), ESTIMATORS)
def test_dump_is_a_plain_skops_file_with_fixed_timestamps(name: str, params: dict) -> None:
    data = dump_model(fit(name, params, 3, X, Y))

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        stamps = {info.date_time for info in archive.infolist()}
    assert "schema.json" in names
    assert names == sorted(names)
    assert stamps == {(1980, 1, 1, 0, 0, 0)}


def test_estimator_factory() -> None:
    logistic = make_estimator("logistic_regression", {"C": 0.5}, 7)
    forest = make_estimator("random_forest", {}, 7)
    boosting = make_estimator("hist_gradient_boosting", {"max_iter": 10}, 7)

    assert [type(step).__name__ for step in logistic] == ["StandardScaler", "LogisticRegression"]
    assert logistic[-1].get_params()["C"] == 0.5
    assert logistic[-1].get_params()["max_iter"] == 1000
    assert logistic[-1].get_params()["random_state"] == 7
    assert (forest.n_estimators, forest.random_state) == (100, 7)
    assert (boosting.max_iter, boosting.random_state) == (10, 7)


def test_unknown_estimator() -> None:
    with pytest.raises(ModelError) as caught:
        make_estimator("svm", {}, 1)

    assert str(caught.value) == (
        "Unknown estimator 'svm'; use logistic_regression, ridge, random_forest or hist_gradient_boosting."
    )


def test_bad_hyper_parameter_value() -> None:
    with pytest.raises(ModelError) as caught:
        fit("logistic_regression", {"C": -1.0}, 1, X, Y)

    assert str(caught.value) == (
        "model.params does not suit logistic_regression: The 'C' parameter of LogisticRegression "
        "must be a float in the range (0.0, inf]. Got -1.0 instead; fix the [model] params in hokusai.toml."
    )


def test_unknown_hyper_parameter() -> None:
    with pytest.raises(ModelError) as caught:
        fit("random_forest", {"C": 1.0}, 1, X, Y)

    assert str(caught.value) == (
        "model.params does not suit random_forest: RandomForestClassifier.__init__() got an "
        "unexpected keyword argument 'C'; fix the [model] params in hokusai.toml."
    )


def test_skops_default_trusted_estimator_outside_the_allow_list_is_refused() -> None:
    from sklearn.svm import SVC

    data = skops.io.dumps(SVC().fit(X, Y))
    assert skops.io.get_untrusted_types(data=data) == []  # skops itself would load it

    with pytest.raises(ModelError) as caught:
        load_model(data, "svc.skops")

    assert str(caught.value) == (
        f"svc.skops contains types hokusai does not trust (sklearn.svm._classes.SVC); {UNTRUSTED_TAIL}"
    )


def test_pipeline_step_outside_the_allow_list_is_refused() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    data = skops.io.dumps(make_pipeline(MinMaxScaler(), LogisticRegression()).fit(X, Y))

    with pytest.raises(ModelError) as caught:
        load_model(data, "minmax.skops")

    assert str(caught.value) == (
        "minmax.skops contains types hokusai does not trust "
        f"(sklearn.preprocessing._data.MinMaxScaler); {UNTRUSTED_TAIL}"
    )


def test_type_skops_does_not_trust_is_refused() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    data = skops.io.dumps(KNeighborsClassifier(n_neighbors=2, algorithm="kd_tree").fit(X, Y))

    with pytest.raises(ModelError) as caught:
        load_model(data, "knn.skops")

    assert str(caught.value) == (
        "knn.skops contains types hokusai does not trust (sklearn.metrics._dist_metrics.EuclideanDistance64, "
        f"sklearn.neighbors._kd_tree.KDTree); {UNTRUSTED_TAIL}"
    )


def test_plain_skops_dump_of_a_supported_model_loads() -> None:
    model = fit("random_forest", {"n_estimators": 3}, 1, X, Y)

    loaded = load_model(skops.io.dumps(model), "rf.skops")

    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(ModelError) as caught:
        load_model(b"garbage", "g.skops")

    assert str(caught.value) == (
        "g.skops is not a readable skops model file (File is not a zip file); save it with skops.io.dump."
    )


def test_empty_model_file_is_refused() -> None:
    with pytest.raises(ModelError) as caught:
        load_model(b"", "empty.skops")

    assert str(caught.value) == "empty.skops is empty; save the model with skops.io.dump."


def test_zip_without_skops_schema_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.pkl", b"not a model")

    with pytest.raises(ModelError) as caught:
        load_model(buffer.getvalue(), "z.skops")

    assert str(caught.value) == (
        "z.skops is not a readable skops model file (\"There is no item named 'schema.json' in the "
        "archive\"); save it with skops.io.dump."
    )


def test_sha256_hex() -> None:
    assert sha256_hex(b"") == "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sha256_hex(b"abc") == "0x" + hashlib.sha256(b"abc").hexdigest()


# --- typed columns: encoders and imputation in front of the model ---------------------

TYPED = pd.DataFrame({"size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0],
                      "town": ["Oslo", "Bergen", np.nan, "Oslo", "Bergen", "Oslo", "Tromso", "Oslo"]})
KINDS = {"size": "numeric", "town": "categorical"}


@pytest.mark.parametrize(("name", "params"), ESTIMATORS)
def test_a_typed_model_round_trips_and_predicts_unseen_categories(name: str, params: dict) -> None:
    model = fit(name, params, 3, TYPED, Y, KINDS, missing=True)
    data = dump_model(model)
    loaded = load_model(data, "typed.skops")
    unseen = pd.DataFrame({"size": [np.nan, 3.0], "town": ["Paris", np.nan]})
    assert np.array_equal(loaded.predict_proba(unseen), model.predict_proba(unseen))
    assert dump_model(loaded) == data
    assert [type(step).__name__ for _, step in model.steps] == [
        "ColumnTransformer", {"logistic_regression": "LogisticRegression", "random_forest": "RandomForestClassifier",
                              "hist_gradient_boosting": "HistGradientBoostingClassifier"}[name]]


def test_numbers_without_gaps_keep_the_plain_model() -> None:
    plain = make_estimator("logistic_regression", {}, 1, {"a": "numeric"}, missing=False)
    assert [type(step).__name__ for _, step in plain.steps] == ["StandardScaler", "LogisticRegression"]
    assert type(make_estimator("random_forest", {}, 1, {"a": "numeric"}, missing=True)).__name__ == "RandomForestClassifier"


def test_encoder_categories_that_are_not_labels_are_refused() -> None:
    model = fit("logistic_regression", {}, 3, TYPED, Y, KINDS, missing=True)
    encoder = model.steps[0][1].transformers_[1][1]
    encoder.categories_[0] = np.array([{"x": 1}, "Oslo"], dtype=object)
    with pytest.raises(ModelError) as caught:
        load_model(skops.io.dumps(model), "m.skops")
    assert str(caught.value) == (
        "m.skops: Pipeline.steps[0][1].transformers_[1][1].categories_[0] holds dict values instead of categories; "
        "fit the baseline again and save it with skops.io.dump.")


def test_a_baseline_file_that_cannot_take_gaps_is_named() -> None:
    from pipeline.data.tables import Schema
    from pipeline.errors import DataError
    from pipeline.modelling.training import fit_clone

    plain = fit("logistic_regression", {}, 3, TYPED[["size"]].fillna(0.0), Y)
    rows = TYPED[["size"]].assign(target=Y)
    with pytest.raises(DataError) as caught:
        fit_clone(plain, rows, Schema(("size",), "target"))
    assert str(caught.value) == (
        "The baseline model file cannot take empty feature values, and this run's data has some; fill them (set "
        '[data] missing = "refuse" to have each one named), or train the baseline from the base data (empty [data] '
        "baseline_model).")
