"""Silver builds of one dataset never overlap, and what a dead build left behind is swept.

A build holds a session-level advisory lock for its whole duration; PostgreSQL releases it when the
build ends or when its connection dies (process killed, server restarted). So two builds of one
dataset (an orphaned step still running while its run is re-executed, two ``atlas ingest`` of files
touching the same days) run one after the other, and the later one stages what the earlier one
published. While a build holds the lock, no other build of the dataset is alive: every staging table
of the dataset is the leftover of a build that died before its cleanup, and is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from psycopg import sql

from atlas_core import layout
from atlas_core.logs import get_logger
from atlas_resources.warehouse import Table, Warehouse

log = get_logger("atlas.silver")


def staging_prefix(dataset: str) -> str:
    """Staging, verdict and repair tables of a build are ``<prefix><8 hex>``, ``<prefix><8 hex>_v`` and
    ``_r``."""
    return f"{dataset[:40]}__"


@contextmanager
def exclusive_build(wh: Warehouse, dataset: str) -> Iterator[list[str]]:
    """Hold the dataset's build lock (waiting for a running build); yields the orphaned tables it dropped."""
    prefix = staging_prefix(dataset)  # datasets sharing the prefix share the lock, so the sweep stays safe
    conn = wh.connect(autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"atlas-silver-build:{prefix}",))
        orphans = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename ~ %s ORDER BY 1",
                (layout.STAGING_SCHEMA, f"^{prefix}[0-9a-f]{{8}}(_v|_r)?$"),
            )
        ]
        for name in orphans:
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(layout.STAGING_SCHEMA, name))
            )
        if orphans:
            log.warning("silver_orphaned_staging_dropped", dataset=dataset, tables=orphans)
        yield orphans
    finally:
        conn.close()  # ends the session: the lock is released


def drop_quietly(wh: Warehouse, tables: Sequence[Table]) -> None:
    """Drop a build's own staging tables. Best effort: when the server is unreachable the build is already
    failing with that error, which must not be masked; the tables are swept by the next build."""
    try:
        with wh.connect(autocommit=True) as conn:
            for table in tables:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(*table)))
    except Exception as exc:  # see the docstring
        log.warning("silver_staging_not_dropped", tables=[t[1] for t in tables], error=type(exc).__name__)
