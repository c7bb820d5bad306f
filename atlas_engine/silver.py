"""Silver: type the bronze rows, evaluate the contract's row rules, publish passing rows, quarantine the rest.

A load works on a private staging table (``atlas_staging``); rules run as one set-based statement;
the silver partition(s), the quarantine partition(s) and the ingestion counters are replaced in a
single transaction, so ``bronze = silver + quarantine`` holds for every partition at every commit.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.casting import arrow_schema, cast_batch
from atlas_core.contracts import Contract
from atlas_core.errors import AtlasError
from atlas_core.quality.plan import RulePlan
from atlas_core.sql_casting import MIN_SERVER_VERSION, sql_typable, typed_rows
from atlas_core.standardize import StandardizeCounts
from atlas_engine.parallel import in_groups, run_parallel
from atlas_engine.quality_plan import plan_for_load, write_verdicts
from atlas_engine.repair import Digest, RepairSources, protect_values, repair_load, repairing
from atlas_engine.silver_guard import drop_quietly, exclusive_build
from atlas_engine.silver_lake import PendingObjects, export_parquet, export_staged
from atlas_engine.silver_publish import partition_filter, passing_rows, publish, select_where, silver_schema
from atlas_engine.staging import (
    BatchTransform,
    IdentityTransform,
    StagedLoad,
    passes_through,
    removes_staged_rows,
    staging_schema,
)
from atlas_engine.tables import analyze_table, bronze_schema, ensure_bronze_table, ensure_table
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Table, Warehouse


class QualityGateFailed(AtlasError):
    """A rule with ``on_fail: fail`` caught rows: nothing was published."""


@dataclass
class SilverResult:
    dataset: str
    partitions: list[str]
    rows_in: int
    rows_silver: int
    rows_quarantined: int
    rule_failures: dict[str, int] = field(default_factory=dict)
    dimension_failed_rows: dict[str, int] = field(default_factory=dict)
    schema: pa.Schema | None = None
    lake_objects: list[str] = field(default_factory=list)
    standardized: dict[str, dict[str, int]] = field(default_factory=dict)
    """Cells changed per column and standardization step."""
    repaired_cells: dict[str, int] = field(default_factory=dict)
    """Cells repaired per ``on_fail: repair`` rule."""

    def dimension_scores(self) -> dict[str, float]:
        if not self.rows_in:
            return dict.fromkeys(self.dimension_failed_rows, 1.0)
        return {d: 1 - n / self.rows_in for d, n in self.dimension_failed_rows.items()}


def build_silver(
    wh: Warehouse,
    lake: Lake | None,
    contract: Contract,
    partition_keys: list[str] | None,
    *,
    run_id: str,
    transform: BatchTransform | None = None,
    plan: RulePlan | None = None,
    on_staged: Callable[[StagedLoad], None] | None = None,
    transform_factory: Callable[[StagedLoad], BatchTransform] | None = None,
    digest: Digest | None = None,
    scan_staged: Callable[[StagedLoad], None] | None = None,
) -> SilverResult:
    """Rebuild the given silver partitions (all rows when the dataset is unpartitioned).

    ``on_staged`` runs once the load is classified (erased subjects removed), in a second thread while
    the load is published (one core scores, the other publishes); the publish commits only once it has
    returned, and not if it raised. When the transform passes rows through unchanged, the lake export
    also runs beside the publish, from the staged rows, into hidden ``_tmp/`` objects that are moved to
    their keys once the publish committed (deleted if it did not); the commit waits for the export, so
    a failed export publishes nothing. Otherwise the export reads silver after the commit.

    ``digest`` (an HMAC of the PII key) replaces the values of PII columns in the repair audit trail;
    without it those values are withheld.

    ``scan_staged`` (e.g. Soda's checks) only reads the staged rows: it starts in a third thread as soon
    as they are final, so it overlaps the rule statement (one core) and the classification, and
    ``on_staged`` starts once it has returned. The rows are final after the repairs, unless
    ``transform_factory`` may still remove some (:func:`removes_staged_rows`): then the scan starts after
    it.
    """
    transform = transform or IdentityTransform()
    keys = partition_keys if partition_keys is not None else [layout.UNPARTITIONED]
    plan = plan or plan_for_load(wh, contract, keys)
    dataset = contract.dataset
    suffix = uuid.uuid4().hex[:8]
    staging: Table = (layout.STAGING_SCHEMA, f"{dataset[:40]}__{suffix}")
    verdicts: Table = (layout.STAGING_SCHEMA, f"{dataset[:40]}__{suffix}_v")
    repairs: Table = (layout.STAGING_SCHEMA, f"{dataset[:40]}__{suffix}_r")
    bronze: Table = (layout.Layer.BRONZE.schema, dataset)
    scanning: Future[None] | None = None
    scoring: Future[None] | None = None
    exporting: Future[None] | None = None
    pending: PendingObjects | None = None  # the lake objects exported beside the publish
    committed = False
    with (
        exclusive_build(wh, dataset),  # one build of a dataset at a time; sweeps orphaned staging tables
        ThreadPoolExecutor(3, thread_name_prefix="atlas-beside") as beside,
    ):
        try:
            counts = StandardizeCounts()
            rows_in = _stage(wh, contract, bronze, staging, keys, counts)
            repaired: dict[str, int] = {}
            if repairing(contract):
                silver_table: Table = (layout.Layer.SILVER.schema, dataset)
                sources = RepairSources(silver_table if wh.table_exists(silver_table) else None, keys)
                repaired = repair_load(wh, contract, staging, bronze, repairs, sources, digest)
            early = StagedLoad(contract, staging, verdicts, keys, run_id, rows_in, plan)
            if scan_staged is not None and not (
                transform_factory is not None and removes_staged_rows(transform_factory, early)
            ):
                scanning = beside.submit(contextvars.copy_context().run, scan_staged, early)
            with wh.connect(autocommit=True) as conn:
                write_verdicts(conn, plan, staging, verdicts)
                analyze_table(conn, verdicts)
                failures = _rule_failures(conn, verdicts)
            dims = _dimension_failures(wh, plan, verdicts)
            fatal = {r.id: failures[r.id] for r in plan.rules if r.on_fail == "fail" and failures.get(r.id)}
            if fatal:
                listed = ", ".join(f"{rule} ({n} rows)" for rule, n in sorted(fatal.items()))
                raise QualityGateFailed(f"{dataset}: blocking rule(s) failed, nothing published: {listed}")
            standardized = counts.as_dict()
            if transform_factory is not None:  # e.g. PII: classify from the staged rows, then transform
                transform = transform_factory(
                    StagedLoad(contract, staging, verdicts, keys, run_id, rows_in, plan)
                )
                classified = getattr(getattr(transform_factory, "policy", None), "pii_columns", None)
                if repaired and classified:  # columns found to hold PII: their repair values are not kept raw
                    protect_values(wh, repairs, sorted(classified), digest)
            staged = StagedLoad(
                contract, staging, verdicts, keys, run_id, rows_in, plan, standardized, repaired
            )
            if scan_staged is not None and scanning is None:
                scanning = beside.submit(contextvars.copy_context().run, scan_staged, staged)
            if on_staged is not None:  # e.g. quality scoring: it only reads staging
                scoring = beside.submit(contextvars.copy_context().run, _after, scanning, on_staged, staged)
            quarantine_ids = [r.id for r in plan.rules if r.on_fail == "quarantine"]
            if lake is not None and passes_through(transform, arrow_schema(contract)):
                columns = silver_schema(contract, transform)
                rows = passing_rows(columns.names, staging, verdicts)
                pending = PendingObjects(lake)
                exporting = beside.submit(
                    contextvars.copy_context().run,
                    export_staged,
                    wh,
                    contract,
                    columns,
                    keys,
                    rows,
                    (quarantine_ids,),
                    pending,
                )
            rows_silver, rows_quarantined, schema = publish(
                wh,
                contract,
                transform,
                staging,
                verdicts,
                bronze,
                keys,
                quarantine_ids,
                run_id,
                repairs if repairing(contract) else None,
                standardized,
                before_commit=lambda: [f.result() for f in (scanning, scoring, exporting) if f is not None],
            )
            committed = True
        finally:
            running: list[Future[Any]] = [f for f in (scanning, scoring, exporting) if f is not None]
            wait(running)  # they may still read staging
            drop_quietly(wh, (staging, verdicts, repairs))
            if pending is not None and not committed:
                pending.discard()
        result = SilverResult(
            dataset,
            keys,
            rows_in,
            rows_silver,
            rows_quarantined,
            failures,
            dims,
            schema,
            standardized=standardized,
            repaired_cells=repaired,
        )
        if pending is not None:
            result.lake_objects = pending.publish()
        elif lake is not None:
            result.lake_objects = export_parquet(wh, lake, contract, schema, keys)
    return result


def _after(first: Future[None] | None, hook: Callable[[StagedLoad], None], staged: StagedLoad) -> None:
    """Run ``hook`` once ``first`` has returned (its exception is raised instead)."""
    if first is not None:
        first.result()
    hook(staged)


def _stage(
    wh: Warehouse,
    contract: Contract,
    bronze: Table,
    staging: Table,
    keys: list[str],
    counts: StandardizeCounts | None = None,
    *,
    in_database: bool | None = None,
) -> int:
    """Type bronze's unmalformed rows into staging; returns the rows staged.

    Inside PostgreSQL (``INSERT ... SELECT``) when the server and every column allow it
    (:mod:`atlas_core.sql_casting`), else streamed through the Arrow caster. ``in_database`` forces
    a path (the tests compare the two).
    """
    passthrough = [layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]
    rows, params = _well_formed(keys)
    with wh.connect(autocommit=True) as conn:
        ensure_bronze_table(conn, contract)
        ensure_table(conn, *staging, staging_schema(contract), unlogged=True)
        if in_database is None:
            in_database = types_in_database(conn, contract)
        if in_database:
            staged = _stage_in_database(wh, contract, bronze, staging, keys)
        else:
            source_columns = [*contract.column_names, *passthrough]
            source_schema = pa.schema([bronze_schema(contract).field(c) for c in source_columns])
            query = select_where(source_columns, bronze, rows)
            with closing(wh.stream(query, source_schema, params)) as batches:
                staged = Warehouse.copy_batches(
                    conn, staging, (cast_batch(b, contract, passthrough, counts) for b in batches)
                )
        analyze_table(conn, staging)
        return staged


def _well_formed(keys: list[str]) -> tuple[sql.Composable, tuple[object, ...]]:
    """Bronze's rows of the given days that parsed (a ragged row keeps only its raw line)."""
    where, params = partition_filter(keys)
    return sql.SQL("{} AND {} IS NULL").format(where, sql.Identifier(layout.RAW_LINE)), params


def _stage_in_database(
    wh: Warehouse, contract: Contract, bronze: Table, staging: Table, keys: list[str]
) -> int:
    """Type inside PostgreSQL; the days of a partitioned load are split over a few connections, because
    one statement runs on one core."""
    passthrough = [layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]
    columns = [*contract.column_names, *passthrough, layout.CAST_ERRORS]

    def insert(group: list[str]) -> int:
        rows, params = _well_formed(group)
        with wh.connect(autocommit=True) as conn:
            return conn.execute(
                sql.SQL("INSERT INTO {} ({}) {}").format(
                    sql.Identifier(*staging),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    typed_rows(contract, sql.Identifier(*bronze), rows, passthrough),
                ),
                params,
            ).rowcount

    return sum(run_parallel(insert, in_groups(keys)))


def types_in_database(conn: psycopg.Connection, contract: Contract) -> bool:
    """Whether silver types ``contract``'s rows inside this server (else with Arrow)."""
    return sql_typable(contract) and conn.info.server_version >= MIN_SERVER_VERSION


def _rule_failures(conn: psycopg.Connection, verdicts: Table) -> dict[str, int]:
    rows = conn.execute(
        sql.SQL("SELECT rule_id, count(*) FROM {}, unnest({}) AS rule_id GROUP BY rule_id").format(
            sql.Identifier(*verdicts), sql.Identifier(layout.RULE_IDS)
        )
    ).fetchall()
    return {rule_id: int(n) for rule_id, n in rows}


def _dimension_failures(wh: Warehouse, plan: RulePlan, verdicts: Table) -> dict[str, int]:
    """Rows failing at least one rule of each dimension (dimensions without rules fail no rows)."""
    from atlas_core.contracts.fields import Dimension

    out: dict[str, int] = {}
    with wh.connect(autocommit=True) as conn:
        for dim in Dimension:
            ids = [r.id for r in plan.rules if r.dimension == dim]
            if not ids:
                out[dim.value] = 0
                continue
            n = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} && %s::text[]").format(
                    sql.Identifier(*verdicts), sql.Identifier(layout.RULE_IDS)
                ),
                (ids,),
            ).fetchone()
            out[dim.value] = int(n[0]) if n else 0
    return out
