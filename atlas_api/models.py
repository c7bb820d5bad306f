"""Request and response bodies (the OpenAPI schema at ``/openapi.json`` is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from atlas_core.identifiers import IDENTIFIER_RE
from atlas_core.roles import Role

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{1,62}$"
ASSET_KEY_PATTERN = r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$"


def _storable(value: str) -> str:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot hold lone surrogates: refuse both up front."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- auth --------------------------------------------------------------------------------------------


class LoginRequest(_Body):
    username: Text = Field(min_length=1, max_length=63)
    password: Text = Field(min_length=1, max_length=1024)


class RefreshRequest(_Body):
    refresh_token: Text = Field(min_length=1, max_length=4096)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class Me(BaseModel):
    kind: Literal["user", "api_key"]
    name: str
    role: Role
    chat_user: str | None = Field(default=None, description="The chat identity a relay key acts for")


# -- users and API keys -------------------------------------------------------------------------------


class UserCreate(_Body):
    username: str = Field(pattern=NAME_PATTERN)
    password: Text = Field(min_length=8, max_length=1024)
    role: Role


class UserOut(BaseModel):
    user_id: int
    username: str
    role: Role
    created_at: datetime


class ApiKeyCreate(_Body):
    name: str = Field(pattern=NAME_PATTERN)
    role: Role


class ApiKeyOut(BaseModel):
    key_id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    created_by: str | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="The secret key. Shown once: only its hash is stored.")


# -- assets, lineage, quality ------------------------------------------------------------------------------


class CheckStatus(BaseModel):
    name: str
    blocking: bool
    status: str | None = Field(description="Latest execution for the latest materialization, if any")


class LastMaterialization(BaseModel):
    timestamp: datetime
    run_id: str
    partition: str | None = None


class AssetOut(BaseModel):
    key: str = Field(description="Slash-joined asset key, e.g. silver/orders")
    layer: str | None
    table: str | None = Field(description="Warehouse table, e.g. atlas_silver.orders")
    dataset: str
    group: str
    description: str | None = None
    partitioned: bool
    partitions_total: int | None = None
    upstream: list[str]
    downstream: list[str]
    last_materialization: LastMaterialization | None = None
    checks: list[CheckStatus]
    check_status: Literal["passed", "failed", "pending", "none"]
    quality_score: float | None = Field(default=None, description="Mean of the latest per-dimension scores")


class AssetList(BaseModel):
    items: list[AssetOut]


class LineageNode(BaseModel):
    key: str
    layer: str | None
    dataset: str


class LineageEdge(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    source: str = Field(alias="from")
    target: str = Field(alias="to")


class LineageOut(BaseModel):
    dataset: str
    assets: list[str]
    upstream: list[str]
    downstream: list[str]
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class DimensionScore(BaseModel):
    dimension: str
    score: float | None
    threshold: float | None = None
    passed: bool | None = None
    rows_evaluated: int | None = None
    failed_rows: int | None = None
    evaluated_at: datetime | None = None


class QualityRun(BaseModel):
    run_id: str | None
    evaluated_at: datetime
    scores: dict[str, float | None]
    passed: bool


class TrendPointOut(BaseModel):
    run_id: str
    evaluated_at: datetime
    score: float


class DimensionTrendOut(BaseModel):
    dimension: str
    points: list[TrendPointOut] = Field(description="One score per load (a run), oldest first")
    latest: float | None
    median: float | None = Field(description="Median of the loads before the latest (the anomaly baseline)")
    delta: float | None = Field(description="latest - median")


class QualityOut(BaseModel):
    dataset: str
    dimensions: list[DimensionScore] = Field(description="The six dimensions, latest score of each")
    history: list[QualityRun]
    checks: list[CheckStatus] = Field(description="Dagster asset checks of the dataset's assets")
    trend: list[DimensionTrendOut] = Field(
        default_factory=list,
        description="Per dimension, the scores of the last N loads (ATLAS_QUALITY_TREND_LOADS)",
    )


# -- runs and backfills ------------------------------------------------------------------------------------


class RunRequest(_Body):
    assets: list[Text] = Field(min_length=1, max_length=200, description="Slash-joined asset keys")
    partition: Text | None = Field(default=None, max_length=100)


class RunReexecution(_Body):
    strategy: Literal["FROM_FAILURE", "ALL_STEPS"] = Field(
        default="FROM_FAILURE",
        description="FROM_FAILURE: only the steps that failed or never ran; ALL_STEPS: all",
    )


class RunAccepted(BaseModel):
    run_id: str


class RunOut(BaseModel):
    run_id: str
    status: str = Field(description="Dagster run status")
    job_name: str
    assets: list[str]
    partition: str | None = None
    backfill_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class RunList(BaseModel):
    items: list[RunOut]


class BackfillRequest(_Body):
    assets: list[Text] = Field(min_length=1, max_length=200)
    partition_from: Text = Field(min_length=1, max_length=100)
    partition_to: Text = Field(min_length=1, max_length=100)


class BackfillAccepted(BaseModel):
    backfill_id: str
    partitions: list[str]


class BackfillOut(BaseModel):
    backfill_id: str
    status: str = Field(description="Dagster bulk action status")
    assets: list[str]
    partitions: list[str]
    runs: list[dict[str, str]]
    created_at: datetime | None = None
    ended_at: datetime | None = None


# -- data, uploads, PII --------------------------------------------------------------------------------


class ColumnOut(BaseModel):
    name: str
    type: str


class TablePage(BaseModel):
    layer: str
    table: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
    limit: int
    offset: int
    next_offset: int | None
    masked_columns: list[str] = Field(description="PII and raw-line columns whose values are withheld (null)")


class UploadAccepted(BaseModel):
    """An upload landed and the Dagster run that ingests it was launched."""

    run_id: str = Field(
        description="The Dagster run ingesting the file (bronze, then silver for its partitions)"
    )
    dataset: str
    file: str
    sha256: str
    landing_uri: str = Field(
        description="Where the file waits in the lake's landing area until the run takes it"
    )
    assets: list[str] = Field(description="The run's asset selection")
    partition_keys: list[str] = Field(description="Partitions the file's rows map to (read before launching)")
    run_url: str = Field(description="GET it to follow the run's status")
    events_url: str = Field(description="WebSocket streaming the run's events")
    ingestions_url: str = Field(description="GET it for the ingestion record(s) of the run once it ran")


class IngestionOut(BaseModel):
    dataset: str
    file: str
    sha256: str
    status: str = Field(description="accepted, duplicate or rejected")
    reason: str | None = Field(default=None, description="One line naming the file, row or column")
    rows_bronze: int
    rows_silver: int | None = None
    rows_quarantined: int | None = None
    source_system: str
    run_id: str | None = Field(default=None, description="The Dagster run that ingested the file")
    ingested_at: str


class IngestionList(BaseModel):
    items: list[IngestionOut]


class PiiColumn(BaseModel):
    column: str
    entity: str | None = None
    strategy: str | None = None
    declared: bool


class PiiReportOut(BaseModel):
    dataset: str
    columns: list[PiiColumn] = Field(
        description="Declared PII columns, then columns only the detector flagged"
    )
    reports: list[dict[str, Any]] = Field(
        description="Latest detection reports (column statistics, no values)"
    )


class DecryptRequest(_Body):
    dataset: str = Field(pattern=IDENTIFIER_RE.pattern)
    column: str = Field(pattern=IDENTIFIER_RE.pattern)
    values: list[Text] = Field(min_length=1, max_length=100, description="Ciphertexts as stored in silver")
    reason: Text = Field(min_length=3, max_length=500, description="Why; recorded in the audit trail")


class DecryptOut(BaseModel):
    dataset: str
    column: str
    values: list[str]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    postgres: str
    dagster: str
