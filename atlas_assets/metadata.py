"""Materialization metadata: schemas, row counts and previews that never show PII values."""

from collections.abc import Iterable

import dagster as dg
import pyarrow as pa
from psycopg import sql

from atlas_resources.arrowpg import pg_type
from atlas_resources.warehouse import Table, Warehouse

PREVIEW_ROWS = 5


def public_columns(schema: pa.Schema) -> list[pa.Field]:
    return [f for f in schema if not f.name.startswith("_atlas_")]


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(f.name, pg_type(f.type)) for f in public_columns(schema)])


def preview(
    wh: Warehouse,
    table: Table,
    schema: pa.Schema,
    hidden: Iterable[str],
    where: sql.Composable | None = None,
    params: tuple = (),
) -> dg.MetadataValue:
    """A few rows as markdown, restricted to columns that carry no personal data."""
    hide = set(hidden)
    shown = [f.name for f in public_columns(schema) if f.name not in hide]
    if not shown:
        return dg.MetadataValue.md("_no non-PII columns to preview_")
    query = sql.SQL("SELECT {} FROM {}{} LIMIT {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in shown),
        sql.Identifier(*table),
        sql.SQL(" WHERE ") + where if where is not None else sql.SQL(""),
        sql.Literal(PREVIEW_ROWS),
    )
    rows = wh.fetch_all(query, params)
    lines = ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for row in rows:
        lines.append("| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |")
    if hide:
        lines.append("")
        lines.append(f"_hidden (PII): {', '.join(sorted(hide & set(schema.names)))}_")
    return dg.MetadataValue.md("\n".join(lines))
