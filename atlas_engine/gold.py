"""Run gold SQL models in PostgreSQL, one transaction per table or partition range."""

from __future__ import annotations

from datetime import date

from psycopg import sql

from atlas_core.layout import Layer
from atlas_core.models import SqlModel
from atlas_resources.warehouse import Warehouse


def run_model(wh: Warehouse, model: SqlModel, window: tuple[date, date] | None = None) -> int:
    """Materialize ``model``; incremental models replace exactly the rows of ``window`` [start, end)."""
    target = sql.Identifier(Layer.GOLD.schema, model.name)
    select = sql.SQL(model.bound_sql())
    params = {"partition_start": window[0], "partition_end": window[1]} if window else {}
    with wh.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"model:{model.name}",))
        if model.incremental:
            if window is None:
                raise ValueError(f"model {model.name} is incremental: a partition window is required")
            conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} AS SELECT * FROM ({}) AS m WITH NO DATA").format(target, select),
                params,
            )
            column = sql.Identifier(model.header.partition_column)  # type: ignore[arg-type]
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} >= %(partition_start)s AND {} < %(partition_end)s").format(
                    target, column, column
                ),
                params,
            )
            return conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM ({}) AS m").format(target, select), params).rowcount
        staging = sql.Identifier(Layer.GOLD.schema, f"_new_{model.name}"[:63])
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(staging))
        rows = conn.execute(sql.SQL("CREATE TABLE {} AS {}").format(staging, select), params).rowcount
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(staging, sql.Identifier(model.name)))
        if model.header.primary_key:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    target, sql.SQL(", ").join(sql.Identifier(c) for c in model.header.primary_key)
                )
            )
        return rows
