"""pipeline.modelling.task: the task decided from the target, said aloud."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import DataError
from pipeline.modelling.task import resolve_task


@pytest.mark.parametrize(("values", "task", "why"), [
    (np.round(np.linspace(4.0, 5.6, 100), 1), "regression",
     "auto: 'y' holds 17 different numbers in 100 rows, a quantity"),  # magnitudes: fractions, few values
    (np.arange(25, 75).astype(float), "regression", "auto: 'y' holds 50 different numbers in 50 rows, a quantity"),
    (np.array([0.0, 1.0] * 30), "binary", "auto: 'y' holds 2 classes"),
    (np.arange(60) % 10, "multiclass", "auto: 'y' holds 10 classes"),  # digits
    (np.array(["Adelie", "Gentoo", "Chinstrap"] * 5, dtype=object), "multiclass", "auto: 'y' holds 3 classes"),
])
def test_auto_decides_from_the_target(values, task, why) -> None:
    assert resolve_task("auto", pd.Series(values), "b.csv", "y") == (task, why)


def test_a_set_task_is_checked_against_the_target() -> None:
    assert resolve_task("multiclass", pd.Series(np.arange(60) % 10), "b.csv", "y") == ("multiclass", "set in [model] task")
    with pytest.raises(DataError) as caught:
        resolve_task("regression", pd.Series(["a", "b"] * 5), "b.csv", "y")
    assert str(caught.value) == ('b.csv: the target \'y\' holds text, not numbers, but [model] task = "regression"; '
                                 'set task = "auto" (or "binary"/"multiclass"), or set [model] target to a numeric '
                                 "column.")
    with pytest.raises(DataError) as caught:
        resolve_task("binary", pd.Series([0, 1, 2] * 5), "b.csv", "y")
    assert str(caught.value) == 'b.csv: the target \'y\' holds 3 classes, but [model] task = "binary"; set task = ' \
                                '"multiclass" (or "auto").'
