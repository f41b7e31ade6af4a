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
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
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
)

#: A fixed zip timestamp: skops stamps the current time, which would make every dump differ.
_EPOCH = (1980, 1, 1, 0, 0, 0)
_ID_PATTERN = re.compile(r'"__id__": (\d+)|"(\d+)\.npy"')


#: Configured estimator name of each final classifier class, so a model trained here and one
#: loaded from a file are named the same way in artifacts and evidence.
ESTIMATOR_NAMES = {
    "LogisticRegression": "logistic_regression",
    "RandomForestClassifier": "random_forest",
    "HistGradientBoostingClassifier": "hist_gradient_boosting",
}


def estimator_name(model: Any) -> str:
    """`logistic_regression` for a LogisticRegression (alone or last in a Pipeline), etc."""
    final = model[-1] if hasattr(model, "steps") else model
    return ESTIMATOR_NAMES.get(type(final).__name__, type(final).__name__)


def make_estimator(name: str, params: dict[str, Any], seed: int) -> Any:
    """The configured estimator, seeded. Baseline and candidate both come from here."""
    if name == "logistic_regression":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        kw = {"max_iter": 1000, "random_state": seed, **params}
        return make_pipeline(StandardScaler(), LogisticRegression(**kw))
    if name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**{"n_estimators": 100, "random_state": seed, **params})
    if name == "hist_gradient_boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(**{"random_state": seed, **params})
    raise ModelError(f"Unknown estimator {name!r}; use logistic_regression, random_forest or hist_gradient_boosting.")


def fit(name: str, params: dict[str, Any], seed: int, X: Any, y: Any) -> Any:
    """Fit the configured estimator; bad hyper-parameters become a config error."""
    try:
        estimator = make_estimator(name, params, seed)
        return estimator.fit(X, y)
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


def load_model(data: bytes, source: str) -> Any:
    """Load a skops model, trusting only TRUSTED_TYPES; `source` names the file in errors."""
    import skops.io

    if not data:
        raise ModelError(f"{source} is empty; save the model with skops.io.dump.")
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a skops file"
        raise ModelError(f"{source} is not a readable skops model file ({exc}); save it with skops.io.dump.") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if not refused:
        # skops trusts every scikit-learn estimator by default (an SVC loads with no
        # untrusted type): hold the estimator and its pipeline steps to TRUSTED_TYPES too.
        model = skops.io.loads(data, trusted=list(untrusted))
        parts = [step for _, step in model.steps] if hasattr(model, "steps") else []
        refused = sorted({_type_path(part) for part in [model, *parts]} - set(TRUSTED_TYPES))
    if refused:
        raise ModelError(
            f"{source} contains types hokusai does not trust ({', '.join(refused)}); "
            "use a scikit-learn LogisticRegression, RandomForest or HistGradientBoosting classifier."
        )
    return model


def _type_path(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


