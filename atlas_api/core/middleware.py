"""Request ids, JSON access logs, request metrics and one OpenTelemetry span per request, as one pure ASGI
middleware.

The access log names the route template, never the query string (it can carry a WebSocket token),
and identifies the caller by kind and id only (no usernames, tokens or data values).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_api.core.metrics import ApiMetrics
from atlas_core import tracing

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


def request_trace_parent(scope: Scope) -> otel_context.Context:
    """The caller's ``traceparent`` when valid, else a new root (never the serving process' own span)."""
    headers = {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in scope.get("headers") or []
        if k in (b"traceparent", b"tracestate")
    }
    return tracing.context_from_headers(headers) or otel_context.Context()


def _end_span(span: trace.Span, method: str, route: str, status: int | None) -> None:
    """Name the span by route template; attributes hold no query string, path values or body."""
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(trace.Status(trace.StatusCode.ERROR))
    span.end()


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
        method = scope.get("method", "WS")
        span = tracing.tracer().start_span(
            method,
            context=request_trace_parent(scope),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "atlas.request_id": request_id},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__name__)
            raise
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            _end_span(span, method, route, status["code"] if scope["type"] == "http" else None)
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
            otel_context.detach(token)
