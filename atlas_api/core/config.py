"""API settings: the platform's ``ATLAS_*`` settings plus authentication, pool, cache and limits."""

from __future__ import annotations

import hashlib
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import NoDecode

from atlas_core.errors import AtlasError
from atlas_core.settings import AtlasSettings

DEVELOPMENT_JWT_SECRET = "atlas-development-jwt-secret-do-not-use-in-production"
MIN_SECRET_LENGTH = 32


class ApiSettings(AtlasSettings):
    """Knobs of ``atlas_api``; ``ATLAS_ENVIRONMENT=production`` refuses the development JWT secret."""

    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    access_token_minutes: int = Field(default=60, ge=1)
    refresh_token_days: int = Field(default=7, ge=1)

    api_host: str = "127.0.0.1"
    dagster_graphql_url: str | None = Field(
        default=None,
        description="Dagster's GraphQL endpoint; default http://127.0.0.1:<webserver_port>/graphql",
    )
    api_pool_size: int = Field(default=10, ge=1, description="Max connections of the warehouse pool")
    api_submit_threads: int = Field(default=32, ge=1, description="Threads submitting runs to Dagster")
    redis_url: str | None = Field(default=None, description="Shared response cache and rate limits when set")
    api_cache_ttl_seconds: float = Field(default=30.0, ge=0)
    api_cache_check_seconds: float = Field(
        default=2.0, ge=0, description="How often the latest-materialization watermark is re-read"
    )
    api_trigger_rate_limit: int = Field(default=60, ge=1, description="Triggers per principal per minute")
    api_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_upload_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    api_page_max: int = Field(default=1000, ge=1)

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _refuse_development_secret(self) -> ApiSettings:
        if self.environment == "production":
            secret = self.jwt_secret.get_secret_value()
            if secret == DEVELOPMENT_JWT_SECRET or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    "ATLAS_JWT_SECRET must be set to a random secret of at least "
                    f"{MIN_SECRET_LENGTH} characters when ATLAS_ENVIRONMENT=production"
                )
        return self

    def graphql_url(self) -> str:
        return self.dagster_graphql_url or f"http://127.0.0.1:{self.webserver_port}/graphql"

    def cache_namespace(self) -> str:
        """Separates deployments sharing one Redis: Dagster endpoint plus warehouse database."""
        database = urlsplit(self.postgres_url or "").path
        digest = hashlib.sha256(f"{self.graphql_url()}|{database}|{self.postgres_url}".encode()).hexdigest()
        return f"atlas:api:{digest[:12]}"


def get_api_settings(**overrides: object) -> ApiSettings:
    """Read the settings now; invalid values become one-line :class:`AtlasError`s."""
    try:
        return ApiSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise AtlasError(f"invalid API settings ({where}): {message}") from None
