"""Dependencies: services, the connection, the authenticated principal and role requirements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Path, Request, WebSocket
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from atlas_api import chat_links, crud
from atlas_api.core import security
from atlas_api.core.db import Conn
from atlas_api.core.problems import Problem, forbidden, unauthorized
from atlas_api.core.services import Services
from atlas_core.identifiers import IDENTIFIER_RE
from atlas_core.roles import ADMIN_ONLY, EVERYONE, INGESTION_LEDGER, RAW_DATA, TRIGGER, Role
from atlas_core.tracing import trace_tags

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="Service-account API key")
CHAT_USER_HEADER = "X-Atlas-Chat-User"
TRIGGERED_BY = "atlas/triggered_by"
REQUEST_TAG = "atlas/request_id"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (JWT) or a service account (API key)."""

    kind: Literal["user", "api_key"]
    name: str
    role: Role
    ident: str  # user name or key id: what audit rows and run tags record
    chat_user: str | None = None  # set when a chat relay key acts for this (linked) chat identity

    @property
    def log_id(self) -> str:
        # Access logs carry the kind and a hash-free id, never the token; for users the name is an account id.
        return f"{self.kind}:{self.ident}"

    @property
    def audit_name(self) -> str:
        via = f" chat:{self.chat_user}" if self.chat_user else ""
        return f"{self.kind}:{self.name}{via}"


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_conn(services: ServicesDep) -> AsyncIterator[Conn]:
    async with services.pool.connection() as conn:
        yield conn


ConnDep = Annotated[Conn, Depends(get_conn)]


def client_of(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None


async def audit_action(
    conn: Conn,
    request: Request,
    principal: Principal,
    action: str,
    outcome: str,
    *,
    target: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit row for an action a principal asked for through this request (who, role, request id,
    client)."""
    await crud.audit(
        conn,
        action,
        outcome,
        principal=principal.audit_name,
        role=principal.role.value,
        target=target,
        detail=detail,
        request_id=request.state.request_id,
        client=client_of(request),
    )


def trigger_tags(principal: Principal, request: Request) -> dict[str, str]:
    """Tags of a run the API launches: who asked, through which request, in which trace."""
    return {TRIGGERED_BY: principal.audit_name, REQUEST_TAG: request.state.request_id, **trace_tags()}


@dataclass
class TriggerOutcome:
    """What a successful trigger audits: its target and detail (set with :meth:`ok`)."""

    target: str | None = None
    detail: dict[str, Any] | None = None

    def ok(self, target: str, detail: dict[str, Any]) -> None:
        self.target, self.detail = target, detail


@asynccontextmanager
async def audited_trigger(
    services: Services, request: Request, principal: Principal, action: str, *, target: str, metric: str
) -> AsyncIterator[TriggerOutcome]:
    """Audit the Dagster trigger done in the block as ``action``: ``error`` on ``target`` (exception type
    only) and re-raise, or ``ok`` with what the block passed to ``ok()``; then count it in ``metric``."""
    outcome = TriggerOutcome()
    async with services.pool.connection() as conn:
        try:
            yield outcome
        except Exception as exc:
            await audit_action(
                conn, request, principal, action, "error", target=target, detail={"error": type(exc).__name__}
            )
            raise
        assert outcome.target is not None, "a trigger block ends with ok()"
        await audit_action(
            conn, request, principal, action, "ok", target=outcome.target, detail=outcome.detail
        )
    services.metrics.triggers.labels(metric).inc()


async def record_auth_failure(
    services: Services, reason: str, request: Request | WebSocket, target: str | None = None
) -> None:
    services.metrics.auth_failures.labels(reason).inc()
    async with services.pool.connection() as conn:
        await crud.audit(
            conn,
            "auth.failure",
            "denied",
            target=target or request.url.path,
            detail={"reason": reason},
            request_id=request.scope.get("state", {}).get("request_id"),
            client=client_of(request),
        )


async def _chat_principal(services: Services, chat_user: str | None) -> Principal | str:
    """A relay key acts only as the Atlas user the named chat identity is linked to, with that user's role."""
    if not chat_user:
        return f"a chat relay key needs the {CHAT_USER_HEADER} header"
    async with services.pool.connection() as conn:
        linked = await chat_links.linked_user(conn, chat_user)
    if linked is None:
        return f"chat user {chat_user[:240]!r} is not linked to an Atlas user"
    username, role = linked
    return Principal("user", username, role, username, chat_user=chat_user)


async def authenticate(
    services: Services, token: str | None, api_key: str | None, chat_user: str | None = None
) -> Principal | str:
    """The principal for a bearer token or API key (a relay key: for ``chat_user``), else the failure's
    reason."""
    if api_key:
        async with services.pool.connection() as conn:
            found = await crud.api_key_principal(conn, api_key)
        if found is None:
            return "unknown or revoked API key"
        key_id, name, role, relay = found
        if relay:
            return await _chat_principal(services, chat_user)
        if chat_user is not None:
            return f"{CHAT_USER_HEADER} is accepted only with a chat relay key"
        return Principal("api_key", name, role, str(key_id))
    if chat_user is not None:
        return f"{CHAT_USER_HEADER} is accepted only with a chat relay key"
    if not token:
        return "missing credentials"
    try:
        claims = security.decode_token(services.settings.jwt_secret.get_secret_value(), token, "access")
    except security.InvalidToken as exc:
        return str(exc)
    async with services.pool.connection() as conn:
        if not await crud.access_allowed(conn, claims):
            return "token revoked or role changed"
    return Principal("user", claims.subject, claims.role, claims.subject)


async def current_principal(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    chat_user: Annotated[str | None, Header(alias=CHAT_USER_HEADER, include_in_schema=False)] = None,
) -> Principal:
    result = await authenticate(services, bearer.credentials if bearer else None, api_key, chat_user)
    if isinstance(result, str):
        await record_auth_failure(services, result, request)
        raise unauthorized(result)
    request.state.principal = result
    return result


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(roles: frozenset[Role]) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only ``roles`` (401 without credentials, 403 with the wrong role)."""

    async def check(principal: PrincipalDep, request: Request, services: ServicesDep) -> Principal:
        allowed = principal.role in roles
        if principal.chat_user:
            # Every request the bot relays is audited with the chat identity, reads included.
            async with services.pool.connection() as conn:
                await crud.audit(
                    conn,
                    "chat.request",
                    "ok" if allowed else "denied",
                    principal=principal.audit_name,
                    role=principal.role.value,
                    target=f"{request.method} {request.url.path}",
                    request_id=getattr(request.state, "request_id", None),
                    client=client_of(request),
                )
        if not allowed:
            raise forbidden(f"role {principal.role.value!r} may not do this")
        return principal

    return check


# Role requirements and path parameters, defined once for every router.
ReaderDep = Annotated[Principal, Depends(require(EVERYONE))]
TriggerDep = Annotated[Principal, Depends(require(TRIGGER))]
RawReaderDep = Annotated[Principal, Depends(require(RAW_DATA))]
AdminDep = Annotated[Principal, Depends(require(ADMIN_ONLY))]
LedgerReaderDep = Annotated[Principal, Depends(require(INGESTION_LEDGER))]
DatasetPath = Annotated[str, Path(pattern=IDENTIFIER_RE.pattern, description="Dataset name")]
TablePath = Annotated[str, Path(pattern=IDENTIFIER_RE.pattern, description="Table name")]
RUN_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
RunIdPath = Annotated[str, Path(pattern=RUN_ID_PATTERN)]


UNKNOWN_ASSETS = MappingProxyType({422: "Unknown asset key or partition"})


def launch_route(responses: Mapping[int, str] = UNKNOWN_ASSETS) -> dict[str, Any]:
    """Keyword arguments of ``router.post`` for the endpoints launching Dagster work: 202, counted against
    the ``triggers`` rate limit (429), and the other ``responses`` (status -> description; by default 422
    for unknown assets or partitions)."""
    described = {**responses, 429: "Rate limited"}
    return {
        "status_code": 202,
        "dependencies": [Depends(rate_limited("triggers"))],
        "responses": {status: {"description": described[status]} for status in sorted(described)},
    }


def rate_limited(bucket: str) -> Callable[..., Coroutine[Any, Any, None]]:
    async def check(principal: PrincipalDep, services: ServicesDep) -> None:
        wait = await services.limiter.hit(bucket, principal.log_id)
        if wait is not None:
            services.metrics.rate_limited.labels(bucket).inc()
            raise Problem(
                429,
                f"rate limit of {services.limiter.per_minute} {bucket} per minute exceeded",
                headers={"Retry-After": str(wait)},
            )

    return check
