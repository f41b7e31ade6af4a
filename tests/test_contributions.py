"""pipeline.contributions: schema checks, wallets, duplicates and benchmark contamination."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from pipeline.contributions import (
    ORIGIN,
    ContributionFile,
    conform,
    integrate_contributions,
    normalise_wallet,
)
from pipeline.errors import DataError
from pipeline.tables import Schema, content_sha256, read_table

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


def test_integration_drops_duplicates_and_benchmark_rows() -> None:
    result = integrate(ContributionFile("one.csv", ONE, ALICE.lower()), ContributionFile("two.csv", TWO, BOB))

    assert result.training_data.to_dict(orient="list") == {
        "a": [1.0, 2.0, 3.0, 4.0, 5.0],
        "b": [1.0, 2.0, 3.0, 4.0, 5.0],
        "target": [0, 1, 0, 1, 0],
        ORIGIN: [-1, -1, 0, 0, 1],
    }
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
    assert forward.training_data[ORIGIN].tolist() == [-1, -1, 0]


def test_a_row_equal_to_a_base_row_after_conforming_is_a_duplicate() -> None:
    # "1.0,1.0,0.0" is the base row (1, 1, 0) written differently.
    result = integrate(ContributionFile("one.csv", b"a,b,target\n1.0,1.0,0.0\n7,7,1\n", ALICE))

    (only,) = result.contributions
    assert (only.rows_in, only.rows_kept, only.duplicates_dropped, only.benchmark_rows_dropped) == (2, 1, 1, 0)
    assert result.training_data[["a", "b", "target"]].values.tolist() == [[1, 1, 0], [2, 2, 1], [7, 7, 1]]


def test_same_features_with_another_label_is_not_a_duplicate() -> None:
    result = integrate(ContributionFile("one.csv", b"a,b,target\n1,1,1\n", ALICE))

    assert result.contributions[0].rows_kept == 1
    assert result.training_data["target"].tolist() == [0, 1, 1]


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
