"""The measuring harness of bench/run.py: time a command's whole process tree, keep the median
of several samples, compare it with a reference measured in the same run, print the table.

Figures (bench/figures/) use it; nothing here knows about a particular figure. It imports only
the standard library at the top (psutil and rich inside the functions that need them), so the
child processes bench/run.py starts (``--call``) stay small and quick to start.

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
  descendants (``children(recursive=True)``), their RSS summed, the maximum kept. The same
  polls give each step's peak (``step_peak_rss_mb``: the RSS of the processes whose command
  line runs ``step NAME``, summed per poll; everything else is ``(launcher)``). Shared
  pages (libraries mapped by several Python processes) count once per process, as they
  would if the processes ran on different machines; a spike shorter than 50 ms can be
  missed. Also reported: ``max_rss_single_mb``, wait4's ``ru_maxrss`` (the largest single
  process of the tree; on Linux it carries the parent's RSS across fork + exec, so the bench
  keeps its own process small: data is generated in child processes).

The environment of every command: ``METAFLOW_USER`` set if missing, every ``HOKUSAI_*``
variable and ``MLFLOW_TRACKING_URI`` removed (the default local SQLite store in the project).
The machine's load average is recorded before and after each figure: on a shared 2-core
machine the wall ratios move with it; CPU-second ratios move much less, so both are given.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUN = HERE / "run.py"
WALLET = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TIMEOUT = 3 * 3600  # per command
POLL = 0.05
VERSIONS = ("metaflow", "mlflow", "scikit-learn", "pandas", "pyarrow", "numpy", "skops", "typer", "rich", "psutil")

# --------------------------------------------------------------------------- one command


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
    """The environment every measured command gets (module docstring)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_") and k != "MLFLOW_TRACKING_URI"}
    env.setdefault("METAFLOW_USER", env.get("USER") or env.get("USERNAME") or "bench")
    env["COLUMNS"] = "120"
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, log: str = "cmd",
            timeout: float = TIMEOUT) -> Sample:
    """Run `cmd` in `cwd`; wall, CPU and peak RSS of its whole process tree (module docstring).
    stdout/stderr go to `cwd/<log>.out|.err`. A non-zero exit raises with the stderr tail."""
    import psutil

    out, err = cwd / f"{log}.out", cwd / f"{log}.err"
    peak = [0, 0]  # bytes, process count
    step_peak: dict[str, int] = {}  # Metaflow step (or LAUNCHER) -> peak RSS of its processes
    steps_of: dict[int, str] = {}
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
                total, by_step = 0, {}
                for p in procs:
                    try:
                        rss = p.memory_info().rss
                        step = steps_of.get(p.pid) or steps_of.setdefault(p.pid, step_of(p.cmdline()))
                    except psutil.Error:
                        continue
                    total += rss
                    by_step[step] = by_step.get(step, 0) + rss
                if total > peak[0]:
                    peak[0] = total
                for step, rss in by_step.items():
                    step_peak[step] = max(step_peak.get(step, 0), rss)
                peak[1] = max(peak[1], len(procs))
                done.wait(POLL)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
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
                  extra={"started_epoch": started_epoch, "ended_epoch": started_epoch + wall,
                         "step_peak_rss_mb": {k: round(v / 2**20, 1) for k, v in step_peak.items()}})


#: Where `step_of` files every process that is not a Metaflow task (the CLI, the Runner, the
#: Metaflow runtime, a reference script).
LAUNCHER = "(launcher)"


def step_of(cmdline: list[str]) -> str:
    """The Metaflow step a task process runs (its command line holds `step NAME`), else LAUNCHER."""
    return cmdline[cmdline.index("step") + 1] if "step" in cmdline[:-1] else LAUNCHER


def summarise(samples: list[Sample]) -> dict[str, Any]:
    """The median of each quantity separately, and every sample."""
    keys = ("wall_s", "cpu_user_s", "cpu_sys_s", "cpu_s", "peak_rss_tree_mb", "max_rss_single_mb", "max_procs")
    median = {k: statistics.median(getattr(s, k) for s in samples) for k in keys}
    return {"median": median, "samples": [asdict(s) for s in samples]}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def say(text: str) -> None:
    """Progress goes to stderr: stdout holds only the table."""
    print(text, file=sys.stderr, flush=True)


def hokusai_cmd() -> list[str]:
    script = Path(sys.executable).parent / "hokusai"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hokusai_cli"]


def child(function: str, *args: Any) -> list[str]:
    """The command that runs ``module:function(*args)`` (args as strings) in a fresh Python
    process through bench/run.py: how a figure runs its reference or generates its data
    without growing this process (see ``max_rss_single_mb``)."""
    return [sys.executable, str(RUN), "--call", function, *map(str, args)]


def label(rows: int) -> str:
    if rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows % 1000 == 0:
        return f"{rows // 1000}k"
    return str(rows)


def iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def seconds_between(a: str, b: str) -> float:
    import datetime as dt

    def parse(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.rstrip("Z")[:26])

    return (parse(b) - parse(a)).total_seconds()


# --------------------------------------------------------------------------- one bench run


class Bench:
    """What the figures of one ``bench/run.py`` share: the arguments, the temp folder, and what
    they report (``measurements``: medians and samples; ``figures``: the table's rows)."""

    def __init__(self, args: Any, tmp: Path) -> None:
        self.args, self.tmp = args, tmp
        self.measurements: dict[str, Any] = {}
        self.figures: list[dict[str, Any]] = []
        self.loads: dict[str, Any] = {}
        self._n = 0
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()` once per bench run (e.g. a template project two figures use)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def measure(self, cmd: list[str], cwd: Path, env: dict[str, str] | None = None, log: str = "cmd",
                timeout: float = TIMEOUT) -> Sample:
        """``measure`` (module level), for figures whose own entry point is called measure."""
        return measure(cmd, cwd, env, log, timeout)

    def folder(self, name: str) -> Path:
        self._n += 1
        path = self.tmp / f"{self._n:03d}-{name}"
        path.mkdir()
        return path

    def done_with(self, path: Path) -> None:
        if not self.args.keep:
            shutil.rmtree(path, ignore_errors=True)

    def record(self, key: str, samples: list[Sample], **info: Any) -> dict[str, Any]:
        """Store the samples under `key` (the JSON's ``measurements``); return their medians."""
        entry = {**info, **summarise(samples)}
        self.measurements[key] = entry
        return entry["median"]

    def figure(self, fid: str, name: str, measured: float, reference: float, unit: str, ratio: float,
               target: str, met: bool | None, cpu_ratio: float | None = None, note: str = "") -> None:
        """One row of the table."""
        self.figures.append({"id": fid, "figure": name, "measured": measured, "reference": reference, "unit": unit,
                             "ratio": ratio, "target": target, "met": met, "cpu_ratio": cpu_ratio, "note": note})

    def wall_figure(self, fid: str, name: str, m: dict[str, Any], r: dict[str, Any], limit: float | None,
                    note: str = "", target: str | None = None, met: bool | None = None) -> float:
        """A row for wall time, measured medians `m` against reference medians `r` of the same
        run, the CPU ratio beside it; met when the ratio is at most `limit` (without a limit:
        `target` is text and `met` is given). Returns the ratio."""
        ratio = m["wall_s"] / r["wall_s"]
        self.figure(fid, name, m["wall_s"], r["wall_s"], "s", ratio, target or f"<= {limit:g}x",
                    met if limit is None else ratio <= limit, m["cpu_s"] / r["cpu_s"], note)
        return ratio

    def pair(self, key: str, subject: tuple[list[str], str, dict | None], reference: tuple[list[str], str, dict | None],
             repeat: int, setup: Callable[[Path, str], None] | None = None) -> tuple[list[Sample], list[Sample]]:
        """Interleave reference and subject `repeat` times (reference first), each in a fresh
        folder made by `setup(folder, who)` (or empty). Returns (subject, reference) samples."""
        subs, refs = [], []
        for i in range(repeat):
            for who, (cmd, log, env), bucket in (("reference", reference, refs), ("hokusai", subject, subs)):
                folder = self.folder(f"{key}-{who}-{i}")
                if setup is not None:
                    setup(folder, who)
                sample = measure(cmd, folder, env, log)
                bucket.append(sample)
                say(f"  {key} {who} {i + 1}/{repeat}: {sample.wall_s:.2f} s wall, {sample.cpu_s:.2f} s CPU, "
                    f"{sample.peak_rss_tree_mb:.0f} MB peak tree RSS (load {load()[0]})")
                self.done_with(folder)
        return subs, refs

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
                "launch_to_first_step_s": round(seconds_between(iso(sample.extra["started_epoch"]), first), 3),
                "steps_s": round(total, 3),
                "between_steps_s": round(seconds_between(first, last) - total, 3),
                "last_step_to_exit_s": round(seconds_between(last, iso(sample.extra["ended_epoch"])), 3),
            }
        except (KeyError, IndexError, ValueError):
            pass

    @staticmethod
    def step_medians(samples: list[Sample], key: str = "steps") -> dict[str, float]:
        names = samples[0].extra.get(key, {})
        return {n: statistics.median(s.extra.get(key, {}).get(n, 0.0) for s in samples) for n in names}


# --------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """CPU, memory, package versions and the commit: what the numbers were measured on."""
    import platform
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
    for name in (*VERSIONS, "hokusai-pipeline"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
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


HEADERS = ("figure", "measured", "reference", "ratio", "target", "met?", "CPU ratio")


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "rows/s":
        return f"{value:,.0f} rows/s"
    return f"{value:g} {unit}"


def cells(figure: dict[str, Any], missed: str = "NO") -> tuple[str, ...]:
    """One table row as text, in HEADERS order; `missed` is what a missed target shows."""
    return (figure["figure"], fmt(figure["measured"], figure["unit"]), fmt(figure["reference"], figure["unit"]),
            f"{figure['ratio']:.2f}x", figure["target"], {True: "yes", False: missed, None: "-"}[figure["met"]],
            "-" if figure["cpu_ratio"] is None else f"{figure['cpu_ratio']:.2f}x")


def table(figures: list[dict[str, Any]]) -> None:
    """The table on stdout: rich when installed, plain aligned text otherwise."""
    rows = [cells(f) for f in figures]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
        for r in (HEADERS, *rows):
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return
    t = Table(title="hokusai benchmark (medians; ratio = hokusai / reference, validation: throughput ratio)")
    for h in HEADERS:
        t.add_column(h, justify="left" if h == "figure" else "right")
    for r in rows:
        t.add_row(*r)
    Console(width=max(shutil.get_terminal_size((150, 20)).columns, 150)).print(t)


def markdown(figures: list[dict[str, Any]]) -> str:
    """The table as Markdown, for docs/performance.md."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells(f, missed="no")) + " |" for f in figures]
    return "\n".join(lines)
