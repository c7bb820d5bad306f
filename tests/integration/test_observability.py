"""Observability end to end: JSON logs correlated by run/request id, Prometheus metrics after a real run,
OpenTelemetry spans (SDK in-memory exporter, and a real OTLP/HTTP receiver fed by the CLI)."""

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from atlas_api.core.config import get_api_settings
from atlas_api.main import create_app
from atlas_assets.steps import atlas_step
from atlas_cli.runs import execute, resolve_selection
from atlas_cli.runtime import boot
from atlas_core import tracing
from atlas_core.logs import configure_logging
from atlas_resources.resources import WarehouseResource
from tests.support.otlp_receiver import start_otlp_receiver
from tests.support.processes import ATLAS, PROJECT_DIR, run_atlas

SECRET_VALUE = "4111-secret-cell-value"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.use_provider(provider):
        yield exporter


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]  # each line must be JSON


def _has(attributes: object, expected: dict[str, object]) -> None:
    actual = dict(attributes or {})  # type: ignore[call-overload]
    assert {k: actual.get(k) for k in expected} == expected


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _value(samples: dict, name: str, **labels: str) -> float:
    matches = [v for lab, v in samples.get(name, []) if all(lab.get(k) == want for k, want in labels.items())]
    assert matches, f"{name}{labels} not exposed"
    return sum(matches)


def _scalar(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode()).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.slow
def test_run_and_api_request_logs_metrics_and_spans(
    atlas_env: dict[str, str], spans: InMemorySpanExporter
) -> None:
    """A real in-process run of customers + products (bronze, silver with PII and checks), then the API."""
    atlas = boot()
    stream = io.StringIO()
    configure_logging(stream=stream)
    keys = resolve_selection(
        atlas.definitions,
        'key:"bronze/customers" or key:"bronze/products" or key:"silver/customers" or key:"silver/products"',
    )
    outcome = execute(atlas.instance, atlas.definitions, keys, show_progress=False)
    assert outcome.success, outcome.failures
    url = atlas_env["ATLAS_POSTGRES_URL"]

    # Logs: every line JSON; each step's lines carry the run id, step and asset.
    entries = _json_lines(stream.getvalue())
    steps = [e for e in entries if e.get("logger") == "atlas.step"]
    assert {e["asset"] for e in steps if e["event"] == "step_succeeded"} == {
        "bronze/customers",
        "bronze/products",
        "silver/customers",
        "silver/products",
    }
    assert all(e["run_id"] == outcome.run_id and e["step"] and e["trace_id"] for e in steps)
    assert any(e["event"] == "run_finished" and e["run_id"] == outcome.run_id for e in entries)

    # Spans: one per step, children of the run's span (trace carried by the run tag), with rows.
    finished = {s.name: s for s in spans.get_finished_spans()}
    run_span = finished["atlas run"]
    silver = finished["asset silver/customers"]
    assert silver.context.trace_id == run_span.context.trace_id
    assert silver.parent is not None and silver.parent.span_id == run_span.context.span_id
    silver_rows = _scalar(url, "SELECT count(*) FROM atlas_silver.customers")
    quarantined = _scalar(url, "SELECT count(*) FROM atlas_quarantine.customers")
    _has(
        silver.attributes,
        {
            "atlas.asset_key": "silver/customers",
            "atlas.layer": "silver",
            "atlas.dataset": "customers",
            "atlas.run_id": outcome.run_id,
            "atlas.rows.written": silver_rows,
            "atlas.rows.quarantined": quarantined,
            "atlas.rows.processed": silver_rows + quarantined,  # type: ignore[operator]
        },
    )
    assert silver.status.status_code is StatusCode.OK

    # The API: a request span and access log line sharing the request id and the caller's trace.
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    settings = get_api_settings(
        postgres_url=url,
        dagster_graphql_url="http://127.0.0.1:9/graphql",
        jwt_secret="obs-secret-" + "x" * 40,
        project_dir=PROJECT_DIR,
        redis_url=None,
        environment="development",
    )
    with TestClient(create_app(settings)) as client:
        health = client.get(
            "/health",
            headers={"X-Request-ID": "obs-req-1", "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"},
        )
        assert health.status_code == 200
        metrics = client.get("/metrics")
    assert metrics.status_code == 200
    request_span = next(s for s in spans.get_finished_spans() if s.name == "GET /health")
    _has(
        request_span.attributes,
        {"atlas.request_id": "obs-req-1", "http.route": "/health", "http.response.status_code": 200},
    )
    assert _hex(request_span.context.trace_id, 32) == caller_trace
    access = [e for e in _json_lines(stream.getvalue()) if e.get("event") == "http_request"]
    health_line = next(e for e in access if e["request_id"] == "obs-req-1")
    assert health_line["route"] == "/health" and health_line["trace_id"] == caller_trace

    # Metrics: the pipeline's, read from the warehouse, equal to the tables they describe.
    samples = _samples(metrics.text)
    assert _value(samples, "atlas_pipeline_metrics_up") == 1
    assert (
        _value(samples, "atlas_step_runs_total", layer="silver", dataset="customers", status="success") == 1
    )
    assert _value(samples, "atlas_rows_written_total", layer="silver", dataset="customers") == silver_rows
    assert _value(samples, "atlas_rows_quarantined_total", layer="silver", dataset="customers") == quarantined
    assert _value(samples, "atlas_rows_processed_total", layer="bronze", dataset="products") == 200
    assert _value(samples, "atlas_step_duration_seconds_count", layer="bronze", dataset="products") == 1
    assert _value(samples, "atlas_ingestions_total", dataset="customers", status="accepted") == 1
    assert _value(samples, "atlas_ingested_rows", dataset="customers", stage="quarantined") == quarantined
    cells = _scalar(
        url,
        "SELECT sum((c.value->>'cells_changed')::bigint) FROM atlas_meta.pii_reports r, "
        "jsonb_each(r.columns) c WHERE r.dataset = 'customers'",
    )
    assert cells and _value(samples, "atlas_pii_cells_changed_total", dataset="customers") == cells
    assert (
        _value(
            samples,
            "atlas_pii_cells_changed_total",
            dataset="customers",
            entity="EMAIL_ADDRESS",
            strategy="hash",
        )
        > 0
    )
    evaluations = _scalar(url, "SELECT count(*) FROM atlas_meta.quality_results WHERE dataset = 'customers'")
    assert _value(samples, "atlas_quality_evaluations_total", dataset="customers") == evaluations
    assert {lab["result"] for lab, _ in samples["atlas_quality_evaluations_total"]} <= {"pass", "fail"}
    assert 0 <= _value(samples, "atlas_quality_score", dataset="customers", dimension="validity") <= 1
    assert _value(samples, "atlas_quality_check_results_total", dataset="customers") > 0
    assert _value(samples, "atlas_api_request_seconds_count", method="GET", route="/health") >= 1
    assert any(
        lab.get("route") == "/health" and "le" in lab
        for lab, _ in samples["atlas_api_request_seconds_bucket"]
    )
    # Labels are names, never values.
    assert "@" not in metrics.text and SECRET_VALUE not in metrics.text


@pytest.mark.slow
def test_cli_materialize_exports_spans_over_otlp_http(atlas_env: dict[str, str]) -> None:
    """`atlas materialize` as a subprocess with OTEL_EXPORTER_OTLP_ENDPOINT at a real OTLP/HTTP receiver."""
    receiver = start_otlp_receiver()
    try:
        env = {
            **atlas_env,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "atlas-test",
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        }
        done = run_atlas(ATLAS, ("materialize", "--select", "bronze/products"), env, PROJECT_DIR, None, 120)
        assert done.returncode == 0, done.stderr
    finally:
        receiver.stop()
    run_id = re.search(r"run ([0-9a-f-]{36}): SUCCESS", done.stdout)
    assert run_id, done.stdout
    assert receiver.requests and all(r == ("/v1/traces", "application/x-protobuf") for r in receiver.requests)
    by_name = {s.name: s for s in receiver.spans}
    step, run, command = by_name["asset bronze/products"], by_name["atlas run"], by_name["atlas materialize"]
    assert {s.service for s in receiver.spans} == {"atlas-test"}
    _has(
        step.attributes,
        {
            "atlas.asset_key": "bronze/products",
            "atlas.layer": "bronze",
            "atlas.run_id": run_id.group(1),
            "atlas.step_key": "bronze__products",
            "atlas.rows.processed": 200,
            "atlas.rows.written": 200,
        },
    )
    assert step.status_code == 1  # OK
    # One trace: command -> run -> step (the step continued the trace from the run's tag).
    assert step.trace_id == run.trace_id == command.trace_id
    assert step.parent_span_id == run.span_id and run.parent_span_id == command.span_id

    # The same run in the JSON log file and in atlas_meta.step_metrics, linked by run id and trace id.
    entries = _json_lines((Path(atlas_env["ATLAS_HOME"]) / "logs" / "atlas.log").read_text())
    step_lines = [e for e in entries if e.get("logger") == "atlas.step"]
    assert [e["event"] for e in step_lines] == ["step_started", "step_succeeded"]
    assert all(e["run_id"] == run_id.group(1) and e["trace_id"] == step.trace_id for e in step_lines)
    assert any(e["event"] == "command_finished" and e["command"] == "materialize" for e in entries)
    with psycopg.connect(atlas_env["ATLAS_POSTGRES_URL"]) as conn:
        rows = conn.execute(
            "SELECT asset_key, status, rows_processed, trace_id FROM atlas_meta.step_metrics "
            "WHERE run_id = %s",
            (run_id.group(1),),
        ).fetchall()
    assert rows == [("bronze/products", "success", 200, step.trace_id)]


def test_failed_step_is_recorded_without_values(warehouse_url: str, spans: InMemorySpanExporter) -> None:
    """A failing partitioned step: error span, step_failed log line and step_metrics row, value redacted."""
    stream = io.StringIO()
    configure_logging(stream=stream)
    daily = dg.DailyPartitionsDefinition(start_date="2026-10-01", end_date="2026-10-05")

    @dg.asset(key=["silver", "broken"], partitions_def=daily)
    @atlas_step
    def broken(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
        raise ValueError(f"could not parse '{SECRET_VALUE}' in column card")

    result = dg.materialize(
        [broken],
        partition_key="2026-10-03",
        raise_on_error=False,
        resources={"warehouse": WarehouseResource(postgres_url=warehouse_url)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert not result.success
    (span,) = [s for s in spans.get_finished_spans() if s.name == "asset silver/broken"]
    assert isinstance(span, ReadableSpan) and span.status.status_code is StatusCode.ERROR
    _has(
        span.attributes,
        {
            "atlas.partition.start": "2026-10-03",
            "atlas.partition.end": "2026-10-03",
            "atlas.partition.count": 1,
            "error.type": "ValueError",
        },
    )
    (event,) = span.events
    assert event.name == "exception" and event.attributes is not None
    assert event.attributes["exception.message"] == "ValueError: could not parse <redacted> in column card"
    failed = [e for e in _json_lines(stream.getvalue()) if e.get("event") == "step_failed"]
    assert len(failed) == 1 and failed[0]["run_id"] == result.run_id and failed[0]["retryable"] is False
    assert SECRET_VALUE not in stream.getvalue()
    with psycopg.connect(warehouse_url) as conn:
        row = conn.execute(
            "SELECT status, retryable, error_type, partition_start, partition_count, trace_id "
            "FROM atlas_meta.step_metrics WHERE run_id = %s",
            (result.run_id,),
        ).fetchone()
    assert row == ("failure", False, "ValueError", "2026-10-03", 1, _hex(span.context.trace_id, 32))
