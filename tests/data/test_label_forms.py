"""A class label written 0/1 in one file and 0.0/1.0 (or "0"/"1") in another is one label:
duplicate detection keys it in one form, and a contribution's content hash does not depend
on the form (issue 25, point 7)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.conform import conform
from pipeline.data.contributions import ContributionFile, duplicate_keys, integrate_contributions
from pipeline.data.content_hash import content_sha256
from pipeline.data.content_hash_v2 import content_sha256_v2
from pipeline.data.tables import Schema, read_table
from tests.conftest import ALICE, FIXTURES, invoke, make_project

pytestmark = pytest.mark.timeout(120)
SCHEMA = Schema(("a", "b"), "target")
BENCHMARK = pd.DataFrame({"a": [9.0, 8.0], "b": [9.0, 8.0], "target": [1, 0]})
# Three base rows (classes 0, 1, 1) and one new row, as each format writes the labels.
ROWS = pd.DataFrame({"a": [1, 2, 3, 7], "b": [1, 2, 3, 7], "target": [0, 1, 1, 1]})


def parquet(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


CONTRIBUTIONS = {
    "ints.csv": b"a,b,target\n1,1,0\n2,2,1\n3,3,1\n7,7,1\n",
    "floats.csv": b"a,b,target\n1,1,0.0\n2,2,1.0\n3,3,1.0\n7,7,1.0\n",
    "texts.json": json.dumps([{"a": a, "b": b, "target": str(t)} for a, b, t in ROWS.values.tolist()]).encode(),
    "floats.parquet": parquet(ROWS.astype({"target": "float64"})),
}


def base(labels: str) -> pd.DataFrame:
    """The base data as the flow holds it (conformed with no classes: labels as read)."""
    text = "a,b,target\n1,1,0\n2,2,1\n3,3,1\n" if labels == "ints" else "a,b,target\n1,1,0.0\n2,2,1.0\n3,3,1.0\n"
    return conform(read_table("base.csv", text.encode()), SCHEMA, "base.csv", None)


@pytest.mark.parametrize("base_labels,classes", [("floats", [0, 1]), ("ints", [0.0, 1.0]), ("ints", ["0", "1"]),
                                                 ("floats", [0.0, 1.0]), ("ints", [0, 1])])
@pytest.mark.parametrize("name", list(CONTRIBUTIONS))
def test_a_base_row_is_a_duplicate_whatever_form_its_label_has(base_labels: str, classes: list, name: str) -> None:
    """(floats base, int classes) is a baseline model fitted on 0/1 and base data written 0.0/1.0:
    before the fix the rows of class 1 were kept and credited (1 duplicate, 3 kept)."""
    result = integrate_contributions(base(base_labels), BENCHMARK, [ContributionFile(name, CONTRIBUTIONS[name], ALICE)],
                                     SCHEMA, classes)

    (only,) = result.contributions
    assert (only.rows_in, only.rows_kept, only.duplicates_dropped, only.benchmark_rows_dropped) == (4, 1, 3, 0)
    assert len(result.training_data) == 4  # the three base rows and the new one


@pytest.mark.parametrize("classes", [[0, 1], [0.0, 1.0]])
def test_the_content_hash_is_the_same_whatever_form_the_label_had(classes: list) -> None:
    hashes = {name: integrate_contributions(base("floats"), BENCHMARK, [ContributionFile(name, data, ALICE)], SCHEMA,
                                            classes).contributions[0].content_sha256
              for name, data in CONTRIBUTIONS.items()}

    assert set(hashes.values()) == {content_sha256(ROWS.astype(float))}
    # pinned (hokusai.content/v3); the v2 hash of the same rows is the one pinned before the label fix
    assert set(hashes.values()) == {"0xb87602fa25ce12bb8b812775113e2e1315e35383efa93779a3409bd697dff51f"}
    assert content_sha256_v2(ROWS.astype(float)) == "0x9659a17e247b50b1538d77c1b38d0e05ac92d69695173dd2d277485f4aa192b3"


def test_duplicate_keys_put_a_label_in_one_form() -> None:
    forms = [pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0], "target": labels})
             for labels in ([0, 1], [0.0, 1.0], ["0", "1"], pd.array([0, 1], dtype="Int64"))]
    keys = [duplicate_keys(frame, SCHEMA).tolist() for frame in forms]

    assert keys[1:] == keys[:1] * 3
    assert len(set(keys[0])) == 2
    other = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0], "target": [1, 0]})  # the label still counts
    assert set(duplicate_keys(other, SCHEMA).tolist()).isdisjoint(keys[0])
    regression = Schema(("a", "b"), "target", task="regression")  # a quantity: float in every table already
    assert duplicate_keys(forms[1], regression).tolist() != duplicate_keys(other.astype(float), regression).tolist()


# --- for real: `hokusai validate` with a baseline model fitted on 0/1, base data written 0.0/1.0 ---


def validate_planted(tmp_path: Path, label_form: str) -> dict:
    project = make_project(tmp_path / label_form)
    rows = pd.read_csv(FIXTURES / "base.csv")
    rows.assign(target=rows["target"].astype(float)).to_csv(project / "data" / "base.csv", index=False)
    shutil.copy(FIXTURES / "baseline.skops", project / "data" / "baseline.skops")  # classes 0 and 1 (ints)
    toml = project / "hokusai.toml"
    toml.write_text(toml.read_text().replace('benchmark = "data/benchmark.csv"\n',
                                             'benchmark = "data/benchmark.csv"\nbaseline_model = "data/baseline.skops"\n'))
    planted = pd.concat([rows.head(6), pd.read_csv(FIXTURES / "contrib_alice.csv").head(3)])  # 6 base rows, 3 new
    if label_form == "floats":
        planted = planted.assign(target=planted["target"].astype(float))
    planted.to_csv(project / "planted.csv", index=False)
    assert (project / "data" / "base.csv").read_text().splitlines()[1].endswith(",1.0")
    assert (project / "planted.csv").read_text().splitlines()[1].endswith(",1" if label_form == "ints" else ",1.0")
    assert rows["target"].head(6).tolist() == [1, 1, 0, 0, 0, 1]

    result = invoke("validate", "--project", str(project), str(project / "planted.csv"), "--wallet", ALICE, "--json")

    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["files"][0]


def test_validate_finds_every_base_row_whichever_form_the_labels_have(tmp_path: Path) -> None:
    ints, floats = validate_planted(tmp_path, "ints"), validate_planted(tmp_path, "floats")

    # before the fix, ints: {"duplicate": 3, ...} and 6 kept (the three base rows of class 1 slipped through)
    for found in (ints, floats):
        assert found["rows_read"] == 9 and found["rows_kept"] == 3
        assert found["rows_dropped"] == {"duplicate": 6, "benchmark": 0, "invalid": 0}
    assert ints["content_sha256"] == floats["content_sha256"]
    assert ints["file_sha256"] != floats["file_sha256"]
