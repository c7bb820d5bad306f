"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "atlas_api_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "atlas_api_request_seconds",
            "Request duration by route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.auth_failures = Counter(
            "atlas_api_auth_failures", "Rejected credentials by reason", ["reason"], registry=self.registry
        )
        self.cache = Counter("atlas_api_cache", "Cached reads by result", ["result"], registry=self.registry)
        self.triggers = Counter(
            "atlas_api_triggers", "Runs, backfills and uploads launched", ["kind"], registry=self.registry
        )
        self.rate_limited = Counter(
            "atlas_api_rate_limited", "Requests refused with 429", ["bucket"], registry=self.registry
        )
