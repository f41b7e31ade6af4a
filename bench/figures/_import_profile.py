"""Not a figure: ``bench/run.py --profile``, an import profile of one dry-run, per step.

One dry-run with ``PYTHONPROFILEIMPORTTIME=1``: every process logs its imports to stderr (a
task's lands in ``.metaflow/<flow>/<run>/<step>/<task>/0.runtime_stderr.log``), and the table
gives, per step, its duration, its import seconds (interpreter + Metaflow bootstrap vs the
step body) and the heaviest imports; that is where a dry-run's time above the bare flow goes.
Its wall time is not representative: Metaflow's Runner ``stream_log`` sleeps 10 ms per log
line, and the ~2,500 import lines of each task make the CLI trail the finished flow by minutes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness import HERE, base_env, hokusai_cmd, iso, load, measure, say, seconds_between

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


def profile(args: Any) -> None:
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
            seconds_between(iso(sample.extra["started_epoch"]), steps[0]["started_at"].rstrip("Z")), 3)
        report["after_last_step_s"] = round(
            seconds_between(steps[-1]["finished_at"].rstrip("Z"), iso(sample.extra["ended_epoch"])), 3)
        report["sum_step_durations_s"] = round(sum(s["duration_s"] for s in steps), 3)
        report["between_steps_s"] = round(
            seconds_between(steps[0]["started_at"].rstrip("Z"), steps[-1]["finished_at"].rstrip("Z"))
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

