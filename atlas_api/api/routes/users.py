"""``/users``: admins create users (argon2id hashes in ``atlas_meta.users``)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from atlas_api import crud
from atlas_api.api.deps import AdminDep, ConnDep, audit_action
from atlas_api.models import UserCreate, UserOut

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=201, response_model=UserOut, responses={409: {"description": "The user exists"}})
async def create_user(body: UserCreate, principal: AdminDep, conn: ConnDep, request: Request) -> UserOut:
    """Create a user with a role (admin only)."""
    # A taken name raises AlreadyExists, which the problem handlers answer with 409.
    user = await crud.create_user(conn, body.username, body.password, body.role)
    await audit_action(
        conn,
        request,
        principal,
        "user.create",
        "ok",
        target=f"user:{user.username}",
        detail={"role": user.role.value},
    )
    return user
