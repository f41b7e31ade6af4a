"""pipeline.data.tables: tables from bytes in every supported format, and their content hash."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from pipeline.errors import DataError
from pipeline.data.tables import (
    Schema,
    TableInfo,
    content_sha256,
    read_table,
    read_table_info,
    sniff_delimiter,
    sniff_encoding,
    table_format,
    write_table,
)

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


def reference_content_sha256(columns: list[str], rows: list[tuple]) -> str:
    """The documented canonical form, written the slow obvious way (columns already sorted)."""
    import hashlib
    import json
    import math
    import struct

    def cell(value: object) -> bytes:
        if isinstance(value, bool):
            return bytes([2, int(value)]) + bytes(7)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return bytes(9)
        if isinstance(value, (int, float)):
            return b"\x01" + struct.pack(">d", float(value) + 0.0)
        text = str(value).encode("utf-8")
        return b"\x03" + struct.pack(">I", len(text)) + text

    digests = sorted(hashlib.sha256(b"".join(cell(v) for v in row)).digest() for row in rows)
    return "0x" + hashlib.sha256(json.dumps(columns).encode() + b"\n" + b"".join(digests)).hexdigest()


def test_content_sha256_known_answer() -> None:
    rows = [(1.5, 1, 0), (2.0, 2, 1), (3.25, 3, 0)]

    assert content_sha256(FRAME) == reference_content_sha256(["a", "b", "target"], rows)
    assert content_sha256(FRAME) == "0xc66fd036b7c4453f2378f73b9df54a42d9842501d4331ccd3bec630690e444a5"


def test_content_sha256_mixed_types_match_the_reference() -> None:
    frame = pd.DataFrame({
        "z": ["yes", "no", None, "ünï"],
        "a": [1.0, -0.0, float("nan"), 2.5],
        "flag": [True, False, True, False],
        "m": [1, "x", None, 2.0],
    })
    rows = [("ünï", 2.5, False, 2.0), ("yes", 1.0, True, 1), ("no", 0.0, False, "x"), (None, None, True, None)]

    assert content_sha256(frame) == reference_content_sha256(["a", "flag", "m", "z"], [
        (a, flag, m, z) for z, a, flag, m in rows
    ])
    assert content_sha256(frame) == content_sha256(frame.iloc[::-1])


def test_content_sha256_is_the_same_over_hash_blocks(monkeypatch) -> None:
    import pipeline.data.tables as tables

    frame = pd.DataFrame({"a": range(10), "label": [f"c{i % 3}" for i in range(10)]})
    whole = content_sha256(frame)
    monkeypatch.setattr(tables, "_HASH_BLOCK", 3)

    assert content_sha256(frame) == whole
    assert content_sha256(frame.iloc[:0]) == reference_content_sha256(["a", "label"], [])


def test_schema_columns_are_features_then_target() -> None:
    assert Schema(("b", "a"), "y").columns == ["b", "a", "y"]


# --- CSV sniffing: encodings and delimiters ----------------------------------------------

TEXT = pd.DataFrame({"city": ["Zürich", "Malmö", "São Paulo"], "x": [1.5, 2.0, 3.25], "target": [0, 1, 0]})


@pytest.mark.parametrize(
    ("data", "encoding", "delimiter"),
    [
        (TEXT.to_csv(index=False).encode("utf-8"), "utf-8", ","),
        (TEXT.to_csv(index=False).encode("utf-8-sig"), "utf-8-sig", ","),
        (TEXT.to_csv(index=False).encode("latin-1"), "latin-1", ","),
        (TEXT.to_csv(index=False, sep=";").encode("utf-8"), "utf-8", ";"),
        (TEXT.to_csv(index=False, sep=";").encode("latin-1"), "latin-1", ";"),
        (TEXT.to_csv(index=False, sep="\t").encode("utf-8-sig"), "utf-8-sig", "\t"),
    ],
)
def test_csv_encoding_and_delimiter_are_sniffed(data: bytes, encoding: str, delimiter: str) -> None:
    frame, info = read_table_info("t.csv", data)

    assert frame.to_dict(orient="list") == TEXT.to_dict(orient="list")
    assert (info.format, info.encoding, info.delimiter) == ("csv", encoding, delimiter)
    assert content_sha256(frame) == content_sha256(TEXT)


def test_semicolon_file_with_commas_inside_quotes() -> None:
    data = b'name;x;target\n"Smith, J.";1;0\n"Doe, A.";2;1\n'

    frame, info = read_table_info("t.csv", data)

    assert info.delimiter == ";"
    assert frame.to_dict(orient="list") == {"name": ["Smith, J.", "Doe, A."], "x": [1, 2], "target": [0, 1]}


def test_single_column_csv_reads_as_comma() -> None:
    frame, info = read_table_info("t.csv", b"x\n1\n2\n")

    assert info.delimiter == "," and frame["x"].tolist() == [1, 2]


def test_tsv_is_tab_and_json_has_no_encoding_to_sniff() -> None:
    assert read_table_info("t.tsv", b"a\tb\n1\t2\n")[1] == TableInfo("tsv", "utf-8", "\t")
    assert read_table_info("t.json", b'\xef\xbb\xbf[{"a": 1}]')[1] == TableInfo("json")
    assert read_table("t.json", b'\xef\xbb\xbf[{"a": 1}]').to_dict(orient="list") == {"a": [1]}


def test_sniffers_directly() -> None:
    assert sniff_encoding("t.csv", "é".encode("utf-8")) == "utf-8"
    assert sniff_encoding("t.csv", "é".encode("latin-1")) == "latin-1"
    assert sniff_encoding("t.csv", b"\xef\xbb\xbfa") == "utf-8-sig"
    assert sniff_delimiter("a;b;c\n1,5;2;3\n") == ";"
    assert sniff_delimiter("a,b\n1,2\n") == ","
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"
    assert sniff_delimiter("") == ","


def test_utf16_is_refused_with_the_fix() -> None:
    with pytest.raises(DataError) as caught:
        read_table("w.csv", "a,b\n1,2\n".encode("utf-16"))

    assert str(caught.value) == "w.csv: is encoded as UTF-16; save it as UTF-8 (or Latin-1) and try again."


def test_rows_are_numbered_from_zero_whatever_the_stored_index() -> None:
    stored = FRAME.set_axis([10, 20, 30])
    buffer = io.BytesIO()
    stored.to_parquet(buffer)  # keeps the index

    frame = read_table("t.parquet", buffer.getvalue())

    assert frame.index.tolist() == [0, 1, 2]


def test_content_sha256_one_hash_for_five_formats_sniffed_variants_and_shuffles() -> None:
    variants = dict(all_formats(TEXT))
    variants["semicolon-latin1.csv"] = TEXT.to_csv(index=False, sep=";").encode("latin-1")
    variants["bom-tab.csv"] = TEXT.to_csv(index=False, sep="\t").encode("utf-8-sig")
    shuffled = TEXT.iloc[[2, 0, 1], [2, 0, 1]]
    variants["shuffled.jsonl"] = shuffled.to_json(orient="records", lines=True, force_ascii=False).encode()
    variants["shuffled.parquet"] = parquet_bytes(shuffled)

    hashes = {name: content_sha256(read_table(name, data)) for name, data in variants.items()}

    assert set(hashes.values()) == {content_sha256(TEXT)}, hashes


@pytest.mark.parametrize("name", ["out.csv", "out.tsv", "out.json", "out.jsonl", "out.parquet"])
def test_write_table_round_trips_and_leaves_no_temporary_file(tmp_path, name: str) -> None:
    write_table(TEXT, tmp_path / "sub" / name)

    assert read_table(name, (tmp_path / "sub" / name).read_bytes()).to_dict(orient="list") == TEXT.to_dict(orient="list")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == [name]


def test_json_floats_are_read_exactly() -> None:
    import json

    rows = [{"x": 0.1088, "y": 0.05473, "target": 1}, {"x": 0.09524, "y": 0.008722, "target": 0}]
    csv = read_table("t.csv", b"x,y,target\n0.1088,0.05473,1\n0.09524,0.008722,0\n")

    for name, data in (("t.json", json.dumps(rows)), ("t.jsonl", "\n".join(json.dumps(r) for r in rows))):
        frame = read_table(name, data.encode())
        assert frame["x"].tolist() == [0.1088, 0.09524], name
        assert content_sha256(frame) == content_sha256(csv), name


def test_write_table_json_keeps_every_float_digit(tmp_path) -> None:
    frame = pd.DataFrame({"x": [0.1088, 1 / 3, 1e-300], "s": ["a", None, "ü"]})

    for name in ("f.json", "f.jsonl"):
        write_table(frame, tmp_path / name)
        back = read_table(name, (tmp_path / name).read_bytes())
        assert back["x"].tolist() == [0.1088, 1 / 3, 1e-300], name
        assert content_sha256(back) == content_sha256(frame), name


# --- duplicated column names, rows longer than the header ---------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("d.csv", b"x,y,x\n1,2,3\n",
         "d.csv: duplicated column name 'x' (columns 1 and 3); rename or remove the extra column so each name "
         "appears once."),
        ("d.tsv", b"a\tx\tb\tx\tx\n1\t2\t3\t4\t5\n",
         "d.tsv: duplicated column name 'x' (columns 2, 4 and 5); rename or remove the extra column so each name "
         "appears once."),
        ("d.csv", b"x;y;x;y\n1;2;3;4\n",
         "d.csv: duplicated column names 'x' (columns 1 and 3), 'y' (columns 2 and 4); rename or remove the extra "
         "columns so each name appears once."),
        ("d.csv", b'"t, 1",x,"t, 1"\n1,2,3\n',
         "d.csv: duplicated column name 't, 1' (columns 1 and 3); rename or remove the extra column so each name "
         "appears once."),
    ],
)
def test_duplicated_column_names_are_refused(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DataError) as caught:
        read_table(name, data)

    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_duplicated_column_names_in_parquet_are_refused() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], names=["a", "x", "x"]), buffer)

    with pytest.raises(DataError) as caught:
        read_table("d.parquet", buffer.getvalue())

    assert str(caught.value) == (
        "d.parquet: duplicated column name 'x' (columns 2 and 3); rename or remove the extra column so each "
        "name appears once."
    )


def test_a_column_named_like_pandas_renames_a_copy_is_read_as_is() -> None:
    frame = read_table("t.csv", b"x,x.1,y\n1,2,3\n")

    assert frame.to_dict(orient="list") == {"x": [1], "x.1": [2], "y": [3]}


def test_empty_header_cells_are_not_duplicates() -> None:
    frame = read_table("t.csv", b"a,,,b\n1,2,3,4\n")

    assert list(frame.columns) == ["a", "Unnamed: 1", "Unnamed: 2", "b"]


def test_json_keeps_the_last_value_of_a_repeated_key() -> None:
    # A JSON object cannot hold two members of one name: the parser keeps the last (documented).
    assert read_table("t.json", b'[{"x": 1, "y": 2, "x": 3}]').to_dict(orient="list") == {"x": [3], "y": [2]}


def test_a_delimiter_ending_every_row_does_not_shift_the_columns() -> None:
    # pandas alone takes the first field as the index here: a = 2, b = empty.
    frame = read_table("t.csv", b"a,b,target\n1,2,0,\n3,4,1,\n")

    assert frame.to_dict(orient="list") == {"a": [1, 3], "b": [2, 4], "target": [0, 1]}


def test_rows_with_more_fields_than_the_header_are_refused() -> None:
    with pytest.raises(DataError) as caught:
        read_table("t.csv", b"a,b,target\n1,2,0,9\n3,4,1,9\n")

    assert str(caught.value) == (
        "t.csv: has rows with more fields than its header has column names (3); name every column in the "
        "header or remove the extra fields."
    )


def test_delimiter_sniffing_breaks_lines_only_where_csv_does() -> None:
    # Windows-1252 `…` is byte 0x85: read as Latin-1 it is U+0085, a line break to
    # str.splitlines, which cut the header in two and made this one column split on ','.
    data = "note (…);x;target\nwait;1;0\nok;2;1\n".encode("cp1252")

    frame, info = read_table_info("t.csv", data)

    assert (info.encoding, info.delimiter) == ("latin-1", ";")
    assert frame.to_dict(orient="list") == {"note (\x85)": ["wait", "ok"], "x": [1, 2], "target": [0, 1]}


# --- row digests and the canonical order ----------------------------------------------------


def test_row_digests_give_the_content_hash_of_any_subset() -> None:
    from pipeline.data.tables import digests_sha256, row_digests

    digests = row_digests(TEXT)

    assert digests.dtype == "V32" and len(digests) == 3
    assert digests_sha256(TEXT.columns, digests) == content_sha256(TEXT)
    assert digests_sha256(TEXT.columns, digests[[0, 2]]) == content_sha256(TEXT.iloc[[0, 2]])
    assert digests_sha256(TEXT.columns, digests[:0]) == content_sha256(TEXT.iloc[:0])
    assert row_digests(TEXT[["x", "target", "city"]]).tolist() == digests.tolist()  # columns by name


def test_canonical_order_is_by_digest_then_tie_then_position() -> None:
    import hashlib

    import numpy as np

    from pipeline.data.tables import canonical_order, row_digests

    frame = pd.DataFrame({"a": [3.0, 1.0, 2.0, 1.0, 3.0], "t": [0, 1, 0, 1, 0]})
    digests = row_digests(frame)
    origin = np.array([5, 2, 0, -1, 5])

    order = canonical_order(digests, origin)

    ranked = sorted(range(5), key=lambda i: (bytes(digests[i]), origin[i], i))
    assert order.tolist() == ranked
    assert [bytes(d) for d in digests[order]] == sorted(bytes(d) for d in digests)
    assert bytes(digests[0]) == hashlib.sha256(b"\x01" + np.array([3.0], ">f8").tobytes()
                                               + b"\x01" + np.array([0.0], ">f8").tobytes()).digest()
    assert canonical_order(digests[:0]).tolist() == []


def test_canonical_order_compares_whole_digests_when_their_first_bytes_agree() -> None:
    import numpy as np

    from pipeline.data.tables import canonical_order

    raw = np.zeros((4, 32), dtype=np.uint8)
    raw[:, 31] = [9, 3, 3, 1]  # the same first 31 bytes: only the last one orders them
    raw[3, 0] = 1  # sorts last on its first byte
    digests = raw.view("V32").reshape(-1)

    assert canonical_order(digests).tolist() == [1, 2, 0, 3]
    assert canonical_order(digests, [0, 5, 2, 0]).tolist() == [2, 1, 0, 3]


def test_typed_content_hash_known_answer_in_any_order() -> None:
    """docs/data.md's vector: text, numbers, booleans as 1/0 and gaps in every kind of column."""
    import numpy as np

    table = pd.DataFrame({"island": pd.Series(["Biscoe", np.nan, "Dream"], dtype=object),
                          "mass": [3750.0, np.nan, 4200.5], "flag": [1.0, 0.0, np.nan],
                          "species": ["Adelie", "Gentoo", "Adelie"]})
    expected = "0xf91e12abc83a5366bf54b7aab758e126b749e9819fd8ce6148772bc61f967408"
    assert content_sha256(table) == content_sha256(table.iloc[::-1]) == expected
    assert content_sha256(table.assign(island=["Biscoe", "", "Dream"])) != expected  # a gap is not empty text


def test_a_typed_file_as_csv_or_parquet_gives_one_content_hash() -> None:
    """Penguins as published (text columns, gaps): the same rows as CSV and as Parquet."""
    import io
    from pathlib import Path

    import palmerpenguins

    from pipeline.data.columns import infer_kinds
    from pipeline.data.contributions import ContributionFile, integrate_contributions
    from pipeline.data.tables import Schema

    text = (Path(palmerpenguins.__file__).parent / "data" / "penguins.csv").read_bytes()
    frame = read_table("p.csv", text)
    features = tuple(c for c in frame.columns if c != "species")
    schema = Schema(features, "species", kinds=infer_kinds(frame.iloc[:40], features, [], "b"))
    from pipeline.data.conform import conform

    base, bench = (conform(frame.iloc[rows], schema, "b", None, allow_missing=True)
                   for rows in (slice(0, 40), slice(40, 120)))
    classes = sorted(set(frame["species"]))
    parquet = io.BytesIO()
    frame.iloc[120:].to_parquet(parquet, index=False)
    csv = frame.iloc[120:].iloc[::-1].to_csv(index=False).encode()
    hashes = {f.file: f.content_sha256 for f in integrate_contributions(
        base, bench, [ContributionFile("a.csv", csv), ContributionFile("a.parquet", parquet.getvalue())], schema,
        classes).files}
    assert hashes["a.csv"] == hashes["a.parquet"]


def test_a_column_is_typed_over_the_whole_file_wherever_its_text_sits() -> None:
    """300k whole numbers and one word: pandas in chunks read the numbers of the first chunk
    as ints and the rest as text, so where the word sat changed the cells' types and the
    content hash. Typed over the whole file, the column is text either way."""
    rows = [f"{i % 7},{i}\n" for i in range(300_000)]
    word_last = ("code,n\n" + "".join(rows) + "x,300000\n").encode()
    word_first = ("code,n\nx,300000\n" + "".join(rows)).encode()
    last, first = read_table("a.csv", word_last), read_table("b.csv", word_first)
    assert {type(v) for v in last["code"]} == {str} == {type(v) for v in first["code"]}
    assert last["code"].iloc[0] == "0" and last["code"].iloc[-1] == "x"
    assert content_sha256(last) == content_sha256(first)


def test_ascii_latin1_and_utf8_files_are_told_apart() -> None:
    assert sniff_encoding("a.csv", b"a,b\n1,x\n") == "utf-8"
    assert sniff_encoding("u.csv", "a,b\n1,Zoë\n".encode()) == "utf-8"
    assert sniff_encoding("l.csv", "a,b\n1,Zoë\n".encode("latin-1")) == "latin-1"
    assert sniff_encoding("m.csv", b"\xef\xbb\xbfa,b\n1,2\n") == "utf-8-sig"


def test_a_base_file_without_a_header_line_is_named_as_such() -> None:
    from pipeline.config import ModelSection
    from pipeline.data.tables import resolve_schema

    frame = read_table("base.csv", b"1.5,2,0\n2.5,3,1\n")
    with pytest.raises(DataError) as caught:
        resolve_schema(frame, ModelSection(), "base.csv")
    assert str(caught.value) == ("base.csv: has no header line (its first line holds only numbers); add a first "
                                 "line naming the columns, the target 'target' among them.")


@pytest.mark.parametrize("text, number", [("178", True), ("-1.5e3", True), (" .5 ", True), ("class_0", False),
                                          ("", False), ("1,5", False), ("nan", False), ("2020a", False)])
def test_header_cells_written_as_numbers(text: str, number: bool) -> None:
    from pipeline.data.tables import is_number_text

    assert is_number_text(text) is number


def test_a_space_separated_file_is_named_as_such() -> None:
    """scikit-learn's linnerud_exercise.csv as published: `Chins Situps Jumps`, values
    separated by spaces, read as one column."""
    from pathlib import Path

    import sklearn

    from pipeline.config import ModelSection
    from pipeline.data.conform import check_columns
    from pipeline.data.tables import resolve_schema

    data = (Path(sklearn.__file__).parent / "datasets" / "data" / "linnerud_exercise.csv").read_bytes()
    frame = read_table("linnerud_exercise.csv", data)
    sentence = ("linnerud_exercise.csv: reads as one column named 'Chins Situps Jumps': its values seem separated by "
                "spaces, and hokusai reads commas, semicolons or tabs; save it as CSV (commas) or TSV (tabs).")
    with pytest.raises(DataError) as as_base:
        resolve_schema(frame, ModelSection(target="Jumps"), "linnerud_exercise.csv")
    with pytest.raises(DataError) as as_contribution:
        check_columns(frame, Schema(("Chins", "Situps"), "Jumps"), "linnerud_exercise.csv")
    assert str(as_base.value) == str(as_contribution.value) == sentence
    with pytest.raises(DataError, match="missing column"):  # one column with a space, but none of the wanted names
        check_columns(pd.DataFrame({"mean radius": [1.0]}), Schema(("a",), "target"), "x.csv")
    with pytest.raises(DataError, match="missing column"):  # one wanted column, no space: not space-separated
        check_columns(pd.DataFrame({"target": [1]}), Schema(("a",), "target"), "x.csv")
