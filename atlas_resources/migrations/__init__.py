"""Versioned SQL migrations for the warehouse's fixed schemas (``atlas_meta`` and the layer schemas).

Files are applied in name order, each once, inside one transaction guarded by an advisory lock,
so concurrent processes starting at the same time do not race.
"""

from __future__ import annotations

from importlib import resources

import psycopg

from atlas_resources import pgurl

_LOCK_ID = 0x41_54_4C_41_53  # "ATLAS"


def migration_files() -> list[tuple[str, str]]:
    files = resources.files(__name__)
    return sorted((f.name, f.read_text(encoding="utf-8")) for f in files.iterdir() if f.name.endswith(".sql"))


def apply_migrations(postgres_url: str) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    applied_now: list[str] = []
    with psycopg.connect(pgurl.for_psycopg(postgres_url), connect_timeout=10) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            conn.execute("CREATE SCHEMA IF NOT EXISTS atlas_meta")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS atlas_meta.schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT name FROM atlas_meta.schema_migrations")}
            for name, text in migration_files():
                if name in done:
                    continue
                conn.execute(text.encode())
                conn.execute("INSERT INTO atlas_meta.schema_migrations (name) VALUES (%s)", (name,))
                applied_now.append(name)
    return applied_now
