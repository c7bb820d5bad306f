"""The warehouse connection pool (psycopg_pool) and small helpers over it."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from atlas_resources import pgurl

Conn = AsyncConnection[DictRow]
"""A connection whose rows are dicts (the pool's, and the CLI's)."""


def make_pool(postgres_url: str, size: int) -> AsyncConnectionPool[Conn]:
    """A closed pool of autocommit connections; open it in the app's lifespan."""

    async def configure(conn: Conn) -> None:
        await conn.set_autocommit(True)
        await conn.execute("SET application_name = 'atlas-api'")

    return AsyncConnectionPool(
        pgurl.for_psycopg(postgres_url),
        connection_class=Conn,
        min_size=1,
        max_size=size,
        open=False,
        configure=configure,
        kwargs={"connect_timeout": 10, "row_factory": dict_row},
        name="atlas-api",
        timeout=30,
    )


async def table_exists(conn: Conn, schema: str, table: str) -> bool:
    cur = await conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL AS found", (schema, table)
    )
    row = await cur.fetchone()
    return bool(row and row["found"])
