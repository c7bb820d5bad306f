"""Run gold SQL models in PostgreSQL: build, test, apply business rules and publish in ONE transaction.

Write-audit-publish: a table model is built into a staging table and tested there; an incremental
model's partition window is replaced and tested inside the transaction. When a blocking (``error``)
test fails, the transaction rolls back: readers keep the previous table/partitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import psycopg
from psycopg import sql

from atlas_core.errors import AtlasError
from atlas_core.layout import Layer
from atlas_core.model_checks import ROW_PREDICATES, ModelCheck, PartitionWindow, check_query, row_checks_query
from atlas_core.model_rules import MAX_VALUE_COUNTS, hits_query, model_select, value_counts_query
from atlas_core.sql_models import BusinessRule, SqlModel
from atlas_resources.warehouse import Warehouse

Window = tuple[date, date]


@dataclass(frozen=True)
class CheckOutcome:
    check: ModelCheck
    failing: int
    checked: int

    @property
    def passed(self) -> bool:
        return self.failing == 0


@dataclass(frozen=True)
class RuleHits:
    rule: BusinessRule
    hits: int
    rows: int
    value_counts: dict[str, int] | None

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.rule.kind, "hits": self.hits, "rows": self.rows}
        if self.value_counts is not None:
            out["values"] = self.value_counts
        return out


@dataclass
class ModelRun:
    model: str
    rows: int = 0
    published: bool = False
    checks: list[CheckOutcome] = field(default_factory=list)
    rules: list[RuleHits] = field(default_factory=list)
    fingerprint: str | None = None
    rebuilt: bool = False

    @property
    def blocking_failures(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed and c.check.blocking]


class _TestsFailed(Exception):
    """Raised inside the transaction to roll it back when a blocking test fails."""


def _columns(conn: psycopg.Connection, query: sql.Composable) -> list[tuple[str, int]]:
    cur = conn.execute(sql.SQL("SELECT * FROM ({}) AS m LIMIT 0").format(query))
    return [(d.name, d.type_code) for d in cur.description or []]


def _table_columns(conn: psycopg.Connection, table: tuple[str, str]) -> list[tuple[str, int]]:
    cur = conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(sql.Identifier(*table)))
    return [(d.name, d.type_code) for d in cur.description or []]


def _exists(conn: psycopg.Connection, table: tuple[str, str]) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{table[0]}"."{table[1]}"',)).fetchone()
    return bool(row and row[0])


def _scope(model: SqlModel, window: Window | None) -> sql.Composable:
    if window is None or not model.incremental:
        return sql.SQL("TRUE")
    col = sql.Identifier("t", model.header.partition_column)  # type: ignore[arg-type]
    return sql.SQL("{} >= {} AND {} < {}").format(col, sql.Literal(window[0]), col, sql.Literal(window[1]))


def _write_incremental(
    conn: psycopg.Connection, model: SqlModel, select: sql.Composable, window: Window, rebuild: bool
) -> tuple[int, bool]:
    target = (Layer.GOLD.schema, model.name)
    target_id = sql.Identifier(*target)
    new_columns = _columns(conn, select)
    rebuilt = False
    if _exists(conn, target) and _table_columns(conn, target) != new_columns:
        if not rebuild:
            raise AtlasError(
                f"model {model.name}: its columns changed ({', '.join(n for n, _ in new_columns)}); "
                f"rematerialize all partitions of gold/{model.name} to rebuild the table"
            )
        conn.execute(sql.SQL("DROP TABLE {}").format(target_id))
        rebuilt = True
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} AS SELECT * FROM ({}) AS m WITH NO DATA").format(
            target_id, select
        )
    )
    conn.execute(sql.SQL("DELETE FROM {} AS t WHERE {}").format(target_id, _scope(model, window)))
    names = sql.SQL(", ").join(sql.Identifier(n) for n, _ in new_columns)
    rows = conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM ({}) AS m").format(target_id, names, names, select)
    ).rowcount
    return rows, rebuilt


def _publish_table(conn: psycopg.Connection, model: SqlModel, staging: tuple[str, str]) -> None:
    target = sql.Identifier(Layer.GOLD.schema, model.name)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
    conn.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(*staging), sql.Identifier(model.name))
    )
    if model.header.primary_key:
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        target, sql.SQL(", ").join(sql.Identifier(c) for c in model.header.primary_key)
                    )
                )
        except (psycopg.errors.UniqueViolation, psycopg.errors.NotNullViolation):
            raise AtlasError(
                f"model {model.name}: primary key ({', '.join(model.header.primary_key)}) is not unique "
                "or has NULLs; add a unique/not_null test to see the failing rows as a check"
            ) from None


def _run_checks(
    conn: psycopg.Connection, model: SqlModel, table: tuple[str, str], window: Window | None
) -> list[CheckOutcome]:
    column = model.header.partition_column
    written = (
        PartitionWindow(column, *window) if model.incremental and window is not None and column else None
    )
    checks = model.checks()
    counts: dict[int, tuple[int, int]] = {}
    shared = [i for i, c in enumerate(checks) if c.kind in ROW_PREDICATES]
    if shared:  # not_null and accepted_values tests share one scan of the table
        row = conn.execute(row_checks_query([checks[i] for i in shared], table, written=written)).fetchone()
        values = [int(v or 0) for v in row] if row else [0] * (len(shared) + 1)
        counts.update((i, (failing, values[-1])) for i, failing in zip(shared, values[:-1], strict=True))
    for i, check in enumerate(checks):
        if i not in counts:
            row = conn.execute(check_query(check, table, model_name=model.name, written=written)).fetchone()
            counts[i] = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
    return [CheckOutcome(check, *counts[i]) for i, check in enumerate(checks)]


def _rule_hits(
    conn: psycopg.Connection,
    model: SqlModel,
    table: tuple[str, str],
    window: Window | None,
    run_id: str | None,
) -> list[RuleHits]:
    results = []
    scope = _scope(model, window)
    for rule in model.rules:
        row = conn.execute(hits_query(rule, table, scope)).fetchone()
        hits, rows, distinct = (int(v or 0) for v in row) if row else (0, 0, 0)
        counts = None
        if rule.kind == "derivation" and distinct <= MAX_VALUE_COUNTS:
            counts = {
                str(v): int(n) for v, n in conn.execute(value_counts_query(rule, table, scope)).fetchall()
            }
        results.append(RuleHits(rule, hits, rows, counts))
        conn.execute(
            "INSERT INTO atlas_meta.rule_hits (model, rule, "
            "kind, code_version, partition_start, partition_end, "
            "rows_evaluated, hits, value_counts, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                model.name,
                rule.name,
                rule.kind,
                model.code_version,
                window[0] if window and model.incremental else None,
                window[1] if window and model.incremental else None,
                rows,
                hits,
                json.dumps(counts) if counts is not None else None,
                run_id,
            ),
        )
    return results


def run_model(
    wh: Warehouse,
    model: SqlModel,
    window: Window | None = None,
    *,
    rebuild: bool = False,
    run_id: str | None = None,
) -> ModelRun:
    """Materialize ``model``; incremental models replace exactly the rows of ``window`` [start, end).

    ``rebuild`` (a run over every partition) lets an incremental model whose columns changed be rebuilt.
    Returns the outcome of every test; ``published`` is False when a blocking test failed.
    """
    if model.incremental and window is None:
        raise AtlasError(f"model {model.name} is incremental: a partition window is required")
    run = ModelRun(model.name)
    select = model_select(model, window if model.incremental else None)
    try:
        with wh.transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"model:{model.name}",))
            if model.incremental:
                assert window is not None
                run.rows, run.rebuilt = _write_incremental(conn, model, select, window, rebuild)
                tested = (Layer.GOLD.schema, model.name)
            else:
                tested = (Layer.GOLD.schema, f"_new_{model.name}"[:63])
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*tested)))
                run.rows = conn.execute(
                    sql.SQL("CREATE TABLE {} AS {}").format(sql.Identifier(*tested), select)
                ).rowcount
            run.checks = _run_checks(conn, model, tested, window)
            if run.blocking_failures:
                raise _TestsFailed
            run.rules = _rule_hits(conn, model, tested, window, run_id)
            if not model.incremental:
                _publish_table(conn, model, tested)
                fp = conn.execute(
                    "SELECT atlas_meta.table_fingerprint(%s::regclass)",
                    (f'"{Layer.GOLD.schema}"."{model.name}"',),
                ).fetchone()
                run.fingerprint = str(fp[0]) if fp else None
    except _TestsFailed:
        run.rows = 0
        return run
    except psycopg.errors.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AtlasError(f"model {model.name} ({model.path}): {first}") from None
    run.published = True
    return run
