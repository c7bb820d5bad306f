"""Silver's typing inside PostgreSQL gives what the Arrow caster gives, value for value.

Both paths type the same bronze rows into two staging tables on the same (embedded, >= 16) server;
the tables must be equal, and a few values are pinned on their own. The machine's PostgreSQL 15 has no
``pg_input_is_valid``: there silver keeps the Arrow path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import zip_longest

import psycopg
import pytest
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.contracts.loader import parse_contract
from atlas_engine.silver import _stage, types_in_database
from atlas_engine.tables import bronze_schema, ensure_table
from atlas_resources.warehouse import Warehouse
from tests.support import postgres as pg

NBSP, IDEOGRAPHIC_SPACE = "\u00a0", "\u3000"
VALUES = {
    "i": [
        "1",
        "+5",
        "-0",
        "007",
        " 42 ",
        f"{NBSP}42{IDEOGRAPHIC_SPACE}",
        "1.0",
        "1e3",
        "999999999999999999",
        "0999999999999999999",
        "9223372036854775807",
        "9223372036854775808",
        "0000000000000000000001",
        "12345678901234567890",
        "0x1F",
        "1_000",
        "",
        "NULL",
        " NULL ",
        "abc",
        "٣",
        "-",
    ],
    "f": [
        "1.5",
        ".5",
        "5.",
        ".",
        "1.2.3",
        "123456789012345678901234567890",
        "1234567890123456789012345678901",
        "0.000000000000000000000000000001",
        "-1e3",
        "1e400",
        "1e-400",
        "nan",
        "inf",
        "1,5",
        " 2.5 ",
        "1e1000",
        "+.5E-3",
        "1_0.5",
    ],
    "b": ["TRUE", "yes", "Y", "0", "off", "maybe", " on ", "Ja", ""],
    "d": [
        "2026-02-28",
        "2026-02-30",
        "2026-2-3",
        "20260228",
        "2026-02-28 ",
        "9999-12-31",
        "2024-02-29",
        "2026-02-28T00:00",
    ],
    "ts": [
        "2026-10-15T10:00:00Z",
        "2026-10-15 10:00:00+02:00",
        "2026-10-15T10:00:00+0530",
        "2026-10-15 10:00",
        "2026-10-15",
        "2026-10-15 24:00:00",
        "2026-10-15 23:59:60",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2024-02-29T12:00:00Z",
        "2026-12-28T23:59:59Z",
        "0001-01-01 00:00:00Z",
        "2026-10-15T10:00:00.123456Z",
        "2026-10-15T10:00:00.1234567Z",
        "not-a-timestamp",
        "2026-10-15T10:00:00+15:00",
        "2026-10-15t10:00:00z",
        "2026-10-15T10:00:00 Z",
        "2026-10-15T10:00Z",
    ],
    "s": [" a ", "NULL", "", "x"],
}
COLUMNS = [
    {"name": "i", "type": "integer"},
    {"name": "f", "type": "float"},
    {"name": "b", "type": "boolean"},
    {"name": "d", "type": "date"},
    {"name": "ts", "type": "timestamp"},
    {"name": "s"},
]


@pytest.fixture(scope="module")
def wh(pg_server: str) -> Iterator[Warehouse]:
    url = pg.create_database(pg_server)
    yield Warehouse(url)
    pg.drop_database(url)


def casting_contract() -> Contract:
    return parse_contract(
        {"dataset": "casting", "columns": COLUMNS, "null_values": ["", "NULL"]}, "casting.yml"
    )


def load_bronze(conn: psycopg.Connection, contract: Contract, table: tuple[str, str]) -> None:
    ensure_table(conn, *table, bronze_schema(contract), index_on=[layout.PARTITION])
    names = [*contract.column_names, layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]
    rows = [
        [*(v if v is not None else "" for v in values), 1, n, ""]
        for n, values in enumerate(zip_longest(*VALUES.values()), start=1)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(*table),
                sql.SQL(", ").join(map(sql.Identifier, names)),
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
            ),
            rows,
        )


def staged(wh: Warehouse, table: tuple[str, str]) -> dict[int, dict[str, object]]:
    with wh.connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(*table))).fetchall()
    return {int(r[layout.ROW_NUMBER]): r for r in rows}  # type: ignore[call-overload]


def test_sql_typing_equals_arrow_typing_value_for_value(wh: Warehouse) -> None:
    contract = casting_contract()
    bronze = (layout.Layer.BRONZE.schema, "casting")
    with wh.connect(autocommit=True) as conn:
        load_bronze(conn, contract, bronze)
        assert types_in_database(conn, contract)
    by_path = {}
    for in_database in (True, False):
        table = (layout.STAGING_SCHEMA, f"casting_{'sql' if in_database else 'arrow'}")
        n = _stage(wh, contract, bronze, table, [""], in_database=in_database)
        assert n == max(len(v) for v in VALUES.values())
        by_path[in_database] = staged(wh, table)
    in_sql, in_arrow = by_path[True], by_path[False]
    assert in_sql.keys() == in_arrow.keys()
    differences = [
        (row, column, in_sql[row][column], in_arrow[row][column])
        for row in in_sql
        for column in [*contract.column_names, layout.CAST_ERRORS]
        if in_sql[row][column] != in_arrow[row][column]
    ]
    assert differences == []

    def cell(column: str, raw: str) -> tuple[object, str | None]:
        row = in_sql[VALUES[column].index(raw) + 1]
        errors = row[layout.CAST_ERRORS]
        return row[column], ("error" if errors and column in str(errors).split(";") else None)

    assert cell("i", f"{NBSP}42{IDEOGRAPHIC_SPACE}") == (42, None)
    assert cell("i", "9223372036854775808") == (None, "error")
    assert cell("i", "0x1F") == (None, "error")
    assert cell("i", " NULL ") == (None, "error")  # null tokens match the untrimmed text
    assert cell("i", "NULL") == (None, None)
    assert cell("f", "1e400") == (None, "error")
    assert cell("f", "1e-400") == (0.0, None)
    assert cell("b", " on ") == (True, None)
    assert cell("d", "2026-02-30") == (None, "error")
    assert cell("d", "2024-02-29") == (date(2024, 2, 29), None)
    assert cell("ts", "2026-10-15T10:00:00+0530") == (datetime(2026, 10, 15, 4, 30, tzinfo=UTC), None)
    assert cell("ts", "2026-10-15 24:00:00") == (None, "error")
    assert cell("ts", "2026-10-15") == (datetime(2026, 10, 15, tzinfo=UTC), None)
    assert cell("s", " a ") == (" a ", None)


def test_older_servers_and_untranslatable_columns_keep_the_arrow_path(wh: Warehouse, machine_pg: str) -> None:
    contract = casting_contract()
    with psycopg.connect(machine_pg) as old:
        assert old.info.server_version < 160000, "the machine's PostgreSQL is expected to be 15"
        assert not types_in_database(old, contract)
    formats = parse_contract(
        {"dataset": "fmt", "columns": [{"name": "d", "type": "date", "format": "%d/%m/%Y"}]}, "fmt.yml"
    )
    steps = parse_contract(
        {"dataset": "std", "columns": [{"name": "q", "type": "float", "standardize": ["trim"]}]},
        "std.yml",
    )
    clock = parse_contract({"dataset": "clock", "columns": [{"name": "t", "type": "time"}]}, "clock.yml")
    with wh.connect() as conn:
        assert types_in_database(conn, contract)
        assert not any(types_in_database(conn, c) for c in (formats, steps, clock))
