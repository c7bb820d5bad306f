"""OpenTelemetry tracing: OTLP/HTTP export when the standard ``OTEL_*`` variables ask for it, else nothing.

:func:`configure_tracing` is called by each process entry point (CLI command, API startup) and lazily by
asset steps (Dagster run workers, Celery workers). Without ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), or with ``OTEL_SDK_DISABLED=true`` / ``OTEL_TRACES_EXPORTER=none``,
the SDK is not even imported: :func:`tracer` hands out the API's no-op tracer (non-recording spans,
a few microseconds each). Atlas keeps its own provider instead of replacing the process-global one, so
libraries that bring their own (Soda's telemetry, FastAPI's native telemetry) cannot collide with it.

Trace context crosses process boundaries as a W3C ``traceparent`` string: the CLI and the API store it
as the Dagster run tag :data:`TRACEPARENT_TAG`, and asset steps continue the trace from it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT_TAG = "atlas/traceparent"
INSTRUMENTATION = "atlas"
_PROPAGATOR = TraceContextTextMapPropagator()
_state: dict[str, Any] = {"provider": None, "override": None}


def tracing_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether the standard OpenTelemetry variables ask for trace export over OTLP."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() not in ("otlp", ""):
        return False  # "none" (or an exporter Atlas does not ship)
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure_tracing(service_name: str) -> bool:
    """Install the OTLP/HTTP exporter for this process once; returns whether spans are recorded.

    ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` win over ``service_name``; the endpoint,
    headers, timeout and compression come from the exporter's own ``OTEL_EXPORTER_OTLP_*`` variables.
    """
    if _state["override"] is not None or _state["provider"] is not None:
        return True
    if not tracing_requested():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))  # flushed at interpreter exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _state["provider"] = provider
    return True


def tracer() -> trace.Tracer:
    provider = _state["override"] or _state["provider"]
    return provider.get_tracer(INSTRUMENTATION) if provider is not None else trace.NoOpTracer()


def flush(timeout_millis: int = 2000) -> None:
    """Push finished spans now (bounded): for processes that may end without running atexit hooks."""
    provider = _state["override"] or _state["provider"]
    if provider is not None and hasattr(provider, "force_flush"):
        provider.force_flush(timeout_millis)


@contextmanager
def use_provider(provider: trace.TracerProvider) -> Iterator[None]:
    """Record Atlas' spans with ``provider`` for a while (tests: the SDK's in-memory exporter)."""
    previous = _state["override"]
    _state["override"] = provider
    try:
        yield
    finally:
        _state["override"] = previous


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current recording span, if any."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_tags() -> dict[str, str]:
    """Run tags carrying the current trace into the processes that execute a Dagster run."""
    value = current_traceparent()
    return {TRACEPARENT_TAG: value} if value else {}


def context_from_traceparent(value: str | None) -> Context | None:
    """The parent context a ``traceparent`` string describes (``None`` when absent or malformed)."""
    if not value:
        return None
    context = _PROPAGATOR.extract({"traceparent": value})
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def context_from_headers(headers: Mapping[str, str]) -> Context | None:
    """The caller's trace context from HTTP headers (``traceparent``/``tracestate``), if valid."""
    if "traceparent" not in headers:
        return None
    context = _PROPAGATOR.extract(headers)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def trace_id_hex(span: trace.Span) -> str | None:
    span_context = span.get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
