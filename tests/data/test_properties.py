"""Property test of contributed-data validation (the path `hokusai validate` takes:
`load_contribution`, then `integrate_contributions`) against the bundled demo project.

Random tables (random column names with unicode, duplicates and empty names; int, float, text,
boolean, date, bytes, mixed and nested cells; NaN and infinities; unicode, empty and huge
cells; 0 to 50 rows; base, benchmark and repeated rows planted), written as CSV, TSV, JSON,
JSON Lines or Parquet bytes (plain or dictionary columns), either are accepted with a
consistent manifest or raise a HokusaiError (one sentence): never another exception.

Crashes it found, each with an example test in test_contributions.py: PII scan of a Parquet
dictionary (categorical) column, a categorical wallet column, lists or objects as labels,
lists, objects or non-UTF-8 bytes as wallets."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import DataSection, ModelSection
from pipeline.data.conform import conform
from pipeline.data.contributions import ORIGIN, ContributionFile, integrate_contributions, load_contribution
from pipeline.data.content_hash import content_sha256
from pipeline.data.tables import Schema, read_table, read_table_info, resolve_schema
from pipeline.errors import HokusaiError
from pipeline.modelling.models import load_model
from tests.conftest import ALICE, BOB, FIXTURES

pytestmark = pytest.mark.timeout(300)  # time enough to shrink a failure

RAW_BASE = read_table("base.csv", (FIXTURES / "base.csv").read_bytes())
SCHEMA: Schema = resolve_schema(RAW_BASE, ModelSection(target="target"), "base.csv")
CLASSES = [c.item() for c in load_model((FIXTURES / "baseline.skops").read_bytes(), "baseline.skops").classes_]


def _conformed(name: str) -> pd.DataFrame:
    return conform(read_table(name, (FIXTURES / name).read_bytes()), SCHEMA, name, None if name == "base.csv" else CLASSES)


BASE = _conformed("base.csv")
BENCHMARK = _conformed("benchmark.csv")
ALICE_ROWS = read_table("contrib_alice.csv", (FIXTURES / "contrib_alice.csv").read_bytes())
FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")

# --- tables -------------------------------------------------------------------------------

HUGE = "h" * 70_000 + "ü" * 1000
floats = st.floats(allow_nan=True, allow_infinity=True)
ints = st.one_of(st.integers(-10, 10), st.integers(-(2**53), 2**53),
                 st.sampled_from([2**63 - 1, -(2**63), 2**64 - 1, 4111111111111111, 2**70]))
texts = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "nan", "NA", "inf", "-inf", "1,5", "1e400", "0x1",
                                                        HUGE, "jane@example.com", "0x" + "0" * 40, ALICE, "True"]))
scalars = st.one_of(st.none(), floats, ints, texts, st.booleans())
nested = st.one_of(st.lists(st.integers(0, 3), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2))
wallets = st.sampled_from([ALICE, BOB, ALICE.lower(), "0x" + BOB[2:].upper(), "", " ", "alice", "0x" + "0" * 40, None, 7])
KINDS = {  # what the cells of an added or retyped column hold
    "float": floats,
    "int": ints,
    "str": texts,
    "bool": st.booleans(),
    "mixed": scalars,
    "nested": st.one_of(scalars, nested),
    "wallet": wallets,
    "label": st.sampled_from([0, 1, 2, -1, "yes", True, 1.5]),
    "date": st.datetimes(min_value=__import__("datetime").datetime(1900, 1, 1)),
    "bytes": st.one_of(st.binary(max_size=8), st.sampled_from([b"\xff\xfe", ALICE.encode(), b"1", b""])),
}
names = st.one_of(
    st.sampled_from([*SCHEMA.columns, "wallet"]),
    st.text(max_size=8),
    st.sampled_from(["", " ", "x", "x.1", "Unnamed: 0", "ünïcødé", "a,b", "a;b", "a\tb", 'q"uote', "new\nline",
                     "cr\rx", "nel\x85x", "0", "target.1", "mean_radius.1"]),
)
#: Realistic rows: contributions, base rows (duplicates), benchmark rows (contamination).
POOL = pd.concat([ALICE_ROWS[SCHEMA.columns], BASE, BENCHMARK], ignore_index=True)
CORRUPT = st.sampled_from([None, float("nan"), float("inf"), -float("inf"), "", " ", "x", "1,5", HUGE, True, 2, -0.0,
                           "jane@example.com", 4111111111111111])
LABELS = {"int": lambda v: int(v), "float": lambda v: float(v), "str": lambda v: str(int(v))}


@st.composite
def tables(draw):
    """(column names, rows): mostly rows of the demo schema (some repeated, some from the
    base data or the benchmark), then columns added, repeated or retyped and cells spoilt."""
    n = draw(st.integers(0, 50))
    picks = draw(st.lists(st.integers(0, len(POOL) - 1), min_size=n, max_size=n))
    label = LABELS[draw(st.sampled_from(sorted(LABELS)))]
    columns: list[tuple[str, list]] = []
    if draw(st.integers(0, 3)) > 0:  # the schema's columns, so acceptance is explored too
        values = POOL.to_numpy(dtype=object)[picks] if n else np.empty((0, len(SCHEMA.columns)), dtype=object)
        columns = [(c, [v.item() if hasattr(v, "item") else v for v in values[:, i]])
                   for i, c in enumerate(SCHEMA.columns)]
        columns[-1] = (SCHEMA.target, [label(v) for v in columns[-1][1]])
        if draw(st.integers(0, 2)) == 0:
            columns.append(("wallet", draw(st.lists(st.sampled_from([ALICE, BOB, ALICE.lower()]), min_size=n, max_size=n))))
        if draw(st.booleans()):
            columns = draw(st.permutations(columns))
    for _ in range(draw(st.integers(0, 3) if columns else st.integers(1, 6))):
        cells = draw(st.lists(KINDS[draw(st.sampled_from(sorted(KINDS)))], min_size=n, max_size=n))
        action = draw(st.integers(0, 9))
        if columns and action < 3:  # retype a column: any, or the target or wallet column
            key = [c for c, _ in columns].index
            i = draw(st.integers(0, len(columns) - 1)) if action == 2 else key(draw(st.sampled_from(
                [c for c in (SCHEMA.target, "wallet", SCHEMA.features[0]) if c in [c for c, _ in columns]] or [columns[0][0]])))
            columns[i] = (columns[i][0], cells)
        elif columns and action == 3:  # a second column of an existing name
            columns.insert(draw(st.integers(0, len(columns))), (draw(st.sampled_from(columns))[0], cells))
        else:  # an extra column
            columns.insert(draw(st.integers(0, len(columns))), (draw(names), cells))
    rows = [list(row) for row in zip(*(cells for _, cells in columns))] if n else []
    for _ in range(draw(st.integers(0, 3)) if n else 0):  # spoil a few cells
        rows[draw(st.integers(0, n - 1))][draw(st.integers(0, len(columns) - 1))] = draw(CORRUPT)
    for _ in range(draw(st.integers(0, 2)) if n > 1 else 0):  # repeat a row
        rows[draw(st.integers(1, n - 1))] = list(rows[0])
    return [name for name, _ in columns], rows


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value.isoformat() if hasattr(value, "isoformat") else value


def _csv_cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _arrow_column(values: list, dictionary: bool):
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):  # mixed types: as text
        array = pa.array([None if v is None else str(v) for v in values])
    if dictionary and not pa.types.is_nested(array.type) and not pa.types.is_null(array.type):
        array = array.dictionary_encode()  # as pandas writes a categorical column
    return array


def file_bytes(names: list[str], rows: list[list], kind: str, dictionary: bool = False) -> bytes:
    """The table in a format, keeping duplicated column names where the format can."""
    if kind in ("csv", "tsv"):
        out = io.StringIO()
        writer = csv.writer(out, delimiter="\t" if kind == "tsv" else ",", lineterminator="\r\n")
        writer.writerow(names)
        writer.writerows([_csv_cell(v) for v in row] for row in rows)
        return out.getvalue().encode("utf-8")
    if kind in ("json", "jsonl"):  # raw JSON text: duplicated keys stay in the text
        records = ["{" + ", ".join(f"{json.dumps(k)}: {json.dumps(_json_value(v))}" for k, v in zip(names, row)) + "}"
                   for row in rows]
        return ("\n".join(records) if kind == "jsonl" else "[" + ", ".join(records) + "]").encode("utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([_arrow_column([row[i] for row in rows], dictionary) for i in range(len(names))],
                                 names=names)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


rules = st.builds(
    DataSection,
    invalid_rows=st.sampled_from(["reject", "drop"]),
    pii=st.sampled_from(["reject", "redact", "drop-column"]),
    min_rows=st.integers(1, 3),
    max_rows=st.sampled_from([None, None, 5]),
)


def check_manifest(result, n_files: int) -> None:
    manifest = json.loads(json.dumps(result.manifest(), allow_nan=False))  # what the CLI writes
    assert len(manifest["files"]) == n_files
    contributions = manifest["contributions"]
    for c in contributions:
        assert c["rows_in"] == (c["rows_kept"] + c["duplicates_dropped"] + c["benchmark_rows_dropped"]
                                + c["invalid_rows_dropped"]), c
        assert min(c["rows_in"], c["rows_kept"], c["duplicates_dropped"], c["benchmark_rows_dropped"],
                   c["invalid_rows_dropped"]) >= 0
    for f in manifest["files"]:
        mine = [c for c in contributions if c["file"] == f["file"]]
        dropped = f["rows_dropped"]
        assert f["rows_read"] == f["rows_kept"] + dropped["duplicate"] + dropped["benchmark"] + dropped["invalid"]
        assert f["rows_read"] == sum(c["rows_in"] for c in mine)
        assert f["rows_kept"] == sum(c["rows_kept"] for c in mine)
        assert dropped["invalid"] == sum(c["invalid_rows_dropped"] for c in mine)
        assert sum(r["count"] for r in f["invalid_rows"]) >= dropped["invalid"]
    for key in ("rows_in", "rows_kept", "duplicates_dropped", "benchmark_rows_dropped", "invalid_rows_dropped"):
        assert sum(t[key] for t in manifest["contributors"]) == sum(c[key] for c in contributions)
    training = result.training_data
    assert list(training.columns) == [*SCHEMA.columns, ORIGIN]
    assert len(training) == len(BASE) + sum(c["rows_kept"] for c in contributions)
    counts = training[ORIGIN].value_counts()
    for i, c in enumerate(contributions):
        assert counts.get(i, 0) == c["rows_kept"]
    assert any(c["rows_kept"] for c in contributions)
    features = training[list(SCHEMA.features)].to_numpy(dtype=np.float64)
    assert not np.isinf(features).any()  # infinity is never kept
    # a gap is kept only under `missing = "impute"` (the default), and each one is counted
    gaps = int(np.isnan(features[training[ORIGIN].to_numpy() >= 0]).sum())
    assert gaps <= sum(r["count"] for f in manifest["files"] for r in f["missing_values"])  # kept rows only
    assert set(training[SCHEMA.target]) <= set(CLASSES)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(table=tables(), kind=st.sampled_from(FORMATS), rules=rules, tag=st.sampled_from([None, None, ALICE, ALICE, "0xnope"]),
       second=st.booleans(), dictionary=st.booleans())
def test_validation_accepts_with_a_consistent_manifest_or_says_why(table, kind, rules, tag, second, dictionary) -> None:
    names, rows = table
    name = f"c.{kind}"
    data = file_bytes(names, rows, kind, dictionary)
    files = [ContributionFile(name, data, tag)]
    if second:  # a valid second file: cross-file duplicates, two contributions
        files.append(ContributionFile("alice.csv", ALICE_ROWS.head(8).to_csv(index=False).encode(), BOB))
    try:
        loaded = [load_contribution(f, rules, SCHEMA.columns) for f in files]
        result = integrate_contributions(BASE, BENCHMARK, loaded, SCHEMA, CLASSES, rules=rules)
    except HokusaiError as exc:
        message = str(exc)
        assert message and "\n" not in message and message.endswith("."), message
        assert exc.exit_code == 2
        return
    check_manifest(result, len(files))
    # the kept rows depend on the rows, not their order: reversed rows give the same table
    reversed_ = [replace(item, frame=item.frame.iloc[::-1]) for item in loaded]
    again = integrate_contributions(BASE, BENCHMARK, reversed_, SCHEMA, CLASSES, rules=rules)
    pd.testing.assert_frame_equal(again.training_data[SCHEMA.columns], result.training_data[SCHEMA.columns])
    assert [f.content_sha256 for f in again.files] == [f.content_sha256 for f in result.files]
    assert content_sha256(result.training_data[SCHEMA.columns]) == content_sha256(again.training_data[SCHEMA.columns])


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(
    ["a;b", "a\tb", "nel\x85x", "cr\rx", "lf\nx", 'q"u', " ", "x.1", "Unnamed: 0", "1", "nan", "NA", "wallet"])),
    min_size=2, max_size=5, unique=True),  # (one column named `a;b` is `a` and `b` to any sniffer)
       kind=st.sampled_from(FORMATS), n=st.integers(1, 3))
def test_column_names_are_read_as_written(names, kind, n) -> None:
    """Any distinct non-empty names (unicode, delimiters, quotes, line breaks, `\\x85`...) come
    back as written, in every format; a CSV's delimiter is still found."""
    rows = [[i * len(names) + j for j in range(len(names))] for i in range(n)]

    frame, info = read_table_info(f"t.{kind}", file_bytes(names, rows, kind))

    assert list(frame.columns) == names
    assert frame.to_numpy().tolist() == rows
    assert info.delimiter == {"csv": ",", "tsv": "\t"}.get(kind)
