"""structlog configured for JSON lines (one event per line, machine-readable, no secrets or values)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import structlog


def configure_logging(level: str = "INFO", stream: TextIO | None = None, file: Path | None = None) -> None:
    """JSON logs to ``file`` (or ``stream``, default stderr). Call once per process entry point."""
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("atlas")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "atlas") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name if name.startswith("atlas") else f"atlas.{name}")
