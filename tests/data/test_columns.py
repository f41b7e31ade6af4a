"""pipeline.data.columns: the kind of each feature, inferred once from the base data, and
every file's columns converted to it; unusable columns named all at once."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from pipeline.data.columns import BOOLEAN, CATEGORICAL, DATE, NUMERIC, convert, has_gaps, infer_kinds
from pipeline.data.conform import _rows
from pipeline.data.tables import read_table
from pipeline.errors import DataError

CSV = b"""n,flag,day,town,code,target
1.5,true,2024-03-01,Oslo,3,a
2,False,2024-03-02,,1,b
,yes,,Bergen,2,a
4,no,2024-03-04T10:00,Oslo,3,b
"""
FEATURES = ("n", "flag", "day", "town", "code")


def test_kinds_are_inferred_from_values_the_same_for_csv_and_json() -> None:
    from_csv = read_table("t.csv", CSV)
    from_json = read_table("t.json", from_csv.to_json(orient="records").encode())
    for frame in (from_csv, from_json):
        assert infer_kinds(frame, FEATURES, [], "t") == (NUMERIC, BOOLEAN, DATE, CATEGORICAL, NUMERIC)
    assert infer_kinds(from_csv, FEATURES, ["code"], "t")[-1] == CATEGORICAL  # codes forced to categories


def test_conversion_gives_floats_and_text_with_nan_gaps() -> None:
    frame = read_table("t.csv", CSV)
    kinds = infer_kinds(frame, FEATURES, ["code"], "t")
    out = convert(frame, FEATURES, kinds, "t.csv", _rows)
    assert out["flag"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert out["day"][:2].tolist() == [19783.0, 19784.0] and np.isnan(out["day"][2])
    assert out["day"][3] == pytest.approx(19786 + 10 / 24)
    assert out["town"][0] == "Oslo" and out["town"][1] != out["town"][1]  # NaN gap
    assert out["code"].tolist() == ["3", "1", "2", "3"]
    # a code written 3.0 in a Parquet file is the same category as 3 in a CSV
    again = convert(pd.DataFrame({"code": [3.0, 1.0]}), ("code",), (CATEGORICAL,), "p.parquet", _rows)
    assert again["code"].tolist() == ["3", "1"]
    assert has_gaps(FEATURES, frame) and not has_gaps(("flag",), frame)


def test_a_value_of_the_wrong_kind_names_file_column_and_rows() -> None:
    frame = pd.DataFrame({"flag": ["true", "maybe", "no"]}, index=[4, 7, 9])
    with pytest.raises(DataError) as caught:
        convert(frame, ("flag",), (BOOLEAN,), "c.csv", _rows)
    assert str(caught.value) == (
        "c.csv: column 'flag' has values that are not true/false (or yes/no) in row 8; fix or remove them.")
    with pytest.raises(DataError) as caught:
        convert(pd.DataFrame({"d": ["2024-01-01", "soon"]}), ("d",), (DATE,), "c.csv", _rows)
    assert str(caught.value) == (
        "c.csv: column 'd' has values that are not dates (ISO 8601, e.g. 2024-03-01) in row 2; fix or remove them.")


def test_every_unusable_column_is_named_in_one_sentence() -> None:
    frame = pd.DataFrame({
        "name": [f"passenger {i}" for i in range(25)], "ticket": [f"T{i}" for i in range(25)],
        "empty": [None] * 25, "sex": ["m", "f"] * 12 + ["m"], "age": range(25),
    })
    with pytest.raises(DataError) as caught:
        infer_kinds(frame, ("name", "ticket", "empty", "sex", "age"), [], "data/base.csv")
    assert str(caught.value) == (
        "data/base.csv: columns 'name' (a different text in every row: an ID or free text), 'ticket' (a different "
        "text in every row: an ID or free text), 'empty' (no values) cannot be used as features; list [model] "
        "features without them (or drop them from the file).")
    assert infer_kinds(frame, ("sex", "age"), [], "data/base.csv") == (CATEGORICAL, NUMERIC)


def test_few_rows_of_distinct_text_are_still_categories() -> None:
    frame = pd.read_csv(io.StringIO("town\nOslo\nBergen\nTromso\n"))
    assert infer_kinds(frame, ("town",), [], "b.csv") == (CATEGORICAL,)


def test_a_categorical_override_must_name_a_feature() -> None:
    with pytest.raises(DataError) as caught:
        infer_kinds(read_table("t.csv", CSV), FEATURES, ["code", "zip"], "data/base.csv")
    assert str(caught.value) == "[model] categorical lists 'zip', which is not a feature of data/base.csv; list only features."
