"""``/pii``: PII reports of a dataset (audited reads) and audited decryption of silver ciphertexts."""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from atlas_api import crud
from atlas_api.api.deps import Principal, ServicesDep, client_of, require
from atlas_api.core import reads
from atlas_api.core.problems import Problem, not_found, unprocessable
from atlas_api.core.roles import ADMIN_ONLY, RAW_DATA
from atlas_api.core.services import Services
from atlas_api.models import DecryptOut, DecryptRequest, PiiColumn, PiiReportOut
from atlas_core.errors import InputRejected

router = APIRouter(prefix="/pii", tags=["pii"])
RawReaderDep = Annotated[Principal, Depends(require(RAW_DATA))]
AdminDep = Annotated[Principal, Depends(require(ADMIN_ONLY))]
DatasetPath = Annotated[str, Path(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]


@router.get("/{dataset}", response_model=PiiReportOut, responses={404: {"description": "Unknown dataset"}})
async def pii_report(dataset: DatasetPath, principal: RawReaderDep, services: ServicesDep, request: Request) -> PiiReportOut:
    """Declared PII columns (entity, strategy) and the latest detection reports. Every read is audited."""
    if dataset not in services.contracts:
        raise not_found(f"unknown dataset {dataset!r}")
    declared = reads.declared_pii_columns(services.contracts[dataset])
    async with services.pool.connection() as conn:
        reports = await reads.pii_reports(conn, dataset)
        await crud.audit(conn, "pii.report_read", "ok", principal=principal.audit_name, role=principal.role.value,
                         target=f"dataset:{dataset}", detail={"reports": len(reports)},
                         request_id=request.state.request_id, client=client_of(request))
    return PiiReportOut(
        dataset=dataset,
        declared=[PiiColumn(column=c, entity=d["entity"], strategy=d["strategy"], declared=True)
                  for c, d in sorted(declared.items())],
        reports=reports,
    )


def _decrypt(services: Services, body: DecryptRequest, actor: str) -> list[str | None]:
    """Call the PII engine's audited decryption (``atlas_engine.pii.decrypt_values``)."""
    try:
        engine: Any = importlib.import_module("atlas_engine.pii")
        decrypt_values = engine.decrypt_values
    except (ImportError, AttributeError):
        raise Problem(501, "decryption is not available in this installation (atlas_engine.pii.decrypt_values)") from None
    from atlas_resources.warehouse import Warehouse

    warehouse = Warehouse(services.settings.postgres_url or "", batch_size=services.settings.batch_size)
    return list(decrypt_values(warehouse, dataset=body.dataset, column=body.column, values=list(body.values),
                               actor=actor, reason=body.reason))


@router.post("/decrypt", response_model=DecryptOut,
             responses={404: {"description": "Unknown dataset or column"}, 422: {"description": "Not decryptable"}})
async def decrypt(body: DecryptRequest, principal: AdminDep, services: ServicesDep, request: Request) -> DecryptOut:
    """Decrypt ciphertexts of an ``encrypt``-strategy column (admin only; audited with the reason, never values)."""
    contract = services.contracts.get(body.dataset)
    if contract is None:
        raise not_found(f"unknown dataset {body.dataset!r}")
    declared = reads.declared_pii_columns(contract)
    if body.column not in declared:
        raise unprocessable(f"{body.dataset}.{body.column} is not a declared PII column")
    if declared[body.column]["strategy"] != "encrypt":
        raise unprocessable(f"{body.dataset}.{body.column} is not encrypted (strategy "
                            f"{declared[body.column]['strategy']!r}): nothing can be decrypted")
    outcome = "error"
    try:
        values = await asyncio.to_thread(_decrypt, services, body, principal.audit_name)
        outcome = "ok"
    except InputRejected as exc:
        outcome = "rejected"
        raise unprocessable(str(exc)) from None
    finally:
        async with services.pool.connection() as conn:
            await crud.audit(conn, "pii.decrypt", outcome, principal=principal.audit_name, role=principal.role.value,
                             target=f"{body.dataset}.{body.column}",
                             detail={"values": len(body.values), "reason": body.reason},
                             request_id=request.state.request_id, client=client_of(request))
    return DecryptOut(dataset=body.dataset, column=body.column, values=values)
