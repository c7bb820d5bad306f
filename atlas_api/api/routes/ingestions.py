"""``GET /ingestions``: the ingestion ledger (``atlas_meta.ingestions``), newest first.

Every file Atlas looked at: accepted, duplicate or rejected (with the same one-line reason the CLI
prints), with the Dagster run that ingested it. Filter by dataset or by run (an upload's ``run_id``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from psycopg import sql

from atlas_api.api.deps import RUN_ID_PATTERN, LedgerReaderDep, ServicesDep
from atlas_api.models import IngestionList, IngestionOut
from atlas_core.identifiers import IDENTIFIER_RE

router = APIRouter(prefix="/ingestions", tags=["ingestions"])
SELECT = sql.SQL(
    "SELECT dataset, source_file, sha256, status, reason, rows_bronze, rows_silver, rows_quarantined, "
    "source_system, run_id, ingested_at FROM atlas_meta.ingestions"
)


@router.get("", response_model=IngestionList)
async def list_ingestions(
    principal: LedgerReaderDep,
    services: ServicesDep,
    dataset: Annotated[str | None, Query(pattern=IDENTIFIER_RE.pattern)] = None,
    run_id: Annotated[
        str | None, Query(pattern=RUN_ID_PATTERN, description="Only the files of this run")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> IngestionList:
    """Ingestion records, newest first (file names and reasons; never row values)."""
    filters, params = [], []
    for column, value in (("dataset", dataset), ("run_id", run_id)):
        if value is not None:
            filters.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(filters) if filters else sql.SQL("")
    query = sql.Composed([SELECT, where, sql.SQL(" ORDER BY ingested_at DESC, ingestion_id DESC LIMIT %s")])
    async with services.pool.connection() as conn:
        cur = await conn.execute(query, [*params, limit])
        rows = await cur.fetchall()
    return IngestionList(
        items=[
            IngestionOut(
                dataset=r["dataset"],
                file=r["source_file"],
                sha256=r["sha256"],
                status=r["status"],
                reason=r["reason"],
                rows_bronze=int(r["rows_bronze"] or 0),
                rows_silver=r["rows_silver"],
                rows_quarantined=r["rows_quarantined"],
                source_system=r["source_system"],
                run_id=r["run_id"],
                ingested_at=r["ingested_at"].isoformat(),
            )
            for r in rows
        ]
    )
