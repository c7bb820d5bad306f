"""atlas_meta.table_fingerprint: equal content, equal fingerprint, whatever the row order."""

from __future__ import annotations

import psycopg


def _fp(conn: psycopg.Connection, table: str) -> str:
    row = conn.execute("SELECT atlas_meta.table_fingerprint(%s::regclass)", (table,)).fetchone()
    assert row is not None
    return str(row[0])


def test_row_order_does_not_matter_and_every_value_does(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE a (id bigint, amount float8, at timestamptz, note text, d numeric);"
            "CREATE TABLE b (LIKE a); CREATE TABLE c (LIKE a);"
            "INSERT INTO a SELECT g, g * 1.5, '2026-10-01'::timestamptz + g * interval '1 hour', "
            "  'n' || g, g / 7.0 FROM generate_series(1, 500) g;"
            "INSERT INTO b SELECT * FROM a ORDER BY random();"
            "INSERT INTO c SELECT * FROM a;"
            "UPDATE c SET note = 'changed' WHERE id = 250;"
        )
        assert _fp(conn, "a") == _fp(conn, "b")
        assert _fp(conn, "a") != _fp(conn, "c")
        conn.execute("UPDATE c SET note = 'n250' WHERE id = 250")
        assert _fp(conn, "a") == _fp(conn, "c")
        conn.execute("INSERT INTO c SELECT * FROM a WHERE id = 1")  # a duplicate row counts
        assert _fp(conn, "a") != _fp(conn, "c")
        conn.execute("CREATE TABLE e (LIKE a); ALTER TABLE e ALTER COLUMN note TYPE varchar(20)")
        conn.execute("INSERT INTO e SELECT * FROM a")
        assert _fp(conn, "a") != _fp(conn, "e")  # the column signature is part of it


def test_a_column_type_without_a_hash_function_falls_back_to_the_text_form(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE j (doc json, n int); CREATE TABLE k (LIKE j);"
            "INSERT INTO j VALUES ('{\"x\": 1}', 1), ('{\"x\": 2}', 2);"
            "INSERT INTO k VALUES ('{\"x\": 2}', 2), ('{\"x\": 1}', 1);"
        )
        assert _fp(conn, "j") == _fp(conn, "k")
        conn.execute("UPDATE k SET doc = '{\"x\": 3}' WHERE n = 2")
        assert _fp(conn, "j") != _fp(conn, "k")
