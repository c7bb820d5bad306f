"""``/pii``: PII reports of a dataset (audited reads) and audited decryption of silver ciphertexts."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from atlas_api.api.deps import AdminDep, DatasetPath, RawReaderDep, ServicesDep, audit_action
from atlas_api.core import reads
from atlas_api.core.problems import not_found, unprocessable
from atlas_api.core.services import Services
from atlas_api.models import DecryptOut, DecryptRequest, PiiColumn, PiiReportOut
from atlas_core.errors import AtlasError, ServiceUnavailable

router = APIRouter(prefix="/pii", tags=["pii"])


@router.get("/{dataset}", response_model=PiiReportOut, responses={404: {"description": "Unknown dataset"}})
async def pii_report(
    dataset: DatasetPath, principal: RawReaderDep, services: ServicesDep, request: Request
) -> PiiReportOut:
    """PII columns (declared in the contract or detected) and the latest reports. Every read is audited."""
    if dataset not in services.contracts:
        raise not_found(f"unknown dataset {dataset!r}")
    declared = reads.declared_pii_columns(services.contracts[dataset])
    async with services.pool.connection() as conn:
        reports = await reads.pii_reports(conn, dataset)
        detected = await reads.reported_pii_columns(conn, dataset)
        await audit_action(
            conn,
            request,
            principal,
            "pii.report_read",
            "ok",
            target=f"dataset:{dataset}",
            detail={"reports": len(reports)},
        )
    return PiiReportOut(
        dataset=dataset,
        columns=[
            PiiColumn(column=c, entity=d["entity"], strategy=d["strategy"] or detected.get(c), declared=True)
            for c, d in sorted(declared.items())
        ]
        + [
            PiiColumn(column=c, strategy=strategy, declared=False)
            for c, strategy in sorted(detected.items())
            if c not in declared
        ],
        reports=reports,
    )


def _decrypt(services: Services, body: DecryptRequest, actor: str) -> list[str]:
    """The PII engine's audited decryption (it refuses columns its policy does not encrypt)."""
    from atlas_engine.pii_decrypt import decrypt_values
    from atlas_resources.warehouse import Warehouse

    warehouse = Warehouse(services.settings.postgres_url or "", batch_size=services.settings.batch_size)
    return decrypt_values(
        warehouse, services.settings, body.dataset, body.column, list(body.values), actor, reason=body.reason
    )


@router.post(
    "/decrypt",
    response_model=DecryptOut,
    responses={404: {"description": "Unknown dataset"}, 422: {"description": "Not decryptable"}},
)
async def decrypt(
    body: DecryptRequest, principal: AdminDep, services: ServicesDep, request: Request
) -> DecryptOut:
    """Decrypt tokens of an ``encrypt``-strategy column (admin only).

    Audited twice: in ``atlas_meta.audit`` (who, column, count, reason) and by the PII engine in
    ``atlas_meta.pii_audit``; neither records a token or a plaintext.
    """
    if body.dataset not in services.contracts:
        raise not_found(f"unknown dataset {body.dataset!r}")
    outcome = "error"
    try:
        values = await asyncio.to_thread(_decrypt, services, body, principal.audit_name)
        outcome = "ok"
    except ServiceUnavailable:
        raise
    except AtlasError as exc:  # not an encrypted column, a malformed or foreign token
        outcome = "refused"
        raise unprocessable(str(exc)) from None
    finally:
        async with services.pool.connection() as conn:
            await audit_action(
                conn,
                request,
                principal,
                "pii.decrypt",
                outcome,
                target=f"{body.dataset}.{body.column}",
                detail={"values": len(body.values), "reason": body.reason},
            )
    return DecryptOut(dataset=body.dataset, column=body.column, values=list(values))
