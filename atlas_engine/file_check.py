"""``atlas quality check``: the silver quality engine run on one CSV file, outside the pipeline.

The file is loaded into a private scratch schema (raw text rows, then typed staging rows), the
contract's standardizers, repairs, rules and Soda checks run exactly as for a silver load, a JSON
report, a CSV of quarantined rows and a CSV of the rows that would reach silver are written, and the
scratch schema is dropped - nothing is published.

References: a reference to another dataset is checked against the warehouse's silver table of that
dataset when it exists; otherwise the rule is reported with ``"evaluated": false`` (never counted
as passed). A self-reference is checked against the file's own rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.casting import cast_batch
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import ColumnType, Dimension
from atlas_core.contracts.rule_specs import Reference
from atlas_core.contracts.sources import FileSource
from atlas_core.csvio import iter_csv_batches, with_block_fallback
from atlas_core.csvsafe import neutralised_sql
from atlas_core.errors import InputRejected
from atlas_core.file_scan import PartitionMapper
from atlas_core.quality.relations import ReferenceTarget
from atlas_core.quality.rules import compile_rules
from atlas_core.standardize import StandardizeCounts
from atlas_engine.bronze import RULE_MALFORMED, RULE_UNMAPPABLE
from atlas_engine.quality import QualityReport, evaluate
from atlas_engine.quality_plan import reference_resolver, validate_expressions, write_verdicts
from atlas_engine.repair import RepairSources, repair_load, repairing
from atlas_engine.staging import StagedLoad, staging_schema
from atlas_engine.tables import bronze_schema, ensure_table
from atlas_resources.warehouse import Table, Warehouse

REASONS = "_atlas_reasons"
FILE_INGESTION_ID = 1


@dataclass
class FileCheck:
    report: dict[str, Any]
    quarantined_rows: int


def _raw_batches(path: Path, contract: Contract, block_size: int) -> Iterator[pa.RecordBatch]:
    delimiter = contract.source.delimiter if isinstance(contract.source, FileSource) else ","
    mapper = PartitionMapper(contract)
    schema = bronze_schema(contract)
    now = datetime.now(UTC)
    for batch in iter_csv_batches(path, contract.column_names, delimiter=delimiter, block_size=block_size):
        n = batch.num_rows
        yield pa.RecordBatch.from_arrays(
            [
                *(batch.column(c) for c in contract.column_names),
                pa.array([FILE_INGESTION_ID] * n, pa.int64()),
                batch.column(layout.ROW_NUMBER),
                mapper.keys(batch),
                batch.column(layout.RAW_LINE),
                pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            ],
            schema=schema,
        )


def _stage(wh: Warehouse, contract: Contract, raw: Table, staging: Table, counts: StandardizeCounts) -> int:
    columns = [*contract.column_names, layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]
    schema = pa.schema([bronze_schema(contract).field(c) for c in columns])
    query = sql.SQL("SELECT {} FROM {} WHERE {} IS NULL AND {} IS NOT NULL").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.Identifier(*raw),
        sql.Identifier(layout.RAW_LINE),
        sql.Identifier(layout.PARTITION),
    )
    passthrough = [layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]
    with wh.connect(autocommit=True) as conn:
        ensure_table(conn, *staging, staging_schema(contract))
        with closing(wh.stream(query, schema)) as batches:
            return Warehouse.copy_batches(
                conn, staging, (cast_batch(b, contract, passthrough, counts) for b in batches)
            )


def _self_or_warehouse(wh: Warehouse, contract: Contract):
    warehouse = reference_resolver(wh, contract, [])

    def resolve(ref: Reference) -> ReferenceTarget:
        if ref.dataset == contract.dataset:
            return ReferenceTarget(None, include_staged=True)
        return warehouse(ref)

    return resolve


def _write_quarantine(
    wh: Warehouse, contract: Contract, raw: Table, verdicts: Table, quarantine_ids: list[str], out: Path
) -> int:
    """Every quarantined row with its columns as read, plus ``_atlas_reasons`` (rule ids joined by ``;``)."""
    cols = sql.SQL(", ").join(sql.Identifier("r", c) for c in contract.column_names)
    iid, rno, part = (
        sql.Identifier(layout.INGESTION_ID),
        sql.Identifier(layout.ROW_NUMBER),
        sql.Identifier(layout.PARTITION),
    )
    # Ordered by source row; the row number is not emitted.
    ordered = sql.SQL(
        "SELECT {outer} FROM (SELECT {cols}, r.{rno} AS _rn, "
        "array_to_string(v.{rules}, ';') AS {reasons} FROM {raw} r "
        "JOIN {ver} v ON v.{iid} = r.{iid} AND v.{rno} = r.{rno} WHERE v.{rules} && {ids}::text[] "
        "UNION ALL SELECT {cols}, r.{rno}, CASE WHEN r.{line} "
        "IS NOT NULL THEN {malformed} ELSE {unmappable} END "
        "FROM {raw} r WHERE r.{part} IS NULL) AS q ORDER BY _rn"
    ).format(
        outer=sql.SQL(", ").join(  # formulas neutralised for spreadsheets (atlas_core/csvsafe.py)
            sql.SQL("{} AS {}").format(neutralised_sql(sql.Identifier(c)), sql.Identifier(c))
            for c in [*contract.column_names, REASONS]
        ),
        cols=cols,
        rules=sql.Identifier(layout.RULE_IDS),
        reasons=sql.Identifier(REASONS),
        raw=sql.Identifier(*raw),
        ver=sql.Identifier(*verdicts),
        iid=iid,
        rno=rno,
        part=part,
        ids=sql.Literal(quarantine_ids),
        line=sql.Identifier(layout.RAW_LINE),
        malformed=sql.Literal(RULE_MALFORMED),
        unmappable=sql.Literal(RULE_UNMAPPABLE),
    )
    return _copy_to_csv(wh, ordered, out)


def _write_passing(
    wh: Warehouse, contract: Contract, staging: Table, verdicts: Table, quarantine_ids: list[str], out: Path
) -> int:
    """The rows that would reach silver: standardized, repaired and typed, under the contract's column
    names."""
    rno, iid = sql.Identifier(layout.ROW_NUMBER), sql.Identifier(layout.INGESTION_ID)
    columns = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(
            neutralised_sql(sql.Identifier("s", c.name))
            if c.type == ColumnType.STRING
            else sql.Identifier("s", c.name),
            sql.Identifier(c.name),
        )
        for c in contract.columns
    )
    query = sql.SQL(
        "SELECT {cols} FROM {stg} s WHERE NOT EXISTS (SELECT 1 "
        "FROM {ver} v WHERE v.{iid} = s.{iid} AND v.{rno} = s.{rno} "
        "AND v.{rules} && {ids}::text[]) ORDER BY s.{rno}"
    ).format(
        cols=columns,
        stg=sql.Identifier(*staging),
        ver=sql.Identifier(*verdicts),
        iid=iid,
        rno=rno,
        rules=sql.Identifier(layout.RULE_IDS),
        ids=sql.Literal(quarantine_ids),
    )
    return _copy_to_csv(wh, query, out, utc=True)


def _copy_to_csv(wh: Warehouse, query: sql.Composable, out: Path, *, utc: bool = False) -> int:
    """Write the rows of ``query`` to ``out`` as CSV with a header (replaced whole); returns the row count.
    ``utc``: timestamps rendered in UTC."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with wh.connect() as conn, conn.cursor() as cur, open(tmp, "wb") as fh:
        if utc:
            conn.execute("SET TIME ZONE 'UTC'")
        with cur.copy(sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(query)) as copy:
            for chunk in copy:
                fh.write(chunk)
        written = cur.rowcount
    tmp.replace(out)
    return written


def _count(wh: Warehouse, query: sql.Composable) -> int:
    return int(wh.scalar(query) or 0)  # type: ignore[call-overload]


def _report_json(
    contract: Contract,
    path: Path,
    report: QualityReport,
    rows: int,
    quarantined: int,
    ingestion_rules: dict[str, int],
    fatal: list[str],
) -> dict[str, Any]:
    dimensions = {}
    for dim in Dimension:
        overall = report.overall(dim)
        # One file is one load: its dimensions pass on the file's score (partitions are not reported apart).
        passed = overall.score >= overall.threshold and not overall.soda_failed
        dimensions[dim.value] = {
            "score": round(overall.score, 6),
            "threshold": overall.threshold,
            "passed": passed,
            "failed_rows": overall.failed_rows,
            "rows_evaluated": overall.rows_evaluated,
            "soda_failed": overall.soda_failed,
        }
    rules = [r.as_json() for r in report.rules]
    rules += [
        {
            "id": rule_id,
            "dimension": Dimension.VALIDITY.value,
            "columns": [],
            "failed_rows": n,
            "kind": "ingestion",
            "on_fail": "quarantine",
            "evaluated": True,
        }
        for rule_id, n in ingestion_rules.items()
        if n
    ]
    return {
        "file": path.name,
        "dataset": contract.dataset,
        "rows": rows,
        "passed_rows": rows - quarantined,
        "quarantined_rows": quarantined,
        "dimensions": dimensions,
        "rules": rules,
        "soda": [
            {
                "id": s.check_id,
                "type": s.check_type,
                "dimension": s.dimension.value,
                "column": s.column,
                "outcome": s.outcome,
                "metrics": s.metrics,
            }
            for s in report.soda
        ],
        "samples": report.samples,
        "standardized": report.standardized,
        "repaired_cells": report.repaired_cells,
        "load_would_be_refused": bool(fatal),
        "refusing_rules": fatal,
    }


def check_file(
    wh: Warehouse,
    contract: Contract,
    path: Path,
    *,
    report_path: Path | None = None,
    quarantine_path: Path | None = None,
    run_soda: bool = True,
    out_path: Path | None = None,
) -> FileCheck:
    """Evaluate ``path`` against ``contract`` in a scratch schema (dropped afterwards)."""
    if not path.is_file():
        raise InputRejected(f"{path}: no such file")
    validate_expressions(wh, contract)
    schema = f"atlas_scratch_{uuid.uuid4().hex[:12]}"
    raw: Table = (schema, "raw")
    staging: Table = (schema, "staging")
    verdicts: Table = (schema, "verdicts")
    with wh.connect(autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:

        def load(block_size: int) -> int:
            with wh.transaction() as conn:  # a second pass with larger blocks starts from nothing
                ensure_table(conn, *raw, bronze_schema(contract))
                return Warehouse.copy_batches(conn, raw, _raw_batches(path, contract, block_size))

        rows = with_block_fallback(load)
        if rows == 0:
            raise InputRejected(f"{path.name}: header only, no data rows")
        counts = StandardizeCounts()
        staged_rows = _stage(wh, contract, raw, staging, counts)
        repaired = (
            repair_load(wh, contract, staging, raw, (schema, "repairs"), RepairSources(None, []))
            if repairing(contract)
            else {}
        )
        keys = [
            r[0]
            for r in wh.fetch_all(
                sql.SQL("SELECT DISTINCT {} FROM {} ORDER BY 1").format(
                    sql.Identifier(layout.PARTITION), sql.Identifier(*staging)
                )
            )
        ]
        keys = keys or ([] if contract.is_partitioned else [layout.UNPARTITIONED])
        plan = compile_rules(
            contract, resolve_reference=_self_or_warehouse(wh, contract), partition_keys=keys
        )
        with wh.connect(autocommit=True) as conn:
            write_verdicts(conn, plan, staging, verdicts)
        staged = StagedLoad(
            contract,
            staging,
            verdicts,
            keys,
            f"file-check-{schema[-12:]}",
            staged_rows,
            plan,
            counts.as_dict(),
            repaired,
        )
        report = evaluate(wh, staged, run_soda=run_soda)
        quarantine_ids = plan.ids(on_fail="quarantine")
        ingestion_rules = {
            RULE_MALFORMED: _count(
                wh,
                sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(
                    sql.Identifier(*raw), sql.Identifier(layout.RAW_LINE)
                ),
            ),
            RULE_UNMAPPABLE: _count(
                wh,
                sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL AND {} IS NULL").format(
                    sql.Identifier(*raw), sql.Identifier(layout.PARTITION), sql.Identifier(layout.RAW_LINE)
                ),
            ),
        }
        quarantined = sum(ingestion_rules.values()) + _count(
            wh,
            sql.SQL("SELECT count(*) FROM {} WHERE {} && {}::text[]").format(
                sql.Identifier(*verdicts), sql.Identifier(layout.RULE_IDS), sql.Literal(quarantine_ids)
            ),
        )
        if quarantine_path is not None:
            written = _write_quarantine(wh, contract, raw, verdicts, quarantine_ids, quarantine_path)
            assert written == quarantined, (written, quarantined)
        if out_path is not None:
            passing = _write_passing(wh, contract, staging, verdicts, quarantine_ids, out_path)
            assert passing == rows - quarantined, (passing, rows, quarantined)
        fatal = [r.id for r in report.rules if r.on_fail == "fail" and r.failed_rows]
        result = _report_json(contract, path, report, rows, quarantined, ingestion_rules, fatal)
    finally:
        with wh.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return FileCheck(result, quarantined)
