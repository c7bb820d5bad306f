"""Dagster resources: typed, secret-free configuration wrapping the warehouse and lake clients.

Values are bound (with ``EnvVar``) only where Definitions are built: ``atlas_assets.definitions``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields

import dagster as dg
from pydantic import Field

from atlas_core.anomalies import AnomalyThresholds
from atlas_core.pii.keys import KeyRing, build_keyring
from atlas_resources.lake import Lake, LocalLake, S3Lake
from atlas_resources.presidio import LazyPresidioEngine, preload
from atlas_resources.warehouse import WORK_MEM, Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse (schemas atlas_bronze ... atlas_ai_ready, atlas_meta, atlas_quarantine)."""

    postgres_url: str = Field(description="libpq URI of the warehouse database")
    batch_size: int = Field(default=50_000, description="Rows per Arrow batch when streaming")
    work_mem: str = Field(default=WORK_MEM, description="PostgreSQL work_mem of the warehouse sessions")

    def client(self) -> Warehouse:
        return Warehouse(self.postgres_url, batch_size=self.batch_size, work_mem=self.work_mem)


class LakeResource(dg.ConfigurableResource):
    """Object storage for raw files and Parquet; see the two implementations below."""

    def client(self) -> Lake:
        raise NotImplementedError


class LocalLakeResource(LakeResource):
    """The lake as a local directory: ``<root>/<bucket>/<key>``."""

    root: str = Field(description="Directory holding one sub-directory per bucket")

    def client(self) -> Lake:
        return LocalLake(self.root)


class S3LakeResource(LakeResource):
    """The lake on an S3 API (MinIO in production, SeaweedFS in tests)."""

    endpoint: str = Field(description="host:port of the S3 API")
    access_key: str
    secret_key: str
    secure: bool = False
    region: str = "us-east-1"

    def client(self) -> Lake:
        return S3Lake(self.endpoint, self.access_key, self.secret_key, secure=self.secure, region=self.region)


class ProjectResource(dg.ConfigurableResource):
    """Where contract source paths are resolved and how big a streaming batch is."""

    project_dir: str
    batch_size: int = 50_000


class PiiResource(dg.ConfigurableResource):
    """Presidio (analyzer, anonymizer, custom recognizers) and the PII keys (docs/pii.md).

    ``key``/``retired_keys`` are secrets: bound with ``EnvVar`` in ``atlas_assets.definitions``.
    Without ``key`` the public development key is used, which ``environment=production`` refuses.
    """

    key: str | None = Field(default=None, description="Active PII key (ATLAS_PII_KEY)")
    key_id: str = Field(default="k1", description="Id of the active key (ATLAS_PII_KEY_ID)")
    retired_keys: str | None = Field(default=None, description="'id:secret,...' still accepted to decrypt")
    environment: str = "development"
    recognizers_file: str | None = Field(
        default=None, description="Custom recognizers YAML (pii/recognizers.yml)"
    )
    sample_size: int | None = Field(
        default=None, description="Values sampled per column (default: the contract's)"
    )
    n_process: int = Field(default=1, description="spaCy processes for free text")
    batch_size: int = Field(default=256, description="Texts per nlp.pipe batch")
    span_cache_file: str | None = Field(
        default=None, description="Analyzer spans of contract-enumerated values, kept across runs"
    )
    gazetteer_cache_file: str | None = Field(
        default=None, description="The free-text detectors' place and name lists, kept across runs"
    )
    analyzer_processes: int = Field(
        default=2, ge=1, description="Processes a CLI run analyzes free text in (forked after one spaCy load)"
    )

    def keyring(self) -> KeyRing:
        return build_keyring(self.key, self.key_id, self.retired_keys, environment=self.environment)

    def preload(self) -> None:
        """Start the analyzer processes (a run that will analyze free text)."""
        preload(
            self.recognizers_file,
            self.n_process,
            self.batch_size,
            gazetteer_cache=self.gazetteer_cache_file,
            processes=self.analyzer_processes,
        )

    def engine(self, public_texts: Collection[str] = ()) -> LazyPresidioEngine:
        """The analyzer; ``public_texts`` (values a contract enumerates) may be answered from the span
        cache."""
        return LazyPresidioEngine(
            self.recognizers_file,
            self.n_process,
            self.batch_size,
            cache_file=self.span_cache_file,
            public_texts=public_texts,
            gazetteer_cache=self.gazetteer_cache_file,
        )


class AlertsResource(dg.ConfigurableResource):
    """Where failure alerts go: a Slack-compatible incoming webhook (empty: log and record only)."""

    webhook: str = Field(default="", description="URL of the webhook; bind it with EnvVar, it is a secret")
    timeout_seconds: float = 5.0
    trend_loads: int = 10
    min_history: int = 3
    score_margin: float = 0.05
    pii_share_jump: float = 0.3
    duration_factor: float = 3.0
    duration_min_extra_seconds: float = 10.0

    def thresholds(self) -> AnomalyThresholds:
        """When quality, PII and duration anomalies alert (docs/quality.md#trends-and-anomaly-alerts)."""
        # The resource's threshold fields are named as AnomalyThresholds' fields.
        return AnomalyThresholds(**{f.name: getattr(self, f.name) for f in fields(AnomalyThresholds)})


class LineageResource(dg.ConfigurableResource):
    """OpenLineage emission: HTTP (Marquez) when ``url`` is set, JSON lines to ``file``, else the console
    log."""

    url: str = Field(default="", description="OpenLineage endpoint base URL (OPENLINEAGE_URL)")
    file: str = Field(default="", description="JSON-lines file (ATLAS_LINEAGE_FILE)")
    namespace: str = "atlas"
    timeout_seconds: float = 5.0
    budget_seconds: float = 30.0
    running_after_seconds: float = 60.0
