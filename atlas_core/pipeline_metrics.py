"""Prometheus metrics of the pipeline, computed from the warehouse's bookkeeping tables at scrape time.

Pipeline steps run in many processes (CLI in-process runs, Dagster run workers, Celery workers), some
of them short-lived. Instead of per-process counters, every step records what it did in
``atlas_meta`` (``step_metrics``, ``ingestions``, ``quality_results``, ``quality_check_results``,
``pii_reports``) and the API's ``/metrics`` turns aggregates of those tables into metric families
(:class:`PipelineCollector`). Counters therefore add up across processes, survive restarts, and are the
same whichever API replica is scraped (docs/observability.md). Labels are dataset, layer, dimension,
entity and status names: bounded, and never data values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

Rows = Sequence[Mapping[str, Any]]

QUERIES: dict[str, str] = {
    "steps": (
        "SELECT layer, dataset, status, count(*) AS runs, coalesce(sum(duration_seconds), 0) AS seconds, "
        "coalesce(sum(rows_processed), 0) AS processed, coalesce(sum(rows_written), 0) AS written, "
        "coalesce(sum(rows_quarantined), 0) AS quarantined "
        "FROM atlas_meta.step_metrics GROUP BY layer, dataset, status"
    ),
    "ingestions": (
        "SELECT dataset, status, count(*) AS files, coalesce(sum(rows_bronze), 0) AS bronze, "
        "coalesce(sum(rows_silver), 0) AS silver, coalesce(sum(rows_quarantined), 0) AS quarantined "
        "FROM atlas_meta.ingestions GROUP BY dataset, status"
    ),
    "pii": (
        "SELECT r.dataset, coalesce(c.value->>'entity', 'none') AS entity, "
        "coalesce(c.value->>'strategy', 'none') AS strategy, "
        "sum((c.value->>'cells_changed')::bigint) AS cells "
        "FROM atlas_meta.pii_reports r CROSS JOIN LATERAL jsonb_each("
        "CASE WHEN jsonb_typeof(r.columns) = 'object' THEN r.columns ELSE '{}'::jsonb END) c "
        "WHERE c.value->>'cells_changed' ~ '^[0-9]{1,18}$' GROUP BY 1, 2, 3"
    ),
    "dimensions": (
        "SELECT dataset, dimension, passed, count(*) AS evaluations FROM atlas_meta.quality_results "
        "GROUP BY dataset, dimension, passed"
    ),
    "scores": (
        "SELECT DISTINCT ON (dataset, dimension) dataset, dimension, score FROM atlas_meta.quality_results "
        "ORDER BY dataset, dimension, evaluated_at DESC, result_id DESC"
    ),
    "checks": (
        "SELECT dataset, engine, dimension, outcome, count(*) "
        "AS results FROM atlas_meta.quality_check_results "
        "GROUP BY dataset, engine, dimension, outcome"
    ),
}


@dataclass
class PipelineSnapshot:
    """Rows of each query in :data:`QUERIES` (empty when the warehouse could not be read)."""

    rows: dict[str, Rows] = field(default_factory=dict)
    up: bool = True
    seconds: float = 0.0


def _counter(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], float]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def _gauge(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def families(snapshot: PipelineSnapshot) -> Iterator[Metric]:
    """The metric families of one snapshot (names and labels: docs/observability.md)."""
    yield _gauge(
        "atlas_pipeline_metrics_up",
        "1 when the warehouse bookkeeping could be read",
        [],
        [([], 1.0 if snapshot.up else 0.0)],
    )
    yield _gauge(
        "atlas_pipeline_metrics_collect_seconds",
        "Time to read the warehouse bookkeeping",
        [],
        [([], snapshot.seconds)],
    )
    steps = snapshot.rows.get("steps", [])
    ok = [r for r in steps if r["status"] == "success"]
    yield _counter(
        "atlas_step_runs",
        "Asset step attempts by outcome",
        ["layer", "dataset", "status"],
        (([r["layer"], r["dataset"], r["status"]], r["runs"]) for r in steps),
    )
    duration = SummaryMetricFamily(
        "atlas_step_duration_seconds", "Asset step wall time (all attempts)", labels=["layer", "dataset"]
    )
    counts: dict[tuple[str, str], int] = {}
    seconds: dict[tuple[str, str], float] = {}
    for r in steps:
        pair = (r["layer"], r["dataset"])
        counts[pair] = counts.get(pair, 0) + int(r["runs"])
        seconds[pair] = seconds.get(pair, 0.0) + float(r["seconds"])
    for pair in sorted(counts):
        duration.add_metric(list(pair), count_value=counts[pair], sum_value=seconds[pair])
    yield duration
    for key, doc in (
        (
            "processed",
            "Rows read by successful asset steps (bronze: rows appended; silver: rows cast and validated)",
        ),
        ("written", "Rows in the output published by successful asset steps (dagster/row_count), summed"),
        ("quarantined", "Rows sent to quarantine by successful silver steps"),
    ):
        yield _counter(
            f"atlas_rows_{key}", doc, ["layer", "dataset"], (([r["layer"], r["dataset"]], r[key]) for r in ok)
        )
    ingestions = snapshot.rows.get("ingestions", [])
    yield _counter(
        "atlas_ingestions",
        "Source files looked at, by outcome",
        ["dataset", "status"],
        (([r["dataset"], r["status"]], r["files"]) for r in ingestions),
    )
    yield _gauge(
        "atlas_ingested_rows",
        "Rows of accepted files now in bronze / silver / quarantine",
        ["dataset", "stage"],
        (
            ([r["dataset"], stage], r[stage])
            for r in ingestions
            if r["status"] == "accepted"
            for stage in ("bronze", "silver", "quarantined")
        ),
    )
    yield _counter(
        "atlas_pii_cells_changed",
        "Cells anonymized by the PII stage",
        ["dataset", "entity", "strategy"],
        (([r["dataset"], r["entity"], r["strategy"]], r["cells"]) for r in snapshot.rows.get("pii", [])),
    )
    yield _counter(
        "atlas_quality_evaluations",
        "Quality dimension evaluations by result",
        ["dataset", "dimension", "result"],
        (
            ([r["dataset"], r["dimension"], "pass" if r["passed"] else "fail"], r["evaluations"])
            for r in snapshot.rows.get("dimensions", [])
        ),
    )
    yield _gauge(
        "atlas_quality_score",
        "Latest quality score (0..1) per dataset and dimension",
        ["dataset", "dimension"],
        (([r["dataset"], r["dimension"]], r["score"]) for r in snapshot.rows.get("scores", [])),
    )
    yield _counter(
        "atlas_quality_check_results",
        "Contract check results (Atlas rules and Soda) by outcome",
        ["dataset", "engine", "dimension", "outcome"],
        (
            ([r["dataset"], r["engine"], r["dimension"], r["outcome"]], r["results"])
            for r in snapshot.rows.get("checks", [])
        ),
    )


class PipelineCollector(Collector):
    """A prometheus_client collector serving one :class:`PipelineSnapshot`."""

    def __init__(self, snapshot: PipelineSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        return families(self.snapshot)
