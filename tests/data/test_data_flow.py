"""Contributed data through the real flow (`hokusai run`, metaflow.Runner): PII never reaches
the Metaflow datastore nor the MLflow store, planted benchmark rows change nothing, a wallet
column credits several contributors, a latin-1 `;` file is read. Few runs, module-scoped.

The stores are searched byte by byte: Metaflow artifacts are gzip-compressed pickles, so
every gzip file is decompressed first; MLflow's SQLite file and artifact folder are read
raw. Controls prove the search can see: it finds the planted values in the raw file, and a
canary (a string in the contributed file's name, which the run does store) in both stores."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ALICE, BOB, FIXTURES, PROJECT_TOML, invoke, make_project

pytestmark = pytest.mark.timeout(900)

CANARY = "canary7f3a9"
DIRTY = f"data/dirty-{CANARY}.csv"
# Documentation/test values: example.com mail, a 555 number, the SSA's voided specimen SSN,
# a test card number, documentation IP ranges.
EMAILS = ["jane.roe@example.com", "r.smith@example.org"]
PHONES = ["+1 415 555 2671"]
NOTES = ["ssn 078-05-1120", "card 4111 1111 1111 1111", "from 198.51.100.23", "via 2001:db8::1f", "all fine"]
PLANTED = ["jane.roe@example.com", "r.smith@example.org", "415 555 2671", "078-05-1120",
           "4111 1111 1111 1111", "4111111111111111", "198.51.100.23", "2001:db8::1f"]
BENCHMARK_EVERY = 7  # a benchmark row after every 7th contributed row


def dirty_table() -> pd.DataFrame:
    """The 180 Alice rows, 25 benchmark rows planted among them, a wallet column (first 90
    rows Alice, the rest Bob), PII in two extra columns, and a latin-1 city column."""
    alice = pd.read_csv(FIXTURES / "contrib_alice.csv")
    benchmark = pd.read_csv(FIXTURES / "benchmark.csv")
    rows, wallets, planted = [], [], 0
    for i in range(len(alice)):
        wallet = ALICE if i < 90 else BOB
        rows.append(alice.iloc[i])
        wallets.append(wallet)
        if (i + 1) % BENCHMARK_EVERY == 0 and planted < 25:
            rows.append(benchmark.iloc[planted * 3])
            wallets.append(wallet)
            planted += 1
    table = pd.DataFrame(rows).reset_index(drop=True)
    n = len(table)
    contacts = EMAILS + PHONES
    return table.assign(
        wallet=wallets,
        contact=[contacts[i % 3] for i in range(n)],
        note=[NOTES[i % 5] for i in range(n)],
        city=["Zürich" if i % 2 else "Malmö" for i in range(n)],
    )


def search(root: Path, needles: list[str], skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """{needle: [files holding it]} over every file under root (gzip files decompressed);
    `skip` names top-level folders only (Metaflow keeps its blobs under `<Flow>/data/`)."""
    found: dict[str, list[str]] = {}
    encoded = [(n, n.encode("utf-8")) for n in needles]
    for path in root.rglob("*"):
        if not path.is_file() or path.relative_to(root).parts[0] in skip:
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                pass
        for needle, raw in encoded:
            if raw in data or needle.encode("latin-1", errors="ignore") in data:
                found.setdefault(needle, []).append(str(path.relative_to(root)))
    return found


def run_json(project: Path, *contrib: str) -> dict:
    args = ["run", "--json", "--project", str(project)]
    for spec in contrib:
        args += ["--contrib", spec]
    result = invoke(*args)
    assert result.exit_code == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    """A project with `[data] pii = "redact"`, run twice: Alice's clean file tagged with her
    wallet, and the dirty file (wallet column, PII, planted benchmark rows, latin-1 `;`)."""
    from pipeline.runs.runner import get_run

    project = make_project(tmp_path_factory.mktemp("data-flow"))
    (project / "hokusai.toml").write_text(PROJECT_TOML.replace("[data]\n", '[data]\npii = "redact"\n'))
    table = dirty_table()
    table.to_csv(project / DIRTY, index=False, sep=";", encoding="latin-1")
    clean = run_json(project, f"data/contrib_alice.csv:{ALICE}")
    dirty = run_json(project, DIRTY)
    return {"project": project, "table": table, "clean": clean, "dirty": dirty,
            "clean_run": get_run(project, clean["run_id"]), "dirty_run": get_run(project, dirty["run_id"])}


def test_dirty_file_was_read_sniffed_and_cleaned(runs):
    manifest = runs["dirty_run"].data.data_manifest
    (file,) = manifest["files"]
    assert (file["format"], file["encoding"], file["delimiter"]) == ("csv", "latin-1", ";")
    assert file["rows_read"] == 205 and file["rows_kept"] == 180
    assert file["rows_dropped"] == {"duplicate": 0, "benchmark": 25, "invalid": 0}
    assert file["extra_columns_dropped"] == ["contact", "note", "city"]
    assert file["wallet_column"] == "wallet"
    assert file["pii"] == {"policy": "redact", "findings": [
        {"type": "email", "column": "contact", "count": 137, "rows": [1, 2, 4, 5, 7]},
        {"type": "phone", "column": "contact", "count": 68, "rows": [3, 6, 9, 12, 15]},
        {"type": "card", "column": "note", "count": 41, "rows": [2, 7, 12, 17, 22]},
        {"type": "ssn", "column": "note", "count": 41, "rows": [1, 6, 11, 16, 21]},
        {"type": "ipv6", "column": "note", "count": 41, "rows": [4, 9, 14, 19, 24]},
        {"type": "ipv4", "column": "note", "count": 41, "rows": [3, 8, 13, 18, 23]},
    ]}


def test_planted_benchmark_rows_are_dropped_counted_and_change_nothing(runs):
    clean, dirty = runs["clean"], runs["dirty"]
    contributions = runs["dirty_run"].data.contributions
    assert [(c["wallet"], c["rows_in"], c["rows_kept"], c["benchmark_rows_dropped"], c["duplicates_dropped"])
            for c in contributions] == [(ALICE, 102, 90, 12, 0), (BOB, 103, 90, 13, 0)]
    evidence = runs["dirty_run"].data.attestation["evidence"]
    assert [(c["wallet"], c["rowsIn"], c["rowsKept"], c["benchmarkRowsDropped"], c["duplicatesDropped"],
             c["invalidRowsDropped"]) for c in evidence["contributions"]] == [
        (ALICE, 102, 90, 12, 0, 0), (BOB, 103, 90, 13, 0, 0)]
    assert dirty["deltaone_bps"] == clean["deltaone_bps"]
    assert dirty["metrics"] == clean["metrics"]
    assert dirty["ci"] == clean["ci"]
    assert runs["dirty_run"].data.candidate_info["sha256"] == runs["clean_run"].data.candidate_info["sha256"]


def test_kept_rows_hash_like_the_clean_file(runs):
    clean = runs["clean_run"].data.contributions[0]
    dirty_file = runs["dirty_run"].data.data_manifest["files"][0]
    # the dirty file's usable rows include the 25 benchmark rows: a different content
    assert dirty_file["content_sha256"] != clean["content_sha256"]
    alice, bob = runs["dirty_run"].data.contributions
    assert alice["content_sha256"] != bob["content_sha256"]
    assert {c["wallet"] for c in runs["dirty"]["contributors"]} == {ALICE, BOB}


def test_no_planted_value_anywhere_in_the_metaflow_or_mlflow_stores(runs):
    project = runs["project"]
    tag = runs["dirty"]["attestation_hash"]  # MLflow keeps it as a tag in its SQLite file
    stores = search(project, PLANTED + [CANARY, tag], skip=("data",))
    # controls: the search sees the raw file's values; the canary in the Metaflow blobs and
    # in MLflow's artifact folder; a tag value inside MLflow's SQLite file
    in_raw_file = [value for value in PLANTED if value != "4111111111111111"]  # written with spaces
    assert sorted(search(project / "data", PLANTED)) == sorted(in_raw_file)
    canary_files = stores.pop(CANARY, [])
    assert any(f.startswith(".metaflow/HokusaiEvaluationFlow/data/") for f in canary_files), canary_files
    assert any(f.startswith(".hokusai/mlruns/") for f in canary_files), canary_files
    assert ".hokusai/mlflow.db" in stores.pop(tag, [])
    assert stores == {}


def test_mlflow_artifacts_live_inside_the_searched_folder(runs):
    import mlflow

    project = runs["project"]
    client = mlflow.MlflowClient(tracking_uri=runs["dirty"]["mlflow"]["tracking_uri"])
    record = client.get_run(runs["dirty"]["mlflow"]["run_id"])
    location = record.info.artifact_uri.removeprefix("file://")
    assert (project / ".hokusai" / "mlflow.db").is_file()
    assert Path(location).resolve().is_relative_to(project.resolve())
    assert not Path(location).resolve().is_relative_to((project / "data").resolve())


def test_every_artifact_loaded_through_the_client_is_free_of_pii(runs):
    """Every artifact, with the tables it references read back (`hokusai.table/v1`), and the
    raw bytes of every table file and parse-cache entry the run's project holds."""
    import pickle

    from pipeline.runs.table_files import from_files

    run = runs["dirty_run"]
    for step in run:
        for task in step:
            for artifact in task:
                value = from_files(artifact.data)
                blob = pickle.dumps(value) + repr(value).encode()
                assert not any(value.encode() in blob for value in PLANTED), (step.id, artifact.id)
    assert CANARY.encode() in pickle.dumps(from_files(run.data.inputs))  # control: the loaded inputs are searched
    files = [*(runs["project"] / ".metaflow").rglob("*.arrow"), *(runs["project"] / ".hokusai").rglob("*.arrow")]
    assert any("/tables/" in f.as_posix() for f in files) and any("parse-cache" in f.as_posix() for f in files)
    for path in files:
        data = path.read_bytes()
        assert not any(value.encode() in data for value in PLANTED), path
    assert any(CANARY.encode() in path.read_bytes() for path in files)  # control: the cleaned tables are there


@pytest.fixture(scope="module")
def strict_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("strict"))
    dirty_table().to_csv(project / DIRTY, index=False, sep=";", encoding="latin-1")
    return project


EXPECTED_REFUSAL = (
    f"{DIRTY}: contains personal data (PII): 137 e-mail addresses in column 'contact' (rows 1, 2, 4, 5, 7, …), "
    "68 phone numbers in column 'contact' (rows 3, 6, 9, 12, 15, …), 41 payment card numbers in column 'note' "
    "(rows 2, 7, 12, 17, 22, …), 41 US social security numbers in column 'note' (rows 1, 6, 11, 16, 21, …), "
    "41 IPv6 addresses in column 'note' (rows 4, 9, 14, 19, 24, …), 41 IPv4 addresses in column 'note' "
    "(rows 3, 8, 13, 18, 23, …); remove it, or set [data] pii = \"redact\" or \"drop-column\" "
    "(`hokusai validate --redact-pii OUT` writes a redacted copy)."
)


def test_run_refuses_pii_by_default_before_any_run_exists(strict_project: Path):
    result = invoke("run", "--project", str(strict_project), "--contrib", DIRTY)

    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == "Error: " + EXPECTED_REFUSAL
    assert not (strict_project / ".metaflow").exists()


def test_the_flow_itself_refuses_pii_in_start_and_stores_none(strict_project: Path):
    """Without the CLI's pre-check (plain Runner), `start` refuses: the stored error names
    columns and counts, and no planted value reaches the datastore."""
    from metaflow import Runner

    from pipeline.runs.runner import FLOW_FILE, metaflow_env

    env = {**os.environ, **metaflow_env(strict_project)}
    with Runner(str(FLOW_FILE), show_output=False, pylint=False, cwd=str(strict_project), env=env) as runner:
        result = runner.run(contrib_files=DIRTY, project_dir=str(strict_project))
        assert result.status == "failed"
        task = result.run["start"].task
        assert task.exception.type == "pipeline.errors.DataError"
        assert str(task.exception.exception) == EXPECTED_REFUSAL
    stores = search(strict_project, PLANTED + [CANARY], skip=("data",))
    assert list(stores) == [CANARY]
