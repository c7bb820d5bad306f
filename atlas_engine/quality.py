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
from atlas_core.casting import ARROW_TYPES
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import Dimension
from atlas_core.contracts.rule_specs import Reference
from atlas_core.errors import ContractError
from atlas_core.logs import get_logger
from atlas_core.quality.plan import RulePlan
from atlas_core.quality.relations import ReferenceTarget, reference_rule_id
from atlas_core.quality.rules import compile_rules
from atlas_core.quality.soda_contract import ReferenceData
from atlas_engine.soda import SodaOutcome, qualified_name, verify_table
from atlas_engine.staging import StagedLoad
from atlas_resources.arrowpg import pg_type
from atlas_resources.warehouse import Table, Warehouse

DIMENSIONS = list(Dimension)
SAMPLE_ROWS = 5
log = get_logger("atlas.quality")


# -- planning ----------------------------------------------------------------------------------------
def _column_types(wh: Warehouse, table: Table) -> dict[str, str]:
    rows = wh.fetch_all(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (f'"{table[0]}"."{table[1]}"',),
    )
    return {name: dtype for name, dtype in rows}


def reference_resolver(
    wh: Warehouse, contract: Contract, partition_keys: list[str], *, schema: str = layout.Layer.SILVER.schema
):
    """Resolve each reference against the warehouse: the referenced silver table if it exists.

    A self-reference also counts the load's own rows (and the rows of partitions not being replaced).
    A reference to a dataset whose silver table does not exist is reported as not evaluated.
    """
    local_types = {c.name: pg_type(ARROW_TYPES[c.type]) for c in contract.columns}

    def resolve(ref: Reference) -> ReferenceTarget:
        table: Table = (schema, ref.dataset)
        types = _column_types(wh, table) if wh.table_exists(table) else {}
        if ref.dataset == contract.dataset:
            return ReferenceTarget(
                table if types else None, include_staged=True, exclude_partitions=tuple(partition_keys)
            )
        if not types:
            return ReferenceTarget(
                None, skip_reason=f"{schema}.{ref.dataset} does not exist (build it first)"
            )
        missing = [c for c in ref.ref_columns if c not in types]
        if missing:
            return ReferenceTarget(
                None, skip_reason=f"{schema}.{ref.dataset} has no column(s) {', '.join(missing)}"
            )
        as_text = any(
            _normal(types[rc]) != _normal(local_types[lc])
            for lc, rc in zip(ref.columns, ref.ref_columns, strict=True)
        )
        return ReferenceTarget(table, compare_as_text=as_text)

    return resolve


def _normal(pg: str) -> str:
    return {"timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone"}.get(pg, pg)


def validate_expressions(wh: Warehouse, contract: Contract) -> None:
    """Evaluate every expression against one all-NULL row of the contract's types, read-only.

    Catches what the token allow-list cannot (unknown functions, type errors, non-boolean results)
    before any data is touched, as a one-line contract error naming the rule.
    """
    if not contract.rules.expressions:
        return
    row = sql.SQL(", ").join(
        sql.SQL("CAST(NULL AS {}) AS {}").format(
            sql.SQL(pg_type(ARROW_TYPES[c.type])), sql.Identifier(c.name)
        )
        for c in contract.columns
    )
    with wh.connect() as conn:
        for index, expr in enumerate(contract.rules.expressions):
            query = sql.SQL("SELECT pg_typeof(({}))::text FROM (SELECT {}) AS r").format(
                sql.SQL(expr.sql), row
            )
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    conn.execute("SET LOCAL statement_timeout = '5s'")
                    result = conn.execute(query).fetchone()
            except psycopg.Error as exc:
                message = (exc.diag.message_primary or type(exc).__name__).splitlines()[0]
                raise ContractError(
                    f"{contract.dataset}: rules.expressions.{index} ({expr.name}): {message}"
                ) from None
            if result is None or result[0] != "boolean":
                got = result[0] if result else "nothing"
                raise ContractError(
                    f"{contract.dataset}: rules.expressions.{index} "
                    f"({expr.name}): must be a boolean expression, got {got}"
                )


def plan_for_load(wh: Warehouse, contract: Contract, partition_keys: list[str]) -> RulePlan:
    """The contract's rules with references resolved against the warehouse, expressions validated."""
    validate_expressions(wh, contract)
    return compile_rules(
        contract,
        resolve_reference=reference_resolver(wh, contract, partition_keys),
        partition_keys=partition_keys,
    )


def soda_references(wh: Warehouse, contract: Contract, plan: RulePlan) -> list[ReferenceData]:
    """Single-column references to other datasets' tables, also verified by Soda's
    ``valid_reference_data``."""
    evaluated = {r.id for r in plan.rules}
    out = []
    for ref in contract.rules.references:
        rule_id = reference_rule_id(ref)
        if ref.dataset == contract.dataset or len(ref.columns) != 1 or rule_id not in evaluated:
            continue
        table: Table = (layout.Layer.SILVER.schema, ref.dataset)
        out.append(
            ReferenceData(
                ref.columns[0], qualified_name(wh, table), ref.ref_columns[0], ref.dimension, rule_id
            )
        )
    return out


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


def evaluate(wh: Warehouse, staged: StagedLoad, *, run_soda: bool = True) -> QualityReport:
    """Score the six dimensions of a staged load per partition, with Soda's dataset-level checks."""
    contract, plan = staged.contract, staged.plan
    with wh.connect(autocommit=True) as conn:
        rows = _rows_by_partition(conn, staged.staging, staged.partitions)
        dim_counts = _dimension_counts(conn, plan, staged.verdicts)
        rule_counts = _rule_counts(conn, staged.verdicts)
        samples = _samples(conn, plan, staged.verdicts)
    soda: list[SodaOutcome] = []
    if run_soda:
        soda = verify_table(
            wh,
            contract,
            staged.staging,
            references=soda_references(wh, contract, plan),
            window_end=window_end(contract, staged.partitions),
        )
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
