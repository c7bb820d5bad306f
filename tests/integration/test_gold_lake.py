"""Gold in the lake, on both lake implementations (a local directory and SeaweedFS S3): daily Parquet
partitions of incremental models, one object per table model, atomic replacement, retention."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atlas_core.errors import AtlasError
from atlas_core.layout import Layer
from atlas_core.retention import RetentionPolicy
from atlas_core.sql_models import SqlModel
from atlas_engine.gold import run_model
from atlas_engine.gold_lake import exclusive_publish, export_model
from atlas_engine.retention import run_retention
from atlas_resources.lake import Lake, S3Lake
from atlas_resources.warehouse import Warehouse
from tests.integration.test_gold_models import (
    ALL_DAYS,
    FACT_FRONT,
    ORDERS,
    day,
    model_text,
    seed_orders,
    write_models,
)
from tests.support.seaweed import SeaweedS3

BUCKET = Layer.GOLD.bucket

FACT = model_text(
    FACT_FRONT,
    """\
SELECT order_id, customer_id, order_ts, (order_ts AT TIME ZONE 'UTC')::date AS order_date, total,
       total::numeric AS amount, round(total::numeric, 2)::numeric(38, 2) AS amount_2dp, status,
       status = 'returned' AS returned, ARRAY[status] AS tags
FROM atlas_silver.orders
WHERE order_ts >= :partition_start AND order_ts < :partition_end
""",
)

SPEND = """/* ---
description: spend per customer
primary_key: [customer_id]
--- */
SELECT customer_id, count(*) AS orders, sum(amount) AS spend FROM atlas_gold.{fact} GROUP BY customer_id
"""


def models(tmp_path: Path) -> tuple[SqlModel, SqlModel]:
    """An incremental and a table model with names of their own (the S3 buckets are shared by tests)."""
    token = uuid.uuid4().hex[:8]
    fact, spend = f"fact_{token}", f"spend_{token}"
    loaded = write_models(tmp_path, **{fact: FACT, spend: SPEND.format(fact=fact)})
    return loaded[fact], loaded[spend]


def parquet(lake: Lake, key: str) -> pa.Table:
    with lake.open(BUCKET, key) as stream:
        return pq.read_table(stream)


def warehouse_rows(url: str, table: str, order: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT * FROM atlas_gold.{table} ORDER BY {order}").fetchall()  # noqa: S608 - test names


def as_rows(table: pa.Table, order: str) -> list[tuple[object, ...]]:
    return sorted(
        (tuple(r.values()) for r in table.to_pylist()), key=lambda r: r[table.schema.names.index(order)]
    )


def test_incremental_models_are_daily_partitions_and_table_models_one_object(
    lake: Lake, warehouse_url: str, tmp_path: Path
) -> None:
    seed_orders(warehouse_url, ORDERS)
    fact, spend = models(tmp_path)
    wh = Warehouse(warehouse_url, batch_size=2)  # several batches per partition: the export streams
    assert run_model(wh, fact, ALL_DAYS, rebuild=True).published
    written = export_model(wh, lake, fact, ALL_DAYS)
    keys = [f"{fact.name}/partition=2026-10-0{d}/data.parquet" for d in (1, 2, 3)]
    assert written == [lake.uri(BUCKET, k) for k in keys]
    assert lake.list(BUCKET, f"{fact.name}/") == keys
    first = parquet(lake, keys[0])
    assert dict(zip(first.schema.names, first.schema.types, strict=True)) == {
        "order_id": pa.int64(),
        "customer_id": pa.int64(),
        "order_ts": pa.timestamp("us", tz="UTC"),
        "order_date": pa.date32(),
        "total": pa.float64(),
        "amount": pa.decimal128(38, 9),
        "amount_2dp": pa.decimal128(38, 2),
        "status": pa.string(),
        "returned": pa.bool_(),
        "tags": pa.string(),
    }
    lake_rows = [row for k in keys for row in as_rows(parquet(lake, k), "order_id")]
    db_rows = warehouse_rows(warehouse_url, fact.name, "order_id")
    assert [r[:5] + r[6:8] + r[8:9] for r in lake_rows] == [r[:5] + r[6:8] + r[8:9] for r in db_rows]
    assert [r[5] for r in lake_rows] == [Decimal(str(r[5])) for r in db_rows]  # numeric: exact decimals
    assert [r[9] for r in lake_rows] == [
        "{placed}",
        "{placed}",
        "{placed}",
        "{shipped}",
        "{placed}",
        "{returned}",
    ]
    assert {str(r[3]) for r in lake_rows if r[0] in (3, 4)} == {"2026-10-02"}  # each row in its day's object

    assert run_model(wh, spend).published
    assert export_model(wh, lake, spend, None) == [lake.uri(BUCKET, f"{spend.name}/data.parquet")]
    assert as_rows(parquet(lake, f"{spend.name}/data.parquet"), "customer_id") == [
        (c, n, Decimal(str(s)).quantize(Decimal("1e-9")))
        for c, n, s in warehouse_rows(warehouse_url, spend.name, "1")
    ]

    # Day 2 is re-materialized with changed data: its object is replaced, days 1 and 3 are not touched.
    before = {k: lake.get_bytes(BUCKET, k) for k in keys}
    seed_orders(
        warehouse_url, [(i, c, d, t + 1, s) for i, c, d, t, s in ORDERS] + [(7, 13, 2, 5.0, "placed")]
    )
    assert run_model(wh, fact, day(2)).published
    assert export_model(wh, lake, fact, day(2)) == [lake.uri(BUCKET, keys[1])]
    assert (
        lake.get_bytes(BUCKET, keys[0]) == before[keys[0]]
        and lake.get_bytes(BUCKET, keys[2]) == before[keys[2]]
    )
    assert [(r[0], r[4]) for r in as_rows(parquet(lake, keys[1]), "order_id")] == [
        (3, 21.0),
        (4, 501.0),
        (7, 5.0),
    ]
    assert not [k for k, _ in lake.list_temporary(BUCKET) if fact.name in k]


def test_a_partition_without_rows_is_an_empty_object_with_the_schema(
    lake: Lake, warehouse_url: str, tmp_path: Path
) -> None:
    seed_orders(warehouse_url, ORDERS)
    fact, _ = models(tmp_path)
    wh = Warehouse(warehouse_url)
    window = (date(2026, 10, 3), date(2026, 10, 5))  # 2026-10-04 has no orders
    assert run_model(wh, fact, window, rebuild=True).published
    export_model(wh, lake, fact, window)
    empty = parquet(lake, f"{fact.name}/partition=2026-10-04/data.parquet")
    assert empty.num_rows == 0 and "amount" in empty.schema.names
    assert parquet(lake, f"{fact.name}/partition=2026-10-03/data.parquet").num_rows == 2


def test_a_run_of_days_is_cut_by_day_from_one_scan_with_its_empty_days(
    lake: Lake, warehouse_url: str, tmp_path: Path
) -> None:
    seed_orders(warehouse_url, ORDERS)
    fact, _ = models(tmp_path)
    wh = Warehouse(warehouse_url, batch_size=1)  # a batch per row: cuts fall between and inside batches
    window = (date(2026, 10, 1), date(2026, 10, 7))  # days 4 to 6 have no orders
    assert run_model(wh, fact, window, rebuild=True).published
    written = export_model(wh, lake, fact, window)
    days = [f"2026-10-0{d}" for d in range(1, 7)]
    assert written == [lake.uri(BUCKET, f"{fact.name}/partition={d}/data.parquet") for d in days]
    counts = {d: parquet(lake, f"{fact.name}/partition={d}/data.parquet").num_rows for d in days}
    per_day = warehouse_rows(warehouse_url, fact.name, "order_id")
    expected = {d: sum(1 for r in per_day if str(r[3]) == d) for d in days}
    assert counts == expected and sum(counts.values()) == len(ORDERS)
    for d in days:  # every row sits in its own day's object
        assert {
            str(r[3]) for r in as_rows(parquet(lake, f"{fact.name}/partition={d}/data.parquet"), "order_id")
        } <= {d}


def test_s3_partition_is_replaced_atomically(seaweed: SeaweedS3, warehouse_url: str, tmp_path: Path) -> None:
    """Readers polling a gold partition on S3 while it is re-exported over and over see either the
    previous or the new object, complete, never a part; an export that fails midway leaves the previous
    object in place and nothing listed."""
    lake = S3Lake(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    fact, _ = models(tmp_path)
    key = f"{fact.name}/partition=2026-10-02/data.parquet"
    wh = Warehouse(warehouse_url, batch_size=500)

    def version(n: int) -> list[tuple[int, int, int, float, str]]:
        """Day 2 holds 2,000 + 500·(n % 2) orders, every total equal to n: a read tells which export it
        saw."""
        return [(i, i % 50, 2, float(n), "placed") for i in range(2000 + 500 * (n % 2))]

    seed_orders(warehouse_url, version(0))
    assert run_model(wh, fact, day(2), rebuild=True).published
    export_model(wh, lake, fact, day(2))

    seen: list[tuple[int, frozenset[float]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        reading = S3Lake(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
        while not stop.is_set():
            try:
                table = pa.Table.from_batches(list(reading.read_parquet(BUCKET, key)))
                seen.append((table.num_rows, frozenset(table.column("total").to_pylist())))
            except BaseException as exc:  # any failed read is the finding
                errors.append(exc)
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        for n in range(1, 7):
            seed_orders(warehouse_url, version(n))
            assert run_model(wh, fact, day(2)).published
            export_model(wh, lake, fact, day(2))
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    assert len(seen) >= 3
    for rows, totals in seen:  # each read is one whole version: its row count matches its totals
        assert len(totals) == 1
        (total,) = totals
        assert rows == len(version(int(total)))
    assert len({t for _, t in seen}) >= 2  # the readers saw objects replaced under them
    final = lake.get_bytes(BUCKET, key)

    # An export that fails midway (a total too large for the Parquet decimal, met after the first rows):
    # the step fails with one line naming the model and partition; the previous object stays as it was.
    seed_orders(warehouse_url, version(6)[:-1] + [(9999, 1, 2, 1e31, "placed")])
    assert run_model(wh, fact, day(2)).published
    with pytest.raises(AtlasError) as excinfo:
        export_model(wh, lake, fact, day(2))
    message = str(excinfo.value)
    assert (
        message.startswith(f"Parquet export of gold.{fact.name} partition 2026-10-02: ")
        and "\n" not in message
    )
    assert "overflow" in message
    assert lake.get_bytes(BUCKET, key) == final
    assert lake.list(BUCKET, f"{fact.name}/") == [key]
    assert not [k for k, _ in lake.list_temporary(BUCKET)]


def test_retention_deletes_expired_gold_partitions_from_the_lake(
    lake: Lake, warehouse_url: str, tmp_path: Path
) -> None:
    lake.ensure_buckets()  # retention looks at every bucket
    seed_orders(warehouse_url, ORDERS)
    fact, spend = models(tmp_path)
    wh = Warehouse(warehouse_url)
    run_model(wh, fact, ALL_DAYS, rebuild=True)
    export_model(wh, lake, fact, ALL_DAYS)
    run_model(wh, spend)
    export_model(wh, lake, spend, None)
    policy = RetentionPolicy(days={**RetentionPolicy().days, Layer.GOLD: 10})
    now = datetime(2026, 10, 12, 12, tzinfo=UTC)  # gold cutoff 2026-10-02: day 1 expires
    gold_tables = [(fact.name, "order_date")]

    dry = run_retention(wh, lake, [], gold_tables, policy, now=now, dry_run=True)
    assert [(a.layer, a.target, a.partition_key, a.objects) for a in dry.actions if a.objects] == [
        ("gold", f"{BUCKET}/{fact.name}", "2026-10-01", 1)
    ]
    assert len(lake.list(BUCKET, f"{fact.name}/")) == 3

    run_retention(wh, lake, [], gold_tables, policy, now=now, dry_run=False)
    assert lake.list(BUCKET, f"{fact.name}/") == [
        f"{fact.name}/partition=2026-10-02/data.parquet",
        f"{fact.name}/partition=2026-10-03/data.parquet",
    ]
    assert [r[0] for r in warehouse_rows(warehouse_url, fact.name, "order_id")] == [3, 4, 5, 6]
    assert lake.exists(BUCKET, f"{spend.name}/data.parquet")  # table models have no partitions to expire


def test_builds_and_exports_of_one_model_are_serialised(warehouse_url: str) -> None:
    """A second publish of the same model waits for the first (its build and its export) to end; another
    model does not wait."""
    wh = Warehouse(warehouse_url)
    order: list[str] = []

    def second() -> None:
        with exclusive_publish(wh, "fact"):
            order.append("second")

    with exclusive_publish(wh, "fact"):
        with exclusive_publish(wh, "spend"):  # another model's lock is free
            order.append("other model")
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 30
        while not wh.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"):
            assert time.monotonic() < deadline, "the second publish never waited for the lock"
            time.sleep(0.05)
        order.append("first")
    thread.join(timeout=30)
    assert order == ["other model", "first", "second"]
