"""``POST /datasets/{dataset}/files``: upload a file to the lake's landing area and ingest it into bronze.

The upload is stored as ``atlas-bronze/landing/<dataset>/<filename>`` and then ingested synchronously
with ``atlas_engine.bronze.ingest_file`` (raw copy under ``raw/``, rows appended to bronze, one record
in ``atlas_meta.ingestions``; idempotent by content). Building silver and beyond from it is a run
(``POST /runs``) or the platform's schedules/sensors.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile

from atlas_api import crud
from atlas_api.api.deps import (
    DatasetPath,
    ServicesDep,
    TriggerDep,
    client_of,
    rate_limited,
)
from atlas_api.core.problems import Problem, not_found, unprocessable
from atlas_api.core.services import Services
from atlas_api.models import IngestionOut
from atlas_core import layout
from atlas_core.errors import InputRejected

router = APIRouter(prefix="/datasets", tags=["datasets"])
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CHUNK = 1024 * 1024


def landing_key(dataset: str, filename: str) -> str:
    return f"landing/{dataset}/{filename}"


def _ingest(services: Services, dataset: str, path: FsPath) -> tuple[Any, str]:
    from atlas_engine.bronze import ingest_file
    from atlas_resources.warehouse import Warehouse

    lake = services.lake()
    bucket = layout.Layer.BRONZE.bucket
    lake.ensure_buckets([bucket])
    key = landing_key(dataset, path.name)
    lake.put_file(bucket, key, path)
    warehouse = Warehouse(services.settings.postgres_url or "", batch_size=services.settings.batch_size)
    record = ingest_file(warehouse, lake, services.contracts[dataset], path, source_system="api",
                         batch_rows=services.settings.batch_size)
    return record, lake.uri(bucket, key)


async def _spool(upload: UploadFile, target: FsPath, max_bytes: int) -> int:
    size = 0
    with open(target, "wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise Problem(413, f"file larger than {max_bytes} bytes")
            out.write(chunk)
    return size


@router.post(
    "/{dataset}/files", status_code=201, response_model=IngestionOut,
    dependencies=[Depends(rate_limited("triggers"))],
    responses={404: {"description": "Unknown dataset"}, 413: {"description": "Too large"},
               422: {"description": "File rejected (the reason names file, row or column)"}},
)
async def upload_file(
    dataset: DatasetPath, file: Annotated[UploadFile, File(description="A CSV file of the dataset")],
    principal: TriggerDep, services: ServicesDep, request: Request,
) -> IngestionOut:
    """Store the file in the landing area and ingest it into bronze; returns the ingestion record."""
    if dataset not in services.contracts:
        raise not_found(f"unknown dataset {dataset!r}")
    filename = FsPath(file.filename or "").name
    if not FILENAME.match(filename):
        raise unprocessable("file name: use letters, digits, '.', '_' and '-' (at most 200 characters)")
    workdir = FsPath(tempfile.mkdtemp(prefix="atlas-upload-"))
    outcome, detail = "error", {"file": filename}
    try:
        path = workdir / filename
        detail["bytes"] = str(await _spool(file, path, services.settings.api_upload_max_bytes))
        try:
            record, landing_uri = await asyncio.to_thread(_ingest, services, dataset, path)
        except InputRejected as exc:
            outcome, detail["reason"] = "rejected", str(exc)
            raise unprocessable(str(exc)) from None
        outcome = record.status
        detail.update(sha256=record.sha256, rows=str(record.rows_bronze))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        async with services.pool.connection() as conn:
            await crud.audit(conn, "dataset.upload", outcome, principal=principal.audit_name,
                             role=principal.role.value, target=f"dataset:{dataset}", detail=detail,
                             request_id=request.state.request_id, client=client_of(request))
    services.metrics.triggers.labels("upload").inc()
    await services.cache.invalidate()
    return IngestionOut(
        dataset=record.dataset, file=record.file, sha256=record.sha256, status=record.status, reason=record.reason,
        rows_bronze=record.rows_bronze, rows_quarantined=record.rows_quarantined,
        partition_keys=record.partition_keys, lake_uri=record.lake_uri, landing_uri=landing_uri,
        ingested_at=record.ingested_at,
    )
