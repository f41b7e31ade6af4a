"""Structured logs (structlog): human console lines by default, JSON lines with
`HOKUSAI_LOG_JSON=1` (the CLI's `--log-json` sets it, so flow steps follow). Every event
carries the Metaflow run id and step name when it is emitted inside a step."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

LOG_JSON_ENV = "HOKUSAI_LOG_JSON"


def _metaflow_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    current = sys.modules.get("metaflow") and sys.modules["metaflow"].current
    if current is not None and getattr(current, "is_running_flow", False):
        event.setdefault("run_id", current.run_id)
        event.setdefault("step", current.step_name)
    return event


def configure(json_lines: bool | None = None) -> None:
    """Set up structlog once per process; writes to stderr (stdout carries data only)."""
    import structlog

    if json_lines is None:
        json_lines = os.environ.get(LOG_JSON_ENV, "") not in ("", "0", "false")
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _metaflow_context,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    import structlog

    if not structlog.is_configured():
        configure()
    return structlog.get_logger("hokusai").bind(**context)
