"""``/auth``: log in, rotate refresh tokens (reuse revokes the family), log out; ``/me``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from atlas_api import crud
from atlas_api.api.deps import ConnDep, PrincipalDep, ServicesDep, client_of, record_auth_failure
from atlas_api.core import security
from atlas_api.core.db import Conn
from atlas_api.core.problems import unauthorized
from atlas_api.core.services import Services
from atlas_api.models import LoginRequest, Me, RefreshRequest, TokenPair
from atlas_core.roles import Role

router = APIRouter(prefix="/auth", tags=["auth"])
me_router = APIRouter(tags=["auth"])


async def _issue_pair(conn: Conn, services: Services, username: str, role: Role, family: str) -> TokenPair:
    s = services.settings
    secret = s.jwt_secret.get_secret_value()

    def encode(token_type: security.TokenType, lifetime: timedelta) -> tuple[str, security.TokenClaims]:
        return security.encode_token(
            secret, subject=username, role=role, token_type=token_type, family=family, lifetime=lifetime
        )

    access, _ = encode("access", timedelta(minutes=s.access_token_minutes))
    refresh, claims = encode("refresh", timedelta(days=s.refresh_token_days))
    await crud.store_refresh_token(conn, claims)
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=s.access_token_minutes * 60)


async def _refresh_claims(
    body: RefreshRequest, request: Request, services: Services, action: str
) -> security.TokenClaims:
    """The claims of a valid refresh token; an invalid one is an audited auth failure (401)."""
    try:
        return security.decode_token(
            services.settings.jwt_secret.get_secret_value(), body.refresh_token, "refresh"
        )
    except security.InvalidToken as exc:
        await record_auth_failure(services, f"{action}: {exc}", request)
        raise unauthorized(str(exc)) from None


@router.post(
    "/token", response_model=TokenPair, responses={401: {"description": "Wrong username or password"}}
)
async def login(body: LoginRequest, request: Request, services: ServicesDep, conn: ConnDep) -> TokenPair:
    """Exchange a username and password for an access token (60 min) and a refresh token (7 days)."""
    found = await crud.user_credentials(conn, body.username)
    ok = await asyncio.to_thread(security.verify_password, body.password, found[1] if found else None)
    if found is None or not ok:
        await record_auth_failure(services, "bad username or password", request)
        raise unauthorized("wrong username or password")
    user_id, _, role = found
    async with conn.transaction():
        family = await crud.start_family(conn, user_id)
        return await _issue_pair(conn, services, body.username, role, family)


@router.post(
    "/refresh", response_model=TokenPair, responses={401: {"description": "Invalid, expired or reused"}}
)
async def refresh(body: RefreshRequest, request: Request, services: ServicesDep, conn: ConnDep) -> TokenPair:
    """A new pair for a refresh token. The old one dies; presenting it again revokes the whole family."""
    claims = await _refresh_claims(body, request, services, "refresh")
    reason: str | None = None
    async with conn.transaction():
        state = await crud.claim_refresh_token(conn, claims)
        if state is None:
            reason = "unknown refresh token"
        elif state.family_revoked:
            reason = "refresh token revoked"
        elif state.used:
            await crud.revoke_family(conn, claims.family, "refresh token reuse")
            reason = "refresh token reused: all tokens of this login are revoked"
        elif not state.user_active:
            reason = "user disabled"
        else:
            return await _issue_pair(conn, services, state.username, state.role, claims.family)
    await record_auth_failure(services, f"refresh: {reason}", request)
    raise unauthorized(reason)


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses={401: {"description": "Invalid refresh token"}},
)
async def logout(body: RefreshRequest, request: Request, services: ServicesDep, conn: ConnDep) -> Response:
    """Revoke the refresh token's family (its access tokens stop working too)."""
    claims = await _refresh_claims(body, request, services, "logout")
    await crud.revoke_family(conn, claims.family, "logout")
    await crud.audit(
        conn,
        "auth.logout",
        "ok",
        principal=f"user:{claims.subject}",
        role=claims.role.value,
        request_id=request.state.request_id,
        client=client_of(request),
    )
    return Response(status_code=204)


@me_router.get("/me", response_model=Me, response_model_exclude_none=True)
async def me(principal: PrincipalDep) -> Me:
    """Who the credentials belong to (``chat_user`` only when a chat relay key acts for a linked identity)."""
    return Me(kind=principal.kind, name=principal.name, role=principal.role, chat_user=principal.chat_user)
