"""Hostile `.skops` model files (issue 10): real models, trained here, then tampered with
(their node arrays, their fitted arrays, or the skops zip) and dumped with skops.

Each must be refused by `load_model` with one exact sentence naming the file, and by
`hokusai validate` with exit code 2 and that sentence. A tampered tree never reaches
predict() in this process: the controls that show what an unchecked load would do (a
segfault, a hang) run in a child process with a timeout."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import skops.io

from pipeline.errors import ModelError
from pipeline.modelling.models import dump_model, fit, load_model
from tests.conftest import ALICE, FIXTURES, invoke

pytestmark = pytest.mark.timeout(120)

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [2, 3], [3, 2], [3, 3]], dtype=float)
Y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
FIX = "fit the baseline again and save it with skops.io.dump."
UNTRUSTED_TAIL = "use a scikit-learn LogisticRegression, RandomForest or HistGradientBoosting classifier."

#: Loads a model file the way skops allows when told to trust every type it reports (no
#: hokusai checks), says it got as far as predict(), then predicts.
UNCHECKED_PREDICT = """
import sys
import numpy as np
import skops.io
data = open(sys.argv[1], "rb").read()
model = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
X = np.array(%s, dtype=float)
print("predicting", flush=True)
print(model.predict_proba(X).round(3).tolist(), flush=True)
""" % X.tolist()


# --------------------------------------------------------------------------- builders


def decision_tree() -> Any:
    """A real DecisionTreeClassifier: 7 nodes, depth 3, splits on both features.

    node 0 -> 1, 6 (feature 1); node 1 -> 2, 3 (feature 0); node 3 -> 4, 5 (feature 1);
    nodes 2, 4, 5, 6 are leaves."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=0).fit(X, Y)


def forest() -> Any:
    return fit("random_forest", {"n_estimators": 3}, 1, X, Y)


def boosting() -> Any:
    """A real HistGradientBoostingClassifier; its first TreePredictor has 7 nodes:
    0 -> 1, 6; 1 -> 2, 3; 3 -> 4, 5."""
    return fit("hist_gradient_boosting", {"max_iter": 3, "min_samples_leaf": 1}, 1, X, Y)


def logistic() -> Any:
    return fit("logistic_regression", {}, 1, X, Y)


def retree(tree: Any, max_depth: int | None = None, node_count: int | None = None, **fields: Any) -> Any:
    """A copy of a fitted sklearn Tree with some node fields (`left_child={0: 10**12}`),
    its max_depth or its node_count replaced, rebuilt through the Tree's own constructor
    and __setstate__ (exactly what skops does on load)."""
    from sklearn.tree._tree import Tree

    state = tree.__getstate__()
    nodes, values = state["nodes"].copy(), state["values"].copy()
    for field, changes in fields.items():
        for index, value in changes.items():
            if field == "values":
                values[index] = value
            else:
                nodes[field][index] = value
    new = Tree(tree.n_features, tree.n_classes, tree.n_outputs)
    new.__setstate__({
        **state, "nodes": nodes, "values": values,
        "max_depth": state["max_depth"] if max_depth is None else max_depth,
        "node_count": state["node_count"] if node_count is None else node_count,
    })
    return new


def tampered_tree(**changes: Any) -> bytes:
    model = decision_tree()
    model.tree_ = retree(model.tree_, **changes)
    return skops.io.dumps(model)


def tampered_predictor(**fields: Any) -> bytes:
    model = boosting()
    nodes = model._predictors[0][0].nodes
    for field, changes in fields.items():
        for index, value in changes.items():
            nodes[field][index] = value
    return skops.io.dumps(model)


def with_schema(data: bytes, change: Callable[[dict, dict[str, bytes]], None]) -> bytes:
    """The skops zip `data` with its schema.json (and members) edited by `change`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members["schema.json"])
    change(schema, members)
    members["schema.json"] = json.dumps(schema).encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def refusal(data: bytes, source: str = "m.skops") -> str:
    with pytest.raises(ModelError) as caught:
        load_model(data, source)
    return str(caught.value)


# --------------------------------------------------------------------------- trees


def tree_sentence(where: str, problem: str) -> str:
    return f"m.skops: {where} is not a valid tree ({problem}); {FIX}"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"left_child": {0: 10**12}}, "node 0 has child 1000000000000, expected a later node below 7"),
        ({"right_child": {1: -5}}, "node 1 has child -5, expected a later node below 7"),
        ({"left_child": {3: 3}}, "node 3 has child 3, expected a later node below 7"),  # self-loop
        ({"right_child": {3: 1}}, "node 3 has child 1, expected a later node below 7"),  # 1 -> 3 -> 1
        ({"right_child": {1: 6}}, "node 3 has 0 parents, expected 1"),  # 6 shared, 3 cut off
        ({"right_child": {2: 5}}, "node 2 has only one child"),  # a leaf with a right child
        ({"feature": {0: 99}}, "node 0 splits on feature 99, expected 0 to 1"),
        ({"feature": {1: -2}}, "node 1 splits on feature -2, expected 0 to 1"),
        ({"threshold": {0: np.nan}}, "node 0 has a NaN threshold"),
        ({"values": {4: np.nan}}, "it holds NaN or infinite values"),
        ({"max_depth": 1}, "its max_depth is 1 but its nodes reach depth 3"),
        ({"node_count": 0}, "it has no nodes"),
    ],
    ids=["out-of-range", "negative", "self-loop", "backwards", "shared-child", "half-leaf",
         "feature-out-of-range", "negative-feature", "nan-threshold", "nan-value", "max-depth", "no-nodes"],
)
def test_tampered_decision_tree_is_refused(changes: dict, problem: str) -> None:
    assert refusal(tampered_tree(**changes)) == tree_sentence("DecisionTreeClassifier.tree_", problem)


def test_a_tree_rebuilt_without_changes_loads() -> None:
    model = decision_tree()
    expected = model.predict_proba(X)
    model.tree_ = retree(model.tree_)  # the builder itself leaves a genuine tree genuine

    assert np.array_equal(load_model(skops.io.dumps(model), "m.skops").predict_proba(X), expected)


def test_tampered_tree_inside_a_forest_is_refused() -> None:
    model = forest()
    n = model.estimators_[1].tree_.node_count
    model.estimators_[1].tree_ = retree(model.estimators_[1].tree_, left_child={0: 0})

    assert n == 3
    assert refusal(skops.io.dumps(model)) == tree_sentence(
        "RandomForestClassifier.estimators_[1].tree_", "node 0 has child 0, expected a later node below 3"
    )


def test_tree_reading_more_features_than_the_model_is_refused() -> None:
    from sklearn.tree._tree import Tree

    model = decision_tree()
    state = model.tree_.__getstate__()
    wide = Tree(5, model.tree_.n_classes, 1)
    wide.__setstate__(state)
    model.tree_ = wide

    assert refusal(skops.io.dumps(model)) == tree_sentence(
        "DecisionTreeClassifier.tree_", "it reads 5 features where the model has 2"
    )


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"left": {0: 2**31}}, "node 0 has child 2147483648, expected a later node below 7"),
        ({"right": {1: 0}}, "node 1 has child 0, expected a later node below 7"),  # 0 -> 1 -> 0
        ({"right": {3: 3}}, "node 3 has child 3, expected a later node below 7"),  # self-loop
        ({"feature_idx": {0: 5}}, "node 0 splits on feature 5, expected 0 to 1"),
        ({"num_threshold": {1: np.nan}}, "node 1 has a NaN threshold"),
        ({"value": {2: np.inf}}, "it holds NaN or infinite values"),
        ({"is_categorical": {0: 1}},
         "node 0 is a categorical split, which hokusai does not use (its features are numbers)"),
    ],
    ids=["out-of-range", "cycle", "self-loop", "feature-out-of-range", "nan-threshold", "inf-value", "categorical"],
)
def test_tampered_hist_gradient_boosting_predictor_is_refused(fields: dict, problem: str) -> None:
    assert refusal(tampered_predictor(**fields)) == tree_sentence(
        "HistGradientBoostingClassifier._predictors[0][0]", problem
    )


def test_predictor_nodes_of_another_shape_are_refused() -> None:
    model = boosting()
    predictor = model._predictors[0][0]
    predictor.nodes = predictor.nodes.reshape(7, 1)

    assert refusal(skops.io.dumps(model)) == tree_sentence(
        "HistGradientBoostingClassifier._predictors[0][0]", "its node array has 2 dimensions instead of 1"
    )


def test_categorical_bin_mapper_is_refused() -> None:
    model = boosting()
    model._bin_mapper.is_categorical_[0] = 1

    assert refusal(skops.io.dumps(model)) == (
        "m.skops: HistGradientBoostingClassifier._bin_mapper.is_categorical_ marks categorical features, "
        f"which hokusai does not use (its features are numbers); {FIX}"
    )


def test_tampered_gradient_boosting_is_refused_by_type() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=2, random_state=0).fit(X, Y)
    model.estimators_[0, 0].tree_ = retree(model.estimators_[0, 0].tree_, left_child={0: 10**12})

    assert refusal(skops.io.dumps(model)) == (
        "m.skops contains types hokusai does not trust (sklearn.dummy.DummyClassifier, "
        f"sklearn.ensemble._gb.GradientBoostingClassifier); {UNTRUSTED_TAIL}"
    )


def test_estimator_of_another_type_inside_a_forest_is_refused() -> None:
    from sklearn.svm import SVC

    model = forest()
    model.estimators_[2] = SVC().fit(X, Y)

    assert refusal(skops.io.dumps(model)) == (
        f"m.skops contains types hokusai does not trust (sklearn.svm._classes.SVC); {UNTRUSTED_TAIL}"
    )


def test_forest_tree_with_another_feature_count_is_refused() -> None:
    model = forest()
    model.estimators_[0].n_features_in_ = 3

    assert refusal(skops.io.dumps(model)) == (
        f"m.skops: RandomForestClassifier.estimators_[0].n_features_in_ is 3 where the model has 2; {FIX}"
    )


# --------------------------------------------------------------------------- arrays


def test_object_array_coefficients_are_refused() -> None:
    model = logistic()
    model[-1].coef_ = model[-1].coef_.astype(object)
    data = skops.io.dumps(model)
    unchecked = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    with pytest.raises(TypeError):  # control: without the check, predict fails in numpy
        unchecked.predict_proba(X)

    assert refusal(data) == f"m.skops: Pipeline.steps[1][1].coef_ holds object values instead of numbers; {FIX}"


@pytest.mark.parametrize(
    ("tamper", "sentence"),
    [
        (lambda m: setattr(m[-1], "intercept_", np.array([np.nan])),
         "Pipeline.steps[1][1].intercept_ holds NaN or infinite values"),
        (lambda m: setattr(m[0], "scale_", np.array(["a", "b"])),
         "Pipeline.steps[0][1].scale_ holds text values instead of numbers"),
        (lambda m: setattr(m[0], "mean_", np.array([1 + 2j, 0j])),
         "Pipeline.steps[0][1].mean_ holds complex128 values instead of numbers"),
        (lambda m: setattr(m[-1], "classes_", _objects(0, {"a": 1})),
         "Pipeline.steps[1][1].classes_ holds dict values instead of class labels"),
        (lambda m: setattr(m[-1], "classes_", [0, 1]),
         "Pipeline.steps[1][1].classes_ is a list, not an array of class labels"),
        (lambda m: setattr(m[-1], "n_features_in_", "2"),
         "Pipeline.steps[1][1].n_features_in_ is '2' where the model has 2"),
    ],
    ids=["nan-intercept", "text-scale", "complex-mean", "dict-label", "list-classes", "text-feature-count"],
)
def test_tampered_fitted_array_is_refused(tamper: Callable[[Any], None], sentence: str) -> None:
    model = logistic()
    tamper(model)

    assert refusal(skops.io.dumps(model)) == f"m.skops: {sentence}; {FIX}"


def _objects(*items: Any) -> Any:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def test_pickled_object_array_in_the_zip_is_refused() -> None:
    def pickle_coef(schema: dict, members: dict[str, bytes]) -> None:
        logistic_state = schema["content"]["content"]["steps"]["content"][1]["content"][1]["content"]["content"]
        buffer = io.BytesIO()
        np.save(buffer, _objects(1.0, "x"), allow_pickle=True)
        members[logistic_state["coef_"]["file"]] = buffer.getvalue()

    data = with_schema(dump_model(logistic()), pickle_coef)

    assert refusal(data) == (
        "m.skops is not a readable skops model file (Object arrays cannot be loaded when allow_pickle=False); "
        "save it with skops.io.dump."
    )


def test_object_array_written_into_the_schema_is_refused() -> None:
    def text_intercept(schema: dict, members: dict[str, bytes]) -> None:
        def json_node(cls: str, content: str) -> dict:
            return {"__class__": cls, "__module__": "builtins", "__loader__": "JsonNode", "content": content,
                    "is_json": True}

        logistic_state = schema["content"]["content"]["steps"]["content"][1]["content"][1]["content"]["content"]
        shape = {"__class__": "tuple", "__module__": "builtins", "__loader__": "TupleNode",
                 "content": [json_node("int", "2")]}
        logistic_state["intercept_"] = {  # how skops writes an object array: a JSON list of its items
            "__class__": "ndarray", "__module__": "numpy", "__loader__": "NdArrayNode", "type": "json",
            "content": [json_node("str", '"x"'), json_node("str", '"y"')], "shape": shape,
        }

    data = with_schema(dump_model(logistic()), text_intercept)

    assert refusal(data) == f"m.skops: Pipeline.steps[1][1].intercept_ holds object values instead of numbers; {FIX}"


# --------------------------------------------------------------------------- genuine models


def test_trees_fitted_on_missing_values_load() -> None:
    """scikit-learn writes an infinite threshold for a split that sends missing values one
    way; such genuine trees must still load."""
    from sklearn.tree import DecisionTreeClassifier

    gappy = np.vstack([X, [[np.nan, 0], [np.nan, 3]]])
    labels = np.append(Y, [0, 1])
    for model in (DecisionTreeClassifier(random_state=0).fit(gappy, labels),
                  fit("hist_gradient_boosting", {"max_iter": 3, "min_samples_leaf": 1}, 1, gappy, labels)):
        loaded = load_model(dump_model(model), "m.skops")
        assert np.array_equal(loaded.predict_proba(gappy), model.predict_proba(gappy))


def test_inf_threshold_is_what_sklearn_writes_for_a_missing_value_split() -> None:
    from sklearn.tree import DecisionTreeClassifier

    column = np.array([[1.0], [2.0], [np.nan], [np.nan], [1.5], [np.nan]])
    model = DecisionTreeClassifier(random_state=0).fit(column, [0, 0, 1, 1, 0, 1])

    assert np.isinf(model.tree_.threshold).any()
    assert load_model(skops.io.dumps(model), "m.skops").predict(column).tolist() == [0, 0, 1, 1, 0, 1]


# --------------------------------------------------------------------------- controls


def run_unchecked(tmp_path: Path, data: bytes) -> subprocess.Popen:
    path = tmp_path / "unchecked.skops"
    path.write_bytes(data)
    return subprocess.Popen([sys.executable, "-c", UNCHECKED_PREDICT, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "make",
    [lambda: tampered_tree(left_child={0: 10**12}), lambda: tampered_predictor(left={0: 2**31})],
    ids=["decision-tree", "hist-gradient-boosting"],
)
def test_control_an_unchecked_out_of_range_tree_crashes_predict(tmp_path: Path, make: Callable[[], bytes]) -> None:
    process = run_unchecked(tmp_path, make())
    try:
        stdout, stderr = process.communicate(timeout=90)
    finally:
        process.kill()

    assert stdout == "predicting\n", stderr  # loaded fine, died in predict()
    assert process.returncode in (-signal.SIGSEGV, -signal.SIGBUS), (process.returncode, stderr)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "make",
    [lambda: tampered_tree(right_child={3: 1}), lambda: tampered_predictor(right={1: 0})],
    ids=["decision-tree", "hist-gradient-boosting"],
)
def test_control_an_unchecked_cyclic_tree_hangs_predict(tmp_path: Path, make: Callable[[], bytes]) -> None:
    process = run_unchecked(tmp_path, make())
    try:
        assert process.stdout.readline() == "predicting\n"
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=5)  # predict() never returns
    finally:
        process.kill()
        process.communicate()


@pytest.mark.timeout(120)
def test_control_the_same_child_predicts_an_untampered_tree(tmp_path: Path) -> None:
    model = decision_tree()
    process = run_unchecked(tmp_path, skops.io.dumps(model))
    stdout, stderr = process.communicate(timeout=90)

    assert process.returncode == 0, stderr
    assert stdout == f"predicting\n{model.predict_proba(X).round(3).tolist()}\n"


# --------------------------------------------------------------------------- hokusai validate


def fixture_model(kind: str) -> tuple[bytes, str]:
    """A model trained on the bundled base data, tampered with, and the problem text."""
    base = pd.read_csv(FIXTURES / "base.csv")
    features, target = base.drop(columns=["target"]), base["target"]
    if kind == "forest":
        model = fit("random_forest", {"n_estimators": 3}, 1, features, target)
        tree = model.estimators_[0].tree_
        model.estimators_[0].tree_ = retree(tree, right_child={0: 10**12})
        return skops.io.dumps(model), (
            "RandomForestClassifier.estimators_[0].tree_ is not a valid tree "
            f"(node 0 has child 1000000000000, expected a later node below {tree.node_count})"
        )
    if kind == "boosting":
        model = fit("hist_gradient_boosting", {"max_iter": 3, "min_samples_leaf": 2}, 1, features, target)
        nodes = model._predictors[0][0].nodes
        assert len(nodes) > 1
        nodes["left"][0] = 0
        return skops.io.dumps(model), (
            "HistGradientBoostingClassifier._predictors[0][0] is not a valid tree "
            f"(node 0 has child 0, expected a later node below {len(nodes)})"
        )
    model = fit("logistic_regression", {}, 1, features, target)
    model[-1].coef_ = model[-1].coef_.astype(object)
    return skops.io.dumps(model), "Pipeline.steps[1][1].coef_ holds object values instead of numbers"


@pytest.mark.parametrize("kind", ["forest", "boosting", "logistic"])
def test_validate_refuses_a_hostile_baseline_model(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data, problem = fixture_model(kind)
    Path("models").mkdir()
    Path("models/baseline.skops").write_bytes(data)
    Path("hokusai.toml").write_text(
        f'[data]\nbase = "{FIXTURES / "base.csv"}"\nbenchmark = "{FIXTURES / "benchmark.csv"}"\n'
        'baseline_model = "models/baseline.skops"\n'
    )
    pd.read_csv(FIXTURES / "contrib_alice.csv").head(5).to_csv("rows.csv", index=False)

    result = invoke("validate", "--project", ".", "rows.csv", "--wallet", ALICE)

    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == f"Error: models/baseline.skops: {problem}; {FIX}"
    assert "Traceback" not in result.stderr and result.stdout == ""
