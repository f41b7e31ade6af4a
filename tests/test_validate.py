"""`hokusai validate`: the contributor-side check, in-process through the CLI, against the
bundled demo project (no hokusai.toml in the folder). Exact cells, sentences and hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.content_hash import content_sha256
from pipeline.data.tables import Schema, read_table
from tests.conftest import ALICE, BOB, FIXTURES, invoke

pytestmark = pytest.mark.timeout(120)
ALICE_ROWS = pd.read_csv(FIXTURES / "contrib_alice.csv")
BENCHMARK_ROWS = pd.read_csv(FIXTURES / "benchmark.csv")
BASE_ROWS = pd.read_csv(FIXTURES / "base.csv")
SCHEMA = Schema(tuple(c for c in BASE_ROWS.columns if c != "target"), "target")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder (so the demo project is used) holding the test files."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def flat(text: str) -> str:
    return " ".join(text.split())


def validate(*args: str):
    return invoke("validate", "--project", ".", *args)


def test_valid_file_report_manifest_and_json(folder: Path) -> None:
    small = ALICE_ROWS.head(10)
    small.to_csv("small.csv", index=False)

    result = validate("small.csv", "--wallet", ALICE.lower(), "--json")

    assert result.exit_code == 0, result.stderr
    assert "│ small.csv │ 0x7099…79C8 │      10 │   10 │         0 │         0 │       0 │" in result.stderr
    assert "small.csv: read as csv, utf-8, delimiter ','" in result.stderr
    assert "Valid: 10 of 10 rows would be used." in result.stderr
    assert "Manifest: small.csv.manifest.json" in result.stderr
    written = json.loads(Path("small.csv.manifest.json").read_text())
    assert json.loads(result.stdout) == written
    assert written["schema"] == "hokusai.manifest/v1"
    (contribution,) = written["contributions"]
    assert contribution == {
        "file": "small.csv", "wallet": ALICE,
        "file_sha256": "0x" + hashlib.sha256(Path("small.csv").read_bytes()).hexdigest(),
        "content_sha256": content_sha256(small), "rows_in": 10, "rows_kept": 10, "duplicates_dropped": 0,
        "benchmark_rows_dropped": 0, "invalid_rows_dropped": 0,
    }
    assert written["notes"] == []


def test_duplicates_and_benchmark_rows_are_counted(folder: Path) -> None:
    planted = pd.concat([ALICE_ROWS.head(10), BENCHMARK_ROWS.head(3), BASE_ROWS.head(2), ALICE_ROWS.head(1)])
    planted.to_csv("planted.csv", index=False)

    result = validate("planted.csv", "--wallet", ALICE)

    assert result.exit_code == 0, result.stderr
    assert "│ planted.csv │ 0x7099…79C8 │      16 │   10 │         3 │         3 │       0 │" in result.stderr
    files = json.loads(Path("planted.csv.manifest.json").read_text())["files"]
    assert files[0]["rows_dropped"] == {"duplicate": 3, "benchmark": 3, "invalid": 0}


def test_no_wallet_is_valid_but_flagged_unattributable(folder: Path) -> None:
    ALICE_ROWS.head(3).to_csv("anon.csv", index=False)

    result = validate("anon.csv")

    assert result.exit_code == 0, result.stderr
    assert "│ anon.csv │ (no wallet) │" in result.stderr
    assert ("Note: anon.csv: no wallet, so its rows are unattributable (fine for a dry-run or a check; a real "
            "run needs FILE:WALLET or a wallet column).") in flat(result.stderr)


def test_same_table_as_latin1_semicolon_csv_has_the_same_content_hash(folder: Path) -> None:
    small = ALICE_ROWS.head(5)
    small.to_csv("a.csv", index=False)
    small.iloc[::-1].assign(city="Zürich").to_csv("b.csv", index=False, sep=";", encoding="latin-1")
    small.to_parquet("c.parquet", index=False)

    result = validate("a.csv", "b.csv", "c.parquet", "--manifest", "out/m.json")

    assert result.exit_code == 0, result.stderr
    manifest = json.loads(Path("out/m.json").read_text())
    assert [(f["file"], f["format"], f["encoding"], f["delimiter"]) for f in manifest["files"]] == [
        ("a.csv", "csv", "utf-8", ","), ("b.csv", "csv", "latin-1", ";"), ("c.parquet", "parquet", None, None)]
    assert {f["content_sha256"] for f in manifest["files"]} == {content_sha256(small)}
    # the first file brings the rows; the two copies are duplicates
    assert [f["rows_kept"] for f in manifest["files"]] == [5, 0, 0]
    assert "b.csv: read as csv, latin-1, delimiter ';'" in result.stderr


def test_wallet_column_credits_many_contributors(folder: Path) -> None:
    rows = ALICE_ROWS.head(6).assign(wallet=[ALICE, BOB, ALICE, BOB, BOB, ALICE.lower()])
    rows.to_csv("pool.csv", index=False)

    result = validate("pool.csv")

    assert result.exit_code == 0, result.stderr
    assert "│ pool.csv │ 0x7099…79C8 │       3 │    3 │" in result.stderr
    assert "│ pool.csv │ 0x3C44…93BC │       3 │    3 │" in result.stderr
    contributors = json.loads(Path("pool.csv.manifest.json").read_text())["contributors"]
    assert [(c["wallet"], c["rows_kept"]) for c in contributors] == [(ALICE, 3), (BOB, 3)]


def test_wallet_column_with_wallet_option_is_refused(folder: Path) -> None:
    ALICE_ROWS.head(2).assign(wallet=BOB).to_csv("pool.csv", index=False)

    result = validate("pool.csv", "--wallet", ALICE)

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        f"Error: pool.csv: has a wallet column 'wallet' and a wallet tag ({ALICE}); credit its rows one way: "
        "drop the :WALLET tag or the column."
    )
    assert not Path("pool.csv.manifest.json").exists()


def test_bad_wallet_option(folder: Path) -> None:
    ALICE_ROWS.head(2).to_csv("x.csv", index=False)

    result = validate("x.csv", "--wallet", "0x70997970c51812dc3A010C7d01b50e0d17dc79C8")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: --wallet: wallet '0x70997970c51812dc3A010C7d01b50e0d17dc79C8' is not a valid EIP-55 address; "
        "copy it from your wallet app."
    )


def test_invalid_file_exits_2_with_one_sentence_and_writes_nothing(folder: Path) -> None:
    ALICE_ROWS.head(3).drop(columns=["mean_radius"]).to_csv("bad.csv", index=False)

    result = validate("bad.csv", "--json")

    assert result.exit_code == 2
    assert flat(result.stderr).startswith("Error: bad.csv: missing column(s) 'mean_radius'; the model needs mean_radius,")
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["bad.csv"]


def test_empty_values_are_kept_by_default_refused_or_dropped_by_config(folder: Path) -> None:
    rows = ALICE_ROWS.head(4).copy()
    rows.loc[1, "mean_area"] = None
    rows.to_csv("gap.csv", index=False)
    data = f'[data]\nbase = "{FIXTURES / "base.csv"}"\nbenchmark = "{FIXTURES / "benchmark.csv"}"\n'
    (folder / "refuse").mkdir()
    (folder / "refuse" / "hokusai.toml").write_text(data + 'missing = "refuse"\n')
    Path("hokusai.toml").write_text(data + 'missing = "refuse"\ninvalid_rows = "drop"\n')

    kept = invoke("validate", "gap.csv", "--project", str(folder / "elsewhere"))
    rejected = invoke("validate", "gap.csv", "--project", str(folder / "refuse"))
    dropped = validate("gap.csv")

    assert kept.exit_code == 0, kept.stderr
    assert "gap.csv: 1 empty value(s) in column 'mean_area' (rows 2) kept: the estimator imputes them" in flat(kept.stderr)
    assert "│ gap.csv │ (no wallet) │       4 │    4 │         0 │         0 │       0 │" in kept.stderr
    assert rejected.exit_code == 2
    assert flat(rejected.stderr) == (
        "Error: gap.csv: column 'mean_area' is empty or infinite in row 2; fill or remove them, "
        'or set [data] invalid_rows = "drop".'
    )
    assert dropped.exit_code == 0, dropped.stderr
    assert "gap.csv: dropped 1 row(s) empty or infinite in column 'mean_area' (rows 2)" in dropped.stderr
    assert "│ gap.csv │ (no wallet) │       4 │    3 │         0 │         0 │       1 │" in dropped.stderr


PII_ROWS = ALICE_ROWS.head(4).assign(
    contact=["jane@example.com", "+1 415 555 2671", "none given", "joe@example.org"],
    card=["none", "4111 1111 1111 1111", "none", "none"],
)
PLANTED = ("jane@example.com", "415 555 2671", "joe@example.org", "4111 1111 1111 1111")


def test_pii_is_refused_by_default_naming_columns_and_counts(folder: Path) -> None:
    PII_ROWS.to_csv("pii.csv", index=False)

    result = validate("pii.csv")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: pii.csv: contains personal data (PII): 2 e-mail addresses in column 'contact' (rows 1, 4), "
        "1 phone number in column 'contact' (row 2), 1 payment card number in column 'card' (row 2); remove it, "
        'or set [data] pii = "redact" or "drop-column" (`hokusai validate --redact-pii OUT` writes a redacted copy).'
    )
    assert not any(value in result.stderr for value in PLANTED)
    assert sorted(p.name for p in folder.iterdir()) == ["pii.csv"]


def test_redact_pii_writes_a_redacted_copy_and_a_clean_manifest(folder: Path) -> None:
    PII_ROWS.to_csv("pii.csv", index=False)

    result = validate("pii.csv", "--wallet", ALICE, "--redact-pii", "clean/pii.jsonl", "--json")

    assert result.exit_code == 0, result.stderr
    copy = read_table("pii.jsonl", Path("clean/pii.jsonl").read_bytes())
    assert copy["contact"].tolist() == ["[email]", "[phone]", "none given", "[email]"]
    assert copy["card"].tolist() == ["none", "[card]", "none", "none"]
    assert content_sha256(copy[SCHEMA.columns]) == content_sha256(ALICE_ROWS.head(4)[SCHEMA.columns])
    everything = Path("clean/pii.jsonl").read_text() + Path("pii.csv.manifest.json").read_text() + result.stdout + result.stderr
    assert not any(value in everything for value in PLANTED)
    assert any(value in Path("pii.csv").read_text() for value in PLANTED)  # control: the check can see them
    manifest = json.loads(result.stdout)
    assert manifest["files"][0]["pii"] == {"policy": "redact", "findings": [
        {"type": "email", "column": "contact", "count": 2, "rows": [1, 4]},
        {"type": "phone", "column": "contact", "count": 1, "rows": [2]},
        {"type": "card", "column": "card", "count": 1, "rows": [2]}]}
    assert manifest["files"][0]["extra_columns_dropped"] == ["contact", "card"]
    assert ("pii.csv: personal data redacted: 2 e-mail addresses in column 'contact' (rows 1, 4), 1 phone number "
            "in column 'contact' (row 2), 1 payment card number in column 'card' (row 2)") in flat(result.stderr)
    assert "Redacted copy: clean/pii.jsonl" in result.stderr


def test_redact_pii_into_a_folder_for_several_files(folder: Path) -> None:
    PII_ROWS.to_csv("one.csv", index=False)
    ALICE_ROWS.iloc[10:12].to_parquet("two.parquet", index=False)

    result = validate("one.csv", "two.parquet", "--redact-pii", "out")

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in Path("out").iterdir()) == ["one.csv", "two.parquet"]
    assert pd.read_parquet("out/two.parquet").equals(ALICE_ROWS.iloc[10:12].reset_index(drop=True))


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("pii.csv", "Error: --redact-pii pii.csv: would overwrite pii.csv; write the redacted copy elsewhere."),
        ("copy.xlsx", "Error: --redact-pii copy.xlsx: unsupported file type '.xlsx'; use one of .csv, .json, "
                      ".jsonl, .ndjson, .parquet, .pq, .tsv."),
    ],
)
def test_redact_pii_bad_target(folder: Path, out: str, message: str) -> None:
    PII_ROWS.to_csv("pii.csv", index=False)

    result = validate("pii.csv", "--redact-pii", out)

    assert result.exit_code == 2
    assert flat(result.stderr) == message
    assert sorted(p.name for p in folder.iterdir()) == ["pii.csv"]


def test_missing_file(folder: Path) -> None:
    result = validate("nope.csv")

    assert result.exit_code == 2
    assert flat(result.stderr) == (f"Error: File nope.csv: file not found in the current folder, which is the project "
                                   f"folder ({folder}); check the path.")


def test_help_has_an_example_and_every_option() -> None:
    result = invoke("validate", "--help")

    assert result.exit_code == 0
    text = flat(result.stdout)
    assert "Example: hokusai validate my_rows.csv --wallet 0x70997970C51812dc3A010C7d01b50e0d17dc79C8" in text
    for option in ("--project", "--config", "--wallet", "--redact-pii", "--manifest", "--json"):
        assert option in text


def test_a_file_without_a_header_line_is_named_as_such(folder: Path) -> None:
    """A newcomer's export without column names: pandas took the first data row as names, and
    every column was 'missing'."""
    ALICE_ROWS.head(10).to_csv("noheader.csv", index=False, header=False)

    result = validate("noheader.csv")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        f"Error: noheader.csv: has no header line (its first line holds only numbers); add a first line naming the "
        f"columns: {', '.join(SCHEMA.columns)}.")
    assert not Path("noheader.csv.manifest.json").exists()


def test_scikit_learns_raw_count_line_is_pointed_at(folder: Path) -> None:
    """scikit-learn's raw CSVs open with a count line (`569,30,malignant,benign`), shorter
    than the rows."""
    rows = ALICE_ROWS.head(5).to_csv(index=False, header=False)
    Path("raw.csv").write_text("5,30,malignant,benign\n" + rows)

    result = validate("raw.csv")

    assert result.exit_code == 2
    assert flat(result.stderr) == (
        "Error: raw.csv: has rows with more fields than its header has column names (4); name every column in the "
        "header or remove the extra fields (its first line, '5,30,malignant,benign', holds numbers: if it is not "
        "the column names, replace it with them).")
