"""Tables travel as Arrow files in the run's datastore, referenced by sha256: exact round
trips (dtypes, index, arrays), one file per content, what must stay a pickle stays one, a
damaged file is named; and a real run's artifacts hold no table."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import DamagedTable
from pipeline.runs.table_files import ARRAY_MIN_BYTES, MARK, from_files, holds_refs, refs, to_files


@pytest.fixture
def storage(tmp_path):
    from metaflow.plugins.datastores.local_storage import LocalStorage

    return LocalStorage(str(tmp_path / ".metaflow"))


def frame() -> pd.DataFrame:
    table = pd.DataFrame({
        "x": [1.5, np.nan, -2.0, 3.25],
        "island": pd.Series(["Biscoe", "Dream", np.nan, "Torgersen"], dtype="str"),
        "sex": pd.Categorical(["male", "female", "male", None]),
        "year": pd.array([2007, None, 2008, 2009], dtype="Int64"),
        "flag": [True, False, True, True],
        "y": np.array([0, 1, 1, 0], dtype="int64"),
    })
    table.index = pd.Index([0, 2, 5, 9])  # data row number - 1, with the dropped rows' gaps
    return table


def test_tables_and_large_arrays_round_trip_exactly_and_small_arrays_stay_inline(storage, tmp_path):
    proba = np.linspace(0, 1, 3 * 4000).reshape(4000, 3)
    labels = np.array(["Adelie", "Gentoo"] * 5000, dtype=object)
    value = {"inputs": ({"frame": frame(), "name": "a.csv"},), "proba": proba, "labels": labels,
             "small": np.arange(10), "n": 3}
    stored = to_files(value, storage, "HokusaiEvaluationFlow")

    assert not isinstance(stored["inputs"][0]["frame"], pd.DataFrame) and holds_refs(stored)
    assert isinstance(stored["small"], np.ndarray) and stored["n"] == 3  # below ARRAY_MIN_BYTES: in the pickle
    found = list(refs(stored))
    assert [(r["kind"], r["rows"]) for r in found] == [("frame", 4), ("array", 4000), ("array", 10000)]
    assert found[0]["columns"] == ["x", "island", "sex", "year", "flag", "y", "__index_level_0__"]
    assert found[1]["shape"] == [4000, 3] and found[1]["dtype"] == "<f8" and found[2]["dtype"] == "|O"
    for ref in found:
        path = Path(storage.datastore_root) / ref["path"]
        assert ref["format"] == MARK and ref["path"] == f"HokusaiEvaluationFlow/tables/{ref['sha256'][:2]}/{ref['sha256']}.arrow"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"] and ref["bytes"] == path.stat().st_size

    back = from_files(stored, storage)
    pd.testing.assert_frame_equal(back["inputs"][0]["frame"], frame())
    assert back["inputs"][0]["name"] == "a.csv" and isinstance(back["inputs"], tuple)
    assert np.array_equal(back["proba"], proba) and back["proba"].dtype == proba.dtype
    assert back["labels"].dtype == object and list(back["labels"][:3]) == ["Adelie", "Gentoo", "Adelie"]
    assert ARRAY_MIN_BYTES == 65536


def test_the_same_table_is_one_file_and_a_changed_cell_another(storage):
    first = to_files(frame(), storage, "F")
    again = to_files(frame(), storage, "F")
    changed = frame()
    changed.loc[5, "x"] = -2.5
    other = to_files(changed, storage, "F")
    assert first == again and other["sha256"] != first["sha256"]
    assert len(list((Path(storage.datastore_root) / "F" / "tables").rglob("*.arrow"))) == 2
    assert not list((Path(storage.datastore_root) / "F" / "tables").rglob("*.part"))  # no temporary left


def test_what_arrow_would_not_give_back_as_it_is_stays_in_the_pickle(storage):
    mixed = pd.DataFrame({"a": pd.Series([1, "x", None], dtype=object)})
    text_objects = pd.DataFrame({"a": pd.Series(["x", None, "y"], dtype=object)})  # would come back as str
    numbered = pd.DataFrame({0: [1.0, 2.0]})
    for table in (mixed, text_objects, numbered):
        assert to_files(table, storage, "F") is table
    assert not (Path(storage.datastore_root) / "F").exists()


def test_a_damaged_or_missing_table_file_is_named(storage):
    ref = to_files(frame(), storage, "F")
    path = Path(storage.datastore_root) / ref["path"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DamagedTable) as cut:
        from_files(ref, storage)
    assert str(cut.value) == (f"the table file {storage.datastore_root}/{ref['path']} does not hold the bytes its "
                              "sha256 names (it was changed or cut)")
    path.unlink()
    with pytest.raises(DamagedTable) as gone:
        from_files({"t": [ref]}, storage)
    assert str(gone.value) == f"the table file {storage.datastore_root}/{ref['path']} is missing"


def test_a_reader_without_the_storage_opens_the_datastore_the_reference_names(storage):
    ref = to_files(frame(), storage, "F")
    pd.testing.assert_frame_equal(from_files(ref), frame())  # as the Client reads a run


def _tables_in(value) -> list[str]:
    if isinstance(value, pd.DataFrame):
        return ["DataFrame"]
    if isinstance(value, np.ndarray) and value.nbytes >= ARRAY_MIN_BYTES:
        return ["ndarray"]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tables_in(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tables_in(v)]
    return []


@pytest.mark.timeout(300)
def test_a_runs_artifacts_hold_no_table_only_references_to_its_arrow_files(project_run):
    from pipeline.runs import artifacts as a

    project, run = project_run
    seen = {}
    for step in run:
        for task in step:
            for artifact in task:
                value = artifact.data
                assert _tables_in(value) == [], (step.id, artifact.id)
                for ref in refs(value):
                    seen[(artifact.id, ref["path"])] = ref
    assert {name for name, _ in seen} == {"inputs", "base_data", "training_data", "benchmark_data"}
    for ref in seen.values():
        path = project / ".metaflow" / ref["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]
    training = a.stored(run).training_data  # what inspect, track and reproduce read
    assert isinstance(training, pd.DataFrame)
    assert len(training) == run.data.attestation["evidence"]["candidate"]["trainingRows"]
