"""Publishing a silver load: its passing rows into silver, its failing rows into quarantine, its
counters, repairs and standardization counts, all in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing

import psycopg
import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.casting import arrow_schema
from atlas_core.contracts import Contract
from atlas_core.quality.rules import compile_rules
from atlas_engine.quarantine import insert_head, quarantine_schema
from atlas_engine.repair import publish_repairs
from atlas_engine.staging import META_FIELDS, BatchTransform, passes_through, staging_schema
from atlas_engine.tables import create_indexes, ensure_table
from atlas_resources.warehouse import Table, Warehouse


def silver_schema(contract: Contract, transform: BatchTransform) -> pa.Schema:
    return pa.schema([*transform.output_schema(arrow_schema(contract)), *META_FIELDS])


def partition_filter(keys: list[str]) -> tuple[sql.Composable, tuple[object, ...]]:
    return sql.SQL("{} = ANY(%s)").format(sql.Identifier(layout.PARTITION)), (keys,)


def select_where(columns: list[str], table: Table, where: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {} WHERE {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(*table), where
    )


def passing_rows(columns: list[str], staging: Table, verdicts: Table) -> sql.Composed:
    """The staged rows that no rule of ``%s`` (the quarantining rule ids) caught."""
    iid, rno = sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
    return sql.SQL(
        "SELECT {cols} FROM {stg} s WHERE NOT EXISTS (SELECT 1 FROM {ver} v WHERE v.{iid} = s.{iid} "
        "AND v.{rno} = s.{rno} AND v.{rules} && %s::text[])"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier("s", c) for c in columns),
        stg=sql.Identifier(*staging),
        ver=sql.Identifier(*verdicts),
        iid=iid,
        rno=rno,
        rules=sql.Identifier(layout.RULE_IDS),
    )


def publish(
    wh: Warehouse,
    contract: Contract,
    transform: BatchTransform,
    staging: Table,
    verdicts: Table,
    bronze: Table,
    keys: list[str],
    quarantine_ids: list[str],
    run_id: str,
    repairs: Table | None = None,
    standardized: dict[str, dict[str, int]] | None = None,
    *,
    before_commit: Callable[[], object] | None = None,
) -> tuple[int, int, pa.Schema]:
    """Replace the load's silver and quarantine partitions and its counters in one transaction.

    ``before_commit`` runs last inside it: its exception rolls the whole publish back."""
    dataset = contract.dataset
    silver: Table = (layout.Layer.SILVER.schema, dataset)
    quarantine: Table = (layout.QUARANTINE_SCHEMA, dataset)
    schema = silver_schema(contract, transform)
    typed_columns = contract.column_names
    meta = [layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]
    stg_schema = pa.schema([staging_schema(contract).field(c) for c in [*typed_columns, *meta]])
    iid, rno = sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
    passing = passing_rows([*typed_columns, *meta], staging, verdicts)
    where, params = partition_filter(keys)
    with wh.transaction() as conn:
        # Publishes of one dataset never interleave (two DELETE + load pairs would both commit their rows).
        # exclusive_build already serialises builds, but through a separate session that can be cut on its
        # own (idle timeout, pg_terminate_backend); this lock lives in the publishing transaction itself.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"atlas-silver-publish:{dataset}",))
        # A first build creates silver in this transaction: its index is built once, after the rows.
        new_silver = ensure_table(conn, *silver, schema, index_on=[layout.PARTITION], defer_index=True)
        ensure_table(conn, *quarantine, quarantine_schema(contract), index_on=[layout.PARTITION])
        conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(*silver), where), params)
        if passes_through(transform, arrow_schema(contract)):
            rows_silver = conn.execute(
                sql.SQL("INSERT INTO {} ({}) {}").format(
                    sql.Identifier(*silver),
                    sql.SQL(", ").join(sql.Identifier(c) for c in [*typed_columns, *meta]),
                    passing,
                ),
                (quarantine_ids,),
            ).rowcount
        else:
            with closing(wh.stream(passing, stg_schema, (quarantine_ids,))) as batches:
                rows_silver = Warehouse.copy_batches(
                    conn, silver, _apply(transform, batches, typed_columns, meta)
                )
        if new_silver:
            create_indexes(conn, *silver, [layout.PARTITION])
        conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(*quarantine), where), params)
        raw_cols = sql.SQL(", ").join(sql.Identifier("b", c) for c in typed_columns)
        rows_quarantined = conn.execute(
            insert_head(quarantine, typed_columns)
            + sql.SQL(
                "SELECT {raw_cols}, b.{iid}, b.{rno}, b.{part}, b.{raw}, v.{rules}, {dim_expr}, %s, now() "
                "FROM {ver} v JOIN {bronze} b ON b.{iid} = v.{iid} AND b.{rno} = v.{rno} "
                # the load's days: a partition index scan
                "WHERE v.{rules} && %s::text[] AND b.{part} = ANY(%s)"
            ).format(
                raw_cols=raw_cols,
                iid=iid,
                rno=rno,
                part=sql.Identifier(layout.PARTITION),
                raw=sql.Identifier(layout.RAW_LINE),
                rules=sql.Identifier(layout.RULE_IDS),
                dim_expr=_dimension_expression(contract),
                ver=sql.Identifier(*verdicts),
                bronze=sql.Identifier(*bronze),
            ),
            (run_id, quarantine_ids, keys),
        ).rowcount
        _refresh_ingestion_counts(conn, dataset, silver, quarantine, staging)
        if repairs is not None:
            publish_repairs(conn, dataset, repairs, run_id)
        record_standardization(conn, dataset, keys, run_id, standardized or {})
        if before_commit is not None:
            before_commit()
    return rows_silver, rows_quarantined, schema


def record_standardization(
    conn: psycopg.Connection,
    dataset: str,
    keys: list[str],
    run_id: str,
    standardized: dict[str, dict[str, int]],
) -> None:
    """Changed cells per column and step of a load, in ``atlas_meta.standardizations``."""
    rows = [
        (run_id, dataset, keys, column, step, n)
        for column, steps in standardized.items()
        for step, n in steps.items()
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO atlas_meta.standardizations (run_id, "
                "dataset, partition_keys, column_name, step, "
                "changed_cells) VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )


def _dimension_expression(contract: Contract) -> sql.Composable:
    """SQL computing the distinct dimensions of ``v._atlas_rule_ids``."""
    plan = compile_rules(contract)
    pairs = (
        sql.SQL(", ").join(
            sql.SQL("({}, {})").format(sql.Literal(r.id), sql.Literal(r.dimension.value)) for r in plan.rules
        )
        if plan.rules
        else sql.SQL("(NULL, NULL)")
    )
    return sql.SQL(
        "ARRAY(SELECT DISTINCT d.dim FROM unnest(v.{rules}) AS u(rule_id) "
        "JOIN (VALUES {pairs}) AS d(rule_id, dim) ON d.rule_id = u.rule_id ORDER BY 1)"
    ).format(rules=sql.Identifier(layout.RULE_IDS), pairs=pairs)


def _apply(
    transform: BatchTransform, batches: Iterator[pa.RecordBatch], typed: list[str], meta: list[str]
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        data = pa.RecordBatch.from_arrays([batch.column(c) for c in typed], names=typed)
        out = transform(data)
        yield pa.RecordBatch.from_arrays(
            [*out.columns, *(batch.column(c) for c in meta)], names=[*out.schema.names, *meta]
        )


def _refresh_ingestion_counts(
    conn: psycopg.Connection, dataset: str, silver: Table, quarantine: Table, staging: Table
) -> None:
    iid = sql.Identifier(layout.INGESTION_ID)
    conn.execute(
        sql.SQL(
            "WITH touched AS (SELECT DISTINCT {iid} AS id FROM {stg}), "
            "s AS (SELECT {iid} AS id, count(*) AS n FROM {silver} "
            "WHERE {iid} IN (SELECT id FROM touched) GROUP BY 1), "
            "q AS (SELECT {iid} AS id, count(*) AS n FROM {q} "
            "WHERE {iid} IN (SELECT id FROM touched) GROUP BY 1) "
            "UPDATE atlas_meta.ingestions i "
            "SET rows_silver = coalesce(s.n, 0), rows_quarantined = coalesce(q.n, 0) "
            "FROM touched t LEFT JOIN s ON s.id = t.id LEFT JOIN q ON q.id = t.id "
            "WHERE i.ingestion_id = t.id AND i.dataset = %s"
        ).format(
            iid=iid,
            stg=sql.Identifier(*staging),
            silver=sql.Identifier(*silver),
            q=sql.Identifier(*quarantine),
        ),
        (dataset,),
    )
