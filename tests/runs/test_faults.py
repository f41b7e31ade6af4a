"""Faults caused for real: a run SIGKILLed mid-flight, two runs at once on a fresh project, a
damaged MLflow store, a task that crashes on its own, a disk that fills up during a run.
Each test checks the exit code, the one sentence, and that nothing was lost."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ALICE, BOB, invoke, make_project

CLI = [sys.executable, "-m", "hokusai_cli"]
CONTRIBS = ["--contrib", f"data/contrib_alice.csv:{ALICE}", "--contrib", f"data/contrib_bob.parquet:{BOB}"]


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def sentence(stderr: str) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(stderr.split())


def start_run(project: Path, *extra: str) -> subprocess.Popen:
    """`hokusai run` in its own process group (so the whole group can be killed)."""
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.Popen([*CLI, "run", "--project", str(project), *CONTRIBS, *extra], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(pattern: str, proc: subprocess.Popen, seconds: float = 240) -> list[str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        found = glob.glob(pattern)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{pattern} never appeared (exit {proc.poll()}): {proc.stderr.read()[-2000:] if proc.poll() is not None else ''}")


def runs_json(project: Path) -> list[dict]:
    done = cli("runs", "--project", str(project), "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["runs"]


@pytest.mark.timeout(900)
def test_sigkill_mid_run_is_reported_killed_and_resume_gives_the_same_hash(project_run, tmp_path):
    _, reference = project_run
    project = make_project(tmp_path / "killed")
    proc = start_run(project)
    step_dir = wait_for(str(project / ".metaflow" / "HokusaiEvaluationFlow" / "*" / "evaluate_on_benchmark"), proc)[0]
    os.killpg(proc.pid, signal.SIGKILL)  # the OOM killer, a CI cancel: no handler runs
    proc.wait(timeout=60)
    run_id = Path(step_dir).parent.name
    time.sleep(0.5)  # let the kernel reap the orphaned runtime

    [row] = runs_json(project)
    assert (row["run_id"], row["status"], row["failed_step"]) == (run_id, "killed", "evaluate_on_benchmark")
    doc = json.loads(cli("inspect", run_id, "--project", str(project), "--json", cwd=project).stdout)
    assert doc["status"] == "killed"
    assert [s["status"] for s in doc["steps"]][:7] == ["successful"] * 6 + ["killed"]
    assert doc["failure"]["step"] == "evaluate_on_benchmark"
    assert doc["failure"]["message"] == ("the run's process is gone without recording an end: it was killed "
                                         "(SIGKILL, out of memory, a shutdown) in this step")
    assert doc["failure"]["resume_command"] == f"hokusai resume {run_id}"

    tables = project / ".metaflow" / "HokusaiEvaluationFlow" / "tables"
    def table_files() -> list[tuple[str, int, int]]:  # a file written again gets a new inode (os.replace)
        return sorted((p.name, p.stat().st_ino, p.stat().st_mtime_ns) for p in tables.rglob("*") if p.is_file())

    before = table_files()
    resumed = cli("resume", run_id, "--project", str(project), "--json", cwd=project, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout)
    assert summary["attestation_hash"] == reference.data.attestation["attestationHash"]
    assert summary["deltaone_bps"] == 700
    # the resume reused the killed run's table files (Arrow, by sha256): it wrote none, not even
    # the same bytes again, and left no temporary file
    assert len(before) == 5 and all(name.endswith(".arrow") for name, _, _ in before)
    assert table_files() == before
    # nothing lost: the store opens, both runs inspect, the resumed one attests
    statuses = {r["run_id"]: r["status"] for r in runs_json(project)}
    assert statuses == {run_id: "killed", summary["run_id"]: "successful"}
    attested = cli("attest", summary["run_id"], "--project", str(project), cwd=project)
    assert attested.returncode == 0, attested.stderr
    assert json.loads(attested.stdout)["attestationHash"] == summary["attestation_hash"]


@pytest.mark.timeout(900)
def test_two_runs_at_once_on_a_fresh_project_both_succeed(tmp_path):
    import mlflow

    project = make_project(tmp_path / "twice")
    first, second = start_run(project, "--json"), start_run(project, "--json")
    outputs = [p.communicate(timeout=600) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [err[-2000:] for _, err in outputs]
    summaries = [json.loads(out) for out, _ in outputs]
    assert summaries[0]["run_id"] != summaries[1]["run_id"]
    assert summaries[0]["mlflow"]["run_id"] != summaries[1]["mlflow"]["run_id"]
    assert summaries[0]["attestation_hash"] == summaries[1]["attestation_hash"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / '.hokusai' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tests")
    recorded = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["hokusai.pathspec"] for r in recorded) == sorted(s["pathspec"] for s in summaries)
    assert {r["status"] for r in runs_json(project)} == {"successful"}


def test_a_damaged_mlflow_store_is_named_before_any_run_exists(tmp_path):
    project = make_project(tmp_path / "damaged")
    store = project / ".hokusai" / "mlflow.db"
    store.parent.mkdir()
    store.write_bytes(b"this is not a database" * 100)
    result = invoke("run", "--project", str(project), *CONTRIBS)
    assert result.exit_code == 2, result.stderr
    message = sentence(result.stderr)  # the whole of stderr: the check runs before the live table is drawn
    assert message.startswith(f"Error: The MLflow store {store} is damaged (")
    assert "file is not a database" in message
    assert message.endswith(f"move it aside (mv {store} {store}.damaged) and run again: a new store is created, "
                            "and every run stays in Metaflow.")
    assert "Traceback" not in result.stderr
    assert not (project / ".metaflow").exists()  # no run was recorded
    assert store.read_bytes() == b"this is not a database" * 100  # left as it was, for the user to look at


CRASHING_METRIC = '''
import ctypes


def crash(y_true, y_pred, y_proba):
    """A metric that dies the way a buggy native extension does: a segmentation fault."""
    ctypes.string_at(0)
'''


@pytest.mark.timeout(600)
def test_a_task_that_crashes_is_a_failure_not_an_interruption(tmp_path):
    project = make_project(tmp_path / "crash")
    (project / "crashing_metric.py").write_text(CRASHING_METRIC)
    with (project / "hokusai.toml").open("a") as toml:
        toml.write('\n[evaluation.custom_metrics.crash]\nfunction = "crashing_metric:crash"\ndirection = "higher"\n')
    done = cli("run", "--project", str(project), *CONTRIBS, cwd=project, timeout=500)
    assert done.returncode == 3, done.stderr[-3000:]
    [row] = runs_json(project)
    message = sentence(done.stderr)
    assert (f"Error: Run HokusaiEvaluationFlow/{row['run_id']} failed in step evaluate_on_benchmark: its task "
            "process died without an error (a crash or a kill: out of memory, a signal); see "
            f"`hokusai inspect {row['run_id']}`, then resume with: hokusai resume {row['run_id']}") in message
    assert "Interrupted" not in message and "stopped" not in message
    assert (row["status"], row["failed_step"]) == ("failed", "evaluate_on_benchmark")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 MiB tmpfs of its own (needs root, as CI and the dev machines have), unmounted after."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True,
                          text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); the disk-full test needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write zeros until the disk is full (ENOSPC), for real."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:
            pass
    return filler


@pytest.mark.timeout(900)
def test_a_full_disk_is_named_and_the_run_resumes_once_space_is_freed(project_run, tiny_disk):
    _, reference = project_run
    project = make_project(tiny_disk / "project")
    proc = start_run(project)
    wait_for(str(project / ".metaflow" / "HokusaiEvaluationFlow" / "*" / "train_new_model"), proc)
    filler = fill(tiny_disk)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 3, stderr[-3000:]
    [row] = runs_json(project)
    run_id = row["run_id"]
    message = sentence(stderr)
    assert f"Error: Run HokusaiEvaluationFlow/{run_id} failed in step " in message
    assert (f"the disk holding {project / '.metaflow'} is full (No space left on device); free space there, then "
            f"resume with: hokusai resume {run_id}") in message
    assert "Traceback" not in stderr
    # no tag can be written on a full disk; the status mark reserved at the start says it failed
    assert (row["status"], row["failed_step"]) == ("failed", row["failed_step"] or "a step")
    reason = message[message.index("Error: ") + len("Error: "):]  # the sentence `hokusai run` printed
    assert row["reason"] == reason
    listed = cli("runs", "--project", str(project), cwd=project)
    assert f"failed at {row['failed_step']} (disk full)" in listed.stdout + listed.stderr
    doc = json.loads(cli("inspect", run_id, "--project", str(project), "--json", cwd=project).stdout)
    assert doc["failure"]["message"].startswith(f"the disk holding {project / '.metaflow'} is full")

    filler.unlink()  # space back: the run is still listed as failed, with the reason
    [row] = runs_json(project)
    assert (row["status"], row["reason"]) == ("failed", reason)
    doc = json.loads(cli("inspect", run_id, "--project", str(project), "--json", cwd=project).stdout)
    assert doc["status"] == "failed" and doc["failure"]["message"] == reason
    resumed = cli("resume", run_id, "--project", str(project), "--json", cwd=project, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["attestation_hash"] == reference.data.attestation["attestationHash"]


@pytest.mark.timeout(900)
def test_sigterm_during_monitor_and_log_names_the_resume_command(project_run, tmp_path):
    """A CI cancel or `kill` sends SIGTERM to hokusai itself: the run is stopped, the message
    gives the way back (exit 143), and resuming it gives the same evidence."""
    _, reference = project_run
    project = make_project(tmp_path / "terminated")
    proc = start_run(project)
    step_dir = wait_for(str(project / ".metaflow" / "HokusaiEvaluationFlow" / "*" / "monitor_and_log"), proc)[0]
    proc.send_signal(signal.SIGTERM)  # to hokusai only, not its process group: what `kill PID` does
    _, stderr = proc.communicate(timeout=120)
    run_id = Path(step_dir).parent.name
    assert proc.returncode == 143, stderr[-3000:]
    assert (f"Error: Run {run_id} stopped at step monitor_and_log without an error (terminated (SIGTERM)); resume it "
            f"with: hokusai resume {run_id}") in sentence(stderr)  # run from the project folder: no --project
    assert "Traceback" not in stderr
    [row] = runs_json(project)
    assert (row["run_id"], row["status"], row["failed_step"]) == (run_id, "failed", "monitor_and_log")
    doc = json.loads(cli("inspect", run_id, "--project", str(project), "--json", cwd=project).stdout)
    assert doc["failure"]["message"] == "the run was terminated (SIGTERM) in this step"  # not "Ctrl-C"
    resumed = cli("resume", run_id, "--project", str(project), "--json", cwd=project, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["attestation_hash"] == reference.data.attestation["attestationHash"]


def wait_for_line(proc: subprocess.Popen, text: str, seconds: float = 240) -> list[str]:
    """Lines of `proc`'s stderr up to the first that holds `text` (rich prints the progress there)."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never printed (exit {proc.poll()}): {''.join(seen)[-2000:]}")


@pytest.mark.timeout(900)
def test_one_resume_at_a_time_released_on_sigkill_and_never_twice(tmp_path):
    """Issue 25 C and 5: two resumes of one killed run at once: the second refuses naming the
    first's process; SIGKILL releases the lock; once a resume succeeded, another refuses;
    `resume --with` reaches Metaflow and is checked before anything is drawn."""
    project = make_project(tmp_path / "twice")
    proc = start_run(project)
    step_dir = wait_for(str(project / ".metaflow" / "HokusaiEvaluationFlow" / "*" / "evaluate_on_benchmark"), proc)[0]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    origin = Path(step_dir).parent.name
    time.sleep(0.5)

    refused = cli("resume", origin, "--project", str(project), "--with", "kubernetes", cwd=project)
    assert (refused.returncode, sentence(refused.stderr)) == (2, (
        "Error: --with kubernetes runs steps off this machine, which needs the S3 datastore: set [metaflow] "
        'datastore = "s3" and root = "s3://bucket/prefix" in hokusai.toml.'))  # nothing drawn before it

    env = {**os.environ, "COLUMNS": "120"}
    first = subprocess.Popen([*CLI, "resume", origin, "--project", str(project)], cwd=project, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for_line(first, f"Resuming run {origin}")
    second = cli("resume", origin, "--project", str(project), cwd=project)
    assert (second.returncode, sentence(second.stderr)) == (2, (
        f"Error: Run {origin} is already being resumed (by process {first.pid}); wait for that resume to end and "
        "see `hokusai runs`: run it again only if that resume did not succeed."))
    os.killpg(first.pid, signal.SIGKILL)  # the lock goes with the process
    first.wait(timeout=60)
    time.sleep(0.5)

    resumed = cli("resume", origin, "--project", str(project), "--with", "card:id=resumed", "--json",
                  cwd=project, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout)
    assert (summary["resumed_from"], summary["deltaone_bps"]) == (origin, 700)
    # the decorator reached the steps that ran again: each carries the card it adds; cloned ones do not
    script = ("import json, sys; from pathlib import Path; from metaflow.cards import get_cards; "
              "from pipeline.runs.runner import get_run; run = get_run(Path(sys.argv[1]), sys.argv[2])\n"
              "def count(step):\n"
              "    try:\n        return len(get_cards(run[step].task, id='resumed'))\n"
              "    except Exception:\n        return 0\n"
              "print(json.dumps({s: count(s) for s in sys.argv[3:]}))")
    cards = subprocess.run([sys.executable, "-c", script, str(project), summary["run_id"], "train_new_model",
                            "evaluate_on_benchmark", "end"], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(cards.stdout or "null") == {"train_new_model": 0, "evaluate_on_benchmark": 1, "end": 1}, \
        cards.stderr[-2000:]

    again = cli("resume", origin, "--project", str(project), cwd=project)
    assert (again.returncode, sentence(again.stderr)) == (2, (
        f"Error: Run {origin} was already resumed as run {summary['run_id']}, which succeeded; see `hokusai inspect "
        f"{summary['run_id']}` (start a new evaluation with `hokusai run` instead)."))
    # nothing doubled: one successful run of the evaluation, the killed resume listed as such
    statuses = sorted(r["status"] for r in runs_json(project) if r["run_id"] != origin)
    assert statuses.count("successful") == 1, statuses
