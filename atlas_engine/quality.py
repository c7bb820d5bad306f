"""Quality evaluation of a staged load: dimension scores per partition, rule and Soda outcomes, history.

Used by the silver asset (through the ``on_staged`` hook of :func:`atlas_engine.silver.build_silver`)
and by ``atlas quality check``. Everything runs as set-based SQL over the staging and verdicts tables;
the only per-row output is a handful of failing-row samples made of row keys and rule ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import Dimension
from atlas_core.logs import get_logger
from atlas_core.quality.plan import RulePlan
from atlas_engine.quality_plan import soda_references
from atlas_engine.soda import SodaOutcome, verify_table
from atlas_engine.staging import StagedLoad
from atlas_resources.warehouse import Table, Warehouse

DIMENSIONS = list(Dimension)
SAMPLE_ROWS = 5
log = get_logger("atlas.quality")


# -- results -----------------------------------------------------------------------------------------
@dataclass
class DimensionScore:
    dimension: Dimension
    partition_key: str
    score: float
    threshold: float
    passed: bool
    blocking: bool
    rows_evaluated: int
    failed_rows: int
    soda_failed: list[str] = field(default_factory=list)


@dataclass
class RuleOutcome:
    id: str
    dimension: Dimension
    kind: str
    columns: list[str]
    on_fail: str
    failed_rows: int | None
    by_partition: dict[str, int] = field(default_factory=dict)
    evaluated: bool = True
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "dimension": self.dimension.value,
            "columns": self.columns,
            "failed_rows": self.failed_rows,
            "kind": self.kind,
            "on_fail": self.on_fail,
            "evaluated": self.evaluated,
        }
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass
class QualityReport:
    dataset: str
    run_id: str
    partitions: list[str]
    blocking: bool
    rows_by_partition: dict[str, int]
    dimensions: list[DimensionScore]
    rules: list[RuleOutcome]
    soda: list[SodaOutcome]
    samples: dict[str, list[dict[str, Any]]]
    key_columns: list[str]
    standardized: dict[str, dict[str, int]] = field(default_factory=dict)
    """Cells changed per column and standardization step."""
    repaired_cells: dict[str, int] = field(default_factory=dict)
    """Cells repaired per ``on_fail: repair`` rule."""

    @property
    def rows(self) -> int:
        return sum(self.rows_by_partition.values())

    def scores(self, dimension: Dimension) -> list[DimensionScore]:
        return [d for d in self.dimensions if d.dimension == dimension]

    def overall(self, dimension: Dimension) -> DimensionScore:
        """One score for the whole load: failed rows over rows, passed only if every partition passed."""
        parts = self.scores(dimension)
        rows = sum(p.rows_evaluated for p in parts)
        failed = sum(p.failed_rows for p in parts)
        first = parts[0]
        soda_failed = sorted({s for p in parts for s in p.soda_failed})
        return DimensionScore(
            dimension,
            ",".join(self.partitions) if len(parts) > 1 else first.partition_key,
            1.0 - failed / rows if rows else 1.0,
            first.threshold,
            all(p.passed for p in parts),
            first.blocking,
            rows,
            failed,
            soda_failed,
        )

    def failing(self) -> list[DimensionScore]:
        return [d for d in self.dimensions if not d.passed]


def _dimension_counts(
    conn: psycopg.Connection, plan: RulePlan, verdicts: Table
) -> dict[str, dict[Dimension, int]]:
    filters = sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {} && {}::text[])").format(
            sql.Identifier(layout.RULE_IDS), sql.Literal(plan.ids(dim))
        )
        for dim in DIMENSIONS
    )
    rows = conn.execute(
        sql.SQL("SELECT {}, {} FROM {} GROUP BY 1").format(
            sql.Identifier(layout.PARTITION), filters, sql.Identifier(*verdicts)
        )
    ).fetchall()
    return {row[0]: {dim: int(n) for dim, n in zip(DIMENSIONS, row[1:], strict=True)} for row in rows}


def _rule_counts(conn: psycopg.Connection, verdicts: Table) -> dict[str, dict[str, int]]:
    rows = conn.execute(
        sql.SQL("SELECT rule_id, {}, count(*) FROM {}, unnest({}) AS rule_id GROUP BY 1, 2").format(
            sql.Identifier(layout.PARTITION), sql.Identifier(*verdicts), sql.Identifier(layout.RULE_IDS)
        )
    ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for rule_id, partition, n in rows:
        out.setdefault(rule_id, {})[partition] = int(n)
    return out


def _rows_by_partition(conn: psycopg.Connection, staging: Table, keys: list[str]) -> dict[str, int]:
    rows = conn.execute(
        sql.SQL("SELECT {}, count(*) FROM {} GROUP BY 1").format(
            sql.Identifier(layout.PARTITION), sql.Identifier(*staging)
        )
    ).fetchall()
    counts = dict.fromkeys(keys, 0)
    counts.update({p: int(n) for p, n in rows})
    return counts


def _samples(conn: psycopg.Connection, plan: RulePlan, verdicts: Table) -> dict[str, list[dict[str, Any]]]:
    """Up to SAMPLE_ROWS failing rows per dimension, as row keys (or row numbers) and rule ids only."""
    pairs = [(dim.value, plan.ids(dim)) for dim in DIMENSIONS if plan.ids(dim)]
    if not pairs:
        return {}
    keys = [*plan.key_columns] or [layout.ROW_NUMBER]
    query = sql.SQL(
        "SELECT d.dim, x.* FROM (VALUES {values}) AS d(dim, ids) CROSS JOIN LATERAL ("
        "SELECT {keys}, ARRAY(SELECT unnest(v.{rules}) INTERSECT SELECT unnest(d.ids) ORDER BY 1) AS ids "
        "FROM {ver} v WHERE v.{rules} && d.ids ORDER BY v.{part}, v.{iid} DESC, v.{rno} LIMIT {n}) AS x"
    ).format(
        values=sql.SQL(", ").join(
            sql.SQL("({}, {}::text[])").format(sql.Literal(d), sql.Literal(ids)) for d, ids in pairs
        ),
        keys=sql.SQL(", ").join(sql.Identifier("v", k) for k in keys),
        rules=sql.Identifier(layout.RULE_IDS),
        ver=sql.Identifier(*verdicts),
        part=sql.Identifier(layout.PARTITION),
        iid=sql.Identifier(layout.INGESTION_ID),
        rno=sql.Identifier(layout.ROW_NUMBER),
        n=sql.Literal(SAMPLE_ROWS),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(query).fetchall():
        key = {
            ("row" if k == layout.ROW_NUMBER else k): _plain(v) for k, v in zip(keys, row[1:-1], strict=True)
        }
        out.setdefault(row[0], []).append({"key": key, "rules": list(row[-1])})
    return out


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def window_end(contract: Contract, keys: list[str]) -> datetime | None:
    """End of the newest partition of a load (the "now" of partitioned freshness)."""
    days = [date.fromisoformat(k) for k in keys if k]
    if not contract.is_partitioned or not days:
        return None
    newest = max(days)
    return datetime(newest.year, newest.month, newest.day, tzinfo=UTC) + timedelta(days=1)


def soda_checks(wh: Warehouse, staged: StagedLoad) -> list[SodaOutcome]:
    """Soda's dataset-level checks of the staged rows (they read staging only, never the verdicts)."""
    contract = staged.contract
    return verify_table(
        wh,
        contract,
        staged.staging,
        references=soda_references(wh, contract, staged.plan),
        window_end=window_end(contract, staged.partitions),
    )


def evaluate(
    wh: Warehouse, staged: StagedLoad, *, run_soda: bool = True, soda: list[SodaOutcome] | None = None
) -> QualityReport:
    """Score the six dimensions of a staged load per partition, with Soda's dataset-level checks (``soda``:
    their outcomes when :func:`soda_checks` already ran on this load)."""
    contract, plan = staged.contract, staged.plan
    with wh.connect(autocommit=True) as conn:
        rows = _rows_by_partition(conn, staged.staging, staged.partitions)
        dim_counts = _dimension_counts(conn, plan, staged.verdicts)
        rule_counts = _rule_counts(conn, staged.verdicts)
        samples = _samples(conn, plan, staged.verdicts)
    if soda is None:
        soda = soda_checks(wh, staged) if run_soda else []
    soda_failed = {
        dim: sorted(s.check_id for s in soda if s.failed and s.dimension == dim) for dim in DIMENSIONS
    }
    thresholds = contract.quality.thresholds
    dimensions = []
    for partition, n in sorted(rows.items()):
        for dim in DIMENSIONS:
            failed = dim_counts.get(partition, {}).get(dim, 0)
            score = 1.0 - failed / n if n else 1.0
            passed = score >= thresholds[dim] and not soda_failed[dim]
            dimensions.append(
                DimensionScore(
                    dim,
                    partition,
                    score,
                    thresholds[dim],
                    passed,
                    contract.quality.blocking,
                    n,
                    failed,
                    soda_failed[dim],
                )
            )
    rules = [
        RuleOutcome(
            r.id,
            r.dimension,
            r.kind,
            list(r.columns),
            r.on_fail,
            sum(rule_counts.get(r.id, {}).values()),
            rule_counts.get(r.id, {}),
        )
        for r in plan.rules
    ] + [
        RuleOutcome(
            s.id, s.dimension, s.kind, list(s.columns), "quarantine", None, evaluated=False, reason=s.reason
        )
        for s in plan.skipped
    ]
    report = QualityReport(
        contract.dataset,
        staged.run_id,
        list(staged.partitions),
        contract.quality.blocking,
        rows,
        dimensions,
        rules,
        soda,
        samples,
        list(plan.key_columns),
        dict(staged.standardized),
        dict(staged.repaired_cells),
    )
    _log(report)
    return report


def _log(report: QualityReport) -> None:
    overall = {d.value: round(report.overall(d).score, 6) for d in DIMENSIONS}
    log.info(
        "quality_evaluated",
        dataset=report.dataset,
        run_id=report.run_id,
        rows=report.rows,
        partitions=len(report.partitions),
        scores=overall,
    )
    for rule in report.rules:
        if not rule.evaluated:
            log.warning(
                "quality_rule_not_evaluated", dataset=report.dataset, rule=rule.id, reason=rule.reason
            )
    for check in report.soda:
        if check.outcome != "passed":
            log.warning(
                "soda_check",
                dataset=report.dataset,
                check=check.check_id,
                dimension=check.dimension.value,
                outcome=check.outcome,
                metrics=check.metrics,
            )


def record(wh: Warehouse, report: QualityReport) -> None:
    """Append the report to ``atlas_meta.quality_results`` and ``atlas_meta.quality_check_results``."""
    with wh.transaction() as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO atlas_meta.quality_results (run_id, "
                "dataset, partition_key, dimension, score, threshold, "
                "passed, blocking, rows_evaluated, failed_rows) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        report.run_id,
                        report.dataset,
                        d.partition_key,
                        d.dimension.value,
                        d.score,
                        d.threshold,
                        d.passed,
                        d.blocking,
                        d.rows_evaluated,
                        d.failed_rows,
                    )
                    for d in report.dimensions
                ],
            )
            check_rows = [
                (
                    report.run_id,
                    report.dataset,
                    report.partitions,
                    "atlas",
                    r.id,
                    r.kind,
                    r.dimension.value,
                    r.columns,
                    r.on_fail,
                    _rule_outcome(r),
                    r.failed_rows,
                    json.dumps(
                        {"by_partition": r.by_partition}
                        if r.by_partition
                        else ({"reason": r.reason} if r.reason else {})
                    ),
                )
                for r in report.rules
            ] + [
                (
                    report.run_id,
                    report.dataset,
                    report.partitions,
                    "soda",
                    s.check_id,
                    s.check_type,
                    s.dimension.value,
                    [s.column] if s.column else [],
                    None,
                    s.outcome,
                    None,
                    json.dumps(s.metrics),
                )
                for s in report.soda
            ]
            cur.executemany(
                "INSERT INTO atlas_meta.quality_check_results "
                "(run_id, dataset, partition_keys, engine, check_id, "
                "check_type, dimension, columns, on_fail, outcome, failed_rows, metrics) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
                check_rows,
            )


def _rule_outcome(rule: RuleOutcome) -> str:
    if not rule.evaluated:
        return "not_evaluated"
    if not rule.failed_rows:
        return "passed"
    return "warned" if rule.on_fail in ("warn", "repair") else "failed"
