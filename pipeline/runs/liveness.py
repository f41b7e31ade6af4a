"""Whether a run's process is still alive.

A run launched by hokusai carries a tag naming its Metaflow runtime process (host, pid and
the process's start time, so a reused pid is not mistaken for it). A run with no end record
whose process is gone was killed (SIGKILL, the OOM killer, a shutdown, a crash of the
runtime), not running: `runs`/`inspect` say so and `resume` may continue it."""

from __future__ import annotations

from collections.abc import Iterable

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
