"""Business rules over a model: each rule adds one column, computed from the model's columns and earlier
rules.

A ``flag`` is a boolean (its hits are the rows where it is TRUE); a ``derivation`` is any value (its
hits are the rows where it is not NULL, plus a count per value when there are few distinct values).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from psycopg import sql

from atlas_core.sql_models import render

if TYPE_CHECKING:
    from atlas_core.sql_models import BusinessRule, SqlModel

MAX_VALUE_COUNTS = 20
"""Per-value hit counts are recorded only for derivations with at most this many distinct values."""


def model_select(model: SqlModel, window: tuple[date, date] | None = None) -> sql.Composed:
    """The model's SELECT with one nested layer per rule (a rule may use the rules before it)."""
    query: sql.Composable = render(model.sql, window)
    for i, rule in enumerate(model.rules):
        expression: sql.Composable = render(rule.expression, window)
        if rule.kind == "flag":
            expression = sql.SQL("coalesce(({}), FALSE)::boolean").format(expression)
        query = sql.SQL("SELECT {alias}.*, ({expr}) AS {name} FROM ({inner}) AS {alias}").format(
            alias=sql.Identifier(f"_rule{i}"), expr=expression, name=sql.Identifier(rule.name), inner=query
        )
    return sql.Composed([query])


def hits_query(rule: BusinessRule, table: tuple[str, str], scope: sql.Composable) -> sql.Composed:
    """``(hits, rows, distinct values)`` of ``rule`` over the rows of ``table`` matching ``scope``. Only a
    derivation's distinct values are counted (they decide whether its value counts are kept); a flag's
    are reported as 0, which spares sorting every row of the window."""
    col = sql.Identifier("t", rule.name)
    flag = rule.kind == "flag"
    hit = col if flag else sql.SQL("{} IS NOT NULL").format(col)
    distinct = sql.SQL("0") if flag else sql.SQL("count(DISTINCT {})").format(col)
    return sql.SQL("SELECT count(*) FILTER (WHERE {}), count(*), {} FROM {} AS t WHERE {}").format(
        hit, distinct, sql.Identifier(*table), scope
    )


def value_counts_query(rule: BusinessRule, table: tuple[str, str], scope: sql.Composable) -> sql.Composed:
    col = sql.Identifier("t", rule.name)
    return sql.SQL(
        "SELECT {}::text, count(*) FROM {} AS t WHERE {} "
        "AND {} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {}"
    ).format(col, sql.Identifier(*table), scope, col, sql.Literal(MAX_VALUE_COUNTS))
