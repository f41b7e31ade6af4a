"""Issue 22 item 2, one parse: the CLI's pre-check hands each contributed file's cleaned table
to the flow's `start` (`pipeline.data.parse_cache`), which takes it instead of parsing the
file again, only when it is the parse `start` would make itself.

Unit tests: exact round trips (dtypes, index, metadata), what is not stored, the key, a
changed file, damaged entries, eviction, atomic writes under concurrent writers, readers and
evictors. Flow tests: a real `hokusai run` whose `start` logs the handover it used, a file
changed between the pre-check and `start` (parsed again, its new sha256 recorded), and a run
launched without the CLI (parses itself, stores nothing)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import DataSection
from pipeline.data import parse_cache as pc
from tests.conftest import ALICE, BOB, invoke, make_project

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def sha(path: Path) -> str:
    return "0x" + hashlib.sha256(path.read_bytes()).hexdigest()


def fields_but_frame(loaded) -> dict:
    return {f.name: getattr(loaded, f.name) for f in dataclasses.fields(loaded) if f.name != "frame"}


def entries(project: Path) -> list[str]:
    folder = pc.cache_dir(project)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Contributed files of every kind the parsers make: numbers, ints with a blank (float64),
    pandas 3 `str`, bools, a latin-1 `;` CSV, Parquet with a categorical, a nullable Int64, a
    datetime and text with a null; JSON lines whose column mixes text and numbers (`object`);
    a CSV with an e-mail address."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.csv").write_text("x,n,k,s,b,target\n1.5,1,3,foo,True,0\n-0.0,,4,bar,False,1\n2e300,3,5,,True,0\n")
    (folder / "l.csv").write_bytes("x;city;target\n1;Zürich;0\n2;Malmö;1\n".encode("latin-1"))
    pd.DataFrame({
        "x": [1.0, 2.0, None], "c": pd.Categorical(["a", "b", "a"]), "i": pd.array([1, None, 3], dtype="Int64"),
        "b": [True, False, True], "t": pd.to_datetime(["2024-01-01", "2024-02-01", None]), "s": ["u", None, "w"],
        "target": [0, 1, 0],
    }).to_parquet(folder / "p.parquet")
    (folder / "m.jsonl").write_text('{"x": 1, "m": "a", "target": 0}\n{"x": 2.5, "m": 3, "target": 1}\n'
                                    '{"x": null, "m": null, "target": 0}\n')
    (folder / "pii.csv").write_text("x,contact,target\n1,jane.roe@example.com,0\n2,ok,1\n")
    return folder


STORED = [  # (file, rules, columns, dtypes of the cleaned table)
    ("a.csv", DataSection(), None, ["float64", "float64", "int64", "str", "bool", "int64"]),
    ("a.csv", DataSection(max_rows=2), ["x", "target"], ["float64", "int64"]),
    ("l.csv", DataSection(), None, ["int64", "str", "int64"]),
    ("p.parquet", DataSection(), None, ["float64", "category", "Int64", "bool", "datetime64[us]", "str", "int64"]),
    ("pii.csv", DataSection(pii="drop-column"), None, ["int64", "int64"]),
    ("pii.csv", DataSection(pii="redact"), ["x", "target"], ["int64", "int64"]),
]


@pytest.mark.parametrize(("name", "rules", "columns", "dtypes"), STORED)
def test_a_stored_parse_reads_back_exactly(corpus: Path, tmp_path: Path, name: str, rules: DataSection,
                                           columns: list[str] | None, dtypes: list[str]) -> None:
    project = tmp_path / "project"
    parsed, reused = pc.load(project, corpus / name, name, None, rules, columns, "off")
    assert reused is False and entries(project) == []  # `off` neither reads nor stores
    filled, reused = pc.load(project, corpus / name, name, None, rules, columns, "fill")
    assert reused is False and len(entries(project)) == 1
    handed, reused = pc.load(project, corpus / name, name, None, rules, columns, "use")

    assert reused is True
    assert [str(d) for d in handed.frame.dtypes] == dtypes
    pd.testing.assert_frame_equal(handed.frame, parsed.frame, check_exact=True)
    assert pc.same_frame(handed.frame, parsed.frame)
    assert isinstance(handed.frame.index, pd.RangeIndex) and list(handed.frame.index) == list(range(parsed.rows_read))
    assert fields_but_frame(handed) == fields_but_frame(parsed) == fields_but_frame(filled)
    assert handed.file_sha256 == sha(corpus / name)


def test_pii_findings_and_dropped_columns_travel_with_the_entry(corpus: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    pc.load(project, corpus / "pii.csv", "pii.csv", ALICE, DataSection(pii="drop-column"), ["x", "target"], "fill")
    handed, reused = pc.load(project, corpus / "pii.csv", "pii.csv", ALICE, DataSection(pii="drop-column"),
                             ["x", "target"], "use")

    assert reused is True
    assert handed.pii[0].to_dict() == {"type": "email", "column": "contact", "count": 1, "rows": [1]}
    assert (handed.wallet, handed.pii_policy, handed.rows_read, handed.table.to_dict()) == (
        ALICE, "drop-column", 2, {"format": "csv", "encoding": "utf-8", "delimiter": ","})
    assert list(handed.frame.columns) == ["x", "target"]
    # only the cleaned table is stored: no address, no dropped column in the entry's bytes
    (entry,) = pc.cache_dir(project).iterdir()
    assert b"jane.roe" not in entry.read_bytes() and b"example.com" not in entry.read_bytes()


@pytest.mark.parametrize(("name", "rules"), [("m.jsonl", DataSection()), ("pii.csv", DataSection(pii="redact"))])
def test_a_table_that_does_not_read_back_exactly_is_not_stored(corpus: Path, tmp_path: Path, name: str,
                                                                rules: DataSection) -> None:
    """An `object` column (text mixed with numbers; a redacted column) would read back as
    `str`: nothing is stored and `start` parses the file itself."""
    project = tmp_path / "project"
    filled, _ = pc.load(project, corpus / name, name, None, rules, None, "fill")
    assert "object" in [str(d) for d in filled.frame.dtypes]
    assert pc.arrow_table(filled.frame) is None
    assert entries(project) == []
    again, reused = pc.load(project, corpus / name, name, None, rules, None, "use")
    assert reused is False
    pd.testing.assert_frame_equal(again.frame, filled.frame, check_exact=True)


def test_a_file_that_fails_leaves_no_entry(corpus: Path, tmp_path: Path) -> None:
    from pipeline.errors import DataError

    project = tmp_path / "project"
    with pytest.raises(DataError) as refused:
        pc.load(project, corpus / "pii.csv", "pii.csv", None, DataSection(), None, "fill")
    assert str(refused.value).startswith("pii.csv: contains personal data (PII): 1 e-mail address in column 'contact'")
    assert entries(project) == []


CHANGES = {
    "max_rows": dict(rules=DataSection(max_rows=1)),
    "pii policy": dict(rules=DataSection(pii="drop-column")),
    "wallet column": dict(rules=DataSection(wallet_column="who")),
    "columns": dict(columns=["x", "n", "target"]),
    "recorded name": dict(name="data/a.csv"),
    "wallet tag": dict(wallet=BOB),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_key_holds_everything_that_shapes_the_table(corpus: Path, tmp_path: Path, change: str) -> None:
    project = tmp_path / "project"
    same = dict(name="a.csv", wallet=ALICE, rules=DataSection(), columns=["x", "n", "k", "target"])
    pc.load(project, corpus / "a.csv", same["name"], same["wallet"], same["rules"], same["columns"], "fill")
    other = {**same, **CHANGES[change]}

    loaded, reused = pc.load(project, corpus / "a.csv", other["name"], other["wallet"], other["rules"],
                             other["columns"], "use")
    assert reused is False
    assert pc.load(project, corpus / "a.csv", same["name"], same["wallet"], same["rules"], same["columns"],
                   "use")[1] is True  # control: the first key still hits


def test_another_code_version_is_a_miss(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "fill")
    assert "pipeline/data " in pc.code_version() and "pandas " in pc.code_version()
    monkeypatch.setattr(pc, "code_version", lambda: "hokusai 9.9.9")
    assert pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "use")[1] is False


def test_a_file_changed_after_the_precheck_is_parsed_again(corpus: Path, tmp_path: Path) -> None:
    project, path = tmp_path / "project", corpus / "a.csv"
    before, _ = pc.load(project, path, "a.csv", None, DataSection(), None, "fill")
    path.write_text(path.read_text() + "7.5,8,9,baz,False,1\n")

    after, reused = pc.load(project, path, "a.csv", None, DataSection(), None, "use")

    assert reused is False
    assert after.file_sha256 == sha(path) != before.file_sha256
    assert (before.rows_read, after.rows_read) == (3, 4)
    assert after.frame["s"].tolist()[-1] == "baz"


def test_an_entry_is_trusted_only_for_its_own_key(corpus: Path, tmp_path: Path) -> None:
    """An entry copied under another key's name (or a hash collision) is a miss: the key
    inside the entry must be the key asked for."""
    project = tmp_path / "project"
    pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "fill")
    (entry,) = pc.cache_dir(project).iterdir()
    other = pc.key_of(sha(corpus / "l.csv"), "l.csv", None, DataSection(), None)
    entry.rename(pc.entry_path(project, other))

    assert pc.fetch(project, other) is None
    loaded, reused = pc.load(project, corpus / "l.csv", "l.csv", None, DataSection(), None, "use")
    assert reused is False and loaded.frame["city"].tolist() == ["Zürich", "Malmö"]


@pytest.mark.parametrize("damage", ["truncated", "empty", "not arrow"])
def test_a_damaged_entry_is_a_miss(corpus: Path, tmp_path: Path, damage: str) -> None:
    project = tmp_path / "project"
    good, _ = pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "fill")
    (entry,) = pc.cache_dir(project).iterdir()
    data = entry.read_bytes()
    entry.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "not arrow": b"x,y\n1,2\n"}[damage])

    loaded, reused = pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "use")
    assert reused is False
    pd.testing.assert_frame_equal(loaded.frame, good.frame, check_exact=True)


def test_a_write_that_fails_midway_leaves_nothing(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.ipc as ipc

    class Full:
        def __init__(self, sink, schema):
            sink.write(b"ARROW1\0\0half an entry")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write_table(self, table):
            raise OSError(28, "No space left on device")

    project = tmp_path / "project"
    monkeypatch.setattr(ipc, "new_file", Full)
    loaded, reused = pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "fill")

    assert reused is False and loaded.rows_read == 3  # the pre-check itself is unaffected
    assert entries(project) == []  # no entry, no temporary file
    assert pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "use")[1] is False


def test_eviction_keeps_the_newest_within_the_bounds(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    now = time.time()
    for i in range(6):  # entry-0 oldest ... entry-5 newest, 100 bytes each
        path = folder / f"entry-{i}{pc.SUFFIX}"
        path.write_bytes(b"x" * 100)
        os.utime(path, (now - 600 + i, now - 600 + i))
    old_tmp, young_tmp = folder / ".a.1.x.tmp", folder / ".b.2.y.tmp"
    old_tmp.write_bytes(b"crashed"), young_tmp.write_bytes(b"being written")
    os.utime(old_tmp, (now - pc.STALE_SECONDS - 5, now - pc.STALE_SECONDS - 5))
    keep = folder / f"entry-0{pc.SUFFIX}"  # just written (an old mtime here): kept whatever its age

    pc.evict(folder, keep=keep, max_entries=3, max_bytes=10_000)
    assert sorted(p.name for p in folder.iterdir()) == [
        ".b.2.y.tmp", "entry-0.arrow", "entry-4.arrow", "entry-5.arrow"]

    pc.evict(folder, keep=keep, max_entries=10, max_bytes=250)
    assert sorted(p.name for p in folder.iterdir()) == [".b.2.y.tmp", "entry-0.arrow", "entry-5.arrow"]

    pc.evict(folder, keep=None, max_entries=10, max_bytes=50)  # an entry larger than the bound: only `keep` survives
    assert sorted(p.name for p in folder.iterdir()) == [".b.2.y.tmp"]


def test_a_read_marks_the_entry_as_recently_used(corpus: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "fill")
    (entry,) = pc.cache_dir(project).iterdir()
    os.utime(entry, (1_000_000, 1_000_000))
    assert pc.load(project, corpus / "a.csv", "a.csv", None, DataSection(), None, "use")[1] is True
    assert entry.stat().st_mtime > time.time() - 60


def test_the_cache_stays_bounded_as_files_come_and_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, folder = tmp_path / "project", tmp_path / "files"
    folder.mkdir()
    monkeypatch.setattr(pc, "MAX_ENTRIES", 3)
    for i in range(8):
        path = folder / f"f{i}.csv"
        path.write_text(f"x,target\n{i},0\n{i + 1},1\n")
        pc.load(project, path, path.name, None, DataSection(), None, "fill")
        time.sleep(0.01)  # distinct mtimes
    assert len(entries(project)) == 3
    assert [pc.load(project, folder / f"f{i}.csv", f"f{i}.csv", None, DataSection(), None, "use")[1]
            for i in range(8)] == [False] * 5 + [True] * 3  # the three newest are kept


# --- concurrency: whole entries or none ---------------------------------------------------

WORKER = r"""
import json, sys, time
from pathlib import Path
import pandas as pd, pyarrow as pa, pyarrow.ipc as ipc
from pipeline.data import parse_cache as pc
from pipeline.config import DataSection

role, project, source, seconds = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
expected = pd.read_csv(source)
rules, stop, counts = DataSection(), time.time() + seconds, {"writes": 0, "whole_reads": 0, "hits": 0, "misses": 0}
from pipeline.data.tables import sha256_hex
key = pc.key_of(sha256_hex(source.read_bytes()), source.name, None, rules, None)
path = pc.entry_path(project, key)
while time.time() < stop:
    if role == "writer":
        loaded, _ = pc.load(project, source, source.name, None, rules, None, "off")
        assert pc.store(project, key, loaded) == path
        counts["writes"] += 1
    elif role == "evictor":  # another run's entries coming and going, eviction down to one entry
        other = project / f"other-{counts['writes'] % 3}.csv"
        other.write_text(f"x,target\n{counts['writes']},0\n1,1\n")
        pc.store(project, pc.key_of(sha256_hex(other.read_bytes()), other.name, None, rules, None),
                 pc.load(project, other, other.name, None, rules, None, "off")[0])
        pc.evict(pc.cache_dir(project), max_entries=1)
        counts["writes"] += 1
    elif role == "strict":  # opens the entry itself: any half-written file would fail here
        try:
            with pa.memory_map(str(path)) as source_map:
                table = ipc.open_file(source_map).read_all()
        except FileNotFoundError:
            continue
        frame = table.to_pandas()
        assert frame.equals(expected), "a read entry differs from the table"
        assert json.loads(table.schema.metadata[b"hokusai.parse_cache"])["key"] == key
        counts["whole_reads"] += 1
    else:  # what start does
        loaded, reused = pc.load(project, source, source.name, None, rules, None, "use")
        assert loaded.frame.equals(expected) and loaded.rows_read == len(expected)
        counts["hits" if reused else "misses"] += 1
print(json.dumps(counts))
"""


@pytest.mark.timeout(180)
def test_concurrent_writers_readers_and_evictors_never_see_half_an_entry(tmp_path: Path) -> None:
    """Two writers store the same key over and over (as two runs of one file at once), an
    evictor writes other entries and evicts down to one, while a strict reader (opening the
    entry file itself, no error swallowed) and a `start`-like reader read. Every entry file
    ever seen is whole and exact; no temporary file is left."""
    import numpy as np

    project, source = tmp_path / "project", tmp_path / "rows.csv"
    project.mkdir()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(60_000, 8)).round(6), columns=[f"f{i}" for i in range(8)])
    frame["target"] = rng.integers(0, 2, len(frame))
    frame.to_csv(source, index=False)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    roles = ["writer", "writer", "evictor", "strict", "strict", "start"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), role, str(project), str(source), "12"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for role in roles]
    results = []
    for role, proc in zip(roles, procs):
        out, err = proc.communicate(timeout=150)
        assert proc.returncode == 0, f"{role}: {err[-2000:]}"
        results.append((role, json.loads(out.strip().splitlines()[-1])))

    assert all(counts["writes"] >= 2 for role, counts in results if role in ("writer", "evictor")), results
    assert sum(counts["whole_reads"] for role, counts in results if role == "strict") >= 5, results
    start = next(counts for role, counts in results if role == "start")
    assert start["hits"] + start["misses"] >= 2, results
    assert not [p.name for p in pc.cache_dir(project).iterdir() if p.name.endswith(".tmp")]


# --- through the flow ----------------------------------------------------------------------


def start_log(run) -> list[dict]:
    """The `contribution.*` lines `start` logged (console format: `event key=value ...`)."""
    events = []
    for line in run["start"].task.stderr.splitlines():
        words = line.split()
        event = next((w for w in words if w.startswith("contribution.")), None)
        if event:
            values = dict(w.split("=", 1) for w in words if "=" in w)
            events.append({"event": event, "file": values["file"], "file_sha256": values["file_sha256"],
                           "rows_read": int(values["rows_read"])})
    return events


def launch_without_cli(project: Path, contrib_files: str):
    from metaflow import Runner

    from pipeline.runs.runner import FLOW_FILE, metaflow_env
    from tests.conftest import ProjectRun

    env = {**os.environ, **metaflow_env(project)}
    with Runner(str(FLOW_FILE), show_output=False, pylint=False, cwd=str(project), env=env) as runner:
        result = runner.run(contrib_files=contrib_files, project_dir=str(project))
        assert result.status == "successful", result.stderr[-3000:]
        return ProjectRun(project, result.run.pathspec)


@pytest.mark.timeout(600)
def test_hokusai_run_start_takes_the_precheck_parse(tmp_path: Path) -> None:
    from tests.conftest import ProjectRun

    project = make_project(tmp_path)
    alice, bob = project / "data" / "contrib_alice.csv", project / "data" / "contrib_bob.parquet"

    result = invoke("run", "--json", "--project", str(project),
                    "--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}")

    assert result.exit_code == 0, result.stderr[-3000:]
    run = ProjectRun(project, f"HokusaiEvaluationFlow/{json.loads(result.stdout)['run_id']}")
    assert start_log(run) == [
        {"event": "contribution.parse_reused", "file": "data/contrib_alice.csv", "file_sha256": sha(alice),
         "rows_read": 180},
        {"event": "contribution.parse_reused", "file": "data/contrib_bob.parquet", "file_sha256": sha(bob),
         "rows_read": 169},
    ]
    files = run.data.data_manifest["files"]
    assert [(f["file"], f["file_sha256"], f["rows_read"]) for f in files] == [
        ("data/contrib_alice.csv", sha(alice), 180), ("data/contrib_bob.parquet", sha(bob), 169)]
    assert len(entries(project)) == 2  # kept for the next run of the same files (bounded)


@pytest.mark.timeout(600)
def test_a_file_changed_between_the_precheck_and_start_is_parsed_again(tmp_path: Path) -> None:
    from pipeline.validation import check_run

    project = make_project(tmp_path)
    alice = project / "data" / "contrib_alice.csv"
    before = sha(alice)
    specs = check_run(project, [f"data/contrib_alice.csv:{ALICE}"], False)  # the CLI's pre-check
    assert specs == [f"data/contrib_alice.csv:{ALICE}"] and len(entries(project)) == 1
    lines = alice.read_text().splitlines(keepends=True)
    alice.write_text("".join(lines[:151]))  # header + 150 rows: another file now

    run = launch_without_cli(project, ",".join(specs))

    assert sha(alice) != before
    assert start_log(run) == [{"event": "contribution.parsed", "file": "data/contrib_alice.csv",
                               "file_sha256": sha(alice), "rows_read": 150}]
    (file,) = run.data.data_manifest["files"]
    assert (file["file_sha256"], file["rows_read"]) == (sha(alice), 150)
    assert run.data.attestation["evidence"]["contributions"][0]["rowsIn"] == 150


@pytest.mark.timeout(600)
def test_a_run_without_the_cli_parses_itself_and_stores_nothing(project_run) -> None:
    """conftest's `project_run`: metaflow.Runner on a fresh project, no pre-check."""
    project, run = project_run
    alice, bob = project / "data" / "contrib_alice.csv", project / "data" / "contrib_bob.parquet"

    assert start_log(run) == [
        {"event": "contribution.parsed", "file": "data/contrib_alice.csv", "file_sha256": sha(alice), "rows_read": 180},
        {"event": "contribution.parsed", "file": "data/contrib_bob.parquet", "file_sha256": sha(bob), "rows_read": 169},
    ]
    assert [f["file_sha256"] for f in run.data.data_manifest["files"]] == [sha(alice), sha(bob)]
    assert entries(project) == []  # `start` reads the cache, never fills it
