"""Every figure of issue 11 as a ratio to a reference measured in the same run.

    python bench/run.py [--quick] [--repeat N] [--only NAME[,NAME]] [--out FILE.json]
                        [--rows N] [--markdown] [--keep]
    python bench/run.py --profile [--out FILE.json] [--keep]     # import profile of a dry-run

Figures (``--only`` names in brackets):

[help]      ``hokusai --help`` wall vs a bare ten-command Typer app (written to the temp folder).
[dry-run]   ``hokusai dry-run`` wall vs bench/bare_flow.py (a nine-step Metaflow flow that does
            nothing) launched the same way: a parent Python process driving ``metaflow.Runner``
            with ``pylint=False``, local datastore and metadata in the temp folder. Each repeat
            makes a fresh empty folder and runs the dry-run twice: "first run" creates the
            ``.metaflow`` store and the MLflow SQLite store (``.hokusai/mlflow.db``, created and
            migrated once per project); "warm" is the second run in the same folder.
[run-100k]  ``hokusai run --contrib contrib.csv:WALLET`` with 100k generated rows, in a fresh
[run-1m]    project made by ``hokusai init`` (breast-cancer example: 20 base rows, 200
            benchmark rows, default settings), vs a plain scikit-learn script in one process
            (``--plain-sklearn``, below): read base + contributed CSV with pandas, fit
            StandardScaler + LogisticRegression(max_iter=1000, random_state=42) on base and on
            base + contributed, predict the benchmark, accuracy. Wall ratio, and the peak-RSS
            ratio (process tree). ``hokusai run`` is always a first run of its project (the
            MLflow store is created inside the timed run, as a user's first run would); the
            dry-run's first/warm difference shows what that costs.
            Rows: scikit-learn's breast-cancer data (569 rows, 30 features), sampled with
            replacement, every feature multiplied by N(1, 0.05) noise (so no row duplicates a
            base or benchmark row), written with full float precision (~560 bytes a row).
[validate]  Validation + hashing throughput on 1M rows x 32 columns: bench/validate.py's own
            file (30 features, the label, a free-text column) and its worker, i.e. the
            pipeline's ``load_contribution`` + ``integrate_contributions`` path, vs
            ``pandas.read_csv`` of the same file; rows/s timed inside the worker after imports
            (as bench/validate.py reports it), each worker in a fresh process.

``--quick`` (what CI runs): 20k rows for the run and validation figures (one run figure,
"run-20k", instead of 100k and 1M) and 1 repeat, unless ``--repeat`` is given. ``--rows N``
sets every row count to N (tests).

Each sample runs one command in a fresh temp folder, measured and reference interleaved
(reference first), and the median of ``--repeat`` (default 3; ``help`` takes at least 5
because it is short and noisy) is reported for each quantity separately.

How the process tree is measured (``measure``):

- wall: ``time.perf_counter`` from ``Popen`` to the reaping of the root process.
- CPU (user + sys of the whole tree): the root is reaped with ``os.wait4``, whose rusage on
  Linux is the child's own times plus those of every descendant it (or its descendants)
  waited for, recursively (the kernel folds a reaped child's times into its parent's
  "children" counters, and wait4 reports self + children of the reaped process). Metaflow's
  runtime waits for every task process and the Runner's parent waits for the runtime, so
  nothing of a run escapes; a process that outlives its parent (re-parented to init) would.
  This is exact, unlike polling psutil ``cpu_times`` (which loses whatever a process spends
  after its last poll, i.e. every short-lived step process's tail) and, unlike
  ``getrusage(RUSAGE_CHILDREN)`` deltas, is attributed to this one child even if other
  children of this process existed.
- peak RSS of the tree: a thread polls every 50 ms (psutil): the root plus all live
  descendants (``children(recursive=True)``), their RSS summed, the maximum kept. Shared
  pages (libraries mapped by several Python processes) count once per process, as they
  would if the processes ran on different machines; a spike shorter than 50 ms can be
  missed. Also reported: ``max_rss_single_mb``, wait4's ``ru_maxrss`` (the largest single
  process of the tree; on Linux it carries the parent's RSS across fork + exec, so this
  script keeps its own process small: data is generated in child processes).

The environment of every command: ``METAFLOW_USER`` set if missing, every ``HOKUSAI_*``
variable and ``MLFLOW_TRACKING_URI`` removed (the default local SQLite store in the project).
The machine's load average is recorded before and after each figure: on a shared 2-core
machine the wall ratios move with it; CPU-second ratios move much less, so both are given.

For every `hokusai` run the JSON also holds each step's duration and where the rest of the
wall went (``phases``: launch -> first task start, between steps, last step end -> exit), read
back with ``hokusai inspect --json`` after the clock stops.

Output: a table on stdout and JSON (default bench/results/latest.json, ignored by git).

``--profile`` runs one dry-run with ``PYTHONPROFILEIMPORTTIME=1`` instead: every process logs
its imports to stderr (a task's lands in ``.metaflow/<flow>/<run>/<step>/<task>/
0.runtime_stderr.log``), and the table gives, per step, its duration, its import seconds
(interpreter + Metaflow bootstrap vs the step body) and the heaviest imports. Its wall time
is not representative: Metaflow's Runner ``stream_log`` sleeps 10 ms per log line, and the
~2,500 import lines of each task make the CLI trail the finished flow by minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BARE_FLOW = HERE / "bare_flow.py"
VALIDATE = HERE / "validate.py"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TIMEOUT = 3 * 3600  # per command
POLL = 0.05
FIGURES = ("help", "dry-run", "run", "validate")
VERSIONS = ("metaflow", "mlflow", "scikit-learn", "pandas", "pyarrow", "numpy", "skops", "typer", "rich", "psutil")

BARE_TYPER = '''\
"""A bare ten-command Typer app: the reference for `hokusai --help`."""
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="A bare ten-command Typer app.", no_args_is_help=True)
'''
for _i, _name in enumerate(("run", "dry-run", "attest", "verify", "init", "inspect", "runs", "resume", "validate",
                            "version")):
    BARE_TYPER += f'''

@app.command("{_name}")
def command_{_i}(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Input files.")] = None,
    project: Annotated[Path, typer.Option("--project", "-p", help="Project folder.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More output.")] = False,
) -> None:
    """Command {_name}: does nothing.

    Example: bare {_name} --project .
    """
'''
BARE_TYPER += '\n\nif __name__ == "__main__":\n    app()\n'


# --------------------------------------------------------------------------- measuring


@dataclass
class Sample:
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    cpu_s: float
    peak_rss_tree_mb: float
    max_rss_single_mb: float
    max_procs: int
    returncode: int
    extra: dict[str, Any] = field(default_factory=dict)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_") and k != "MLFLOW_TRACKING_URI"}
    env.setdefault("METAFLOW_USER", env.get("USER") or env.get("USERNAME") or "bench")
    env["COLUMNS"] = "120"
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, log: str = "cmd") -> Sample:
    """Run `cmd` in `cwd`; wall, CPU and peak RSS of its whole process tree (module docstring).
    stdout/stderr go to `cwd/<log>.out|.err`. A non-zero exit raises with the stderr tail."""
    import psutil

    out, err = cwd / f"{log}.out", cwd / f"{log}.err"
    peak = [0, 0]  # bytes, process count
    done = threading.Event()
    with open(out, "wb") as fo, open(err, "wb") as fe:
        started_epoch, start = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env or base_env(), stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                                start_new_session=True)

        def poll() -> None:
            try:
                root = psutil.Process(proc.pid)
            except psutil.NoSuchProcess:
                return
            while not done.is_set():
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                if total > peak[0]:
                    peak[0] = total
                peak[1] = max(peak[1], len(procs))
                done.wait(POLL)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        timer = threading.Timer(TIMEOUT, lambda: os.killpg(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        done.set()
        poller.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    if proc.returncode != 0:
        tail = err.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {proc.returncode} in {cwd}:\n{tail}")
    return Sample(wall_s=wall, cpu_user_s=usage.ru_utime, cpu_sys_s=usage.ru_stime,
                  cpu_s=usage.ru_utime + usage.ru_stime, peak_rss_tree_mb=peak[0] / 2**20,
                  max_rss_single_mb=usage.ru_maxrss / 1024, max_procs=peak[1], returncode=proc.returncode,
                  extra={"started_epoch": started_epoch, "ended_epoch": started_epoch + wall})


def summarise(samples: list[Sample]) -> dict[str, Any]:
    keys = ("wall_s", "cpu_user_s", "cpu_sys_s", "cpu_s", "peak_rss_tree_mb", "max_rss_single_mb", "max_procs")
    median = {k: statistics.median(getattr(s, k) for s in samples) for k in keys}
    return {"median": median, "samples": [asdict(s) for s in samples]}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def hokusai_cmd() -> list[str]:
    script = Path(sys.executable).parent / "hokusai"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hokusai_cli"]


# --------------------------------------------------------------------------- helper modes (child processes)


def bare_runner() -> None:
    """The dry-run reference: bench/bare_flow.py through metaflow.Runner, from the cwd."""
    from metaflow import Runner

    cwd = os.getcwd()
    env = {**os.environ, "METAFLOW_DEFAULT_DATASTORE": "local", "METAFLOW_DEFAULT_METADATA": "local",
           "METAFLOW_DATASTORE_SYSROOT_LOCAL": cwd}
    with Runner(str(BARE_FLOW), show_output=False, pylint=False, cwd=cwd, env=env) as runner:
        result = runner.run()
        if result.status != "successful":
            sys.exit(f"bare flow {result.status}: {result.stderr[-2000:]}")


def plain_sklearn(base: str, benchmark: str, contrib: str) -> None:
    """The run reference: what the evaluation's real work costs in one plain process."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    base_df, bench_df, contrib_df = pd.read_csv(base), pd.read_csv(benchmark), pd.read_csv(contrib)
    features = [c for c in base_df.columns if c != "target"]

    def fit(frame: pd.DataFrame) -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=42))
        return model.fit(frame[features], frame["target"])

    baseline = fit(base_df)
    candidate = fit(pd.concat([base_df, contrib_df[base_df.columns]], ignore_index=True))
    accuracy = {name: accuracy_score(bench_df["target"], model.predict(bench_df[features]))
                for name, model in (("baseline", baseline), ("candidate", candidate))}
    print(json.dumps({"rows": len(contrib_df), "accuracy": accuracy}))


def make_contrib(path: str, rows: int, header_of: str, seed: int = 11) -> None:
    """`rows` rows of the breast-cancer schema (columns as in `header_of`), sampled with noise."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from sklearn.datasets import load_breast_cancer

    columns = Path(header_of).read_text().splitlines()[0].split(",")
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    features = [c for c in columns if c != "target"]
    if sorted(features) != sorted(names):
        raise SystemExit(f"{header_of}: columns differ from scikit-learn's breast-cancer features")
    X = data.data[:, [names.index(c) for c in features]]
    rng = np.random.default_rng(seed)
    chunk = 100_000
    with open(path, "wb") as f:
        f.write((",".join(columns) + "\n").encode())
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            picks = rng.integers(0, len(X), n)
            values = X[picks] * rng.normal(1.0, 0.05, (n, len(features)))
            table = {c: values[:, i] for i, c in enumerate(features)}
            table["target"] = data.target[picks].astype("int64")
            pcsv.write_csv(pa.table({c: table[c] for c in columns}), f,
                           pcsv.WriteOptions(include_header=False))


# --------------------------------------------------------------------------- figures


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.measurements: dict[str, Any] = {}
        self.figures: list[dict[str, Any]] = []
        self.loads: dict[str, Any] = {}
        self._n = 0
        self._project: Path | None = None
        self._contrib: dict[int, Path] = {}

    def folder(self, name: str) -> Path:
        self._n += 1
        path = self.tmp / f"{self._n:03d}-{name}"
        path.mkdir()
        return path

    def done_with(self, path: Path) -> None:
        if not self.args.keep:
            shutil.rmtree(path, ignore_errors=True)

    def record(self, key: str, samples: list[Sample], **info: Any) -> dict[str, Any]:
        entry = {**info, **summarise(samples)}
        self.measurements[key] = entry
        return entry["median"]

    def figure(self, fid: str, name: str, measured: float, reference: float, unit: str, ratio: float,
               target: str, met: bool | None, cpu_ratio: float | None = None, note: str = "") -> None:
        self.figures.append({"id": fid, "figure": name, "measured": measured, "reference": reference, "unit": unit,
                             "ratio": ratio, "target": target, "met": met, "cpu_ratio": cpu_ratio, "note": note})

    def pair(self, key: str, subject: tuple[list[str], str, dict | None], reference: tuple[list[str], str, dict | None],
             repeat: int, setup=None) -> tuple[list[Sample], list[Sample]]:
        """Interleave reference and subject `repeat` times, each in a fresh folder made by
        `setup(folder)` (or empty)."""
        subs, refs = [], []
        for i in range(repeat):
            for label, (cmd, log, env), bucket in (("reference", reference, refs), ("hokusai", subject, subs)):
                folder = self.folder(f"{key}-{label}-{i}")
                if setup is not None:
                    setup(folder, label)
                sample = measure(cmd, folder, env, log)
                bucket.append(sample)
                say(f"  {key} {label} {i + 1}/{repeat}: {sample.wall_s:.2f} s wall, {sample.cpu_s:.2f} s CPU, "
                    f"{sample.peak_rss_tree_mb:.0f} MB peak tree RSS (load {load()[0]})")
                self.done_with(folder)
        return subs, refs

    # ---- help
    def help(self) -> None:
        repeat = max(self.args.repeat, 5)
        script = self.tmp / "bare_typer.py"
        script.write_text(BARE_TYPER)
        subs, refs = self.pair("help", (hokusai_cmd() + ["--help"], "help", None),
                               ([sys.executable, str(script), "--help"], "help", None), repeat)
        m = self.record("help: hokusai --help", subs, cmd="hokusai --help")
        r = self.record("help: bare ten-command Typer app --help", refs, cmd="python bare_typer.py --help")
        ratio = m["wall_s"] / r["wall_s"]
        self.figure("help", "`hokusai --help` wall", m["wall_s"], r["wall_s"], "s", ratio, "<= 1.5x", ratio <= 1.5,
                    m["cpu_s"] / r["cpu_s"], f"median of {repeat}")

    # ---- dry-run
    def dry_run(self) -> None:
        repeat = self.args.repeat
        cold, warm, refs = [], [], []
        steps: list[dict[str, Any]] = []
        for i in range(repeat):
            folder = self.folder(f"dry-run-reference-{i}")
            sample = measure([sys.executable, str(Path(__file__).resolve()), "--bare-runner"], folder, None, "bare")
            refs.append(sample)
            say(f"  dry-run reference (bare flow) {i + 1}/{repeat}: {sample.wall_s:.2f} s wall, "
                f"{sample.cpu_s:.2f} s CPU (load {load()[0]})")
            self.done_with(folder)
            folder = self.folder(f"dry-run-hokusai-{i}")
            for label, bucket in (("first", cold), ("warm", warm)):
                sample = measure(hokusai_cmd() + ["dry-run", "--project", ".", "--json"], folder, None, f"dry-{label}")
                self.steps(folder, sample)
                bucket.append(sample)
                say(f"  dry-run hokusai ({label}) {i + 1}/{repeat}: {sample.wall_s:.2f} s wall, "
                    f"{sample.cpu_s:.2f} s CPU (load {load()[0]})")
            self.done_with(folder)
        r = self.record("dry-run: bare nine-step flow via Runner", refs, cmd="Runner(bench/bare_flow.py).run()")
        for label, bucket in (("first run, fresh folder", cold), ("warm, second run in the folder", warm)):
            m = self.record(f"dry-run: hokusai dry-run ({label})", bucket, cmd="hokusai dry-run",
                            step_median_s=self.step_medians(bucket),
                            phase_median_s=self.step_medians(bucket, "phases"))
            ratio = m["wall_s"] / r["wall_s"]
            self.figure(f"dry-run-{label.split(',')[0].split(' ')[0]}", f"`hokusai dry-run` wall ({label})",
                        m["wall_s"], r["wall_s"], "s", ratio, "<= 3x", ratio <= 3, m["cpu_s"] / r["cpu_s"],
                        "vs bare 9-step flow via Runner")

    def steps(self, project: Path, sample: Sample) -> None:
        """Step durations of the project's latest run and where the rest of the wall went
        (hokusai inspect --json, not timed): launch -> first task start (CLI imports,
        pre-check, MLflow store, Runner, Metaflow runtime start-up, first task's bootstrap),
        between steps (task process start-up + Metaflow bookkeeping), last step end -> exit."""
        done = subprocess.run(hokusai_cmd() + ["inspect", "--json", "--project", str(project)], cwd=project,
                              env=base_env(), capture_output=True, text=True)
        if done.returncode != 0:
            return
        steps = json.loads(done.stdout).get("steps", [])
        sample.extra["steps"] = {s["name"]: s["duration_s"] for s in steps}
        try:
            first, last = steps[0]["started_at"].rstrip("Z"), steps[-1]["finished_at"].rstrip("Z")
            total = sum(s["duration_s"] for s in steps)
            sample.extra["phases"] = {
                "launch_to_first_step_s": round(_seconds_between(_iso(sample.extra["started_epoch"]), first), 3),
                "steps_s": round(total, 3),
                "between_steps_s": round(_seconds_between(first, last) - total, 3),
                "last_step_to_exit_s": round(_seconds_between(last, _iso(sample.extra["ended_epoch"])), 3),
            }
        except (KeyError, IndexError, ValueError):
            pass

    @staticmethod
    def step_medians(samples: list[Sample], key: str = "steps") -> dict[str, float]:
        names = samples[0].extra.get(key, {})
        return {n: statistics.median(s.extra.get(key, {}).get(n, 0.0) for s in samples) for n in names}

    # ---- run
    def template(self) -> Path:
        if self._project is None:
            self._project = self.tmp / "template"
            subprocess.run(hokusai_cmd() + ["init", str(self._project)], env=base_env(), check=True,
                           capture_output=True)
        return self._project

    def contrib(self, rows: int) -> Path:
        if rows not in self._contrib:
            path = self.tmp / f"contrib-{rows}.csv"
            start = time.perf_counter()
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--make-contrib", str(path), str(rows),
                            str(self.template() / "data" / "base.csv")], check=True, env=base_env())
            say(f"  generated {rows} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")
            self._contrib[rows] = path
        return self._contrib[rows]

    def run(self, rows: int) -> None:
        fid = f"run-{label(rows)}"
        contrib = self.contrib(rows)
        template = self.template()

        def setup(folder: Path, who: str) -> None:
            shutil.copytree(template / "data", folder / "data")
            shutil.copy(template / "hokusai.toml", folder / "hokusai.toml")
            os.link(contrib, folder / "data" / "contrib.csv")

        plain = [sys.executable, str(Path(__file__).resolve()), "--plain-sklearn", "data/base.csv",
                 "data/benchmark.csv", "data/contrib.csv"]
        hok = hokusai_cmd() + ["run", "--project", ".", "--contrib", f"data/contrib.csv:{WALLET}", "--json"]
        subs, refs = [], []
        for i in range(self.args.repeat):
            for who, cmd, bucket in (("reference", plain, refs), ("hokusai", hok, subs)):
                folder = self.folder(f"{fid}-{who}-{i}")
                setup(folder, who)
                sample = measure(cmd, folder, None, who)
                try:
                    result = json.loads((folder / f"{who}.out").read_text())
                    if who == "reference":
                        sample.extra["accuracy"] = result["accuracy"]
                    else:
                        acc = {m["metric"]: m for m in result["metrics"]}.get("accuracy", {})
                        sample.extra["accuracy"] = {"baseline": acc.get("baseline"),
                                                    "candidate": acc.get("candidate")}
                        sample.extra["deltaone_bps"] = result.get("deltaone_bps")
                        sample.extra["weight_method"] = result.get("weight_method")
                except (ValueError, KeyError, TypeError) as exc:
                    sample.extra["parse_error"] = repr(exc)
                if who == "hokusai":
                    self.steps(folder, sample)
                bucket.append(sample)
                say(f"  {fid} {who} {i + 1}/{self.args.repeat}: {sample.wall_s:.2f} s wall, {sample.cpu_s:.2f} s CPU, "
                    f"{sample.peak_rss_tree_mb:.0f} MB peak tree RSS (load {load()[0]})")
                self.done_with(folder)
        size = contrib.stat().st_size / 1e6
        m = self.record(f"{fid}: hokusai run", subs, rows=rows, csv_mb=size,
                        step_median_s=self.step_medians(subs), phase_median_s=self.step_medians(subs, "phases"))
        r = self.record(f"{fid}: plain scikit-learn script", refs, rows=rows, csv_mb=size)
        wall_target = 2.0 if rows >= 1_000_000 else 3.0
        ratio = m["wall_s"] / r["wall_s"]
        self.figure(f"{fid}-wall", f"`hokusai run` wall, {label(rows)} rows ({size:.0f} MB CSV)", m["wall_s"],
                    r["wall_s"], "s", ratio, f"<= {wall_target:g}x", ratio <= wall_target, m["cpu_s"] / r["cpu_s"],
                    "vs plain scikit-learn script; first run of a fresh project")
        rss = m["peak_rss_tree_mb"] / r["peak_rss_tree_mb"]
        self.figure(f"{fid}-rss", f"`hokusai run` peak RSS (tree), {label(rows)} rows", m["peak_rss_tree_mb"],
                    r["peak_rss_tree_mb"], "MB", rss, "<= 1.5x" if rows >= 1_000_000 else "(1M: <= 1.5x)",
                    rss <= 1.5 if rows >= 1_000_000 else None, None,
                    f"largest single process {m['max_rss_single_mb']:.0f} MB")

    # ---- validate
    def validate(self, rows: int) -> None:
        path = self.tmp / f"validate-{rows}.csv"
        start = time.perf_counter()
        subprocess.run([sys.executable, str(VALIDATE), "--make", str(path), str(rows)], check=True, env=base_env(),
                       cwd=ROOT)
        say(f"  generated {rows} rows x 32 columns ({path.stat().st_size / 1e6:.0f} MB) "
            f"in {time.perf_counter() - start:.1f} s")
        subs, refs = [], []
        for i in range(self.args.repeat):
            for kind, bucket in (("reference", refs), ("hokusai", subs)):
                folder = self.folder(f"validate-{kind}-{i}")
                env = {**base_env(), "PYTHONPATH": str(ROOT)}
                sample = measure([sys.executable, str(VALIDATE), "--worker", kind, str(path)], folder, env, kind)
                inner = json.loads((folder / f"{kind}.out").read_text().strip().splitlines()[-1])
                sample.extra.update(inner)
                bucket.append(sample)
                say(f"  validate {kind} {i + 1}/{self.args.repeat}: {inner['seconds']:.2f} s timed "
                    f"({rows / inner['seconds']:,.0f} rows/s), {sample.wall_s:.2f} s process wall (load {load()[0]})")
                self.done_with(folder)
        size = path.stat().st_size / 1e6
        path.unlink()
        ms, rs = (statistics.median(s.extra["seconds"] for s in b) for b in (subs, refs))
        self.record("validate: load_contribution + integrate_contributions", subs, rows=rows, csv_mb=size,
                    timed_s=ms, rows_per_s=rows / ms,
                    stages_median_s={k: statistics.median(s.extra["stages"][k] for s in subs)
                                     for k in subs[0].extra["stages"]})
        self.record("validate: pandas.read_csv", refs, rows=rows, csv_mb=size, timed_s=rs, rows_per_s=rows / rs)
        ratio = rs / ms
        self.figure("validate", f"validation + hashing, {label(rows)} rows x 32 cols ({size:.0f} MB)", rows / ms,
                    rows / rs, "rows/s", ratio, ">= 0.5x", ratio >= 0.5, None,
                    "throughput vs pandas.read_csv (ratio = hokusai rows/s / read_csv rows/s)")


def label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


# --------------------------------------------------------------------------- import profile of a dry-run


def parse_importtime(lines: list[str]) -> list[tuple[int, str, float, float, str]]:
    """`-X importtime` lines -> [(level, module, self_s, cumulative_s, timestamp)]; Metaflow's
    `[MFLOG|0|<time>|...]` prefix, when present, gives the timestamp."""
    out = []
    for line in lines:
        stamp = ""
        if line.startswith("[MFLOG|"):
            head, _, line = line.partition("]")
            stamp = head.split("|")[2]
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        body = name[1:] if name.startswith(" ") else name
        level = (len(body) - len(body.lstrip(" "))) // 2
        out.append((level, body.strip(), int(self_us) / 1e6, int(cum_us) / 1e6, stamp))
    return out


#: Outermost imports a task pays before its step body runs: the interpreter's start-up and
#: Metaflow's own bootstrap (the flow module imports metaflow; the task CLI imports the rest).
BOOT = ("site", "encodings", "codecs", "io", "abc", "time", "zipimport", "marshal", "posix", "_", "metaflow")


def import_summary(entries: list[tuple[int, str, float, float, str]], top: int = 8) -> dict[str, Any]:
    """Total import seconds (outermost imports), split into interpreter + Metaflow bootstrap
    and the rest (the step body: pipeline code, unpickled artifacts' libraries), the top
    outermost imports, the heaviest packages by self time, and each package's outermost
    cumulative time (a package imported inside another counts in both)."""
    import collections

    def boot(name: str) -> bool:
        return any(name == b or name.startswith(b + ".") or (b == "_" and name.startswith("_")) for b in BOOT)

    total = sum(e[3] for e in entries if e[0] == 0)
    body = sum(e[3] for e in entries if e[0] == 0 and not boot(e[1]))
    outer = sorted(((e[3], e[1]) for e in entries if e[0] == 0), reverse=True)[:top]
    self_by_pkg: collections.Counter = collections.Counter()
    cum_by_pkg: collections.Counter = collections.Counter()
    # importtime prints a module after its children: walk backwards to know each one's parent
    stack: list[tuple[int, str]] = []
    parents: list[str | None] = [None] * len(entries)
    for i in range(len(entries) - 1, -1, -1):
        level, name = entries[i][0], entries[i][1]
        while stack and stack[-1][0] >= level:
            stack.pop()
        parents[i] = stack[-1][1] if stack else None
        stack.append((level, name))
    for (level, name, self_s, cum_s, _), parent in zip(entries, parents):
        root = name.split(".")[0]
        self_by_pkg[root] += self_s
        if parent is None or parent.split(".")[0] != root:
            cum_by_pkg[root] += cum_s
    return {"imports_s": round(total, 3), "imports_in_step_s": round(body, 3),
            "imports_boot_s": round(total - body, 3),
            "top_outermost": [(n, round(c, 3)) for c, n in outer],
            "self_by_package": [(n, round(c, 3)) for n, c in self_by_pkg.most_common(top)],
            "cumulative_by_package": [(n, round(c, 3)) for n, c in cum_by_pkg.most_common(top)]}


def profile(args: argparse.Namespace) -> None:
    """One dry-run in a fresh folder with PYTHONPROFILEIMPORTTIME=1: every process (the CLI,
    Metaflow's runtime, each step's task) logs its imports to stderr; the tasks' stderr lands
    in .metaflow/<flow>/<run>/<step>/<task>/0.runtime_stderr.log, the CLI's in our file."""
    out = args.out if args.out != HERE / "results" / "latest.json" else HERE / "results" / "profile.json"
    tmp = Path(tempfile.mkdtemp(prefix="hokusai-profile-"))
    try:
        env = {**base_env(), "PYTHONPROFILEIMPORTTIME": "1"}
        sample = measure(hokusai_cmd() + ["dry-run", "--project", ".", "--json"], tmp, env, "dry-run")
        done = subprocess.run(hokusai_cmd() + ["inspect", "--json", "--project", "."], cwd=tmp, env=base_env(),
                              capture_output=True, text=True, check=True)
        run = json.loads(done.stdout)
        report: dict[str, Any] = {"wall_s": sample.wall_s, "cpu_s": sample.cpu_s, "run_duration_s": run["duration_s"],
                                  "load_average": load(), "steps": {}}
        cli = parse_importtime((tmp / "dry-run.err").read_text(errors="replace").splitlines())
        report["cli"] = import_summary(cli)
        for step in run["steps"]:
            flow, run_id, name, task = step["task"].split("/")
            log = tmp / ".metaflow" / flow / run_id / name / task / "0.runtime_stderr.log"
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            entries = parse_importtime(lines)
            summary = import_summary(entries)
            summary.update({"duration_s": step["duration_s"],
                            "rest_of_step_s": round(step["duration_s"] - summary["imports_s"], 3)})
            report["steps"][name] = summary
        steps = run["steps"]
        report["first_step_start_after_launch_s"] = round(
            _seconds_between(_iso(sample.extra["started_epoch"]), steps[0]["started_at"].rstrip("Z")), 3)
        report["after_last_step_s"] = round(
            _seconds_between(steps[-1]["finished_at"].rstrip("Z"), _iso(sample.extra["ended_epoch"])), 3)
        report["sum_step_durations_s"] = round(sum(s["duration_s"] for s in steps), 3)
        report["between_steps_s"] = round(
            _seconds_between(steps[0]["started_at"].rstrip("Z"), steps[-1]["finished_at"].rstrip("Z"))
            - report["sum_step_durations_s"], 3)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            say(f"kept {tmp}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"dry-run with PYTHONPROFILEIMPORTTIME=1: {report['wall_s']:.1f} s wall, {report['cpu_s']:.1f} s CPU "
          f"(load {report['load_average']}); importtime itself adds some overhead")
    print(f"  CLI process: {report['cli']['imports_s']:.2f} s of imports; top: "
          + ", ".join(f"{n} {c:.2f}" for n, c in report["cli"]["top_outermost"][:5]))
    print(f"  launch -> first task start {report['first_step_start_after_launch_s']:.1f} s; "
          f"steps {report['sum_step_durations_s']:.1f} s; between steps {report['between_steps_s']:.1f} s; "
          f"last step end -> exit {report['after_last_step_s']:.1f} s")
    total_in = 0.0
    for name, st in report["steps"].items():
        total_in += st["imports_in_step_s"]
        print(f"\n{name}: {st['duration_s']:.2f} s task; imports {st['imports_s']:.2f} s "
              f"(Python + Metaflow bootstrap {st['imports_boot_s']:.2f} s, step body {st['imports_in_step_s']:.2f} s); "
              f"everything else {st['rest_of_step_s']:.2f} s")
        print("   outermost: " + ", ".join(f"{n} {c:.2f}" for n, c in st["top_outermost"][:6]))
        print("   by package (outermost cumulative): "
              + ", ".join(f"{n} {c:.2f}" for n, c in st["cumulative_by_package"][:6]))
        print("   by package (self): " + ", ".join(f"{n} {c:.2f}" for n, c in st["self_by_package"][:6]))
    print(f"\nimports inside step bodies: {total_in:.1f} s of {report['sum_step_durations_s']:.1f} task-seconds; "
          f"JSON: {out}")


def _iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _seconds_between(a: str, b: str) -> float:
    import datetime as dt

    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.rstrip("Z")[:26])

    return (parse(b) - parse(a)).total_seconds()


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    from importlib import metadata

    import psutil

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        versions["hokusai-pipeline"] = metadata.version("hokusai-pipeline")
    except metadata.PackageNotFoundError:
        versions["hokusai-pipeline"] = None
    code: dict[str, Any] = {}
    try:  # read-only git queries: which code was measured
        code["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                        timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.splitlines()
        code["uncommitted_files"] = len(status)
    except (OSError, subprocess.SubprocessError):
        pass
    return {"nproc": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "cpu_model": model, "code": code,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "platform": platform.platform(), "versions": versions}


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    return f"{value:g} {unit}"


def table(figures: list[dict[str, Any]]) -> None:
    headers = ("figure", "measured", "reference", "ratio", "target", "met?", "CPU ratio")
    rows = [(f["figure"], fmt(f["measured"], f["unit"]), fmt(f["reference"], f["unit"]), f"{f['ratio']:.2f}x",
             f["target"], {True: "yes", False: "NO", None: "-"}[f["met"]],
             "-" if f["cpu_ratio"] is None else f"{f['cpu_ratio']:.2f}x") for f in figures]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        for r in (headers, *rows):
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return
    t = Table(title="hokusai benchmark (medians; ratio = hokusai / reference, validation: throughput ratio)")
    for h in headers:
        t.add_column(h, justify="left" if h == "figure" else "right")
    for r in rows:
        t.add_row(*r)
    Console(width=max(shutil.get_terminal_size((150, 20)).columns, 150)).print(t)


def markdown(figures: list[dict[str, Any]]) -> str:
    lines = ["| figure | measured | reference | ratio | target | met? | CPU ratio |", "|---|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f['figure']} | {fmt(f['measured'], f['unit'])} | {fmt(f['reference'], f['unit'])} | "
                     f"{f['ratio']:.2f}x | {f['target']} | {({True: 'yes', False: 'no', None: '-'})[f['met']]} | "
                     f"{'-' if f['cpu_ratio'] is None else format(f['cpu_ratio'], '.2f') + 'x'} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20k rows, 1 repeat (CI smoke test)")
    p.add_argument("--repeat", type=int, default=None, help="samples per figure, median reported (default 3; "
                                                              "--quick: 1)")
    p.add_argument("--only", default="", help=f"comma-separated figures: {', '.join(FIGURES)} "
                                              "(run: every size; run-100k, run-1m, run-20k: one size)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "latest.json", help="JSON output file")
    p.add_argument("--rows", type=int, default=None, help="row count for every run and validation figure")
    p.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temp folders (their path is printed)")
    p.add_argument("--profile", action="store_true",
                   help="instead of the figures: one dry-run with PYTHONPROFILEIMPORTTIME=1, per-step import "
                        "profile (table; JSON to --out, default bench/results/profile.json)")
    p.add_argument("--bare-runner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--plain-sklearn", nargs=3, metavar=("BASE", "BENCHMARK", "CONTRIB"), help=argparse.SUPPRESS)
    p.add_argument("--make-contrib", nargs=3, metavar=("FILE", "ROWS", "HEADER_OF"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def selected(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """[(figure, rows)] in the order they run: cheap first."""
    run_sizes = [20_000] if args.quick else [100_000, 1_000_000]
    val_rows = 20_000 if args.quick else 1_000_000
    if args.rows:
        run_sizes, val_rows = [args.rows], args.rows
    plan = [("help", None), ("dry-run", None), *(("run", n) for n in run_sizes), ("validate", val_rows)]
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    if not wanted:
        return plan
    known = set(FIGURES) | {f"run-{label(n)}".lower() for n in (20_000, 100_000, 1_000_000)}
    bad = {w for w in wanted if w.lower() not in known and not w.lower().startswith("run-")}
    if bad:
        raise SystemExit(f"--only: unknown figure(s) {', '.join(sorted(bad))}; use {', '.join(FIGURES)} or run-<rows>")
    out = []
    for fig, n in plan:
        if fig in wanted or (fig == "run" and f"run-{label(n)}".lower() in {w.lower() for w in wanted}):
            out.append((fig, n))
    for w in wanted:  # run-<rows> not in the plan (e.g. run-50k)
        if w.lower().startswith("run-") and not any(f == "run" and f"run-{label(n)}".lower() == w.lower()
                                                    for f, n in out):
            text = w[4:].lower()
            n = int(float(text.rstrip("km")) * (1_000_000 if text.endswith("m") else 1000 if text.endswith("k") else 1))
            out.append(("run", n))
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.bare_runner:
        bare_runner()
        return
    if args.plain_sklearn:
        plain_sklearn(*args.plain_sklearn)
        return
    if args.make_contrib:
        make_contrib(args.make_contrib[0], int(args.make_contrib[1]), args.make_contrib[2])
        return

    if args.profile:
        profile(args)
        return
    plan = selected(args)
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="hokusai-bench-"))
    say(f"bench: {', '.join(f if n is None else f'{f}-{label(n)}' for f, n in plan)}; repeat {args.repeat}; "
        f"temp {tmp}; load {load()}")
    bench = Bench(args, tmp)
    try:
        for fig, n in plan:
            name = fig if n is None else f"{fig}-{label(n)}"
            say(f"{name}:")
            before, t0 = load(), time.perf_counter()
            if fig == "help":
                bench.help()
            elif fig == "dry-run":
                bench.dry_run()
            elif fig == "run":
                bench.run(n)
            else:
                bench.validate(n)
            bench.loads[name] = {"before": before, "after": load(), "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "total_s": round(time.time() - started, 1),
        "args": {"quick": args.quick, "repeat": args.repeat, "only": args.only, "rows": args.rows},
        "machine": machine(),
        "load_average": bench.loads,
        "figures": bench.figures,
        "measurements": bench.measurements,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    table(bench.figures)
    if args.markdown:
        print(markdown(bench.figures))
    print(f"JSON: {args.out}  ({report['total_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
