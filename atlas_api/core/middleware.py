"""Request ids, JSON access logs and request metrics, as one pure ASGI middleware.

The access log names the route template, never the query string (it can carry a WebSocket token),
and identifies the caller by kind and id only (no usernames, tokens or data values).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_api.core.metrics import ApiMetrics

REQUEST_ID_HEADER = b"x-request-id"
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
log = structlog.get_logger("atlas.api.access")


def _route_template(scope: Scope) -> str:
    """The matched route as a template (``/api/v1/quality/{dataset}``): bounded metric labels, no values.

    Routes of included routers know only their own part of the path; the unmatched leading
    segments of the request path are the (parameter-free) prefixes they were included under.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not template:
        return "<unmatched>"
    if isinstance(route, Mount):
        return f"{template}/{{path}}"
    own = [s for s in template.split("/") if s]
    actual = [s for s in str(scope.get("path", "")).split("/") if s]
    prefix = actual[: max(0, len(actual) - len(own))]
    return "/" + "/".join(prefix + own)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER, b"")
        request_id = incoming.decode() if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "WS")
            if scope["type"] == "http":
                self.metrics.requests.labels(method, route, str(status["code"])).inc()
                self.metrics.latency.labels(method, route).observe(seconds)
            principal = state.get("principal")
            client = scope.get("client")
            log.info(
                "http_request" if scope["type"] == "http" else "websocket",
                method=method,
                route=route,
                status=status["code"] if scope["type"] == "http" else None,
                duration_ms=round(seconds * 1000, 2),
                principal=getattr(principal, "log_id", None),
                role=getattr(getattr(principal, "role", None), "value", None),
                client=client[0] if client else None,
            )
            structlog.contextvars.unbind_contextvars("request_id")
