"""A table filled with given rows for one test, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql


@contextmanager
def scratch_table(
    url: str, table: tuple[str, str], columns: str, rows: Sequence[tuple[object, ...]]
) -> Iterator[psycopg.Connection]:
    """An autocommit connection to ``url`` on which ``table`` (``columns``: its column definitions) holds
    ``rows``; the table is dropped when the block ends."""
    name = sql.Identifier(*table)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(name, sql.SQL(columns)))
        try:
            with conn.cursor() as cur:
                marks = sql.SQL(", ").join(sql.Placeholder() * len(rows[0]))
                cur.executemany(sql.SQL("INSERT INTO {} VALUES ({})").format(name, marks), rows)
            yield conn
        finally:
            conn.execute(sql.SQL("DROP TABLE {}").format(name))
