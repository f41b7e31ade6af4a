"""Whether a run's process is still alive.

A run launched by hokusai carries a tag naming its Metaflow runtime process (host, pid and
the process's start time, so a reused pid is not mistaken for it). A run with no end record
whose process is gone was killed (SIGKILL, the OOM killer, a shutdown, a crash of the
runtime), not running: `runs`/`inspect` say so and `resume` may continue it. A run that
failed where no tag can be written (a full disk) says so through its status mark."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

RUNTIME_TAG = "hokusai:runtime:"
#: Less free space than this on the disk of a run's datastore, when a task died without an
#: error, names the full disk as the cause.
FULL_DISK_BYTES = 16 * 1024 * 1024


def runtime_tag(pid: int) -> str:
    """The tag recorded on a run at launch: `hokusai:runtime:<host>:<pid>:<start time>`."""
    import socket

    import psutil

    return f"{RUNTIME_TAG}{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.2f}"


def runtime_gone(tags: Iterable[str]) -> bool:
    """True when a runtime tag names a process of this host that no longer runs (exited, a
    zombie, or its pid now belongs to another process). False when there is no tag or the
    process ran on another host: then nothing can be said."""
    import socket

    import psutil

    for tag in tags:
        if not tag.startswith(RUNTIME_TAG):
            continue
        host, pid, started = tag[len(RUNTIME_TAG):].rsplit(":", 2)
        if host != socket.gethostname():
            return False
        try:
            process = psutil.Process(int(pid))
            return abs(process.create_time() - float(started)) > 0.05 or process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    return False


def full_disk(paths: Iterable[str | None]) -> str | None:
    """The first of `paths` (existing folders) whose disk is (nearly) full, else None."""
    import shutil

    for path in paths:
        if not path:
            continue
        try:
            if shutil.disk_usage(path).free < FULL_DISK_BYTES:
                return str(path)
        except OSError:
            continue
    return None


def no_space(message: str) -> bool:
    """Whether an error message is the operating system's "disk full" (errno 28)."""
    return "No space left on device" in message or "[Errno 28]" in message


# --- a status mark that survives a full disk ------------------------------------------------

#: Bytes reserved for a run's status mark when it starts: on a full disk, overwriting blocks a
#: file already owns still works, while a Metaflow tag (a new file) cannot be written.
MARK_BYTES = 4096


def status_mark(project_dir: str | Path, run_id: str) -> Path:
    """Where run `run_id`'s mark lives: in the project's own state folder
    (`.hokusai/marks/<run id>.json`), never in Metaflow's (an S3 run keeps only metadata there)."""
    return Path(project_dir) / ".hokusai" / "marks" / f"{run_id}.json"


def reserve_mark(path: Path | None) -> None:
    """Allocate the mark's bytes now, while the disk has room (best effort)."""
    if path is None or path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            out.write(b" " * MARK_BYTES)
            out.flush()
            os.fsync(out.fileno())
    except OSError:
        pass


def record_mark(path: Path | None, status: str, reason: str) -> None:
    """Write {"status", "reason"} into the reserved bytes, in place (best effort)."""
    import json

    if path is None:
        return
    data = json.dumps({"status": status, "reason": reason}).encode()[:MARK_BYTES]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "r+b" if path.exists() else "wb") as out:
            out.write(data.ljust(MARK_BYTES))
            out.flush()
            os.fsync(out.fileno())
    except OSError:
        pass


def read_mark(path: Path | None) -> dict[str, str] | None:
    """The recorded mark, or None (none reserved, only reserved, or unreadable)."""
    import json

    try:
        text = path.read_text().strip() if path is not None else ""
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None
