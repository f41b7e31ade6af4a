"""pipeline.tables: tables from bytes in every supported format, and their content hash."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from pipeline.errors import DataError
from pipeline.tables import Schema, content_sha256, read_table, table_format

FRAME = pd.DataFrame({"a": [1.5, 2.0, 3.25], "b": [1, 2, 3], "target": [0, 1, 0]})
EXPECTED = {"a": [1.5, 2.0, 3.25], "b": [1, 2, 3], "target": [0, 1, 0]}


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def all_formats(frame: pd.DataFrame) -> dict[str, bytes]:
    return {
        "t.csv": frame.to_csv(index=False).encode(),
        "t.tsv": frame.to_csv(index=False, sep="\t").encode(),
        "t.json": frame.to_json(orient="records").encode(),
        "t.jsonl": frame.to_json(orient="records", lines=True).encode(),
        "t.parquet": parquet_bytes(frame),
    }


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.json", "t.jsonl", "t.parquet"])
def test_read_table_every_format(name: str) -> None:
    frame = read_table(name, all_formats(FRAME)[name])

    assert frame.to_dict(orient="list") == EXPECTED
    assert list(frame.columns) == ["a", "b", "target"]


def test_read_table_literal_bytes() -> None:
    csv = read_table("c.csv", b"x,y\n1,a\n2,b\n")
    jsonl = read_table("c.ndjson", b'{"x": 1, "y": "a"}\n{"x": 2, "y": "b"}\n')
    json = read_table("c.json", b'[{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]')

    for frame in (csv, jsonl, json):
        assert frame.to_dict(orient="list") == {"x": [1, 2], "y": ["a", "b"]}


def test_json_keeps_numbers_in_date_like_columns() -> None:
    data = b'[{"signup_time": 1700000000, "created_at": 5, "target": 0}]'

    frame = read_table("t.json", data)
    lines = read_table("t.jsonl", b'{"signup_time": 1700000000, "created_at": 5, "target": 0}\n')

    assert frame.to_dict(orient="list") == {"signup_time": [1700000000], "created_at": [5], "target": [0]}
    assert lines.to_dict(orient="list") == frame.to_dict(orient="list")
    assert content_sha256(frame) == content_sha256(
        read_table("t.csv", b"signup_time,created_at,target\n1700000000,5,0\n")
    )


def test_max_rows_caps_rows() -> None:
    for name, data in all_formats(FRAME).items():
        assert read_table(name, data, max_rows=2).to_dict(orient="list") == {
            "a": [1.5, 2.0], "b": [1, 2], "target": [0, 1]
        }, name


def test_table_format_by_suffix_case_insensitive() -> None:
    assert table_format("data/Base.CSV") == "csv"
    assert table_format("x.pq") == "parquet"
    assert table_format("x.ndjson") == "jsonl"


@pytest.mark.parametrize(
    ("name", "shown"), [("data.xlsx", "'.xlsx'"), ("data", "'(none)'"), ("archive.csv.gz", "'.gz'")]
)
def test_unsupported_suffix(name: str, shown: str) -> None:
    with pytest.raises(DataError) as caught:
        read_table(name, b"a,b\n1,2\n")

    assert str(caught.value) == (
        f"{name}: unsupported file type {shown}; use one of "
        ".csv, .json, .jsonl, .ndjson, .parquet, .pq, .tsv."
    )
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bad.parquet", b"garbage!",
         "bad.parquet: cannot be read as parquet (Could not open Parquet input source '<Buffer>': "
         "Parquet magic bytes not found in footer. Either the file is corrupted or this is not a "
         "parquet file.); check the file's format."),
        ("bad.json", b"{not json",
         "bad.json: cannot be read as json (Unexpected character found when decoding 'null' at "
         "position 0); check the file's format."),
        ("bad.csv", b'a,b\n1,2\n"x,3\n',
         "bad.csv: cannot be read as csv (Error tokenizing data. C error: EOF inside string "
         "starting at row 2); check the file's format."),
    ],
)
def test_unreadable_file(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DataError) as caught:
        read_table(name, data)

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.csv", b""),
        ("empty.csv", b"\n  \n"),
        ("empty.tsv", b""),
        ("empty.json", b""),
        ("empty.jsonl", b""),
        ("empty.parquet", b""),
        ("header.csv", b"a,b,target\n"),
        ("empty.json", b"[]"),
        ("empty.parquet", parquet_bytes(FRAME.iloc[:0])),
    ],
)
def test_empty_file(name: str, data: bytes) -> None:
    with pytest.raises(DataError) as caught:
        read_table(name, data)

    assert str(caught.value) == f"{name}: has no data rows; add rows or drop the file."


def test_content_sha256_is_the_same_in_every_format_and_row_order() -> None:
    hashes = {name: content_sha256(read_table(name, data)) for name, data in all_formats(FRAME).items()}
    shuffled = FRAME.iloc[[2, 0, 1]].reset_index(drop=True)
    hashes["shuffled.csv"] = content_sha256(read_table("s.csv", shuffled.to_csv(index=False).encode()))
    hashes["reordered columns"] = content_sha256(FRAME[["target", "b", "a"]])
    hashes["in memory"] = content_sha256(FRAME)

    assert len(set(hashes.values())) == 1, hashes
    assert hashes["in memory"].startswith("0x") and len(hashes["in memory"]) == 66


def test_content_sha256_counts_whole_floats_as_their_integers() -> None:
    as_floats = FRAME.astype({"b": "float64", "target": "float64"})

    assert content_sha256(as_floats) == content_sha256(FRAME)


def test_content_sha256_changes_when_one_value_changes() -> None:
    changed = FRAME.copy()
    changed.loc[1, "a"] = 2.5
    relabelled = FRAME.copy()
    relabelled.loc[0, "target"] = 1

    assert content_sha256(changed) != content_sha256(FRAME)
    assert content_sha256(relabelled) != content_sha256(FRAME)
    assert content_sha256(FRAME.iloc[:2]) != content_sha256(FRAME)
    assert content_sha256(FRAME.rename(columns={"b": "c"})) != content_sha256(FRAME)


def test_content_sha256_known_answer() -> None:
    # Canonical form: header ["a","b","target"], then rows as JSON of float reprs, sorted.
    import hashlib

    text = '["a", "b", "target"]' + "".join(
        "\n" + line
        for line in sorted(
            [
                '["1.5", "1.0", "0.0"]',
                '["2.0", "2.0", "1.0"]',
                '["3.25", "3.0", "0.0"]',
            ]
        )
    )

    assert content_sha256(FRAME) == "0x" + hashlib.sha256(text.encode()).hexdigest()


def test_schema_columns_are_features_then_target() -> None:
    assert Schema(("b", "a"), "y").columns == ["b", "a", "y"]
