"""Estimators and model files: one factory for baseline and candidate, and a byte-stable
skops form so a model's sha256 depends only on what it learned."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from pipeline.errors import ModelError

#: Types a model file may contain beyond skops' defaults. Anything else is refused, so a
#: file handed in by a user can never run code on load (no pickle).
TRUSTED_TYPES = (
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "collections.OrderedDict",
    "builtins.slice",
    "numpy.dtype",
    "numpy.ndarray",
    "sklearn.preprocessing._label.LabelEncoder",
    # typed columns: encoders and imputation in front of the model (`make_estimator`)
    # regression estimators (`[model] task = "regression"`)
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
)

#: Types skops leaves untrusted because scikit-learn follows the indices in their node arrays
#: without bounds checks: a crafted file loads, then crashes or hangs the process in
#: predict(). They are loaded only to be checked node by node (`_tree_problem`) before the
#: model is handed out.
CHECKED_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

#: The fix named by every sentence about a model file whose content is not what scikit-learn
#: writes (tampered, corrupted or hand-made).
REFIT = "fit the baseline again and save it with skops.io.dump"

#: Float arrays that may hold NaN or infinity in a genuine fit and that predict() never reads.
#: (`statistics_`: a SimpleImputer's value for a column with no value at all is NaN, and that
#: column is dropped, never read.)
_DIAGNOSTIC_ARRAYS = frozenset({"oob_decision_function_", "oob_prediction_", "train_score_", "validation_score_",
                                "statistics_"})

#: A fixed zip timestamp: skops stamps the current time, which would make every dump differ.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_ID_PATTERN = re.compile(r'"__id__": (\d+)|"(\d+)\.npy"')


#: Configured estimator name of each final classifier class, so a model trained here and one
#: loaded from a file are named the same way in artifacts and evidence.
ESTIMATOR_NAMES = {
    "LogisticRegression": "logistic_regression",
    "RandomForestClassifier": "random_forest",
    "HistGradientBoostingClassifier": "hist_gradient_boosting",
    "Ridge": "ridge",
    "RandomForestRegressor": "random_forest",
    "HistGradientBoostingRegressor": "hist_gradient_boosting",
}
#: The estimators that need scaled numbers and one-hot categories (the rest are trees).
LINEAR = ("logistic_regression", "ridge")


def estimator_name(model: Any) -> str:
    """`logistic_regression` for a LogisticRegression (alone or last in a Pipeline), etc."""
    final = model[-1] if hasattr(model, "steps") else model
    return ESTIMATOR_NAMES.get(type(final).__name__, type(final).__name__)


def make_estimator(
    name: str, params: dict[str, Any], seed: int, kinds: dict[str, str] | None = None, missing: bool = False,
    task: str = "binary",
) -> Any:
    """The configured estimator, seeded (`auto`: logistic_regression, or ridge for a regression). Baseline and candidate both come from here.

    `kinds` ({feature: kind}, `pipeline.data.columns`) and `missing` (some feature value is
    empty) decide what goes in front of the model: with numbers only and no gaps, the model
    alone (a logistic regression or a ridge behind a StandardScaler); otherwise a
    `ColumnTransformer` that one-hot encodes categories (unknown ones ignored) and imputes
    numbers by their median for the linear models, and ordinal-encodes categories for the
    tree models (which split on gaps themselves; an unknown category counts as a gap).
    `task` "regression" makes the regressor of the same name."""
    if name == "auto":
        name = "ridge" if task == "regression" else "logistic_regression"
    model = _model(name, params, seed, task)
    kinds = kinds or {}
    categorical = [c for c, kind in kinds.items() if kind == "categorical"]
    others = [c for c, kind in kinds.items() if kind != "categorical"]
    if name in LINEAR:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if not categorical and not missing:
            return make_pipeline(StandardScaler(), model)
    elif not categorical:
        return model
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if name in LINEAR:
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric: Any = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        encode: Any = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    else:
        import numpy as np
        from sklearn.preprocessing import OrdinalEncoder

        numeric = "passthrough"
        encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
    columns = ColumnTransformer([("numeric", numeric, others), ("categorical", encode, categorical)],
                                verbose_feature_names_out=False)
    return Pipeline([("columns", columns), ("model", model)])


def _model(name: str, params: dict[str, Any], seed: int, task: str = "binary") -> Any:
    """The configured scikit-learn model alone, seeded: a classifier, or for `task`
    "regression" a regressor."""
    regression = task == "regression"
    if name == "auto":  # as `modelling.task.resolve_settings` resolves it
        name = "ridge" if regression else "logistic_regression"
    if name == "logistic_regression" and not regression:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(**{"max_iter": 1000, "random_state": seed, **params})
    if name == "ridge" and regression:
        from sklearn.linear_model import Ridge

        return Ridge(**{"random_state": seed, **params})
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        forest = RandomForestRegressor if regression else RandomForestClassifier
        return forest(**{"n_estimators": 100, "random_state": seed, **params})
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        boosting = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return boosting(**{"random_state": seed, **params})
    if name in ("logistic_regression", "ridge"):
        raise ModelError(f"Estimator {name!r} does not suit a {task} task; use "
                         f"{'ridge' if regression else 'logistic_regression'}, random_forest or hist_gradient_boosting.")
    raise ModelError(f"Unknown estimator {name!r}; use logistic_regression, ridge, random_forest or hist_gradient_boosting.")


def fit(
    name: str, params: dict[str, Any], seed: int, X: Any, y: Any, kinds: dict[str, str] | None = None,
    missing: bool = False, task: str = "binary",
) -> Any:
    """Fit the configured estimator (`make_estimator` for the `kinds` of X's columns, and
    `missing`: whether any table of the run has a gap), its learned floats made canonical
    (`numerics`); bad hyper-parameters become a config error."""
    from pipeline.modelling.numerics import canonicalise

    try:
        estimator = make_estimator(name, params, seed, kinds, missing, task)
        return canonicalise(estimator.fit(X, y))
    except (TypeError, ValueError) as exc:
        if "parameter" in str(exc) or "unexpected keyword" in str(exc):
            raise ModelError(
                f"model.params does not suit {name}: {str(exc).rstrip('.')}; fix the [model] params in hokusai.toml."
            ) from None
        raise


def dump_model(model: Any) -> bytes:
    """skops bytes made byte-stable: identical models give identical bytes.

    skops names nodes and array files after Python object ids (`id()`) and stamps the zip
    with the current time. We renumber those ids in order of first appearance in the schema,
    rename the `.npy` members to match, sort members and fix the timestamps. The result is
    still a plain skops file (`skops.io.load` reads it)."""
    import skops.io

    with zipfile.ZipFile(io.BytesIO(skops.io.dumps(model))) as src:
        schema = src.read("schema.json").decode("utf-8")
        members = {name: src.read(name) for name in src.namelist() if name != "schema.json"}
    order: dict[str, str] = {}
    for match in _ID_PATTERN.finditer(schema):
        number = match.group(1) or match.group(2)
        order.setdefault(number, str(len(order) + 1))

    def renumber(match: re.Match[str]) -> str:
        if match.group(1):
            return f'"__id__": {order[match.group(1)]}'
        return f'"{order[match.group(2)]}.npy"'

    members["schema.json"] = _ID_PATTERN.sub(renumber, schema).encode("utf-8")
    renamed = {
        (f"{order[name[:-4]]}.npy" if name.endswith(".npy") and name[:-4] in order else name): (
            _zero_padding(data) if name.endswith(".npy") else data
        )
        for name, data in members.items()
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, renamed[name])
    return out.getvalue()


def _zero_padding(data: bytes) -> bytes:
    """An .npy member with the padding bytes of a structured dtype zeroed. A tree's node
    array (`sklearn.tree._tree.Tree`) has 7 padding bytes per node that hold whatever was
    in memory, so the same forest could otherwise dump to different bytes."""
    import numpy as np

    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError:
        return data
    if array.dtype.names is None:
        return data
    clean = np.zeros(array.shape, dtype=array.dtype)
    for name in array.dtype.names:
        clean[name] = array[name]
    out = io.BytesIO()
    np.save(out, clean, allow_pickle=False)
    return out.getvalue()


def stored_types(data: bytes) -> list[str]:
    """The types a skops file names (what MLflow's loader must be told to trust)."""
    import skops.io

    return sorted(skops.io.get_untrusted_types(data=data))


def load_model(data: bytes, source: str) -> Any:
    """Load a skops model, trusting only TRUSTED_TYPES and CHECKED_TYPES, and check what it
    holds before handing it out: every estimator inside it is of a trusted type, its arrays
    hold numbers (finite where predict() reads them) and its trees are well formed (see
    `_check_model`). `source` names the file in errors."""
    import skops.io

    if not data:
        raise ModelError(f"{source} is empty; save the model with skops.io.dump.")
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a skops file"
        raise _unreadable(source, exc) from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES) - set(CHECKED_TYPES))
    if refused:
        raise _untrusted(source, refused)
    try:
        model = skops.io.loads(data, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001 - a crafted file fails in numpy or skops, e.g. a pickled .npy
        raise _unreadable(source, exc) from None
    _check_model(model, source)
    return model


def _untrusted(source: str, refused: list[str]) -> ModelError:
    return ModelError(
        f"{source} contains types hokusai does not trust ({', '.join(refused)}); "
        "use a scikit-learn LogisticRegression, RandomForest or HistGradientBoosting classifier."
    )


def _unreadable(source: str, exc: BaseException) -> ModelError:
    detail = " ".join(str(exc).split()).rstrip(".")
    return ModelError(f"{source} is not a readable skops model file ({detail}); save it with skops.io.dump.")


def _type_path(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _check_model(model: Any, source: str) -> None:
    """Refuse a loaded model whose content scikit-learn could not have written.

    skops rebuilds whatever the file describes: an estimator of any type it trusts, arrays of
    any dtype (an object array is stored as a JSON list), trees whose node indices point
    anywhere. Walk everything the model holds and require: every estimator in it (pipeline
    steps, a forest's trees, ...) of a trusted type; every array numeric, or labels for
    `classes_` and names for `feature_names_in_`; float arrays finite unless they are fit
    diagnostics; one `n_features_in_` throughout (inside a ColumnTransformer each part reads
    its own columns); categories text or numbers; no categorical split; every
    `Tree`/`TreePredictor` a true tree (`_tree_problem`). A model that passes cannot make
    predict() read out of bounds or loop for ever."""
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    from sklearn.compose import ColumnTransformer

    steps = [step for _, step in getattr(model, "steps", [])]
    # what the model reads: the input's width, or behind a ColumnTransformer the width it makes
    reader = steps[-1] if steps and isinstance(steps[0], ColumnTransformer) else model
    n_features = _count(getattr(reader, "n_features_in_", None))
    classes = getattr(model, "classes_", None)
    refused: set[str] = set()
    problems: list[tuple[str, str]] = []  # (where, what is wrong); the first is reported
    trees: list[tuple[str, Any]] = []
    seen: set[int] = set()

    def walk(value: Any, where: str, name: str, columns: bool = False) -> None:
        """`columns`: inside a ColumnTransformer, whose parts each read some of the input columns."""
        if isinstance(value, (str, bytes, int, float, bool, type(None), np.generic)) or id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, np.ndarray):
            problem = _array_problem(value, name)
            if problem:
                problems.append((where, problem))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]", name, columns)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}[{key!r}]", name, columns)
        elif isinstance(value, (Tree, TreePredictor)):
            trees.append((where, value))
            if isinstance(value, TreePredictor):
                for key in ("binned_left_cat_bitsets", "raw_left_cat_bitsets"):
                    walk(getattr(value, key, None), f"{where}.{key}", key)
        elif type(value).__module__.startswith("sklearn.") and hasattr(value, "__dict__"):
            if isinstance(value, BaseEstimator) and _type_path(value) not in TRUSTED_TYPES:
                refused.add(_type_path(value))
            state = vars(value)
            columns = columns or isinstance(value, ColumnTransformer)
            width, labels = state.get("n_features_in_"), state.get("classes_", np.empty(0))
            if "n_features_in_" in state and (_count(width) is None or (width != n_features and not columns)):
                problems.append((f"{where}.n_features_in_", f"is {width!r} where the model has {n_features!r}"))
            if not isinstance(labels, np.ndarray):
                problems.append((f"{where}.classes_", f"is a {type(labels).__name__}, not an array of class labels"))
            for key, item in state.items():
                walk(item, f"{where}.{key}", key, columns)

    walk(model, type(model).__name__, "")
    if refused:
        raise _untrusted(source, sorted(refused))
    if trees and n_features is None:
        problems.append((type(model).__name__, "holds trees but no number of features (n_features_in_)"))
    n_classes = len(classes) if isinstance(classes, np.ndarray) else None
    for where, tree in trees if not problems else ():
        problem = _tree_problem(tree, n_features, n_classes)
        if problem:
            problems.append((where, f"is not a valid tree ({problem})"))
            break
    if problems:
        where, problem = problems[0]
        raise ModelError(f"{source}: {where} {problem}; {REFIT}.")


def _count(value: Any) -> int | None:
    """A positive whole number as an int (a count of features), else None."""
    import numpy as np

    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and value >= 1:
        return int(value)
    return None


def _array_problem(array: Any, name: str) -> str | None:
    """What is wrong with an array named `name` in a loaded model, or None: it must hold
    numbers (labels in `classes_`, names in `feature_names_in_`), finite unless it is a fit
    diagnostic, and flag no categorical feature."""
    import numpy as np

    kind = array.dtype.kind
    if name == "categories_":  # an encoder's categories: text or numbers, NaN for the gap category
        bad = [item for item in array.ravel().tolist()
               if not isinstance(item, (str, int, float, np.integer, np.floating)) or isinstance(item, bool)][:1]
        if bad or kind not in ("U", "O", "i", "u", "f"):
            return f"holds {type(bad[0]).__name__ if bad else _dtype_name(array)} values instead of categories"
        return None
    if name in ("classes_", "feature_names_in_"):
        expected = "class labels" if name == "classes_" else "feature names"
        items = array.tolist() if array.ndim == 1 else [array]
        allowed = (str,) if name == "feature_names_in_" else (str, int, float, np.integer, np.floating, np.bool_)
        bad = [item for item in items if not isinstance(item, allowed)][:1]
        if bad or kind not in ("U", "O", "b", "i", "u", "f") or (kind == "f" and not np.isfinite(array).all()):
            return f"holds {type(bad[0]).__name__ if bad else _dtype_name(array)} values instead of {expected}"
        return None
    if kind not in ("b", "i", "u", "f"):
        return f"holds {_dtype_name(array)} values instead of numbers"
    if kind == "f" and name not in _DIAGNOSTIC_ARRAYS and not np.isfinite(array).all():
        return "holds NaN or infinite values"
    if name == "is_categorical_" and array.any():
        return "marks categorical features, which hokusai does not use (its features are numbers)"
    return None


def _dtype_name(array: Any) -> str:
    if array.dtype.names is not None:
        return "structured"
    return {"O": "object", "U": "text", "S": "bytes"}.get(array.dtype.kind, array.dtype.name)


def _tree_problem(tree: Any, n_features: int, n_classes: int | None) -> str | None:
    """Why a `Tree` or a `TreePredictor` is not a tree that predict() can walk safely, or None.

    scikit-learn reads `nodes[child]` and `X[row, feature]` without bounds checks and stops
    only at a leaf. So: every split node has two children, each a later node in range (no
    self-link, no link back, hence no cycle), every node but the root has exactly one
    parent, every split reads a feature the model has, thresholds are numbers (infinity is
    what scikit-learn writes for a split on missing values) and values are finite. A
    `Tree` must also match the model's classes and its `max_depth` (which sizes the buffers
    of `decision_path`); a `TreePredictor` must have scikit-learn's node layout and no
    categorical split."""
    import numpy as np
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.tree._tree import Tree

    if isinstance(tree, Tree):
        n = int(tree.node_count)
        if n < 1:
            return "it has no nodes"
        if tree.n_outputs != 1 or tree.n_classes.tolist() != [n_classes if n_classes is not None else 1]:
            shown = tree.n_classes.tolist()
            return f"it predicts {shown[0] if len(shown) == 1 else shown} classes where the model has {n_classes}"
        if tree.n_features != n_features:
            return f"it reads {tree.n_features} features where the model has {n_features}"
        left, right = tree.children_left, tree.children_right
        feature, threshold, value = tree.feature, tree.threshold, tree.value
        leaf = left == -1
        half = leaf != (right == -1)
        if half.any():
            return f"node {int(np.argmax(half))} has only one child"
        categorical = np.zeros(n, dtype=bool)
    else:
        nodes = getattr(tree, "nodes", None)
        if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
            shown = _dtype_name(nodes) if isinstance(nodes, np.ndarray) else type(nodes).__name__
            return f"its nodes are {shown}, not scikit-learn's node records"
        if nodes.ndim != 1:
            return f"its node array has {nodes.ndim} dimensions instead of 1"
        n = len(nodes)
        if n < 1:
            return "it has no nodes"
        left, right = nodes["left"].astype(np.int64), nodes["right"].astype(np.int64)
        feature, threshold, value = nodes["feature_idx"], nodes["num_threshold"], nodes["value"]
        leaf = nodes["is_leaf"] != 0
        categorical = nodes["is_categorical"] != 0
    split = ~leaf
    index = np.arange(n)
    for child in (left, right):
        bad = split & ((child <= index) | (child >= n))
        if bad.any():
            i = int(np.argmax(bad))
            return f"node {i} has child {int(child[i])}, expected a later node below {n}"
    parents = np.bincount(np.concatenate([left[split], right[split]]), minlength=n)
    bad = parents[1:] != 1
    if bad.any():
        i = int(np.argmax(bad)) + 1
        return f"node {i} has {int(parents[i])} parents, expected 1"
    bad = split & ((feature < 0) | (feature >= n_features))
    if bad.any():
        i = int(np.argmax(bad))
        return f"node {i} splits on feature {int(feature[i])}, expected 0 to {n_features - 1}"
    for bad, text in (
        (split & np.isnan(threshold), "has a NaN threshold"),
        (split & categorical, "is a categorical split, which hokusai does not use (its features are numbers)"),
    ):
        if bad.any():
            return f"node {int(np.argmax(bad))} {text}"
    if not np.isfinite(value).all():
        return "it holds NaN or infinite values"
    if isinstance(tree, Tree):
        depth, level = 0, index[:1]
        while split[level].any():
            level = level[split[level]]
            level, depth = np.concatenate([left[level], right[level]]), depth + 1
        if tree.max_depth != depth:
            return f"its max_depth is {tree.max_depth} but its nodes reach depth {depth}"
    return None
