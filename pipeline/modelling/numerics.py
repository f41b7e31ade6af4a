"""Canonical numerics: the evidence must not depend on the machine's BLAS kernel.

OpenBLAS picks a kernel per CPU (Haswell, SkylakeX, Zen...) and sums in a different order
on each: a logistic regression's coefficients then differ in their last ~5 bits (measured:
up to 3.7e-14 relative), so its skops bytes, its commitment and the evidence hash differ
from one machine to the next. Every fitted model's learned floating-point state and every
predicted value is therefore rounded to `SIGNIFICANT_BITS` bits (ties to even) before it is
hashed, stored, used to predict or scored. Two machines then agree unless one of their
values lies within their difference of a rounding boundary: with differences of 2^-44 and a
quantum of 2^-24, about one value in a million. `hokusai reproduce` names such a case.

Values that stand for data are kept exact: split thresholds (a tree's `threshold`, a
binner's `bin_thresholds_`), class labels and categories. They are data values or midpoints
of data values, computed without BLAS, and rounding one could move a split across a data
value or rename a class."""

from __future__ import annotations

from typing import Any

#: Fraction bits kept of float64's 52: a relative quantum of at most 2^-24 (float32's
#: precision), 2^20 times the largest kernel-to-kernel difference measured.
SIGNIFICANT_BITS = 24
_DROPPED = 52 - SIGNIFICANT_BITS


def round_floats(values: Any) -> Any:
    """`values` (an array or a float) with every finite float64 rounded to SIGNIFICANT_BITS
    fraction bits, ties to even; NaN, infinities and non-float64 data unchanged."""
    import numpy as np

    if isinstance(values, (float, np.floating)) and not isinstance(values, np.float32):
        return type(values)(round_floats(np.array([values], dtype=np.float64))[0])
    array = np.asarray(values)
    if array.dtype != np.float64:
        return values
    bits = np.ascontiguousarray(array).view(np.uint64)
    half = np.uint64((1 << (_DROPPED - 1)) - 1)
    odd = (bits >> np.uint64(_DROPPED)) & np.uint64(1)
    rounded = ((bits + half + odd) & ~np.uint64((1 << _DROPPED) - 1)).view(np.float64)
    keep = ~np.isfinite(array) | ~np.isfinite(rounded)
    return np.where(keep, array, rounded)


#: Parts of attribute or field names whose values stand for data and are kept exact.
_EXACT = ("threshold", "classes", "categor", "edges", "feature_names", "bitset")


def _is_exact(name: str) -> bool:
    return any(part in name for part in _EXACT)


def _round_record(array: Any) -> Any:
    """A structured array (a tree's nodes) with every float64 field rounded but exact ones (thresholds)."""
    import numpy as np

    out = array.copy()
    for name in array.dtype.names:
        if array.dtype[name] == np.float64 and not _is_exact(name):
            out[name] = round_floats(array[name])
    return out


def _canonical(value: Any, learned: bool) -> Any:
    """`value` with its learned floats rounded: a float or an array is returned rounded (when
    `learned`); estimators, trees and containers are rounded in place and returned."""
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.tree._tree import Tree

    if isinstance(value, np.ndarray):
        if not learned:
            return value
        if value.dtype.names is not None:
            return _round_record(value)
        if value.dtype == object:
            for i, item in enumerate(value.flat):
                value.flat[i] = _canonical(item, learned)
            return value
        return round_floats(value)
    if isinstance(value, (float, np.floating)):
        return round_floats(value) if learned else value
    if isinstance(value, list):
        value[:] = [_canonical(v, learned) for v in value]
        return value
    if isinstance(value, tuple):
        return type(value)(_canonical(v, learned) for v in value) if not hasattr(value, "_fields") else value
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _canonical(value[key], learned)
        return value
    if isinstance(value, Tree):
        state = value.__getstate__()
        state["nodes"] = _round_record(state["nodes"])
        state["values"] = round_floats(state["values"])
        value.__setstate__(state)
        return value
    if isinstance(value, BaseEstimator) or type(value).__name__ == "TreePredictor":
        params = set(value.get_params(deep=False)) if isinstance(value, BaseEstimator) else set()
        for key, item in vars(value).items():
            # hyper-parameters are the user's, not learned: only estimators inside them are visited
            is_learned = key not in params and not _is_exact(key)
            setattr(value, key, _canonical(item, is_learned) if is_learned or key in params else item)
        return value
    return value


def canonicalise(model: Any) -> Any:
    """Round `model`'s learned floating-point state in place (see the module docstring) and
    return it. Hyper-parameters and split thresholds are left exact. Idempotent."""
    return _canonical(model, learned=False)


def canonical_predictions(values: Any) -> Any:
    """Predicted probabilities (or values) rounded like a model's state, before any metric."""
    return round_floats(values)
