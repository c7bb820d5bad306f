"""Dependencies: services, the connection, the authenticated principal and role requirements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Path, Request, WebSocket
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from atlas_api import crud
from atlas_api.core import security
from atlas_api.core.db import Conn
from atlas_api.core.problems import Problem, forbidden, unauthorized
from atlas_api.core.services import Services
from atlas_core.identifiers import IDENTIFIER_RE
from atlas_core.roles import ADMIN_ONLY, EVERYONE, RAW_DATA, TRIGGER, Role

bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="Service-account API key")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (JWT) or a service account (API key)."""

    kind: Literal["user", "api_key"]
    name: str
    role: Role
    ident: str  # user name or key id: what audit rows and run tags record

    @property
    def log_id(self) -> str:
        # Access logs carry the kind and a hash-free id, never the token; for users the name is an account id.
        return f"{self.kind}:{self.ident}"

    @property
    def audit_name(self) -> str:
        return f"{self.kind}:{self.name}"


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


async def record_auth_failure(services: Services, reason: str, request: Request | WebSocket, target: str | None = None) -> None:
    services.metrics.auth_failures.labels(reason).inc()
    async with services.pool.connection() as conn:
        await crud.audit(conn, "auth.failure", "denied", target=target or request.url.path,
                         detail={"reason": reason}, request_id=request.scope.get("state", {}).get("request_id"),
                         client=client_of(request))


async def authenticate(services: Services, token: str | None, api_key: str | None) -> Principal | str:
    """The principal for a bearer token or API key, else the reason of the failure."""
    if api_key:
        async with services.pool.connection() as conn:
            found = await crud.api_key_principal(conn, api_key)
        if found is None:
            return "unknown or revoked API key"
        key_id, name, role = found
        return Principal("api_key", name, role, str(key_id))
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
) -> Principal:
    result = await authenticate(services, bearer.credentials if bearer else None, api_key)
    if isinstance(result, str):
        await record_auth_failure(services, result, request)
        raise unauthorized(result)
    request.state.principal = result
    return result


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(roles: frozenset[Role]) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency admitting only ``roles`` (401 without credentials, 403 with the wrong role)."""

    async def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise forbidden(f"role {principal.role.value!r} may not do this")
        return principal

    return check


# Role requirements and path parameters, defined once for every router.
ReaderDep = Annotated[Principal, Depends(require(EVERYONE))]
TriggerDep = Annotated[Principal, Depends(require(TRIGGER))]
RawReaderDep = Annotated[Principal, Depends(require(RAW_DATA))]
AdminDep = Annotated[Principal, Depends(require(ADMIN_ONLY))]
DatasetPath = Annotated[str, Path(pattern=IDENTIFIER_RE.pattern, description="Dataset name")]
TablePath = Annotated[str, Path(pattern=IDENTIFIER_RE.pattern, description="Table name")]
RUN_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
RunIdPath = Annotated[str, Path(pattern=RUN_ID_PATTERN)]


def rate_limited(bucket: str) -> Callable[..., Coroutine[Any, Any, None]]:
    async def check(principal: PrincipalDep, services: ServicesDep) -> None:
        wait = await services.limiter.hit(bucket, principal.log_id)
        if wait is not None:
            services.metrics.rate_limited.labels(bucket).inc()
            raise Problem(429, f"rate limit of {services.limiter.per_minute} {bucket} per minute exceeded",
                          headers={"Retry-After": str(wait)})

    return check
