"""Quality trends and anomaly alerts from what ``atlas_meta`` already records (decisions:
``atlas_core.anomalies``).

- ``quality_results``: one row per (run, dataset, partition, dimension); a *load* is a run, its score per
  dimension the row-weighted mean over the partitions it evaluated.
- ``pii_reports``: one report per silver load, ``confidence`` per column (the detected share).
- ``step_metrics``: one row per asset step attempt, with its duration; compared with earlier successful
  attempts of the same asset over the same number of partitions.

:func:`run_anomalies` evaluates one finished run; :func:`alert_anomalies` posts each anomaly to the alert
webhook (``send_alert``: logged and recorded in ``atlas_meta.alerts`` too).
"""

from __future__ import annotations

from collections import defaultdict

from atlas_core.anomalies import (
    Anomaly,
    AnomalyThresholds,
    DimensionTrend,
    TrendPoint,
    pii_shares,
    pii_shifts,
    score_drops,
    slow_step,
    trends,
)
from atlas_engine.alerts import Delivery, send_alert
from atlas_resources.warehouse import Warehouse

TREND_SQL = (
    "WITH runs AS ("
    "  SELECT run_id, max(evaluated_at) AS at FROM atlas_meta.quality_results WHERE dataset = %(dataset)s"
    "  GROUP BY run_id"
    "  HAVING %(until)s::text IS NULL OR max(evaluated_at) <= ("
    "    SELECT max(evaluated_at) FROM atlas_meta.quality_results "
    "WHERE dataset = %(dataset)s AND run_id = %(until)s)"
    "  ORDER BY at DESC LIMIT %(loads)s) "
    "SELECT q.dimension, q.run_id, r.at, "
    "  (CASE WHEN sum(q.rows_evaluated) > 0 THEN sum(q.score * q.rows_evaluated) / sum(q.rows_evaluated) "
    "        ELSE avg(q.score) END)::float8 AS score "
    "FROM atlas_meta.quality_results q JOIN runs r ON r.run_id = q.run_id WHERE q.dataset = %(dataset)s "
    "GROUP BY q.dimension, q.run_id, r.at"
)


def quality_trend(
    wh: Warehouse, dataset: str, loads: int, until_run: str | None = None
) -> list[DimensionTrend]:
    """Per dimension, the scores of the last ``loads`` loads of ``dataset`` (up to ``until_run`` when
    given)."""
    points: dict[str, list[TrendPoint]] = defaultdict(list)
    for dimension, run_id, at, score in wh.fetch_all(
        TREND_SQL, {"dataset": dataset, "until": until_run, "loads": loads}
    ):
        points[dimension].append(TrendPoint(run_id, at, float(score)))
    return trends(points, loads)


def trend_metadata(trend: list[DimensionTrend]) -> dict[str, object]:
    """Compact form for Dagster metadata: ``{dimension: {"scores": [...oldest→newest], "median",
    "delta"}}``."""
    return {
        t.dimension: {
            "scores": [round(p.score, 4) for p in t.points],
            "median": None if t.median is None else round(t.median, 4),
            "delta": None if t.delta is None else round(t.delta, 4),
        }
        for t in trend
    }


def _pii_loads(
    wh: Warehouse, dataset: str, run_id: str, loads: int
) -> tuple[list[dict[str, float]], dict[str, float] | None]:
    rows = wh.fetch_all(
        "SELECT report_id, run_id, columns FROM atlas_meta.pii_reports WHERE dataset = %s "
        "AND report_id <= (SELECT max(report_id) "
        "FROM atlas_meta.pii_reports WHERE dataset = %s AND run_id = %s) "
        "ORDER BY report_id DESC LIMIT %s",
        (dataset, dataset, run_id, loads + 1),
    )
    if not rows or rows[0][1] != run_id:
        return [], None
    latest = pii_shares(rows[0][2])
    earlier = [pii_shares(columns) for _, run, columns in reversed(rows[1:]) if run != run_id]
    return earlier, latest


def _slow_steps(wh: Warehouse, run_id: str, limits: AnomalyThresholds) -> list[Anomaly]:
    found = []
    steps = wh.fetch_all(
        "SELECT asset_key, step_key, partition_count, max(duration_seconds), min(started_at) "
        "FROM atlas_meta.step_metrics WHERE run_id = %s AND status = 'success' GROUP BY 1, 2, 3 ORDER BY 1",
        (run_id,),
    )
    for asset, step, partitions, seconds, started in steps:
        earlier = [
            float(r[0])
            for r in wh.fetch_all(
                "SELECT duration_seconds FROM atlas_meta.step_metrics "
                "WHERE asset_key = %s AND partition_count = %s "
                "AND status = 'success' AND run_id <> %s "
                "AND started_at < %s ORDER BY started_at DESC LIMIT %s",
                (asset, partitions, run_id, started, limits.trend_loads),
            )
        ]
        anomaly = slow_step(asset, step, float(seconds), list(reversed(earlier)), limits)
        if anomaly is not None:
            found.append(anomaly)
    return found


def run_anomalies(wh: Warehouse, run_id: str, limits: AnomalyThresholds) -> list[Anomaly]:
    """Every anomaly of one run: score drops of the datasets it evaluated, PII share shifts of the loads it
    classified, its steps that were unusually slow."""
    found: list[Anomaly] = []
    for (dataset,) in wh.fetch_all(
        "SELECT DISTINCT dataset FROM atlas_meta.quality_results WHERE run_id = %s ORDER BY 1", (run_id,)
    ):
        found.extend(score_drops(dataset, quality_trend(wh, dataset, limits.trend_loads, run_id), limits))
    for (dataset,) in wh.fetch_all(
        "SELECT DISTINCT dataset FROM atlas_meta.pii_reports WHERE run_id = %s ORDER BY 1", (run_id,)
    ):
        earlier, latest = _pii_loads(wh, dataset, run_id, limits.trend_loads)
        if latest is not None:
            found.extend(pii_shifts(dataset, earlier, latest, limits))
    found.extend(_slow_steps(wh, run_id, limits))
    return found


def alert_anomalies(
    wh: Warehouse, run_id: str, limits: AnomalyThresholds, *, webhook: str | None, timeout: float = 5.0
) -> list[tuple[Anomaly, Delivery]]:
    """Evaluate the run and post one alert per anomaly (never raises for a delivery problem)."""
    return [
        (anomaly, send_alert(anomaly.kind, anomaly.payload(run_id), webhook=webhook, timeout=timeout, wh=wh))
        for anomaly in run_anomalies(wh, run_id, limits)
    ]
