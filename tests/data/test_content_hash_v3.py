"""pipeline.data.content_hash: `hokusai.content/v3` (invariance, sensitivity, the reference
definition of docs/data.md, known-answer vectors), its row keys, and v2 left unchanged."""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.data import content_hash, content_hash_v2
from pipeline.data.content_hash import (
    CONTENT_V2,
    CONTENT_V3,
    canonical_order,
    content_sha256,
    content_sha256_v2,
    row_ids,
    subset_sha256,
    verify_content_sha256,
)
from pipeline.data.row_keys import keys_duplicated, keys_isin, row_keys
from pipeline.data.tables import read_table, write_table

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "content_hash_v3.json"
FORMATS = ["t.csv", "t.tsv", "t.json", "t.jsonl", "t.parquet"]

FRAME = pd.DataFrame({
    "x": [1.5, 2.0, -3.25, 0.0, 2.0],
    "n": [1, 2, 3, 4, 2],
    "city": ["Zürich", "Malmö", None, "東京", "Malmö"],
    "target": [0, 1, 0, 1, 1],
})


# --- the reference: docs/data.md, written the slow obvious way ---------------------------------

def cell(value: object) -> bytes:
    if isinstance(value, bool):
        return bytes([2, int(value)]) + bytes(7)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return bytes(9)
    if isinstance(value, (int, float)):
        return b"\x01" + struct.pack(">d", float(value) + 0.0)
    text = str(value).encode("utf-8")
    return b"\x03" + struct.pack(">I", len(text)) + text


def reference_stream(columns: list[str], rows: list[list[object]]) -> bytes:
    names = sorted(columns)
    rows = sorted(([row[columns.index(c)] for c in names] for row in rows), key=lambda row: b"".join(map(cell, row)))
    stream = f"hokusai.content/v3\n{json.dumps(names)}\n{len(rows)}\n".encode()
    return stream + b"".join(cell(row[j]) for j in range(len(names)) for row in rows)


def reference_v3(columns: list[str], rows: list[list[object]]) -> str:
    return "0x" + hashlib.sha256(reference_stream(columns, rows)).hexdigest()


def python_rows(frame: pd.DataFrame) -> list[list[object]]:
    """The frame's cells as plain Python values (None for gaps), as the reference takes them."""
    out = []
    for row in frame.astype(object).itertuples(index=False):
        out.append([None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else
                    v.item() if isinstance(v, np.generic) else v for v in row])
    return out


def reference_of(frame: pd.DataFrame) -> str:
    return reference_v3([str(c) for c in frame.columns], python_rows(frame))


# --- the definition ----------------------------------------------------------------------------

def test_v3_matches_the_documented_reference() -> None:
    assert content_sha256(FRAME) == reference_of(FRAME)
    assert content_sha256(FRAME).startswith("0x") and len(content_sha256(FRAME)) == 66


def test_known_answer_vectors() -> None:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert vectors["definition"] == CONTENT_V3
    assert len(vectors["tables"]) >= 4
    for table in vectors["tables"]:
        frame = pd.DataFrame(table["rows"], columns=table["columns"])
        assert content_sha256(frame) == table["sha256"], table["name"]
        assert reference_v3(table["columns"], table["rows"]) == table["sha256"], table["name"]
        assert content_sha256(frame.iloc[::-1, ::-1]) == table["sha256"], table["name"]


def test_the_smallest_vector_spelled_out_byte_for_byte() -> None:
    smallest = json.loads(VECTORS.read_text(encoding="utf-8"))["tables"][0]
    spelled = smallest["spelled_out"]
    header = bytes.fromhex(spelled["header_hex"])
    columns = b"".join(bytes.fromhex(spelled["columns_hex"][name]) for name in sorted(spelled["columns_hex"]))

    assert header.decode() == spelled["header_utf8"] == 'hokusai.content/v3\n["a", "b"]\n2\n'
    assert header + columns == bytes.fromhex(spelled["stream_hex"])
    assert "0x" + hashlib.sha256(header + columns).hexdigest() == smallest["sha256"]
    assert reference_stream(smallest["columns"], smallest["rows"]) == header + columns
    assert spelled["columns_hex"] == {"a": "01" + "00" * 8 + "01" + "3ff0000000000000",
                                      "b": "00" * 9 + "03" + "00000001" + "78"}


def test_v3_is_not_v2() -> None:
    assert content_sha256(FRAME) != content_sha256_v2(FRAME)
    assert verify_content_sha256(FRAME, content_sha256(FRAME)) == CONTENT_V3
    assert verify_content_sha256(FRAME, content_sha256_v2(FRAME)) == CONTENT_V2
    assert verify_content_sha256(FRAME.iloc[:2], content_sha256(FRAME)) is None


# --- invariance ----------------------------------------------------------------------------------

def test_row_order_and_column_order_do_not_matter() -> None:
    expected = content_sha256(FRAME)

    assert content_sha256(FRAME.iloc[[4, 2, 0, 3, 1]]) == expected
    assert content_sha256(FRAME[["target", "city", "n", "x"]]) == expected
    assert content_sha256(FRAME.iloc[::-1, ::-1].reset_index(drop=True)) == expected


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_through_a_real_file_gives_one_hash(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_table(FRAME.iloc[[3, 1, 4, 0, 2], [2, 0, 3, 1]], path)  # another row and column order

    frame = read_table(name, path.read_bytes())

    assert content_sha256(frame) == content_sha256(FRAME)


def test_files_written_by_hand_in_five_formats_give_one_hash(tmp_path: Path) -> None:
    files = {
        "h.csv": 'x,n,city,target\n1.5,1,Zürich,0\n2,2,Malmö,1\n-3.25,3,,0\n0,4,東京,1\n2.0,2,Malmö,1\n',
        "h.tsv": 'target\tcity\tx\tn\n1\tMalmö\t2\t2\n0\tZürich\t1.5\t1\n0\t\t-3.25\t3\n1\t東京\t-0.0\t4\n1\tMalmö\t2\t2\n',
        "h.json": json.dumps([{"x": 0, "n": 4, "city": "東京", "target": 1}, {"x": 1.5, "n": 1.0, "city": "Zürich", "target": 0},
                              {"x": -3.25, "n": 3, "city": None, "target": 0}, {"x": 2, "n": 2, "city": "Malmö", "target": 1},
                              {"x": 2.0, "n": 2, "city": "Malmö", "target": 1.0}], ensure_ascii=False),
        "h.jsonl": "\n".join(json.dumps(r, ensure_ascii=False) for r in [
            {"city": "Malmö", "x": 2.0, "n": 2, "target": 1}, {"city": None, "x": -3.25, "n": 3, "target": 0},
            {"city": "Zürich", "x": 1.5, "n": 1, "target": 0}, {"city": "Malmö", "x": 2.0, "n": 2, "target": 1},
            {"city": "東京", "x": -0.0, "n": 4, "target": 1}]) + "\n",
    }
    hashes = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        hashes[name] = content_sha256(read_table(name, (tmp_path / name).read_bytes()))
    FRAME.to_parquet(tmp_path / "h.parquet", index=False)
    hashes["h.parquet"] = content_sha256(read_table("h.parquet", (tmp_path / "h.parquet").read_bytes()))

    assert set(hashes.values()) == {content_sha256(FRAME)}, hashes


def test_numbers_by_value_one_one_point_oh_and_csv_one() -> None:
    ints = pd.DataFrame({"a": [1, 2, 0]})
    floats = pd.DataFrame({"a": [1.0, 2.0, -0.0]})
    csv = read_table("a.csv", b"a\n1\n2.0\n0\n")
    objects = pd.DataFrame({"a": pd.Series([1, 2.0, np.int8(0)], dtype=object)})
    nullable = pd.DataFrame({"a": pd.array([1, 2, 0], dtype="Int64")})

    assert {content_sha256(f) for f in (ints, floats, csv, objects, nullable)} == {content_sha256(ints)}
    assert content_sha256(pd.DataFrame({"a": ["1", "2", "0"]})) != content_sha256(ints)  # text "1" is text


def test_negative_zero_is_zero() -> None:
    assert content_sha256(pd.DataFrame({"a": [-0.0, 1.0]})) == content_sha256(pd.DataFrame({"a": [0.0, 1.0]}))
    assert content_sha256(pd.DataFrame({"a": [-0.0]}, dtype=object)) == content_sha256(pd.DataFrame({"a": [0]}))


def test_every_form_of_a_gap_is_one_missing_value() -> None:
    forms = [
        pd.DataFrame({"a": [1.0, np.nan], "t": ["x", None]}),
        pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "t": pd.array(["x", pd.NA], dtype="string")}),
        pd.DataFrame({"a": pd.Series([1, None], dtype=object), "t": pd.Series(["x", np.nan], dtype=object)}),
        pd.DataFrame({"a": pd.Series([1, np.float32("nan")], dtype=object), "t": pd.Series(["x", pd.NaT], dtype=object)}),
        read_table("g.csv", b"a,t\n1,x\n,\n"),
        read_table("g.json", b'[{"a": 1, "t": "x"}, {"a": null, "t": null}]'),
        read_table("g.jsonl", b'{"a": 1, "t": "x"}\n{"a": null, "t": null}\n'),
    ]
    hashes = [content_sha256(f) for f in forms]

    assert set(hashes) == {reference_v3(["a", "t"], [[1, "x"], [None, None]])}
    assert content_sha256(pd.DataFrame({"a": [1.0, np.nan], "t": ["x", ""]})) != hashes[0]  # empty text is text


def test_duplicate_rows_count_as_often_as_they_occur() -> None:
    once = pd.DataFrame({"a": [1.0, 2.0], "t": ["x", "y"]})
    twice = pd.DataFrame({"a": [1.0, 2.0, 1.0], "t": ["x", "y", "x"]})
    thrice = pd.DataFrame({"a": [1.0, 1.0, 2.0, 1.0], "t": ["x", "x", "y", "x"]})

    assert len({content_sha256(once), content_sha256(twice), content_sha256(thrice)}) == 3
    assert content_sha256(twice) == content_sha256(twice.iloc[[2, 1, 0]]) == reference_of(twice)


def test_pandas_dtypes_do_not_change_the_hash() -> None:
    plain = pd.DataFrame({"b": [True, False, True], "n": [1, 2, 3], "t": ["a", "b", "a"]})
    other = pd.DataFrame({
        "b": pd.array([True, False, True], dtype="boolean"),
        "n": pd.array([1, 2, 3], dtype="Float64"),
        "t": pd.Categorical(["a", "b", "a"]),
    })
    python_strings = plain.assign(t=pd.array(["a", "b", "a"], dtype="string[python]"))
    objects = plain.astype(object)

    assert {content_sha256(f) for f in (plain, other, python_strings, objects)} == {reference_of(plain)}


def test_mixed_and_odd_columns_match_the_reference() -> None:
    frame = pd.DataFrame({
        "z": ["yes", "no", None, "ünï", "no"],
        "a": [1.0, -0.0, float("nan"), 2.5, -3.0],
        "flag": [True, False, True, False, True],
        "m": [1, "x", None, 2.0, True],
        "e": ["", "", None, "😀\x00", "a"],
    })

    assert content_sha256(frame) == reference_of(frame)
    assert content_sha256(frame.iloc[[3, 0, 4, 2, 1]]) == reference_of(frame)


def test_text_orders_by_length_then_bytes_not_by_python_or_locale() -> None:
    texts = ["b", "a\x00", "é", "\x7f", "a", "😀", "\uffff", "Z", "ab", "é"]
    frame = pd.DataFrame({"t": texts})

    order = canonical_order(frame)

    expected = sorted(range(len(texts)), key=lambda i: (len(texts[i].encode()), texts[i].encode(), i))
    assert order.tolist() == expected
    assert content_sha256(frame) == reference_of(frame)


# --- sensitivity ----------------------------------------------------------------------------------

def test_every_single_cell_change_changes_the_hash() -> None:
    expected = content_sha256(FRAME)
    seen, references = {expected}, {expected}
    for row in range(len(FRAME)):
        for column in FRAME.columns:
            changed = FRAME.astype(object).copy()
            value = python_rows(FRAME.iloc[[row]][[column]])[0][0]
            for other in ("other", None, 99.5, True):
                if cell(other) == cell(value):
                    continue
                changed.at[row, column] = other
                digest = content_sha256(changed)
                assert digest != expected, (row, column, other)
                seen.add(digest)
                references.add(reference_of(changed))
    assert len(seen) == len(references) > 60  # distinct tables, distinct hashes (rows 1 and 4 are equal)


def test_removing_a_row_a_duplicate_or_renaming_a_column_changes_the_hash() -> None:
    expected = content_sha256(FRAME)

    assert content_sha256(FRAME.iloc[1:]) != expected
    assert content_sha256(FRAME.drop(index=4)) != expected  # row 4 duplicates row 1
    assert content_sha256(FRAME.rename(columns={"n": "m"})) != expected
    assert content_sha256(FRAME.drop(columns="n")) != expected
    assert content_sha256(FRAME.assign(n=FRAME["n"].astype(str))) != expected  # numbers as text
    assert content_sha256(FRAME.assign(target=FRAME["target"].astype(bool))) != expected  # 1 is not True


def test_cells_do_not_move_between_columns_or_rows() -> None:
    a = pd.DataFrame({"p": ["ab", "c"], "q": ["d", ""]})
    b = pd.DataFrame({"p": ["a", "bc"], "q": ["d", ""]})
    c = pd.DataFrame({"p": ["ab", "c"], "q": ["", "d"]})

    assert len({content_sha256(a), content_sha256(b), content_sha256(c)}) == 3


# --- order, subsets, blocks ----------------------------------------------------------------------

def test_canonical_order_sorts_rows_by_their_bytes_then_tie_then_position() -> None:
    frame = pd.DataFrame({"a": [3.0, 1.0, 2.0, 1.0, 3.0, -1.0], "t": ["x", "y", "x", "y", "x", "x"]})
    origin = np.array([5, 2, 0, -1, 5, 1])
    row_bytes = [b"".join(cell(v) for v in row) for row in python_rows(frame)]

    assert canonical_order(frame).tolist() == sorted(range(6), key=lambda i: (row_bytes[i], i))
    assert canonical_order(frame, origin).tolist() == sorted(range(6), key=lambda i: (row_bytes[i], origin[i], i))
    assert canonical_order(frame.iloc[:0]).tolist() == []


def test_a_subset_hash_equals_the_hash_of_those_rows() -> None:
    order = canonical_order(FRAME)
    mask = np.array([True, False, True, False, True])

    assert subset_sha256(FRAME, mask, order) == content_sha256(FRAME[mask]) == reference_of(FRAME[mask])
    assert subset_sha256(FRAME, [4, 0], order) == content_sha256(FRAME.iloc[[0, 4]])
    assert subset_sha256(FRAME, np.ones(5, dtype=bool)) == content_sha256(FRAME)
    assert subset_sha256(FRAME, np.zeros(5, dtype=bool), order) == content_sha256(FRAME.iloc[:0])
    assert content_sha256(FRAME, order=order) == content_sha256(FRAME)
    with pytest.raises(ValueError):
        subset_sha256(FRAME, [0, 0], order)


def test_the_hash_is_the_same_over_blocks(monkeypatch) -> None:
    frame = pd.DataFrame({"a": range(10), "label": [f"c{i % 3}" for i in range(10)], "m": [1, "x"] * 5})
    whole = content_sha256(frame)
    monkeypatch.setattr(content_hash, "BLOCK", 3)

    assert content_sha256(frame) == whole == reference_of(frame)
    assert content_sha256(frame.iloc[:0]) == reference_v3(["a", "label", "m"], [])


def test_text_through_its_dictionary_gives_the_same_bytes(monkeypatch) -> None:
    """Repetitive text columns are hashed through their distinct values (first block at most
    half distinct); the bytes must be those of the cell-by-cell path."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"t": pd.array(rng.choice(["Zürich", "", "東京", None], 60), dtype="str"),
                          "u": rng.choice(["a", "b"], 60), "x": rng.integers(0, 3, 60)})
    keys = row_keys(frame)  # (60 rows, one block: each text hashed as it is)
    monkeypatch.setattr(content_hash, "BLOCK", 16)

    assert content_sha256(frame) == reference_of(frame)
    assert subset_sha256(frame, np.arange(60) % 3 == 0) == reference_of(frame.iloc[::3])
    assert row_keys(frame).tolist() == keys.tolist()  # through the dictionary: the same keys


def test_many_ties_are_broken_column_by_column() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.integers(0, 3, 400), "b": rng.choice(["x", "y", None], 400),
                          "c": rng.integers(0, 2, 400).astype(float)})
    row_bytes = [b"".join(cell(v) for v in row) for row in python_rows(frame)]

    assert canonical_order(frame).tolist() == sorted(range(400), key=lambda i: (row_bytes[i], i))
    assert content_sha256(frame) == reference_of(frame)


# --- row keys --------------------------------------------------------------------------------------

def test_row_keys_are_by_value_across_tables_and_dtypes() -> None:
    ints = pd.DataFrame({"a": [1, 2, 3], "t": ["x", "y", None]})
    floats = pd.DataFrame({"a": [3.0, 1.0, 2.0], "t": pd.array([None, "x", "y"], dtype="string")})

    keys, other = row_keys(ints), row_keys(floats)

    assert keys.dtype == np.dtype("V16") and len(keys) == 3
    assert sorted(k.tobytes() for k in keys) == sorted(k.tobytes() for k in other)
    assert keys_isin(other, keys).all()
    assert not keys_isin(row_keys(pd.DataFrame({"a": [1, 2], "t": ["y", "x"]})), keys).any()
    assert not keys_isin(row_keys(ints.rename(columns={"t": "u"})), keys).any()  # keys are per column set


def test_keys_duplicated_keeps_the_first_copy() -> None:
    frame = pd.DataFrame({"a": [1, 2, 1, 1.0, 3, 2], "t": ["x", "y", "x", "x", "x", "z"]})

    assert keys_duplicated(row_keys(frame)).tolist() == [False, False, True, True, False, False]
    assert frame.duplicated().tolist() == keys_duplicated(row_keys(frame)).tolist()


def test_row_keys_separate_near_misses() -> None:
    rows = [[0.0, "a"], [None, "a"], [False, "a"], [0, ""], [0, None], [1, "a"], [True, "a"], ["1", "a"],
            [np.nextafter(0.0, 1.0), "a"], [-1e-300, "a"], [0, "a\x00"]]
    frame = pd.DataFrame(rows, columns=["v", "t"]).astype(object)

    assert len({k.tobytes() for k in row_keys(frame)}) == len(rows)


def test_row_keys_do_not_collide_on_a_million_distinct_rows() -> None:
    n = 1_000_000
    frame = pd.DataFrame({"a": np.arange(n) % 1000, "b": np.arange(n) // 1000})

    keys = row_keys(frame)

    assert not keys_duplicated(keys).any()


def test_row_ids_are_exact_classes_across_tables() -> None:
    base = pd.DataFrame({"a": [1, 2, 3], "t": ["x", "y", None]})
    other = pd.DataFrame({"t": [None, "x", "q"], "a": [3.0, 1.0, 1.0]})

    first, second = row_ids(base, other)

    assert first.tolist()[0] == second.tolist()[1] and first.tolist()[2] == second.tolist()[0]
    assert len(set(first.tolist()) | set(second.tolist())) == 4
    with pytest.raises(ValueError):
        row_ids(base, other.rename(columns={"t": "u"}))


# --- properties --------------------------------------------------------------------------------

CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=True),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[object]]]:
    columns = draw(st.lists(st.text(alphabet="abcxyz_", min_size=1, max_size=3), min_size=1, max_size=4, unique=True))
    rows = draw(st.lists(st.lists(CELLS, min_size=len(columns), max_size=len(columns)), max_size=8))
    return columns, rows


def frame_of(columns: list[str], rows: list[list[object]]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([r[j] for r in rows], dtype=object) for j, c in enumerate(columns)})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.randoms(use_true_random=False))
def test_property_v3_is_the_reference_in_any_row_and_column_order(table, random) -> None:
    columns, rows = table
    frame = frame_of(columns, rows)
    rows_shuffled = list(range(len(rows)))
    random.shuffle(rows_shuffled)
    columns_shuffled = list(columns)
    random.shuffle(columns_shuffled)

    expected = reference_v3(columns, rows)
    assert content_sha256(frame) == expected
    assert content_sha256(frame.iloc[rows_shuffled][columns_shuffled]) == expected


@settings(max_examples=100, deadline=None)
@given(tables(), st.data())
def test_property_one_cell_changed_changes_the_hash(table, data) -> None:
    columns, rows = table
    if not rows:
        return
    i = data.draw(st.integers(0, len(rows) - 1))
    j = data.draw(st.integers(0, len(columns) - 1))
    new = data.draw(CELLS)
    if cell(new) == cell(rows[i][j]):
        return
    changed = [list(r) for r in rows]
    changed[i][j] = new

    assert content_sha256(frame_of(columns, changed)) != content_sha256(frame_of(columns, rows))


@settings(max_examples=100, deadline=None)
@given(tables())
def test_property_row_keys_and_row_ids_agree_with_row_bytes(table) -> None:
    columns, rows = table
    frame = frame_of(columns, rows)
    names = sorted(columns)
    row_bytes = [b"".join(cell(r[columns.index(c)]) for c in names) for r in rows]

    keys = [k.tobytes() for k in row_keys(frame)]
    (ids,) = row_ids(frame)
    for a in range(len(rows)):
        for b in range(len(rows)):
            assert (keys[a] == keys[b]) == (row_bytes[a] == row_bytes[b])
            assert (ids[a] == ids[b]) == (row_bytes[a] == row_bytes[b])
            assert (ids[a] < ids[b]) == (row_bytes[a] < row_bytes[b])


# --- v2 unchanged ------------------------------------------------------------------------------

def test_v2_results_unchanged_and_still_importable_from_tables() -> None:
    from pipeline.data import tables

    pinned = pd.DataFrame({"a": [1.5, 2.0, 3.25], "b": [1, 2, 3], "target": [0, 1, 0]})
    typed = pd.DataFrame({"island": pd.Series(["Biscoe", np.nan, "Dream"], dtype=object),
                          "mass": [3750.0, np.nan, 4200.5], "flag": [1.0, 0.0, np.nan],
                          "species": ["Adelie", "Gentoo", "Adelie"]})

    for fn in (tables.content_sha256, content_sha256_v2):
        assert fn(pinned) == "0xc66fd036b7c4453f2378f73b9df54a42d9842501d4331ccd3bec630690e444a5"
        assert fn(typed) == "0xf91e12abc83a5366bf54b7aab758e126b749e9819fd8ce6148772bc61f967408"
    assert content_sha256_v2(FRAME, block=2) == tables.content_sha256(FRAME)
    assert tables.digests_sha256 is content_hash_v2.digests_sha256_v2
    assert tables.canonical_order is content_hash_v2.canonical_order_v2
    assert tables.row_digests(FRAME).tolist() == content_hash_v2.row_digests_v2(FRAME).tolist()
