"""Atlas settings, read from ``ATLAS_*`` environment variables when :func:`get_settings` is called."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
        default=None, description="Dagster's storage database; defaults to database 'dagster' on the same server"
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
