"""Tell transient failures (worth a retry) from data errors (never retried).

Retries (Dagster ``RetryPolicy``, tenacity in source pulls) and circuit breakers count only
transient failures: a dependency that is down, restarting, overloaded or throttling. Anything else
(a rejected file, a failed quality gate, a bad contract, a bug) fails at once.
Exceptions are recognised by type and duck-typed attributes so this module imports no drivers.
"""

from __future__ import annotations

from collections.abc import Iterator

from atlas_core.errors import AtlasError, InputRejected, ServiceUnavailable

# SQLSTATE classes/codes: connection exceptions, serialization failures and deadlocks, too many
# connections/out of resources, server shutting down or starting, lock/statement timeouts.
TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57P")
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57014"}
TRANSIENT_S3_CODES = {
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "XMinioServerNotInitialized",
}
TRANSIENT_HTTP_STATUS = {408, 425, 429, 500, 502, 503, 504}
_TRANSIENT_TYPE_NAMES = {
    # psycopg / psycopg2 connection-level errors, urllib3 / httpx / requests transport errors,
    # pybreaker's open circuit, celery/kombu broker hiccups.
    "OperationalError",
    "InterfaceError",
    "MaxRetryError",
    "ProtocolError",
    "NewConnectionError",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "TransportError",
    "ConnectError",
    "ReadTimeout",
    "ConnectTimeout",
    "RemoteProtocolError",
    "PoolTimeout",
    "CircuitBreakerError",
    "OperationalErrorKombu",
}


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its chain of causes/contexts (bounded, cycle-safe)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 20:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ServiceUnavailable):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)
    code = getattr(exc, "code", None)
    if type(exc).__name__ == "S3Error" and isinstance(code, str):
        response = getattr(exc, "response", None)
        status = getattr(response, "status", 0) or 0
        return code in TRANSIENT_S3_CODES or status >= 500
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    if isinstance(status, int) and type(exc).__name__ in (
        "HTTPStatusError",
        "HTTPError",
        "TransientHttpError",
    ):
        return status in TRANSIENT_HTTP_STATUS
    return type(exc).__name__ in _TRANSIENT_TYPE_NAMES and sqlstate is None


def is_transient(exc: BaseException) -> bool:
    """True when retrying ``exc`` later may succeed (the input itself is not the problem)."""
    if isinstance(exc, InputRejected):
        return False
    for item in causes(exc):
        if _one_is_transient(item):
            return True
        if (
            isinstance(item, AtlasError)
            and not isinstance(item, ServiceUnavailable)
            and item.__cause__ is None
        ):
            return False
    return False
