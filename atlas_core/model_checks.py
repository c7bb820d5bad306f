"""Model tests (unique, not_null, accepted_values, relationships, row_count) compiled to SQL.

Each test becomes one named check. Its query returns one row ``(failing, checked)``: the number of
failing rows (or partitions, for per-partition row counts) and the number of rows looked at.
Incremental models are tested on the partition window just written; uniqueness there also covers
older rows sharing a key with a new row, so a duplicate across partitions is caught too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from psycopg import sql

Table = tuple[str, str]
Kind = Literal["unique", "not_null", "accepted_values", "relationships", "row_count"]


@dataclass(frozen=True)
class ModelCheck:
    name: str
    kind: Kind
    columns: tuple[str, ...]
    severity: Literal["error", "warn"]
    description: str
    values: tuple[str, ...] = ()
    parent: tuple[str, str, str] | None = None  # (layer, table, column)
    bounds: dict[str, int] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class PartitionWindow:
    """What an incremental run wrote: the rows whose partition ``column`` is in ``[start, end)``."""

    column: str
    start: date
    end: date


def _window_filter(written: PartitionWindow | None, alias: str = "t") -> sql.Composable:
    if written is None:
        return sql.SQL("TRUE")
    col = sql.Identifier(alias, written.column)
    return sql.SQL("{} >= {} AND {} < {}").format(
        col, sql.Literal(written.start), col, sql.Literal(written.end)
    )


ROW_PREDICATES = ("not_null", "accepted_values")
"""Kinds whose failing rows a predicate on the row alone decides: several share one scan."""


def _failing(check: ModelCheck) -> sql.Composable:
    col = sql.Identifier("t", check.columns[0])
    if check.kind == "not_null":
        return sql.SQL("{} IS NULL").format(col)
    return sql.SQL("{} IS NOT NULL AND NOT ({}::text = ANY({}::text[]))").format(
        col, col, sql.Literal(list(check.values))
    )


def row_checks_query(
    checks: list[ModelCheck], target: Table, *, written: PartitionWindow | None = None
) -> sql.Composed:
    """One scan of ``target`` (its ``written`` window when given) for row-predicate checks: returns one
    row, the failing rows of each check in order, then the rows looked at."""
    if not checks or any(c.kind not in ROW_PREDICATES for c in checks):
        raise ValueError("row_checks_query takes one or more not_null / accepted_values checks")
    failing = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {})").format(_failing(c)) for c in checks)
    return sql.SQL("SELECT {}, count(*) FROM {} AS t WHERE {}").format(
        failing, sql.Identifier(*target), _window_filter(written)
    )


def _unique_query(check: ModelCheck, t: sql.Identifier, written: PartitionWindow | None) -> sql.Composed:
    """Rows sharing a key: ``(rows - distinct keys, rows)`` over the non-null keys of the window, plus
    the rows outside it that share one of those keys. Two scans (a distinct count of the window, then the
    rows outside it semi-joined to its keys) rather than grouping every row the semi-join keeps, which
    cost three times as much on a whole-table window (docs/BENCHMARKS.md §5g)."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in check.columns)
    not_null = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in check.columns
    )
    scope = _window_filter(written)
    if len(check.columns) == 1:  # a sort of one column; a row-valued DISTINCT compares records (slow)
        window = sql.SQL("SELECT count(*) AS n, count(DISTINCT {}) AS d FROM {} AS t WHERE {} AND {}").format(
            cols, t, not_null, scope
        )
    else:
        window = sql.SQL(
            "SELECT coalesce(sum(c), 0) AS n, count(*) AS d FROM "
            "(SELECT count(*) AS c FROM {} AS t WHERE {} AND {} GROUP BY {}) AS k"
        ).format(t, not_null, scope, cols)
    if written is None:
        return sql.SQL("SELECT (w.n - w.d)::bigint, w.n::bigint FROM ({}) AS w").format(window)
    # (...) IS NOT TRUE: a row whose partition column is NULL is outside the window too.
    outside = sql.SQL(
        "SELECT count(*) AS n FROM {} AS t WHERE {} AND ({}) IS NOT TRUE "
        "AND ({}) IN (SELECT {} FROM {} AS t WHERE {})"
    ).format(t, not_null, scope, cols, cols, t, scope)
    return sql.SQL("SELECT (w.n + o.n - w.d)::bigint, (w.n + o.n)::bigint FROM ({}) AS w, ({}) AS o").format(
        window, outside
    )


def check_query(
    check: ModelCheck, target: Table, *, model_name: str, written: PartitionWindow | None = None
) -> sql.Composed:
    """The query computing ``(failing, checked)`` for ``check`` on ``target``: on the ``written``
    window only when given (incremental models), else on the whole table."""
    t = sql.Identifier(*target)
    scope = _window_filter(written)
    if check.kind == "unique":
        return _unique_query(check, t, written)
    if check.kind in ROW_PREDICATES:
        return row_checks_query([check], target, written=written)
    if check.kind == "relationships":
        assert check.parent is not None
        layer, table, parent_col = check.parent
        parent = t if (layer, table) == ("gold", model_name) else sql.Identifier(f"atlas_{layer}", table)
        col = sql.Identifier("t", check.columns[0])
        # An anti-join on the distinct parent keys (one hash join). NOT EXISTS inside FILTER is a
        # correlated subplan: one parent lookup per child row (9 s instead of 0.2 s at 1M rows).
        return sql.SQL(
            "SELECT count(*) FILTER (WHERE {} IS NOT NULL AND p._atlas_ref IS NULL), count(*) FROM {} AS t "
            "LEFT JOIN (SELECT DISTINCT {} AS _atlas_ref FROM {}) AS p ON p._atlas_ref = {} WHERE {}"
        ).format(col, t, sql.Identifier(parent_col), parent, col, scope)
    low = sql.Literal(check.bounds.get("min", 0))
    high = sql.Literal(check.bounds.get("max"))
    outside = sql.SQL("(n < {} OR ({} IS NOT NULL AND n > {}))").format(low, high, high)
    if written is None:
        return sql.SQL("SELECT ({})::int::bigint, n FROM (SELECT count(*) AS n FROM {}) AS c").format(
            outside, t
        )
    days = sql.SQL(
        "SELECT g::date AS d FROM generate_series({}::timestamp, {}::timestamp, interval '1 day') AS g"
    ).format(sql.Literal(written.start), sql.Literal(written.end - timedelta(days=1)))
    return sql.SQL(
        "SELECT count(*) FILTER (WHERE {})::bigint, count(*)::bigint FROM "
        "(SELECT days.d, count(t.{}) AS n FROM ({}) AS days LEFT JOIN {} AS t ON t.{}::date = days.d "
        "GROUP BY days.d) AS c"
    ).format(outside, sql.Identifier(written.column), days, t, sql.Identifier(written.column))
