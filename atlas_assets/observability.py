"""What every asset step reports about itself: JSON log lines, an OpenTelemetry span, a step_metrics row.

:func:`observed_step` is entered by :func:`atlas_assets.steps.atlas_step` around each asset's compute
function, in whatever process runs the step. It binds ``run_id``, ``step``, ``asset`` and the partition
range in structlog's contextvars (so every line logged during the step carries them), opens one span
per step (continuing the trace of the CLI command or API request that launched the run, from the run
tag ``atlas/traceparent``), and on exit records the attempt in ``atlas_meta.step_metrics``.
Only names, counts and error types are reported: never data values (error messages are the redacted
one-liners of ``failures.safe_message``).
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import structlog
from opentelemetry import trace

from atlas_core import tracing
from atlas_core.logs import ensure_logging, get_logger
from atlas_engine.step_metrics import StepRecord, record_step
from atlas_resources.resources import WarehouseResource

log = get_logger("atlas.step")
# Which materialization metadata entry counts as rows processed / written / quarantined.
PROCESSED_KEYS = ("rows_in", "rows_appended")
WRITTEN_KEY = "dagster/row_count"
QUARANTINED_KEY = "rows_quarantined"


@dataclass
class StepObservation:
    """Filled by the step wrapper: results seen and how the step ended."""

    metadata: dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    retryable: bool = False
    error_type: str | None = None
    error_message: str | None = None

    def saw(self, item: Any) -> Any:
        if isinstance(item, (dg.MaterializeResult, dg.Output)) and item.metadata:
            self.metadata.update({k: getattr(v, "value", v) for k, v in item.metadata.items()})
        return item

    def fail(self, exc: BaseException, message: str, *, retryable: bool) -> None:
        self.failed, self.retryable = True, retryable
        self.error_type, self.error_message = type(exc).__name__, message

    def count(self, *keys: str) -> int | None:
        for key in keys:
            value = self.metadata.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None


def _context_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dg.AssetExecutionContext | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, dg.AssetExecutionContext):
            return value
    return None


def _warehouse_url(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, WarehouseResource):
            return value.postgres_url
    return None


@dataclass(frozen=True)
class StepIdentity:
    """Which step this is: the correlation fields of its logs, span and step_metrics row."""

    run_id: str
    step_key: str
    asset_key: dg.AssetKey
    attempt: int
    partitions: tuple[str, ...]  # empty for unpartitioned assets (they ignore a run's range)

    @classmethod
    def of(cls, context: dg.AssetExecutionContext) -> "StepIdentity":
        keys = sorted(context.partition_keys) if context.assets_def.partitions_def is not None else []
        return cls(
            context.run_id, str(context.op_handle), context.asset_key, context.retry_number, tuple(keys)
        )

    @property
    def asset(self) -> str:
        return self.asset_key.to_user_string()

    @property
    def first(self) -> str | None:
        return self.partitions[0] if self.partitions else None

    @property
    def last(self) -> str | None:
        return self.partitions[-1] if self.partitions else None

    def log_fields(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "step": self.step_key,
            "asset": self.asset,
            "partition_start": self.first,
            "partition_end": self.last,
        }

    def span_attributes(self) -> dict[str, Any]:
        bounds = (
            {"atlas.partition.start": self.first, "atlas.partition.end": self.last} if self.partitions else {}
        )
        return {
            "atlas.asset_key": self.asset,
            "atlas.layer": self.asset_key.path[0],
            "atlas.dataset": self.asset_key.path[-1],
            "atlas.run_id": self.run_id,
            "atlas.step_key": self.step_key,
            "atlas.attempt": self.attempt,
            "atlas.partition.count": len(self.partitions),
            **bounds,
        }


def _home_log_file() -> Path | None:
    try:
        from atlas_core.settings import get_settings

        return get_settings().resolved_home() / "logs" / "atlas.log"
    except Exception:
        return None  # stderr then


@contextmanager
def observed_step(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Iterator[StepObservation]:
    observation = StepObservation()
    context = _context_of(args, kwargs)
    if context is None:  # called outside Dagster (a plain function call): nothing to report
        yield observation
        return
    ensure_logging(_home_log_file())
    tracing.configure_tracing("atlas-pipeline")
    step = StepIdentity.of(context)
    parent = tracing.context_from_traceparent(context.run.tags.get(tracing.TRACEPARENT_TAG))
    started_at, started = datetime.now(UTC), time.perf_counter()
    try:
        with (
            structlog.contextvars.bound_contextvars(**step.log_fields()),
            tracing.tracer().start_as_current_span(
                f"asset {step.asset}",
                context=parent,
                attributes=step.span_attributes(),
                record_exception=False,
                set_status_on_exception=False,
            ) as span,
        ):
            log.info("step_started", attempt=step.attempt, partitions=len(step.partitions))
            try:
                yield observation
            except BaseException as exc:
                if not observation.failed:  # not classified by the wrapper (e.g. GeneratorExit)
                    observation.fail(exc, type(exc).__name__, retryable=False)
                raise
            finally:
                seconds = time.perf_counter() - started
                _finish(span, observation, seconds)
                _record(
                    _warehouse_url(args, kwargs),
                    step,
                    observation,
                    seconds,
                    tracing.trace_id_hex(span),
                    started_at,
                )
    finally:
        tracing.flush()


def _rows(observation: StepObservation) -> dict[str, int | None]:
    return {
        "processed": observation.count(*PROCESSED_KEYS, WRITTEN_KEY),
        "written": observation.count(WRITTEN_KEY),
        "quarantined": observation.count(QUARANTINED_KEY),
    }


def _finish(span: trace.Span, observation: StepObservation, seconds: float) -> None:
    rows = {name: value for name, value in _rows(observation).items() if value is not None}
    span.set_attributes({f"atlas.rows.{name}": value for name, value in rows.items()})
    summary = {f"rows_{name}": value for name, value in rows.items()}
    if observation.failed:
        span.set_attribute("error.type", observation.error_type or "error")
        span.add_event(
            "exception",
            {
                "exception.type": observation.error_type or "error",
                "exception.message": observation.error_message or "",
            },
        )
        span.set_status(trace.Status(trace.StatusCode.ERROR, observation.error_message))
        log.warning(
            "step_failed",
            duration_s=round(seconds, 3),
            error_type=observation.error_type,
            error=observation.error_message,
            retryable=observation.retryable,
            **summary,
        )
    else:
        span.set_status(trace.Status(trace.StatusCode.OK))
        log.info("step_succeeded", duration_s=round(seconds, 3), **summary)


def _record(
    url: str | None,
    step: StepIdentity,
    observation: StepObservation,
    seconds: float,
    trace_id: str | None,
    started_at: datetime,
) -> None:
    if url is None:
        return
    rows = _rows(observation)
    record = StepRecord(
        run_id=step.run_id,
        step_key=step.step_key,
        asset_key=step.asset,
        layer=step.asset_key.path[0],
        dataset=step.asset_key.path[-1],
        partition_start=step.first,
        partition_end=step.last,
        partition_count=len(step.partitions),
        attempt=step.attempt,
        status="failure" if observation.failed else "success",
        retryable=observation.retryable,
        error_type=observation.error_type,
        rows_processed=rows["processed"],
        rows_written=rows["written"],
        rows_quarantined=rows["quarantined"],
        duration_seconds=seconds,
        trace_id=trace_id,
        started_at=started_at,
    )
    try:
        record_step(url, record)
    except Exception as exc:  # bookkeeping never fails (or masks the outcome of) the step itself
        log.warning("step_metrics_not_recorded", error_type=type(exc).__name__)
