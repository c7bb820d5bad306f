"""Atlas settings, read from ``ATLAS_*`` environment variables when :func:`get_settings` is called."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from atlas_core.anomalies import AnomalyThresholds

PROJECT_DIR = Path(__file__).resolve().parent.parent


class AtlasSettings(BaseSettings):
    """Every knob Atlas reads from the environment.

    Nothing here is read at import time: create it with :func:`get_settings`.
    """

    model_config = SettingsConfigDict(env_prefix="ATLAS_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    home: Path = Path("./var")
    project_dir: Path = PROJECT_DIR
    contracts_dir: Path | None = None
    models_dir: Path | None = None

    postgres_url: str | None = Field(default=None, description="Warehouse database; embedded when unset")
    dagster_postgres_url: str | None = Field(
        default=None,
        description="Dagster's storage database; defaults to database 'dagster' on the same server",
    )

    s3_endpoint: str | None = Field(default=None, description="host:port of an S3 API; local lake when unset")
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = False
    s3_region: str = "us-east-1"

    webserver_port: int = 3000
    api_port: int = 8000
    lineage_file: Path | None = None

    batch_size: int = Field(default=50_000, ge=1)
    warehouse_work_mem: str = Field(
        default="128MB",
        pattern=r"^[0-9]+(kB|MB|GB)$",
        description="PostgreSQL work_mem of Atlas's warehouse sessions (sorts and hashes of whole loads)",
    )

    # -- orchestration (docs/orchestration.md) ------------------------------------------------------
    schedule_cron: str = Field(default="0 2 * * *", description="Cron (UTC) of the daily full-graph schedule")
    landing_interval_seconds: int = Field(
        default=30, ge=1, description="How often landing sensors look for files"
    )
    landing_max_files_per_tick: int = Field(default=20, ge=1)
    sensor_interval_seconds: int = Field(
        default=30, ge=1, description="Interval of the quality-alert sensors"
    )
    lineage_interval_seconds: int = Field(
        default=5,
        ge=1,
        description="How often the lineage sensor polls runs the daemon launched (live events)",
    )
    alert_webhook: str | None = Field(default=None, description="Slack-compatible webhook for failure alerts")
    alert_timeout_seconds: float = Field(default=5.0, gt=0)
    # -- quality trends and anomaly alerts (docs/quality.md#trends-and-anomaly-alerts) ------------------
    quality_trend_loads: int = Field(
        default=10,
        ge=2,
        description="Loads in a quality trend and in the trailing window anomalies are compared with",
    )
    alert_min_history: int = Field(
        default=3, ge=1, description="Earlier loads needed before an anomaly alert fires"
    )
    alert_score_margin: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Alert when a dimension score falls more "
        "than this below its trailing median (even above threshold)",
    )
    alert_pii_share_jump: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Alert when a column's share of values "
        "detected as PII moves by at least this from its trailing median",
    )
    alert_duration_factor: float = Field(
        default=3.0,
        gt=1,
        description="Alert when a step takes more than this times its trailing median duration",
    )
    alert_duration_min_extra_seconds: float = Field(
        default=10.0,
        ge=0,
        description="... and at least this many seconds longer (no alerts for sub-second jitter)",
    )
    executor: Literal["default", "celery"] = Field(
        default="default", description="celery: steps run on dagster-celery workers"
    )
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    celery_backend_url: str = "redis://127.0.0.1:6379/1"
    breaker_fail_max: int = Field(
        default=5, ge=1, description="Consecutive failures that open a circuit breaker"
    )
    breaker_reset_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long an open breaker fails calls before letting a trial call through; shorter than "
        "the step retry delays, so a retry reaches a dependency that came back",
    )
    retention_cron: str = "30 3 * * *"
    retention_bronze_days: int = Field(default=90, ge=1)
    retention_silver_days: int = Field(default=365, ge=1)
    retention_gold_days: int = Field(default=730, ge=1)
    retention_ai_ready_days: int = Field(default=365, ge=1)
    openlineage_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENLINEAGE_URL", "ATLAS_OPENLINEAGE_URL"),
        description="Marquez (or any OpenLineage HTTP endpoint)",
    )
    lineage_namespace: str = "atlas"
    lineage_timeout_seconds: float = Field(default=5.0, gt=0, description="Per-event HTTP timeout")
    lineage_budget_seconds: float = Field(
        default=30.0, gt=0, description="Time one emission (the new events of one poll of a run) may take"
    )
    lineage_running_after_seconds: float = Field(
        default=60.0, gt=0, description="Steps longer than this get a RUNNING event"
    )

    # -- PII (docs/pii.md) ----------------------------------------------------------------------------
    pii_key: SecretStr | None = Field(
        default=None, description="Active PII key (HMAC, pseudonyms, AES-GCM); required in production"
    )
    pii_key_id: str = Field(default="k1", description="Id of pii_key, written into every encrypted token")
    pii_keys: SecretStr | None = Field(
        default=None, description="Retired keys still accepted for decryption: 'id:secret,id:secret'"
    )
    pii_sample_size: int = Field(default=500, ge=1, description="Values sampled per column to classify it")
    pii_n_process: int = Field(default=1, ge=1, description="spaCy processes for free-text analysis")
    pii_batch_size: int = Field(default=256, ge=1, description="Texts per spaCy nlp.pipe batch")
    pii_analyzer_processes: int = Field(
        default=2, ge=1, description="Processes a CLI run analyzes free text in (forked after one spaCy load)"
    )
    pii_recognizers: Path | None = Field(
        default=None, description="Custom recognizers; pii/recognizers.yml by default"
    )

    # -- chat bot (docs/bot.md) -------------------------------------------------------------------------
    bot_enabled: bool = Field(
        default=False, description="`atlas up` also starts the chat bot (`atlas bot run`)"
    )
    bot_host: str = Field(
        default="127.0.0.1",
        description="Interface of the bot's web server; must be loopback while the websocket connector is on",
    )
    bot_port: int = Field(
        default=8090, description="Port of the bot's web server (websocket connector, webhooks)"
    )
    bot_websocket: bool = Field(default=True, description="Serve Opsdroid's websocket connector")
    bot_connectors_file: Path | None = Field(
        default=None, description="YAML mapping of further Opsdroid connectors (slack, matrix, teams, ...)"
    )
    bot_api_url: str | None = Field(
        default=None, description="Atlas API base URL; http://127.0.0.1:<api_port> when unset"
    )
    bot_api_key: SecretStr | None = Field(
        default=None, description="The bot's chat relay key (`atlas bot key`)"
    )
    bot_poll_seconds: float = Field(default=2.0, gt=0, description="How often the bot polls a run it started")
    bot_watch_hours: float = Field(default=24.0, gt=0, description="How long the bot waits for a run to end")

    def anomaly_thresholds(self) -> AnomalyThresholds:
        return AnomalyThresholds(
            self.quality_trend_loads,
            self.alert_min_history,
            self.alert_score_margin,
            self.alert_pii_share_jump,
            self.alert_duration_factor,
            self.alert_duration_min_extra_seconds,
        )

    def resolved_pii_recognizers(self) -> Path:
        return (self.pii_recognizers or self.project_dir / "pii" / "recognizers.yml").expanduser().resolve()

    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    def resolved_contracts_dir(self) -> Path:
        return (self.contracts_dir or self.project_dir / "contracts").expanduser().resolve()

    def resolved_models_dir(self) -> Path:
        return (self.models_dir or self.project_dir / "models").expanduser().resolve()

    @property
    def lake_root(self) -> Path:
        return self.resolved_home() / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.resolved_home() / "dagster"

    @property
    def pgdata(self) -> Path:
        return self.resolved_home() / "postgres"


def get_settings(**overrides: object) -> AtlasSettings:
    """Read settings from the environment now (never at import)."""
    return AtlasSettings(**overrides)  # type: ignore[arg-type]
