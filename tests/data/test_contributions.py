"""pipeline.data.contributions: schema checks, wallets, duplicates and benchmark contamination."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from pipeline.data.conform import conform
from pipeline.data.contributions import ORIGIN, ContributionFile, integrate_contributions
from pipeline.data.wallets import normalise_wallet
from pipeline.errors import DataError
from pipeline.data.content_hash import content_sha256
from pipeline.data.tables import Schema, read_table, sha256_hex
from pipeline.modelling.models import dump_model, fit

# Public test wallets (Hardhat/Anvil accounts #1 and #2): never hold real funds.
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
SCHEMA = Schema(("a", "b"), "target")


def frame(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


def conform_error(data: pd.DataFrame, classes: list | None = None) -> str:
    with pytest.raises(DataError) as caught:
        conform(data, SCHEMA, "c.csv", classes)
    return str(caught.value)


# --- conform ---------------------------------------------------------------------------


def test_conform_keeps_schema_columns_and_makes_features_float() -> None:
    out = conform(
        frame(extra=["x", "y"], b=["1", "2.5"], a=[3, 4], target=[1, 0]), SCHEMA, "c.csv", [0, 1]
    )

    assert list(out.columns) == ["a", "b", "target"]
    assert out["a"].dtype == np.float64 and out["b"].dtype == np.float64
    assert out.to_dict(orient="list") == {"a": [3.0, 4.0], "b": [1.0, 2.5], "target": [1, 0]}


def test_conform_missing_columns() -> None:
    assert conform_error(frame(a=[1], target=[0])) == (
        "c.csv: missing column(s) 'b'; the model needs a, b, target."
    )
    assert conform_error(frame(target=[0])) == (
        "c.csv: missing column(s) 'a', 'b'; the model needs a, b, target."
    )


def test_conform_non_numeric_values_name_the_rows() -> None:
    assert conform_error(frame(a=[1, "x", 3, "y"], b=[1, 2, 3, 4], target=[0, 1, 0, 1])) == (
        "c.csv: column 'a' has non-numeric values in rows 2, 4 (2 rows); fix or remove them."
    )
    assert conform_error(frame(a=[1, 2], b=[1, "n/a"], target=[0, 1])) == (
        "c.csv: column 'b' has non-numeric values in row 2; fix or remove them."
    )


def test_conform_shows_the_first_five_bad_rows_and_the_count() -> None:
    assert conform_error(frame(a=["x"] * 7, b=[1] * 7, target=[0] * 7)) == (
        "c.csv: column 'a' has non-numeric values in rows 1, 2, 3, 4, 5, … (7 rows); fix or remove them."
    )


def test_conform_empty_or_infinite_values() -> None:
    assert conform_error(frame(a=[1, None, 3], b=[1, 2, 3], target=[0, 1, 0])) == (
        "c.csv: column 'a' is empty or infinite in row 2; fill or remove them."
    )
    assert conform_error(frame(a=[1, 2, 3], b=[np.inf, 2, -np.inf], target=[0, 1, 0])) == (
        "c.csv: column 'b' is empty or infinite in rows 1, 3 (2 rows); fill or remove them."
    )


def test_conform_empty_values_read_from_csv() -> None:
    data = read_table("c.csv", b"a,b,target\n1,2,0\n,3,1\n")

    assert conform_error(data) == "c.csv: column 'a' is empty or infinite in row 2; fill or remove them."


def test_conform_missing_label() -> None:
    assert conform_error(frame(a=[1, 2, 3], b=[1, 2, 3], target=[0, None, 0])) == (
        "c.csv: column 'target' has no label in row 2; label or remove them."
    )


def test_conform_unknown_label() -> None:
    assert conform_error(frame(a=[1, 2, 3], b=[1, 2, 3], target=[0, 2, 5]), [0, 1]) == (
        "c.csv: column 'target' has labels the baseline does not know (2, 5) in rows 2, 3 (2 rows); "
        "use one of 0, 1."
    )
    assert conform_error(frame(a=[1, 2], b=[1, 2], target=["no", "maybe"]), ["no", "yes"]) == (
        "c.csv: column 'target' has labels the baseline does not know (maybe) in row 2; "
        "use one of no, yes."
    )


def test_conform_maps_labels_onto_the_baseline_classes() -> None:
    whole_floats = conform(frame(a=[1, 2], b=[1, 2], target=[1.0, 0.0]), SCHEMA, "c.csv", [0, 1])
    float_classes = conform(frame(a=[1, 2], b=[1, 2], target=[1, 0]), SCHEMA, "c.csv", [0.0, 1.0])
    text = conform(frame(a=[1, 2], b=[1, 2], target=["yes", "no"]), SCHEMA, "c.csv", ["no", "yes"])

    assert whole_floats["target"].tolist() == [1, 0]
    assert whole_floats["target"].dtype == np.int64
    assert float_classes["target"].tolist() == [1.0, 0.0]
    assert float_classes["target"].dtype == np.float64
    assert text["target"].tolist() == ["yes", "no"]


def test_conform_without_classes_keeps_labels_as_read() -> None:
    out = conform(frame(a=[1], b=[2], target=["anything"]), SCHEMA, "base.csv", None)

    assert out["target"].tolist() == ["anything"]


# --- normalise_wallet ------------------------------------------------------------------


def test_valid_checksum_wallet_is_kept() -> None:
    assert normalise_wallet(ALICE, "c.csv") == ALICE
    assert normalise_wallet(BOB, "c.csv") == BOB


def test_single_case_wallet_is_normalised_to_eip55() -> None:
    assert normalise_wallet(ALICE.lower(), "c.csv") == ALICE
    assert normalise_wallet("0x" + BOB[2:].upper(), "c.csv") == BOB


@pytest.mark.parametrize(
    "wallet",
    [
        "0x70997970C51812dc3A010C7d01b50e0d17dc79c8",  # last letter's case flipped: bad checksum
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C",  # 39 hex digits
        "0xZZ997970C51812dc3A010C7d01b50e0d17dc79C8",
        "alice",
    ],
)
def test_bad_wallet_is_rejected(wallet: str) -> None:
    with pytest.raises(DataError) as caught:
        normalise_wallet(wallet, "c.csv")

    assert str(caught.value) == (
        f"c.csv: wallet {wallet!r} is not a valid EIP-55 address; copy it from your wallet app."
    )


def test_zero_address_is_rejected() -> None:
    with pytest.raises(DataError) as caught:
        normalise_wallet("0x" + "0" * 40, "c.csv")

    assert str(caught.value) == "c.csv: the zero address cannot receive credit; use your own wallet."


# --- integrate_contributions -----------------------------------------------------------

BASE = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0], "target": [0, 1]})
BENCHMARK = pd.DataFrame({"a": [9.0, 8.0], "b": [9.0, 8.0], "target": [1, 0]})
# Row by row: a base duplicate, new, a duplicate of the row before, a benchmark row (with a
# different label: contamination is judged on features), new.
ONE = b"a,b,target\n1,1,0\n3,3,0\n3,3,0\n9,9,0\n4,4,1\n"
# A duplicate of ONE's last row, new, a base duplicate.
TWO = b"a,b,target\n4,4,1\n5,5,0\n2,2,1\n"


def integrate(*files: ContributionFile):
    return integrate_contributions(BASE, BENCHMARK, list(files), SCHEMA, [0, 1])


def rows(training: pd.DataFrame, columns: list[str] | None = None) -> list[list]:
    """The rows of a table as lists, sorted (training rows come in canonical order, see
    `test_training_rows_are_in_canonical_order`)."""
    return sorted(training[columns or list(training.columns)].values.tolist())


def test_integration_drops_duplicates_and_benchmark_rows() -> None:
    result = integrate(ContributionFile("one.csv", ONE, ALICE.lower()), ContributionFile("two.csv", TWO, BOB))

    assert list(result.training_data.columns) == ["a", "b", "target", ORIGIN]
    assert rows(result.training_data) == [[1, 1, 0, -1], [2, 2, 1, -1], [3, 3, 0, 0], [4, 4, 1, 0], [5, 5, 0, 1]]
    one, two = result.contributions
    assert (one.file, one.wallet, one.rows_in, one.rows_kept) == ("one.csv", ALICE, 5, 2)
    assert (one.duplicates_dropped, one.benchmark_rows_dropped) == (2, 1)
    assert (two.file, two.wallet, two.rows_in, two.rows_kept) == ("two.csv", BOB, 3, 1)
    assert (two.duplicates_dropped, two.benchmark_rows_dropped) == (2, 0)


def test_a_row_in_two_files_is_credited_to_the_first() -> None:
    same = b"a,b,target\n7,7,1\n"

    forward = integrate(ContributionFile("x.csv", same, ALICE), ContributionFile("y.csv", same, BOB))
    backward = integrate(ContributionFile("y.csv", same, BOB), ContributionFile("x.csv", same, ALICE))

    assert [(c.wallet, c.rows_kept, c.duplicates_dropped) for c in forward.contributions] == [
        (ALICE, 1, 0), (BOB, 0, 1)
    ]
    assert [(c.wallet, c.rows_kept, c.duplicates_dropped) for c in backward.contributions] == [
        (BOB, 1, 0), (ALICE, 0, 1)
    ]
    assert sorted(forward.training_data[ORIGIN].tolist()) == [-1, -1, 0]


def test_a_row_equal_to_a_base_row_after_conforming_is_a_duplicate() -> None:
    # "1.0,1.0,0.0" is the base row (1, 1, 0) written differently.
    result = integrate(ContributionFile("one.csv", b"a,b,target\n1.0,1.0,0.0\n7,7,1\n", ALICE))

    (only,) = result.contributions
    assert (only.rows_in, only.rows_kept, only.duplicates_dropped, only.benchmark_rows_dropped) == (2, 1, 1, 0)
    assert rows(result.training_data, ["a", "b", "target"]) == [[1, 1, 0], [2, 2, 1], [7, 7, 1]]


def test_same_features_with_another_label_is_not_a_duplicate() -> None:
    result = integrate(ContributionFile("one.csv", b"a,b,target\n1,1,1\n", ALICE))

    assert result.contributions[0].rows_kept == 1
    assert rows(result.training_data) == [[1, 1, 0, -1], [1, 1, 1, 0], [2, 2, 1, -1]]


def test_contribution_hashes() -> None:
    result = integrate(ContributionFile("one.csv", ONE, ALICE))

    (one,) = result.contributions
    assert one.file_sha256 == "0x" + hashlib.sha256(ONE).hexdigest()
    assert one.content_sha256 == content_sha256(conform(read_table("one.csv", ONE), SCHEMA, "one.csv", [0, 1]))


def test_contribution_without_wallet_and_the_manifest() -> None:
    result = integrate(ContributionFile("one.csv", b"a,b,target\n7,7,1\n"))

    manifest = result.manifest()
    assert manifest["schema"] == "hokusai.manifest/v1"
    assert [(c["file"], c["wallet"], c["rows_in"], c["rows_kept"]) for c in manifest["contributions"]] == [
        ("one.csv", None, 1, 1)
    ]


def test_no_new_row_is_an_error() -> None:
    with pytest.raises(DataError) as caught:
        integrate(ContributionFile("one.csv", b"a,b,target\n1,1,0\n9,9,1\n", ALICE))

    assert str(caught.value) == (
        "No contributed row is new: every row duplicates the base data or appears in the "
        "benchmark; contribute rows the model has not seen."
    )


def test_no_file_is_an_error() -> None:
    with pytest.raises(DataError) as caught:
        integrate()

    assert str(caught.value) == (
        "No contributed data was given; pass at least one file with --contrib FILE[:WALLET]."
    )


def test_a_bad_wallet_names_its_file() -> None:
    with pytest.raises(DataError) as caught:
        integrate(ContributionFile("one.csv", ONE, "0x" + "0" * 40))

    assert str(caught.value) == "one.csv: the zero address cannot receive credit; use your own wallet."


def test_max_rows_caps_each_file() -> None:
    result = integrate_contributions(
        BASE, BENCHMARK, [ContributionFile("one.csv", ONE, ALICE)], SCHEMA, [0, 1], max_rows=2
    )

    assert (result.contributions[0].rows_in, result.contributions[0].rows_kept) == (2, 1)


# --- invalid rows, minimum rows, extra columns ------------------------------------------

from pipeline.config import DataSection  # noqa: E402
from pipeline.data.contributions import LoadedContribution, load_contribution, select_columns  # noqa: E402

DROP = DataSection(invalid_rows="drop", missing="refuse")  # gaps are invalid rows here
# rows: ok, empty a, inf b, no label, ok, empty a and no label
GAPPY = b"a,b,target,note\n3,3,0,x\n,4,1,y\n5,inf,0,z\n6,6,,w\n7,7,1,v\n,8,,u\n"


def integrate_with(rules: DataSection, *files: ContributionFile):
    return integrate_contributions(BASE, BENCHMARK, list(files), SCHEMA, [0, 1], rules=rules)


def integrate_error(rules: DataSection, *files: ContributionFile) -> str:
    with pytest.raises(DataError) as caught:
        integrate_with(rules, *files)
    return str(caught.value)


def test_gaps_are_kept_by_default_for_the_estimator_and_counted_per_column() -> None:
    result = integrate_with(DataSection(), ContributionFile("g.csv", b"a,b,target\n3,3,0\n,4,1\n5,,0\n", ALICE))
    (report,) = result.files
    assert report.rows_kept == 3
    assert report.to_dict()["missing_values"] == [{"column": "a", "count": 1, "rows": [2]},
                                                  {"column": "b", "count": 1, "rows": [3]}]
    assert [c.to_dict() for c in report.invalid_rows] == []
    assert result.rules["missing"] == "impute"
    assert integrate_error(DataSection(), ContributionFile("g.csv", GAPPY, ALICE)) == (
        "g.csv: column 'b' is infinite in row 3; fix or remove them, or set [data] invalid_rows = \"drop\".")


def test_invalid_rows_are_rejected_under_missing_refuse_with_the_way_out() -> None:
    assert integrate_error(DataSection(missing="refuse"), ContributionFile("g.csv", GAPPY, ALICE)) == (
        "g.csv: column 'a' is empty or infinite in rows 2, 6 (2 rows); fill or remove them, "
        'or set [data] invalid_rows = "drop".'
    )
    assert integrate_error(DataSection(), ContributionFile("g.csv", b"a,b,target\n1,2,\n", ALICE)) == (
        "g.csv: column 'target' has no label in row 1; label or remove them, "
        'or set [data] invalid_rows = "drop".'
    )


def test_invalid_rows_dropped_and_counted_per_column_with_file_row_numbers() -> None:
    result = integrate_with(DROP, ContributionFile("g.csv", GAPPY, ALICE))

    (only,) = result.contributions
    assert (only.rows_in, only.rows_kept, only.invalid_rows_dropped, only.duplicates_dropped) == (6, 2, 4, 0)
    (report,) = result.files
    assert [c.to_dict() for c in report.invalid_rows] == [
        {"column": "a", "count": 2, "rows": [2, 6]},
        {"column": "b", "count": 1, "rows": [3]},
        {"column": "target", "count": 2, "rows": [4, 6]},
    ]
    assert report.extra_columns == ("note",)
    assert rows(result.training_data[result.training_data[ORIGIN] == 0], ["a", "b", "target"]) == [[3, 3, 0], [7, 7, 1]]


def test_after_dropping_other_errors_still_name_the_file_rows() -> None:
    data = b"a,b,target\n,1,0\n2,2,0\nx,3,1\n"

    assert integrate_error(DROP, ContributionFile("g.csv", data, ALICE)) == (
        "g.csv: column 'a' has non-numeric values in row 3; fix or remove them."
    )


def test_min_rows() -> None:
    two = ContributionFile("two.csv", b"a,b,target\n3,3,0\n4,4,1\n", ALICE)

    assert integrate_error(DataSection(min_rows=3), two) == (
        "two.csv: has 2 usable rows, fewer than [data] min_rows = 3; add rows or lower min_rows."
    )
    assert integrate_error(DataSection(min_rows=2, invalid_rows="drop", missing="refuse"),
                           ContributionFile("g.csv", b"a,b,target\n3,3,0\n,4,1\n", ALICE)) == (
        "g.csv: has 1 usable row, fewer than [data] min_rows = 2; add rows or lower min_rows."
    )
    assert integrate_with(DataSection(min_rows=2), two).contributions[0].rows_kept == 2


def test_every_row_invalid_is_zero_usable_rows() -> None:
    assert integrate_error(DROP, ContributionFile("g.csv", b"a,b,target\n,1,0\n", ALICE)) == (
        "g.csv: has 0 usable rows, fewer than [data] min_rows = 1; add rows or lower min_rows."
    )


def test_extra_columns_are_dropped_and_reported() -> None:
    data = b"a,comment,b,target,source\n7,hi,7,1,web\n"

    result = integrate(ContributionFile("x.csv", data, ALICE))

    assert result.files[0].extra_columns == ("comment", "source")
    assert list(result.training_data.columns) == ["a", "b", "target", ORIGIN]


def test_select_columns_keeps_schema_and_wallet_columns() -> None:
    loaded = load_contribution(ContributionFile("w.csv", b"x,a,wallet,b,target\n1,2,%s,3,0\n" % BOB.encode()))

    selected = select_columns(loaded, SCHEMA.columns)

    assert list(selected.frame.columns) == ["a", "wallet", "b", "target"]
    assert selected.extra_columns == ("x",)
    assert select_columns(selected, SCHEMA.columns) is selected


# --- wallet column: many contributors in one file ----------------------------------------

CAROL = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"  # Hardhat account #3
MANY = (
    "a,b,target,wallet\n"
    f"3,3,0,{ALICE}\n"
    f"4,4,1,{BOB.lower()}\n"  # all lower case: normalised
    f"3,3,0,{BOB}\n"  # duplicate of row 1: Alice brought it first
    f"9,9,1,{BOB}\n"  # benchmark features
    f"5,5,0,{ALICE}\n"
    f"1,1,0,{CAROL}\n"  # a base row
).encode()


def test_wallet_column_groups_rows_per_wallet_in_first_appearance_order() -> None:
    result = integrate(ContributionFile("many.csv", MANY))

    assert [(c.wallet, c.rows_in, c.rows_kept, c.duplicates_dropped, c.benchmark_rows_dropped)
            for c in result.contributions] == [(ALICE, 2, 2, 0, 0), (BOB, 3, 1, 1, 1), (CAROL, 1, 0, 1, 0)]
    assert {c.file for c in result.contributions} == {"many.csv"}
    assert len({c.file_sha256 for c in result.contributions}) == 1
    data = result.training_data
    assert rows(data[data[ORIGIN] == 0], ["a", "b"]) == [[3, 3], [5, 5]]
    assert rows(data[data[ORIGIN] == 1], ["a", "b"]) == [[4, 4]]
    assert result.files[0].wallet_column == "wallet" and result.files[0].extra_columns == ()


def test_wallet_groups_have_their_own_content_hash_and_the_file_has_one() -> None:
    result = integrate(ContributionFile("many.csv", MANY))
    alice, bob, carol = result.contributions
    expected = pd.DataFrame({"a": [3.0, 5.0], "b": [3.0, 5.0], "target": [0, 0]})

    assert alice.content_sha256 == content_sha256(expected)
    assert len({alice.content_sha256, bob.content_sha256, carol.content_sha256, result.files[0].content_sha256}) == 4


def test_wallet_column_name_is_configurable() -> None:
    data = f"a,b,target,payee\n7,7,1,{ALICE}\n".encode()

    result = integrate_with(DataSection(wallet_column="payee"), ContributionFile("p.csv", data))

    assert result.contributions[0].wallet == ALICE
    assert integrate(ContributionFile("p.csv", data)).files[0].extra_columns == ("payee",)


def test_wallet_column_and_tag_together_is_an_error() -> None:
    with pytest.raises(DataError) as caught:
        integrate(ContributionFile("many.csv", MANY, ALICE))

    assert str(caught.value) == (
        f"many.csv: has a wallet column 'wallet' and a wallet tag ({ALICE}); credit its rows one way: "
        "drop the :WALLET tag or the column."
    )


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("", "many.csv: column 'wallet' has no wallet in row 2; fill in the wallet to credit or remove those rows."),
        ("0x70997970c51812dc3A010C7d01b50e0d17dc79C8",
         "many.csv: column 'wallet' has invalid wallet addresses in row 2; use EIP-55 addresses "
         "(copy them from your wallet app)."),
        ("alice", "many.csv: column 'wallet' has invalid wallet addresses in row 2; use EIP-55 addresses "
                  "(copy them from your wallet app)."),
        ("0x" + "0" * 40, "many.csv: column 'wallet' holds the zero address in row 2; it cannot receive credit: "
                          "use real wallets."),
    ],
)
def test_bad_wallet_cells_are_never_dropped(cell: str, message: str) -> None:
    data = f"a,b,target,wallet\n3,3,0,{ALICE}\n4,4,1,{cell}\n".encode()

    assert integrate_error(DROP, ContributionFile("many.csv", data)) == message


def test_counts_add_up_for_every_contribution() -> None:
    result = integrate_with(DROP, ContributionFile("g.csv", GAPPY, ALICE), ContributionFile("many.csv", MANY))

    for c in result.contributions:
        assert c.rows_in == c.rows_kept + c.duplicates_dropped + c.benchmark_rows_dropped + c.invalid_rows_dropped
    assert sum(c.rows_in for c in result.contributions) == sum(f.rows_read for f in result.files) == 12


# --- PII at load time ---------------------------------------------------------------------

PII_FILE = (
    "a,b,target,contact,wallet\n"
    f"3,3,0,jane@example.com,{ALICE}\n"
    f"4,4,1,call 415-555-2671,{BOB}\n"
).encode()


def test_pii_is_rejected_by_default_naming_kinds_columns_and_counts() -> None:
    with pytest.raises(DataError) as caught:
        load_contribution(ContributionFile("p.csv", PII_FILE))

    assert str(caught.value) == (
        "p.csv: contains personal data (PII): 1 e-mail address in column 'contact' (row 1), "
        "1 phone number in column 'contact' (row 2); remove it, or set [data] pii = \"redact\" or "
        "\"drop-column\" (`hokusai validate --redact-pii OUT` writes a redacted copy)."
    )


@pytest.mark.parametrize("policy", ["redact", "drop-column"])
def test_pii_policies_leave_no_value_in_the_loaded_contribution(policy: str) -> None:
    import pickle

    loaded = load_contribution(ContributionFile("p.csv", PII_FILE), DataSection(pii=policy), SCHEMA.columns)

    assert [(f.kind, f.column, f.count) for f in loaded.pii] == [("email", "contact", 1), ("phone", "contact", 1)]
    blob = pickle.dumps(loaded)
    assert b"jane@example.com" not in blob and b"415-555-2671" not in blob
    # control: a value the table keeps is visible in the same pickled form
    assert b"alice" in pickle.dumps(load_contribution(ContributionFile("q.csv", b"a,b,target\n1,2,alice\n")))
    assert list(loaded.frame.columns) == ["a", "b", "target", "wallet"]


def test_redacted_table_keeps_every_column_until_the_schema_is_applied() -> None:
    loaded = load_contribution(ContributionFile("p.csv", PII_FILE), DataSection(pii="redact"))

    assert loaded.frame["contact"].tolist() == ["[email]", "call [phone]"]
    assert isinstance(loaded, LoadedContribution) and loaded.rows_read == 2
    assert loaded.file_sha256 == "0x" + hashlib.sha256(PII_FILE).hexdigest()
    assert not hasattr(loaded, "data")


def test_the_manifest_holds_counts_names_and_hashes() -> None:
    result = integrate_with(
        DataSection(pii="redact", invalid_rows="drop", missing="refuse"), ContributionFile("p.csv", PII_FILE),
        ContributionFile("g.csv", GAPPY),
    )

    manifest = result.manifest()
    assert manifest["rules"] == {"invalid_rows": "drop", "missing": "refuse", "min_rows": 1, "pii": "redact",
                                 "wallet_column": "wallet", "max_rows": None}
    first = manifest["files"][0]
    assert first == {
        "file": "p.csv", "file_sha256": "0x" + hashlib.sha256(PII_FILE).hexdigest(),
        "content_sha256": content_sha256(pd.DataFrame({"a": [3.0, 4.0], "b": [3.0, 4.0], "target": [0, 1]})),
        "format": "csv", "encoding": "utf-8", "delimiter": ",", "wallet": None, "wallet_column": "wallet",
        "rows_read": 2, "rows_kept": 2, "rows_dropped": {"duplicate": 0, "benchmark": 0, "invalid": 0},
        "invalid_rows": [], "missing_values": [], "unseen_categories": [], "extra_columns_dropped": ["contact"],
        "pii": {"policy": "redact", "findings": [
            {"type": "email", "column": "contact", "count": 1, "rows": [1]},
            {"type": "phone", "column": "contact", "count": 1, "rows": [2]}]},
    }
    assert manifest["files"][1]["rows_dropped"] == {"duplicate": 1, "benchmark": 0, "invalid": 4}
    assert manifest["contributors"] == [
        {"wallet": ALICE, "files": 1, "rows_in": 1, "rows_kept": 1, "duplicates_dropped": 0,
         "benchmark_rows_dropped": 0, "invalid_rows_dropped": 0},
        {"wallet": BOB, "files": 1, "rows_in": 1, "rows_kept": 1, "duplicates_dropped": 0,
         "benchmark_rows_dropped": 0, "invalid_rows_dropped": 0},
        {"wallet": None, "files": 1, "rows_in": 6, "rows_kept": 1, "duplicates_dropped": 1,
         "benchmark_rows_dropped": 0, "invalid_rows_dropped": 4},
    ]
    assert manifest["notes"] == [
        "g.csv: no wallet, so its rows are unattributable (fine for a dry-run or a check; a real run "
        "needs FILE:WALLET or a wallet column)."
    ]
    assert "jane" not in repr(manifest) and "555" not in repr(manifest)


# --- canonical row order: the candidate depends on the set of rows ------------------------

from pipeline.data.content_hash import canonical_order  # noqa: E402
from tests.conftest import FIXTURES, invoke  # noqa: E402


def parquet(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_training_rows_are_in_canonical_order() -> None:
    result = integrate(ContributionFile("one.csv", ONE, ALICE), ContributionFile("many.csv", MANY))
    training = result.training_data

    order = canonical_order(training[SCHEMA.columns], training[ORIGIN].to_numpy())  # hokusai.content/v3's
    assert order.tolist() == list(range(len(training)))
    assert training.index.tolist() == list(range(len(training)))
    for origin in set(training[ORIGIN]):  # attribution retrains on rows filtered by origin: sorted too
        part = training[training[ORIGIN] == origin][SCHEMA.columns]
        assert canonical_order(part).tolist() == list(range(len(part)))


def test_row_order_file_order_and_format_do_not_change_the_training_rows() -> None:
    one = read_table("one.csv", ONE)
    shuffled = one.iloc[[4, 2, 0, 3, 1]]
    forward = integrate(ContributionFile("one.csv", ONE, ALICE), ContributionFile("two.csv", TWO, BOB))
    backward = integrate(ContributionFile("two.parquet", parquet(read_table("two.csv", TWO).iloc[::-1]), BOB),
                         ContributionFile("one.json", shuffled.to_json(orient="records").encode(), ALICE))

    columns = SCHEMA.columns
    pd.testing.assert_frame_equal(forward.training_data[columns], backward.training_data[columns])
    # who is credited still follows the order given: the first copy keeps the row
    assert [(c.wallet, c.rows_kept) for c in forward.contributions] == [(ALICE, 2), (BOB, 1)]
    assert [(c.wallet, c.rows_kept) for c in backward.contributions] == [(BOB, 2), (ALICE, 1)]


def _demo_candidate(files: list[ContributionFile]) -> tuple[str, str]:
    """sha256 of the candidate trained (as the flow does) on the demo base data plus `files`,
    and of a candidate trained on the same rows in reverse order (the control)."""
    from pipeline.config import ModelSection
    from pipeline.modelling.baseline import load_baseline_model
    from pipeline.modelling.training import train_candidate

    base_raw = read_table("base.csv", (FIXTURES / "base.csv").read_bytes())
    schema = Schema(tuple(c for c in base_raw.columns if c != "target"), "target")
    base = conform(base_raw, schema, "base.csv", None)
    benchmark = conform(read_table("benchmark.csv", (FIXTURES / "benchmark.csv").read_bytes()), schema,
                        "benchmark.csv", [0, 1])
    model_file = ("baseline.skops", (FIXTURES / "baseline.skops").read_bytes())
    baseline, _, info = load_baseline_model(model_file, base, schema, ModelSection(), 42)
    result = integrate_contributions(base, benchmark, files, schema, info.classes)
    _, data, candidate = train_candidate(baseline, info, result.training_data, schema)
    assert candidate.sha256 == "0x" + hashlib.sha256(data).hexdigest()
    # a forest's bootstrap picks rows by position, so its bytes follow the row order (a logistic
    # regression's canonical bytes do not: its order effects are below the rounding quantum)
    rows, features = result.training_data, list(schema.features)
    forest = [sha256_hex(dump_model(fit("random_forest", {"n_estimators": 5}, 42, r[features], r[schema.target])))
              for r in (rows, rows.iloc[::-1])]
    return candidate.sha256, forest


def test_the_candidate_depends_on_the_rows_not_their_order_nor_format() -> None:
    alice = (FIXTURES / "contrib_alice.csv").read_bytes()
    bob = (FIXTURES / "contrib_bob.parquet").read_bytes()
    rows = read_table("a.csv", alice)
    shuffled = rows.sample(frac=1.0, random_state=7)

    demo, control = _demo_candidate([ContributionFile("alice.csv", alice, ALICE), ContributionFile("bob.parquet", bob, BOB)])
    same = {
        "alice shuffled": _demo_candidate([ContributionFile("alice.csv", shuffled.to_csv(index=False).encode(), ALICE),
                                           ContributionFile("bob.parquet", bob, BOB)])[0],
        "alice as parquet, files swapped": _demo_candidate([
            ContributionFile("bob.parquet", bob, BOB), ContributionFile("alice.parquet", parquet(rows), ALICE)])[0],
        "bob as csv, shuffled": _demo_candidate([
            ContributionFile("alice.csv", alice, ALICE),
            ContributionFile("bob.csv", read_table("b.parquet", bob).iloc[::-1].to_csv(index=False).encode(), BOB)])[0],
    }

    assert set(same.values()) == {demo}, same
    assert control[0] != control[1]  # an estimator can depend on row order: the canonical sort is what fixes it


# --- crashes the property test found (tests/data/test_properties.py) ----------------------


def test_pii_in_a_categorical_parquet_column_is_found() -> None:
    # pandas writes a category column as a Parquet dictionary column; the scan crashed on it
    data = parquet(frame(a=[3, 4], b=[3, 4], target=[0, 1],
                         contact=pd.Categorical(["jane@example.com", "n/a"])))

    with pytest.raises(DataError) as caught:
        load_contribution(ContributionFile("p.parquet", data))
    redacted = load_contribution(ContributionFile("p.parquet", data), DataSection(pii="redact"))

    assert str(caught.value).startswith(
        "p.parquet: contains personal data (PII): 1 e-mail address in column 'contact' (row 1); remove it,"
    )
    assert redacted.frame["contact"].tolist() == ["[email]", "n/a"]


def test_a_categorical_wallet_column_is_read_as_its_values() -> None:
    data = parquet(frame(a=[3, 4], b=[3, 4], target=[0, 1], wallet=pd.Categorical([ALICE, BOB.lower()])))

    result = integrate(ContributionFile("w.parquet", data))

    assert [(c.wallet, c.rows_kept) for c in result.contributions] == [(ALICE, 1), (BOB, 1)]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("w.json", b'[{"a": 3, "b": 3, "target": 0, "wallet": ["0x1"]}, {"a": 4, "b": 4, "target": 1, "wallet": {"w": 1}}]'),
        ("w.parquet", parquet(frame(a=[3, 4], b=[3, 4], target=[0, 1], wallet=[[1], [2]]))),
        ("b.parquet", parquet(frame(a=[3, 4], b=[3, 4], target=[0, 1], wallet=[b"\xff", ALICE.encode("utf-16")]))),
    ],
)
def test_lists_objects_or_bytes_in_a_wallet_column_are_invalid_wallets(name: str, data: bytes) -> None:
    assert integrate_error(DataSection(), ContributionFile(name, data)) == (
        f"{name}: column 'wallet' has invalid wallet addresses in rows 1, 2 (2 rows); use EIP-55 addresses "
        "(copy them from your wallet app)."
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("l.json", b'[{"a": 3, "b": 3, "target": 0}, {"a": 4, "b": 4, "target": [1]}, {"a": 5, "b": 5, "target": {"y": 1}}]'),
        ("l.parquet", parquet(frame(a=[3, 4, 5], b=[3, 4, 5], target=[[0], [1], [1, 0]]))),
    ],
)
def test_lists_or_objects_as_labels_name_the_rows(name: str, data: bytes) -> None:
    rows = "rows 2, 3 (2 rows)" if name.endswith("json") else "rows 1, 2, 3 (3 rows)"

    assert integrate_error(DataSection(), ContributionFile(name, data, ALICE)) == (
        f"{name}: column 'target' has lists or objects instead of labels in {rows}; write one of 0, 1 in each cell."
    )


def test_dates_and_durations_are_not_numbers() -> None:
    # pandas turns a date into nanoseconds since 1970: the same file as CSV would be refused
    dates = pd.to_datetime(["2024-01-15", "2024-01-16"])
    for column in (dates, dates.tz_localize("UTC"), dates - dates[0]):
        data = parquet(frame(a=column, b=[3, 4], target=[0, 1]))

        assert integrate_error(DataSection(), ContributionFile("d.parquet", data, ALICE)) == (
            "d.parquet: column 'a' has non-numeric values in rows 1, 2 (2 rows); fix or remove them."
        )


def test_minus_zero_is_zero() -> None:
    result = integrate(ContributionFile("z.csv", b"a,b,target\n-0.0,7,1\n0,7,1\n", ALICE))

    (only,) = result.contributions
    assert (only.rows_kept, only.duplicates_dropped) == (1, 1)
    assert str(result.training_data["a"].min()) == "0.0"


# --- duplicated column names through `hokusai validate` -------------------------------------


def test_validate_refuses_a_duplicated_column_name(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no hokusai.toml: the bundled demo project
    rows = pd.read_csv(FIXTURES / "contrib_alice.csv").head(3)
    header = ",".join([*rows.columns, "mean_area"])
    lines = [",".join(map(str, [*row, 9.5])) for row in rows.itertuples(index=False)]
    (tmp_path / "dup.csv").write_text("\n".join([header, *lines]) + "\n")
    position = list(rows.columns).index("mean_area") + 1

    result = invoke("validate", "dup.csv", "--project", ".")

    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f"Error: dup.csv: duplicated column name 'mean_area' (columns {position} and {len(rows.columns) + 1}); "
        "rename or remove the extra column so each name appears once."
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.csv"]


# --- contamination that fits the data: matching by id, and a warning when values repeat -----

def _people(n: int, start: int, seed: int) -> pd.DataFrame:
    """Rows about different people whose few feature values often coincide (Titanic-like)."""
    rng = np.random.RandomState(seed)
    return pd.DataFrame({"pid": range(start, start + n), "sex": rng.randint(0, 2, n).astype(float),
                         "age": rng.randint(1, 40, n).astype(float), "target": rng.randint(0, 2, n)})


PEOPLE_BASE, PEOPLE_BENCH, PEOPLE_NEW = _people(40, 0, 1), _people(100, 1000, 2), _people(60, 5000, 3)
BY_VALUE = Schema(("sex", "age"), "target")
BY_ID = Schema(("sex", "age"), "target", id_column="pid")
# base and benchmark as the flow hands them on: conformed (ids as text)
ID_BASE, ID_BENCH = (conform(frame, BY_ID, name, None) for frame, name in ((PEOPLE_BASE, "b"), (PEOPLE_BENCH, "m")))


def test_repeating_benchmark_values_drop_honest_rows_and_say_so() -> None:
    cols = BY_VALUE.columns
    result = integrate_contributions(PEOPLE_BASE[cols], PEOPLE_BENCH[cols], [
        ContributionFile("c.csv", PEOPLE_NEW[cols].to_csv(index=False).encode(), ALICE)], BY_VALUE, [0, 1])
    (only,) = result.contributions
    assert (only.rows_kept, only.benchmark_rows_dropped) == (6, 52)  # 52 other people, dropped as "benchmark"
    assert result.notes() == [
        "The benchmark's feature values repeat (100 rows, 60 distinct), so matching contributed rows to it by values "
        "can drop honest rows: 52 of 60 contributed rows (86%) were dropped as benchmark rows; if rows are about "
        "different people or things with equal values, set [data] id_column to match by id."]


def test_an_id_column_keeps_honest_rows_that_share_values_with_the_benchmark() -> None:
    new = pd.concat([PEOPLE_NEW, PEOPLE_BENCH.iloc[:3], PEOPLE_BASE.iloc[:2], PEOPLE_NEW.iloc[:1]])  # 3 leaked, 3 repeats
    result = integrate_contributions(ID_BASE, ID_BENCH, [
        ContributionFile("c.csv", new.to_csv(index=False).encode(), ALICE)], BY_ID, [0, 1],
        rules=DataSection(id_column="pid"))
    (only,) = result.contributions
    assert (only.rows_in, only.rows_kept, only.benchmark_rows_dropped, only.duplicates_dropped) == (66, 60, 3, 3)
    assert result.notes() == [] and result.rules["id_column"] == "pid"
    assert list(result.training_data.columns) == ["sex", "age", "target", "pid", ORIGIN]
    assert sorted(result.training_data["pid"].tolist())[:3] == ["0", "1", "10"]  # ids are text


def test_an_id_column_must_be_filled_and_is_not_a_feature() -> None:
    from pipeline.config import ModelSection
    from pipeline.data.tables import resolve_schema

    gap = PEOPLE_NEW.astype({"pid": float}).copy()
    gap.loc[2, "pid"] = np.nan
    with pytest.raises(DataError) as caught:
        integrate_contributions(ID_BASE, ID_BENCH, [ContributionFile("c.csv", gap.to_csv(index=False).encode(),
                                                                             ALICE)], BY_ID, [0, 1],
                                rules=DataSection(id_column="pid"))
    assert str(caught.value) == ("c.csv: column 'pid' has no id in row 3; fill or remove them, "
                                 'or set [data] invalid_rows = "drop".')
    assert resolve_schema(PEOPLE_BASE, ModelSection(), "b.csv", "pid") == BY_ID
    with pytest.raises(DataError) as caught:
        resolve_schema(PEOPLE_BASE, ModelSection(features=["pid", "age"]), "b.csv", "pid")
    assert str(caught.value) == ("[data] id_column 'pid' is also listed in [model] features; an id is not a feature: "
                                 "remove it from features.")


def test_rows_with_unseen_categories_are_kept_and_counted() -> None:
    schema = Schema(("town", "n"), "target", kinds=("categorical", "numeric"))
    base = conform(pd.DataFrame({"town": ["Oslo", "Bergen", "Oslo"], "n": [1.0, 2, 3], "target": [0, 1, 0]}), schema,
                   "b", None)
    bench = conform(pd.DataFrame({"town": ["Oslo", "Bergen"], "n": [10.0, 20], "target": [0, 1]}), schema, "m", None)
    data = b"town,n,target\nParis,5,1\nOslo,6,0\nRome,7,1\n,8,0\n"
    result = integrate_contributions(base, bench, [ContributionFile("c.csv", data, ALICE)], schema, [0, 1])
    (report,) = result.files
    assert report.rows_kept == 4
    assert report.to_dict()["unseen_categories"] == [{"column": "town", "count": 2, "rows": [1, 3]}]  # a gap is not one
    assert report.to_dict()["missing_values"] == [{"column": "town", "count": 1, "rows": [4]}]
