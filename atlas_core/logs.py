"""structlog configured for JSON lines (one event per line, machine-readable, no secrets or values).

Every process entry point calls :func:`configure_logging` (the CLI through ``boot()``, ``atlas api``);
processes Atlas does not start itself (Dagster run workers, Celery workers, code servers) get the same
configuration lazily from :func:`ensure_logging` when an asset step starts. Correlation fields are bound
in contextvars and merged into every line: ``command``/``command_id`` (CLI), ``run_id``/``step``/``asset``
/``partition_*`` (asset steps), ``request_id`` (API), plus ``trace_id``/``span_id`` when an OpenTelemetry
span is recording. Records of foreign stdlib loggers (uvicorn) are rendered by the same processors.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

_FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error")
_state: dict[str, bool] = {"configured": False}


def add_trace_context(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """``trace_id``/``span_id`` of the current recording span (links a log line to its trace)."""
    from opentelemetry import trace

    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid and span_context.trace_flags.sampled:
        event.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event.setdefault("span_id", format(span_context.span_id, "016x"))
    return event


def shared_processors() -> list[Processor]:
    """What every line goes through, Atlas' own events and foreign stdlib records alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        structlog.processors.format_exc_info,
    ]


def configure_logging(level: str = "INFO", stream: TextIO | None = None, file: Path | None = None) -> None:
    """JSON logs to ``file`` (or ``stream``, default stderr). Call once per process entry point."""
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(sort_keys=True),
            ],
        )
    )
    for name in ("atlas", *_FOREIGN_LOGGERS):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=False,
    )
    _state["configured"] = True


def logging_configured() -> bool:
    return _state["configured"]


def ensure_logging(file: Path | None = None) -> None:
    """Configure JSON logging unless this process already did (to ``file``, else stderr)."""
    if not _state["configured"]:
        configure_logging(file=file)


def get_logger(name: str = "atlas") -> structlog.stdlib.BoundLogger:
    """A structlog logger under the ``atlas`` stdlib logger (so it shares the JSON handler)."""
    return structlog.get_logger(name if name.startswith("atlas") else f"atlas.{name}")
