"""pipeline.modelling.baseline: the schema, and the baseline model trained or loaded from bytes."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from pipeline.data.tables import resolve_schema
from pipeline.modelling.baseline import ModelInfo, load_baseline_model
from pipeline.config import ModelSection
from pipeline.errors import DataError, ModelError
from pipeline.modelling.models import dump_model, fit
from pipeline.data.tables import Schema

BASE = pd.DataFrame(
    {
        "a": [0, 0, 1, 1, 2, 2, 3, 3.0],
        "b": [0, 1, 0, 1, 2, 3, 2, 3.0],
        "target": [0, 0, 0, 1, 1, 1, 1, 1],
    }
)
SCHEMA = Schema(("a", "b"), "target")


def test_default_features_are_every_column_but_the_target() -> None:
    frame = pd.DataFrame({"x": [1], "target": [0], "y": [2], "z": [3]})

    assert resolve_schema(frame, ModelSection(), "base.csv") == Schema(("x", "y", "z"), "target")


def test_configured_features_and_target() -> None:
    spec = ModelSection(target="a", features=["b"])

    assert resolve_schema(BASE, spec, "base.csv") == Schema(("b",), "a")


def test_missing_target_column() -> None:
    with pytest.raises(DataError) as caught:
        resolve_schema(BASE, ModelSection(target="label"), "data/base.csv")

    assert str(caught.value) == (
        "data/base.csv: has no target column 'label'; set [model] target to one of a, b, target."
    )


def test_missing_target_lists_at_most_eight_columns() -> None:
    frame = pd.DataFrame({f"c{i}": [i] for i in range(10)})

    with pytest.raises(DataError) as caught:
        resolve_schema(frame, ModelSection(), "wide.csv")

    assert str(caught.value) == (
        "wide.csv: has no target column 'target'; set [model] target to one of "
        "c0, c1, c2, c3, c4, c5, c6, c7."
    )


def test_trains_the_configured_estimator_when_no_file() -> None:
    spec = ModelSection(estimator="random_forest", params={"n_estimators": 4})

    model, data, info = load_baseline_model(None, BASE, SCHEMA, spec, 5)

    expected = fit("random_forest", {"n_estimators": 4}, 5, BASE[["a", "b"]], BASE["target"])
    assert data == dump_model(expected)
    assert np.array_equal(model.predict_proba(BASE[["a", "b"]]), expected.predict_proba(BASE[["a", "b"]]))
    assert info == ModelInfo(
        source="trained:random_forest",
        estimator="random_forest",
        sha256="0x" + hashlib.sha256(data).hexdigest(),
        classes=[0, 1],
        training_rows=8,
    )
    assert all(type(c) is int for c in info.classes)


def test_training_is_repeatable() -> None:
    first = load_baseline_model(None, BASE, SCHEMA, ModelSection(), 42)
    second = load_baseline_model(None, BASE, SCHEMA, ModelSection(), 42)

    assert first[1] == second[1]
    assert first[2] == second[2]


def test_single_class_base_data_is_refused() -> None:
    one_class = BASE.assign(target=1)

    with pytest.raises(DataError) as caught:
        load_baseline_model(None, one_class, SCHEMA, ModelSection(), 42)

    assert str(caught.value) == (
        "The base data holds a single class in 'target'; a classifier needs at least two: "
        "add rows of the other classes."
    )


def test_loads_from_bytes_when_given() -> None:
    trained, data, _ = load_baseline_model(None, BASE, SCHEMA, ModelSection(), 42)

    model, kept, info = load_baseline_model(("models/baseline.skops", data), BASE, SCHEMA, ModelSection(), 42)

    assert kept == data  # the stored bytes are kept as handed in
    assert np.array_equal(model.predict_proba(BASE[["a", "b"]]), trained.predict_proba(BASE[["a", "b"]]))
    assert info == ModelInfo(
        source="file:baseline.skops",
        estimator="logistic_regression",
        sha256="0x" + hashlib.sha256(data).hexdigest(),
        classes=[0, 1],
        training_rows=None,
    )


def test_loaded_file_bytes_are_hashed_as_given() -> None:
    import skops.io

    forest = fit("random_forest", {"n_estimators": 3}, 1, BASE[["a", "b"]], BASE["target"])
    data = skops.io.dumps(forest)  # a plain skops dump, not our byte-stable form

    _, kept, info = load_baseline_model(("rf.skops", data), BASE, SCHEMA, ModelSection(), 42)

    assert kept == data
    assert info.sha256 == "0x" + hashlib.sha256(data).hexdigest()
    assert info.estimator == "random_forest"


def test_feature_count_mismatch() -> None:
    _, data, _ = load_baseline_model(None, BASE, SCHEMA, ModelSection(), 42)

    with pytest.raises(ModelError) as caught:
        load_baseline_model(("m.skops", data), BASE, Schema(("a",), "target"), ModelSection(), 42)

    assert str(caught.value) == (
        "m.skops: the model expects 2 features but the schema has 1; "
        "set [model] features to the model's columns."
    )


def test_unfitted_model_file_is_refused() -> None:
    from pipeline.modelling.models import make_estimator

    data = dump_model(make_estimator("random_forest", {}, 1))

    with pytest.raises(ModelError) as caught:
        load_baseline_model(("raw.skops", data), BASE, SCHEMA, ModelSection(), 42)

    assert str(caught.value) == "raw.skops: the model is not a fitted classifier; fit it before saving."


FIX = "fit the baseline again and save it with skops.io.dump."


def test_hostile_tree_file_is_refused_before_the_run_uses_it() -> None:
    """What the run's `load_baseline_model` step does with a forest whose tree links out of
    range (it would crash predict): a ModelError, so the run exits 2 with the sentence."""
    import skops.io
    from sklearn.tree._tree import Tree

    forest = fit("random_forest", {"n_estimators": 2}, 1, BASE[["a", "b"]], BASE["target"])
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"]["right_child"][0] = 10**12
    tampered = Tree(tree.n_features, tree.n_classes, tree.n_outputs)
    tampered.__setstate__(state)
    forest.estimators_[0].tree_ = tampered

    with pytest.raises(ModelError) as caught:
        load_baseline_model(("models/rf.skops", skops.io.dumps(forest)), BASE, SCHEMA, ModelSection(), 42)

    assert str(caught.value) == (
        "models/rf.skops: RandomForestClassifier.estimators_[0].tree_ is not a valid tree (node 0 has child "
        f"1000000000000, expected a later node below {tree.node_count}); {FIX}"
    )


def _logistic_file(**attributes: object) -> bytes:
    import skops.io

    model = fit("logistic_regression", {}, 1, BASE[["a", "b"]], BASE["target"])
    for name, value in attributes.items():
        setattr(model[-1], name, value)
    return skops.io.dumps(model)


def test_model_whose_parts_disagree_fails_on_a_base_row() -> None:
    data = _logistic_file(classes_=np.array([0, 1, 2]))  # three labels, one binary coefficient row

    with pytest.raises(ModelError) as caught:
        load_baseline_model(("m.skops", data), BASE, SCHEMA, ModelSection(), 42)

    assert str(caught.value) == (
        "m.skops: the model fails to predict a row of the base data "
        f"(axis 1 is out of bounds for array of dimension 1); {FIX}"
    )


def test_model_whose_probabilities_do_not_match_its_classes() -> None:
    data = _logistic_file(coef_=np.ones((3, 2)), intercept_=np.zeros(3))  # three columns, two labels

    with pytest.raises(ModelError) as caught:
        load_baseline_model(("m.skops", data), BASE, SCHEMA, ModelSection(), 42)

    assert str(caught.value) == f"m.skops: the model's probabilities do not match its 2 classes; {FIX}"


@pytest.mark.parametrize(
    ("name", "params"),
    [("logistic_regression", {}), ("random_forest", {"n_estimators": 4}),
     ("hist_gradient_boosting", {"max_iter": 5, "min_samples_leaf": 1})],
)
def test_every_estimator_the_pipeline_trains_loads_back(name: str, params: dict) -> None:
    spec = ModelSection(estimator=name, params=params)
    trained, data, _ = load_baseline_model(None, BASE, SCHEMA, spec, 42)

    model, kept, info = load_baseline_model(("m.skops", data), BASE, SCHEMA, spec, 42)

    assert kept == data
    assert info.estimator == name
    assert np.array_equal(model.predict_proba(BASE[["a", "b"]]), trained.predict_proba(BASE[["a", "b"]]))
