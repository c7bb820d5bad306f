"""``POST /datasets/{dataset}/files``: land an upload in the lake and launch the Dagster run that ingests it.

The upload is spooled, read once (sha256 and the partitions its rows map to: a read, no write), stored
as ``atlas-bronze/landing/<dataset>/.uploads/<id>/<filename>`` and ingested by a Dagster run launched
over GraphQL: the dataset's bronze asset with run config naming that object, plus silver over the
file's partitions, as the landing sensor's runs do (``atlas_core.upload_runs``). The answer is 202 with
the run id; the run writes the ingestion record (``GET /ingestions?run_id=``) and moves the object to
``processed/`` or ``rejected/``. Landing the upload is the API's only write to the lake; it never
writes the warehouse's layers (an import-linter contract keeps it away from the engine's write paths).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import uuid
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile

from atlas_api.api.deps import DatasetPath, ServicesDep, TriggerDep, audit_action, launch_route, trigger_tags
from atlas_api.core.problems import Problem, not_found, unprocessable
from atlas_api.core.services import Services
from atlas_api.models import UploadAccepted
from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.file_scan import FileScan, scan_file
from atlas_core.upload_runs import upload_run

router = APIRouter(prefix="/datasets", tags=["datasets"])
FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
CHUNK = 1024 * 1024
BUCKET = layout.Layer.BRONZE.bucket


def _scan_and_land(services: Services, contract: Contract, path: FsPath, key: str) -> tuple[FileScan, str]:
    """Read the spooled file once, then store it in the landing area (the API's one lake write)."""
    scan = scan_file(contract, path)
    lake = services.lake()
    lake.ensure_buckets([BUCKET])
    lake.put_file(BUCKET, key, path)
    return scan, lake.uri(BUCKET, key)


def _unland(services: Services, key: str) -> None:
    """The run could not be launched: take the upload back out of the landing area."""
    lake = services.lake()
    if lake.exists(BUCKET, key):
        lake.delete(BUCKET, key)


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
    "/{dataset}/files",
    response_model=UploadAccepted,
    **launch_route(
        {404: "Unknown dataset", 413: "Too large", 422: "Unusable file name", 503: "Dagster unreachable"}
    ),
)
async def upload_file(
    dataset: DatasetPath,
    file: Annotated[UploadFile, File(description="A CSV file of the dataset")],
    principal: TriggerDep,
    services: ServicesDep,
    request: Request,
) -> UploadAccepted:
    """Land the file and launch its ingestion as a Dagster run (bronze, then silver for its partitions).

    Follow the run with ``GET /runs/{run_id}`` or the ``/runs/{run_id}/events`` WebSocket; its outcome
    (accepted, duplicate, rejected with a one-line reason) is in ``GET /ingestions?run_id=...``. A
    rejected or duplicate file ends as a failed run whose error is that reason."""
    contract = services.contracts.get(dataset)
    if contract is None:
        raise not_found(f"unknown dataset {dataset!r}")
    filename = FsPath(file.filename or "").name
    if not FILENAME.match(filename):
        raise unprocessable("file name: use letters, digits, '.', '_' and '-' (at most 200 characters)")
    catalog = await services.catalog()
    bronze = catalog.resolve([f"{layout.Layer.BRONZE.value}/{dataset}"])[0]
    key = layout.upload_key(dataset, uuid.uuid4().hex, filename)
    workdir = FsPath(tempfile.mkdtemp(prefix="atlas-upload-"))
    outcome, detail = "error", {"file": filename}
    landed = False
    try:
        path = workdir / filename
        detail["bytes"] = str(await _spool(file, path, services.settings.api_upload_max_bytes))
        scan, landing_uri = await asyncio.to_thread(_scan_and_land, services, contract, path, key)
        landed = True
        detail["sha256"] = scan.sha256
        plan = upload_run(contract, scan, trigger="api", landing_key=key, require_new=True)
        tags = {
            **plan.tags,
            **plan.partition_tags,
            **trigger_tags(principal, request),
        }
        run_id = await services.dagster.submit_run(
            plan.assets, tags, bronze.location, bronze.repository, run_config=plan.run_config
        )
        outcome, detail["run_id"] = "launched", run_id
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if landed and outcome != "launched":
            await asyncio.to_thread(_unland, services, key)
        async with services.pool.connection() as conn:
            await audit_action(
                conn,
                request,
                principal,
                "dataset.upload",
                outcome,
                target=f"dataset:{dataset}",
                detail=detail,
            )
    services.metrics.triggers.labels("upload").inc()
    base = str(request.base_url).rstrip("/")
    return UploadAccepted(
        run_id=run_id,
        dataset=dataset,
        file=filename,
        sha256=scan.sha256,
        landing_uri=landing_uri,
        assets=["/".join(a) for a in plan.assets],
        partition_keys=scan.partition_keys,
        run_url=f"{base}/api/v1/runs/{run_id}",
        events_url=f"{base.replace('http', 'ws', 1)}/api/v1/runs/{run_id}/events",
        ingestions_url=f"{base}/api/v1/ingestions?run_id={run_id}",
    )
