"""``/api-keys``: service-account keys bound to a role; created (shown once), listed, revoked by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from atlas_api import crud
from atlas_api.api.deps import AdminDep, ConnDep, audit_action
from atlas_api.core.problems import not_found
from atlas_api.models import ApiKeyCreate, ApiKeyCreated, ApiKeyOut

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post(
    "", status_code=201, response_model=ApiKeyCreated, responses={409: {"description": "Name in use"}}
)
async def create_api_key(
    body: ApiKeyCreate, principal: AdminDep, conn: ConnDep, request: Request
) -> ApiKeyCreated:
    """Create a key; the response is the only place the secret ever appears."""
    # A taken name raises AlreadyExists, which the problem handlers answer with 409.
    record, secret = await crud.create_api_key(conn, body.name, body.role, principal.audit_name)
    await audit_action(
        conn,
        request,
        principal,
        "api_key.create",
        "ok",
        target=f"api_key:{record.key_id}",
        detail={"name": record.name, "role": record.role.value},
    )
    return ApiKeyCreated(**record.model_dump(), api_key=secret)


@router.get("", response_model=list[ApiKeyOut])
async def list_api_keys(principal: AdminDep, conn: ConnDep) -> list[ApiKeyOut]:
    """All keys (active and revoked), without secrets."""
    return await crud.list_api_keys(conn)


@router.delete(
    "/{key_id}", status_code=204, response_class=Response, responses={404: {"description": "No such key"}}
)
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=2**62)], principal: AdminDep, conn: ConnDep, request: Request
) -> Response:
    """Revoke a key: requests with it get 401 from now on."""
    if not await crud.revoke_api_key(conn, key_id):
        raise not_found(f"no active API key {key_id}")
    await audit_action(conn, request, principal, "api_key.revoke", "ok", target=f"api_key:{key_id}")
    return Response(status_code=204)
