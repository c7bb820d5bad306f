"""Tracing switches, trace-context propagation, pipeline metric families and JSON logging (no services)."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest

from atlas_core import tracing
from atlas_core.logs import configure_logging, get_logger
from atlas_core.pipeline_metrics import PipelineCollector, PipelineSnapshot


def test_export_only_when_the_standard_variables_ask_for_it() -> None:
    assert not tracing.tracing_requested({})
    assert tracing.tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.tracing_requested(
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}
    )
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert not tracing.tracing_requested({**endpoint, "OTEL_SDK_DISABLED": "true"})
    assert not tracing.tracing_requested({**endpoint, "OTEL_TRACES_EXPORTER": "none"})


def test_without_a_provider_spans_are_non_recording() -> None:
    # Nothing configured in this process (no OTEL_* variables in the test environment).
    with tracing.tracer().start_as_current_span("x") as span:
        assert not span.is_recording()
        assert tracing.current_traceparent() is None and tracing.trace_tags() == {}


def test_traceparent_round_trip_links_parent_and_child() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.use_provider(provider):
        with tracing.tracer().start_as_current_span("parent") as parent:
            tags = tracing.trace_tags()
        context = tracing.context_from_traceparent(tags[tracing.TRACEPARENT_TAG])
        with tracing.tracer().start_as_current_span("child", context=context):
            pass
    assert tracing.context_from_traceparent("00-garbage") is None
    child = next(s for s in exporter.get_finished_spans() if s.name == "child")
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id
    assert child.context.trace_id == parent.get_span_context().trace_id


def test_pipeline_families_from_rows_and_when_the_warehouse_is_down() -> None:
    rows = {
        "steps": [
            {
                "layer": "silver",
                "dataset": "orders",
                "status": "success",
                "runs": 2,
                "seconds": 3.5,
                "processed": 100,
                "written": 90,
                "quarantined": 10,
            },
            {
                "layer": "silver",
                "dataset": "orders",
                "status": "failure",
                "runs": 1,
                "seconds": 0.5,
                "processed": 0,
                "written": 0,
                "quarantined": 0,
            },
        ],
        "pii": [{"dataset": "customers", "entity": "EMAIL_ADDRESS", "strategy": "hash", "cells": 7}],
    }
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(PipelineSnapshot(rows=rows)))
    text = generate_latest(registry).decode()
    assert 'atlas_rows_written_total{dataset="orders",layer="silver"} 90.0' in text
    assert 'atlas_rows_quarantined_total{dataset="orders",layer="silver"} 10.0' in text
    assert 'atlas_step_runs_total{dataset="orders",layer="silver",status="failure"} 1.0' in text
    assert 'atlas_step_duration_seconds_count{dataset="orders",layer="silver"} 3.0' in text
    assert 'atlas_step_duration_seconds_sum{dataset="orders",layer="silver"} 4.0' in text
    assert (
        'atlas_pii_cells_changed_total{dataset="customers",entity="EMAIL_ADDRESS",strategy="hash"} 7.0'
        in text
    )
    down = CollectorRegistry(auto_describe=False)
    down.register(PipelineCollector(PipelineSnapshot(up=False)))
    assert "atlas_pipeline_metrics_up 0.0" in generate_latest(down).decode()


def test_foreign_stdlib_records_are_json_too() -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    logging.getLogger("uvicorn.error").warning("port %s in use", 8000)
    get_logger("atlas.unit").info("hello", rows=3)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (
        first["logger"] == "uvicorn.error"
        and first["level"] == "warning"
        and first["event"] == "port 8000 in use"
    )
    assert second == {**second, "logger": "atlas.unit", "event": "hello", "rows": 3}
    assert "trace_id" not in second  # no recording span
    assert not trace.get_current_span().is_recording()
