"""Correlation for CLI commands: a command id in every log line, one span per command.

:func:`command_scope` is entered by ``errors.one_line_errors`` around every command. Tracing is set up
only when the ``OTEL_*`` variables ask for it (docs/observability.md); the closing log line is written
only when the command configured logging (``boot()``), so commands that print machine-readable output
(``atlas contract schema``) never get log lines mixed in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from opentelemetry import trace

from atlas_core import tracing
from atlas_core.logs import get_logger, logging_configured

log = get_logger("atlas.cli")


@contextmanager
def command_scope(command: str) -> Iterator[str]:
    """Bind ``command`` and a fresh ``command_id``; span ``atlas <command>``; log how it ended."""
    command_id = uuid.uuid4().hex
    tracing.configure_tracing("atlas-cli")
    started = time.perf_counter()
    outcome = "error"
    with (
        structlog.contextvars.bound_contextvars(command=command, command_id=command_id),
        tracing.tracer().start_as_current_span(
            f"atlas {command}",
            attributes={"atlas.command": command, "atlas.command_id": command_id},
            record_exception=False,
            set_status_on_exception=False,
        ) as span,
    ):
        try:
            yield command_id
            outcome = "ok"
        except BaseException as exc:
            code = getattr(exc, "exit_code", getattr(exc, "code", 1))  # typer.Exit / SystemExit carry one
            outcome = "ok" if code in (0, None) else "error"
            span.set_attribute("atlas.exit_code", code if isinstance(code, int) else int(code is not None))
            raise
        finally:
            if outcome != "ok":
                span.set_status(trace.Status(trace.StatusCode.ERROR))
            if logging_configured():
                log.info(
                    "command_finished", outcome=outcome, duration_s=round(time.perf_counter() - started, 3)
                )


@dataclass
class RunTrace:
    """The span of one run launched from the CLI; ``tags`` carry its trace into the run's steps."""

    span: trace.Span
    tags: dict[str, str]

    def finished(self, run_id: str, success: bool, materialized: int) -> None:
        self.span.set_attributes({"atlas.run_id": run_id, "atlas.materialized": materialized})
        if not success:
            self.span.set_status(trace.Status(trace.StatusCode.ERROR, "run failed"))
        log.info("run_finished", run_id=run_id, success=success, materialized=materialized)


@contextmanager
def run_scope(
    run_id: str,
    assets: list[str],
    partition: str | None,
    partition_range: tuple[str, str] | None,
) -> Iterator[RunTrace]:
    """Bind ``run_id`` and open span ``atlas run`` around one run executed through the Dagster instance."""
    first, last = partition_range or (partition, partition)
    bounds = {"atlas.partition.start": first, "atlas.partition.end": last} if first and last else {}
    with (
        structlog.contextvars.bound_contextvars(run_id=run_id),
        tracing.tracer().start_as_current_span(
            "atlas run",
            attributes={"atlas.run_id": run_id, "atlas.assets": assets, **bounds},
            record_exception=False,
        ) as span,
    ):
        log.info("run_started", assets=assets, partition_start=first, partition_end=last)
        yield RunTrace(span, tracing.trace_tags())
