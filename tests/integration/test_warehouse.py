"""The Warehouse client on real PostgreSQL: the embedded server and the machine's own (127.0.0.1:5432).

Every test runs on both servers; the machine variant fails when no server answers on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from atlas_core.errors import AtlasError, ServiceUnavailable
from atlas_engine.tables import ensure_table
from atlas_resources.migrations import apply_migrations, migration_files
from atlas_resources.warehouse import Warehouse
from tests.support import postgres as pg

SERVERS = ["embedded", "machine"]
TABLE = ("atlas_silver", "roundtrip")

ALL_TYPES = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("text", pa.string()),
        pa.field("amount", pa.float64()),
        pa.field("flag", pa.bool_()),
        pa.field("day", pa.date32()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
    ]
)
TRICKY_STRINGS = [
    "",  # empty string: must stay empty, not become NULL
    None,
    'say "hello"',
    "a,b,c",
    "line one\nline two\r\nline three",
    "naïve café – 東京 – emoji 🚀",
    "\\N",  # the text-format NULL marker is plain data in CSV
    "NULL",
    "  padded  ",
    '"',
    ",",
    "\t tab",
]


def tricky_table() -> pa.Table:
    n = len(TRICKY_STRINGS)
    return pa.table(
        {
            "id": pa.array(range(1, n + 1), pa.int64()),
            "text": pa.array(TRICKY_STRINGS, pa.string()),
            "amount": pa.array(
                [0.1, -2.5, 1 / 3, 1e300, -1e-300, None, 0.0, 123456789.125, -0.5, 2.0, 3.0, 4.0]
            ),
            "flag": pa.array([True, False, None, True, False, True, False, None, True, False, True, False]),
            "day": pa.array(
                [
                    date(2026, 10, 1),
                    date(1970, 1, 1),
                    None,
                    date(2000, 2, 29),
                    date(1900, 1, 1),
                    date(9999, 12, 31),
                ]
                + [date(2026, 10, i) for i in range(2, 8)],
                pa.date32(),
            ),
            "at": pa.array(
                [
                    datetime(2026, 10, 1, 0, 0, tzinfo=UTC),
                    datetime(2026, 10, 1, 23, 59, 59, 999999, tzinfo=UTC),
                    None,
                    datetime(1970, 1, 1, tzinfo=UTC),
                    datetime(2024, 2, 29, 12, 30, 15, 123000, tzinfo=UTC),
                    datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
                ]
                + [datetime(2026, 10, 5, i, tzinfo=UTC) for i in range(6)],
                pa.timestamp("us", tz="UTC"),
            ),
        },
        schema=ALL_TYPES,
    )


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    """URI of the ``postgres`` database of one of the two servers."""
    if request.param == "embedded":
        return request.getfixturevalue("pg_server")
    return request.getfixturevalue("machine_pg")  # type: ignore[no-any-return]


@pytest.fixture
def database(request: pytest.FixtureRequest, server: str) -> Iterator[str]:
    """A fresh, migrated database on ``server`` (the embedded one comes from ``warehouse_url``)."""
    if request.node.callspec.params["server"] == "embedded":
        yield request.getfixturevalue("warehouse_url")
        return
    url = pg.create_database(server)
    yield url
    pg.drop_database(url)


@pytest.fixture
def wh(database: str) -> Warehouse:
    return Warehouse(database, batch_size=1000)


def read_all(wh: Warehouse, table: tuple[str, str], schema: pa.Schema, order_by: str = "id") -> pa.Table:
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(", ").join(sql.Identifier(f.name) for f in schema),
        sql.Identifier(*table),
        sql.Identifier(order_by),
    )
    return pa.Table.from_batches(list(wh.stream(query, schema)), schema=schema)


def batches_then_fail(table: pa.Table) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=2)[:1]
    raise RuntimeError("source broke in the middle of the load")


def test_copy_round_trip_keeps_every_value_of_every_type(wh: Warehouse) -> None:
    original = tricky_table()
    rows = wh.replace_table(TABLE, ALL_TYPES, original.to_batches(max_chunksize=5))
    assert rows == original.num_rows
    back = read_all(wh, TABLE, ALL_TYPES)
    assert back.schema == ALL_TYPES
    for name in ALL_TYPES.names:
        assert back.column(name).to_pylist() == original.column(name).to_pylist(), name
    # Empty string and NULL stay different inside PostgreSQL too, not only after the round trip.
    assert wh.fetch_all(
        sql.SQL(
            "SELECT id FROM {} WHERE text = '' UNION ALL SELECT -id FROM {} WHERE text IS NULL ORDER BY 1"
        ).format(sql.Identifier(*TABLE), sql.Identifier(*TABLE))
    ) == [(-2,), (1,)]
    types = dict(
        wh.fetch_all(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            TABLE,
        )
    )
    assert types == {
        "id": "bigint",
        "text": "text",
        "amount": "double precision",
        "flag": "boolean",
        "day": "date",
        "at": "timestamp with time zone",
    }


def test_zoned_timestamps_load_as_the_same_instants(wh: Warehouse) -> None:
    """COPY sends a zoned timestamp as its UTC wall time with ``Z``, whatever its zone or unit."""
    instants = [
        datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),  # Paris changes to summer time after it
        datetime(1969, 12, 31, 23, 0, 0, tzinfo=UTC),
        None,
        datetime(2026, 12, 6, 3, 0, 0, 123456, tzinfo=UTC),
    ]
    batch = pa.record_batch(
        {
            "id": pa.array(range(4), pa.int64()),
            "paris": pa.array(instants, pa.timestamp("us", tz="Europe/Paris")),
            "tokyo_s": pa.array(
                [i.replace(microsecond=0) if i else None for i in instants],
                pa.timestamp("s", tz="Asia/Tokyo"),
            ),
        }
    )
    wh.replace_table(TABLE, batch.schema, [batch])
    stored = wh.fetch_all(sql.SQL("SELECT paris, tokyo_s FROM {} ORDER BY id").format(sql.Identifier(*TABLE)))
    assert [row[0] for row in stored] == instants
    assert [row[1] for row in stored] == [i.replace(microsecond=0) if i else None for i in instants]


def test_stream_of_an_empty_result_yields_nothing(wh: Warehouse) -> None:
    schema = pa.schema([pa.field("n", pa.int64())])
    assert list(wh.stream(sql.SQL("SELECT 1::bigint AS n WHERE false"), schema)) == []
    wh.replace_table(TABLE, ALL_TYPES, iter([]))
    assert read_all(wh, TABLE, ALL_TYPES).num_rows == 0


def test_stream_of_many_batches_is_bounded_by_batch_size_and_complete(wh: Warehouse) -> None:
    schema = pa.schema([pa.field("n", pa.int64()), pa.field("label", pa.string())])
    query = sql.SQL("SELECT n, 'row ' || n FROM generate_series(1, %s) AS n ORDER BY n")
    batches = list(wh.stream(query, schema, (5500,)))
    assert len(batches) >= 6
    assert all(0 < b.num_rows <= wh.batch_size for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.column("n").to_pylist() == list(range(1, 5501))
    assert table.column("label")[5499].as_py() == "row 5500"


def test_stream_carries_rows_of_several_mebibytes_between_short_ones(wh: Warehouse) -> None:
    schema = pa.schema([pa.field("n", pa.int64()), pa.field("body", pa.string())])
    mib = 1 << 20
    huge = {
        3000: 'x"' * (mib // 2 + 7),
        3001: "y" * (3 * mib),
        4000: "z" * 900_000,
    }
    query = sql.SQL(
        "SELECT n, CASE n WHEN 3000 THEN %s WHEN 3001 THEN %s WHEN 4000 THEN %s"
        " ELSE repeat('a', 300) || n END FROM generate_series(1, 9000) AS n ORDER BY n"
    )
    table = pa.Table.from_batches(list(wh.stream(query, schema, (huge[3000], huge[3001], huge[4000]))))
    assert table.column("n").to_pylist() == list(range(1, 9001))
    bodies = table.column("body").to_pylist()
    assert [bodies[n - 1] for n in sorted(huge)] == [huge[n] for n in sorted(huge)]
    assert bodies[0] == "a" * 300 + "1" and bodies[-1] == "a" * 300 + "9000"


def test_a_stream_left_early_ends_its_query_on_the_server(wh: Warehouse) -> None:
    """Leaving a stream closes its connection: the server stops producing rows nobody reads."""
    schema = pa.schema([pa.field("n", pa.int64())])
    marker = "left-early-" + str(time.time_ns())
    query = sql.SQL("SELECT n FROM generate_series(1, 50000000) AS n WHERE %s <> ''")
    with closing(wh.stream(query, schema, (marker,))) as batches:
        first = next(batches)
        assert wh.scalar(ACTIVE, (f"%{marker}%",)) == 1
    assert first.column(0)[0].as_py() == 1
    deadline = time.monotonic() + 10
    while wh.scalar(ACTIVE, (f"%{marker}%",)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wh.scalar(ACTIVE, (f"%{marker}%",)) == 0


ACTIVE = (
    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()"
    " AND query NOT LIKE '%%pg_stat_activity%%'"
)


ABANDON_AND_EXIT = """
import sys
from contextlib import closing
import pyarrow as pa
from psycopg import sql
from atlas_resources.warehouse import Warehouse

wh = Warehouse(sys.argv[1], batch_size=1000)
query = sql.SQL("SELECT n, repeat('x', 200) FROM generate_series(1, 5000000) AS n")
schema = pa.schema([pa.field("n", pa.int64()), pa.field("s", pa.string())])
with closing(wh.stream(query, schema)) as batches:
    next(batches)
print("left")
"""


def test_a_process_that_left_a_stream_early_exits(wh: Warehouse) -> None:
    """A process that leaves a stream mid-query and exits ends cleanly (an earlier reader once held the
    process at exit, and once aborted it while the interpreter was finalizing)."""
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", ABANDON_AND_EXIT, wh.url], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "left"


def test_a_server_error_mid_stream_reaches_the_consumer(wh: Warehouse) -> None:
    schema = pa.schema([pa.field("n", pa.int64())])
    query = sql.SQL("SELECT 1000000 / (200000 - n) FROM generate_series(1, 300000) AS n")
    with pytest.raises(psycopg.errors.DivisionByZero):
        for _ in wh.stream(query, schema):
            pass


def test_stream_binds_parameters_safely(wh: Warehouse) -> None:
    schema = pa.schema([pa.field("v", pa.string())])
    hostile = "x'); DROP SCHEMA atlas_meta CASCADE; --"
    batches = list(wh.stream(sql.SQL("SELECT %s::text AS v"), schema, (hostile,)))
    assert batches[0].column(0).to_pylist() == [hostile]
    assert wh.scalar("SELECT to_regnamespace('atlas_meta') IS NOT NULL") is True


PID = pa.schema([pa.field("pid", pa.int64())])


def backend_pid(wh: Warehouse) -> int:
    """The server process of the connection a stream read on."""
    (batch,) = list(wh.stream(sql.SQL("SELECT pg_backend_pid()::bigint"), PID))
    return int(batch.column(0)[0].as_py())


def test_a_finished_read_leaves_its_connection_to_the_next(wh: Warehouse) -> None:
    first = backend_pid(wh)
    assert backend_pid(wh) == first
    assert wh.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)) == 1


def test_a_kept_connection_the_server_ended_is_replaced(wh: Warehouse) -> None:
    first = backend_pid(wh)
    assert wh.scalar("SELECT pg_terminate_backend(%s)", (first,)) is True
    deadline = time.monotonic() + 10
    while wh.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (first,)):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = backend_pid(wh)
    assert second != first
    assert backend_pid(wh) == second


def test_a_forked_child_reads_on_its_own_connection(wh: Warehouse) -> None:
    """A child shares its parent's sockets: it neither reads on nor closes the parent's kept connection."""
    parent = backend_pid(wh)
    child_pid = os.fork()
    if child_pid == 0:  # the child: its read must get a server process of its own
        code = 0
        try:
            code = 0 if backend_pid(wh) != parent else 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(child_pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert backend_pid(wh) == parent  # still alive and kept


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    wh = Warehouse("postgresql://atlas:s3cret-pw@127.0.0.1:9/atlas", connect_timeout=2)
    with pytest.raises(ServiceUnavailable) as caught:
        list(wh.stream(sql.SQL("SELECT 1::bigint"), pa.schema([pa.field("n", pa.int64())])))
    message = str(caught.value)
    assert "127.0.0.1" in message
    assert "s3cret-pw" not in message and "\n" not in message


def partitioned(days: list[str], per_day: int, tag: str) -> pa.Table:
    keys = [d for d in days for _ in range(per_day)]
    return pa.table(
        {
            "id": pa.array(range(len(keys)), pa.int64()),
            "part": pa.array(keys, pa.string()),
            "tag": pa.array([tag] * len(keys), pa.string()),
        }
    )


PART_SCHEMA = pa.schema(
    [pa.field("id", pa.int64()), pa.field("part", pa.string()), pa.field("tag", pa.string())]
)


def by_partition(wh: Warehouse) -> dict[str, tuple[int, str]]:
    rows = wh.fetch_all(
        sql.SQL("SELECT part, count(*), string_agg(DISTINCT tag, ',') FROM {} GROUP BY part").format(
            sql.Identifier(*TABLE)
        )
    )
    return {part: (count, tags) for part, count, tags in rows}


def test_replace_partitions_replaces_exactly_the_given_partitions(wh: Warehouse) -> None:
    days = ["2026-10-01", "2026-10-02", "2026-10-03"]
    assert (
        wh.replace_partitions(TABLE, PART_SCHEMA, "part", days, partitioned(days, 4, "v1").to_batches()) == 12
    )
    # New rows for day 2 (fewer) and day 3 (more); day 1 is not named and must not change.
    new = pa.concat_tables([partitioned(["2026-10-02"], 2, "v2"), partitioned(["2026-10-03"], 6, "v2")])
    assert wh.replace_partitions(TABLE, PART_SCHEMA, "part", days[1:], new.to_batches()) == 8
    assert by_partition(wh) == {"2026-10-01": (4, "v1"), "2026-10-02": (2, "v2"), "2026-10-03": (6, "v2")}
    # A named partition with no new rows is emptied; the others stay.
    assert wh.replace_partitions(TABLE, PART_SCHEMA, "part", ["2026-10-02"], iter([])) == 0
    assert by_partition(wh) == {"2026-10-01": (4, "v1"), "2026-10-03": (6, "v2")}


def test_failed_partition_load_leaves_previous_contents_intact_and_visible(
    wh: Warehouse, database: str
) -> None:
    days = ["2026-10-01", "2026-10-02"]
    wh.replace_partitions(TABLE, PART_SCHEMA, "part", days, partitioned(days, 3, "v1").to_batches())
    seen_during_load: list[dict[str, tuple[int, str]]] = []

    def source() -> Iterator[pa.RecordBatch]:
        yield from partitioned(days, 3, "v2").to_batches(max_chunksize=2)[:1]
        seen_during_load.append(by_partition(wh))  # another connection, while the load is open
        raise RuntimeError("source broke in the middle of the load")

    with pytest.raises(RuntimeError, match="source broke"):
        wh.replace_partitions(TABLE, PART_SCHEMA, "part", days, source())
    before = {"2026-10-01": (3, "v1"), "2026-10-02": (3, "v1")}
    assert seen_during_load == [before]
    assert by_partition(wh) == before
    with psycopg.connect(database) as conn:  # nothing left locked or half-done for other clients
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*TABLE))).fetchone() == (
            6,
        )


def test_replace_table_swaps_atomically(wh: Warehouse) -> None:
    first = tricky_table()
    wh.replace_table(TABLE, ALL_TYPES, first.to_batches())
    second = first.slice(0, 3)
    assert wh.replace_table(TABLE, ALL_TYPES, second.to_batches()) == 3
    assert read_all(wh, TABLE, ALL_TYPES).column("id").to_pylist() == [1, 2, 3]
    # A failing load keeps the last good table, and no staging table is left behind.
    with pytest.raises(RuntimeError, match="source broke"):
        wh.replace_table(TABLE, ALL_TYPES, batches_then_fail(first))
    assert read_all(wh, TABLE, ALL_TYPES).column("id").to_pylist() == [1, 2, 3]
    leftovers = wh.fetch_all(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
        (TABLE[0], "%roundtrip%"),
    )
    assert leftovers == [("roundtrip",)]


def test_migrations_apply_once_in_order(server: str) -> None:
    url = pg.create_database(server, migrate=False)
    try:
        names = [name for name, _ in migration_files()]
        assert names == sorted(names) and names[0].startswith("0001_")
        assert apply_migrations(url) == names
        assert apply_migrations(url) == []
        with psycopg.connect(url) as conn:
            recorded = [
                r[0] for r in conn.execute("SELECT name FROM atlas_meta.schema_migrations ORDER BY name")
            ]
            schemas = {
                r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas_%'")
            }
        assert recorded == names
        assert {
            "atlas_bronze",
            "atlas_silver",
            "atlas_gold",
            "atlas_ai_ready",
            "atlas_meta",
            "atlas_quarantine",
        } <= schemas
    finally:
        pg.drop_database(url)


def test_ensure_table_adds_columns_and_refuses_type_changes(wh: Warehouse) -> None:
    v1 = pa.schema([pa.field("id", pa.int64()), pa.field("name", pa.string())])
    v2 = v1.append(pa.field("signed_up", pa.timestamp("us", tz="UTC")))
    with wh.transaction() as conn:
        ensure_table(conn, "atlas_silver", "evolving", v1, index_on=["id"])
        conn.execute("INSERT INTO atlas_silver.evolving VALUES (1, 'kept')")
    with wh.transaction() as conn:
        ensure_table(conn, "atlas_silver", "evolving", v2)
        ensure_table(conn, "atlas_silver", "evolving", v2)  # idempotent
    rows = wh.fetch_all("SELECT id, name, signed_up FROM atlas_silver.evolving")
    assert rows == [(1, "kept", None)]
    changed = pa.schema([pa.field("id", pa.string()), pa.field("name", pa.string())])
    with pytest.raises(AtlasError) as excinfo, wh.transaction() as conn:
        ensure_table(conn, "atlas_silver", "evolving", changed)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "atlas_silver.evolving.id is bigint" in message and "text" in message
    assert wh.fetch_all("SELECT id FROM atlas_silver.evolving") == [(1,)]
