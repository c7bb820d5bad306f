"""Contract sources into bronze, against real services: the landing area (local lake), another
PostgreSQL database (incremental by watermark), a real HTTP server (pages, retries); circuit breakers
against dead endpoints. No Dagster here: these are the engine functions the assets and sensors call."""

from __future__ import annotations

import gzip
import socket
import time
from pathlib import Path

import psycopg
import pytest

from atlas_core.contracts.model import Contract
from atlas_core.errors import AtlasError, InputRejected, ServiceUnavailable
from atlas_engine.sources.landing import (
    BUCKET,
    ingest_landing_object,
    pending_objects,
    processed_key,
    scan_object,
)
from atlas_engine.sources.postgres import read_watermark
from atlas_engine.sources.snapshot import pull_snapshot
from atlas_resources import breakers
from atlas_resources.lake import LocalLake, S3Lake
from atlas_resources.warehouse import Warehouse
from tests.support import postgres as pg
from tests.support.http_receiver import start_receiver

COLUMNS = [
    {"name": "event_id", "type": "integer", "required": True, "unique": True},
    {"name": "event_ts", "type": "timestamp", "required": True},
    {"name": "kind", "required": True},
    {"name": "amount", "type": "float"},
]
PARTITIONING = {"column": "event_ts", "start": "2026-10-01", "end": "2026-10-15"}


def contract(source: dict, **extra: object) -> Contract:
    return Contract.model_validate(
        {
            "dataset": "events",
            "source": source,
            "primary_key": ["event_id"],
            "partitioning": PARTITIONING,
            "columns": COLUMNS,
            **extra,
        }
    )


def csv_text(rows: list[tuple]) -> str:
    return "event_id,event_ts,kind,amount\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)


def ingestions(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT source_file, status, rows_bronze, rows_quarantined, partition_keys, reason "
            "FROM atlas_meta.ingestions ORDER BY ingestion_id"
        ).fetchall()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_landing_objects_are_ingested_once_and_moved(warehouse_url: str, tmp_path: Path) -> None:
    wh, lake = Warehouse(warehouse_url), LocalLake(tmp_path / "lake")
    events = contract({"kind": "landing"})
    good = csv_text(
        [
            (1, "2026-10-02T10:00:00Z", "view", 1.5),
            (2, "2026-10-04T11:00:00Z", "buy", 9),
            (3, "2026-12-01T00:00:00Z", "view", 0),
        ]
    )  # out of range: quarantined at ingestion
    lake.put_bytes(BUCKET, "landing/events/a.csv", good.encode())
    lake.put_bytes(BUCKET, "landing/events/a-copy.csv.gz", gzip.compress(good.encode()))
    lake.put_bytes(BUCKET, "landing/events/same-bytes.csv", good.encode())
    lake.put_bytes(BUCKET, "landing/events/broken.csv", b"event_id,kind\n1,view\n")
    assert pending_objects(lake, events) == [
        f"landing/events/{n}" for n in ("a-copy.csv.gz", "a.csv", "broken.csv", "same-bytes.csv")
    ]
    scan = scan_object(lake, events, "landing/events/a.csv")
    assert scan.partition_keys == ["2026-10-02", "2026-10-04"] and scan.rejected is None
    assert "missing column(s) 'event_ts'" in (
        scan_object(lake, events, "landing/events/broken.csv").rejected or ""
    )

    first = ingest_landing_object(wh, lake, events, "landing/events/a.csv")
    assert (first.status, first.rows_bronze, first.rows_quarantined) == ("accepted", 3, 1)
    assert first.partition_keys == ["2026-10-02", "2026-10-04"]
    duplicate = ingest_landing_object(wh, lake, events, "landing/events/same-bytes.csv")
    assert duplicate.status == "duplicate"
    gz = ingest_landing_object(wh, lake, events, "landing/events/a-copy.csv.gz")
    assert gz.status == "accepted" and gz.rows_bronze == 3  # different bytes (gzip), same rows
    with pytest.raises(InputRejected, match="broken.csv: missing column"):
        ingest_landing_object(wh, lake, events, "landing/events/broken.csv")

    assert pending_objects(lake, events) == []
    assert lake.exists(BUCKET, processed_key("events", first.sha256, "a.csv"))
    assert lake.exists(BUCKET, processed_key("events", first.sha256, "same-bytes.csv"))
    assert len(lake.list(BUCKET, "rejected/events/")) == 1
    statuses = [(f, s) for f, s, *_ in ingestions(warehouse_url)]
    assert statuses == [
        ("a.csv", "accepted"),
        ("same-bytes.csv", "duplicate"),
        ("a-copy.csv.gz", "accepted"),
        ("broken.csv", "rejected"),
    ]


def test_landing_partition_from_the_file_name(warehouse_url: str, tmp_path: Path) -> None:
    wh, lake = Warehouse(warehouse_url), LocalLake(tmp_path / "lake")
    events = contract({"kind": "landing", "partition_from": "filename"})
    rows = csv_text([(1, "2026-10-09T23:59:00Z", "view", 1), (2, "2026-10-10T00:01:00Z", "buy", 2)])
    lake.put_bytes(BUCKET, "landing/events/export_2026-10-10.csv", rows.encode())
    lake.put_bytes(
        BUCKET, "landing/events/export_2027-01-01.csv", rows.encode() + b"3,2026-10-10T00:00:00Z,view,1\n"
    )
    lake.put_bytes(BUCKET, "landing/events/nodate.csv", b"x")
    assert scan_object(lake, events, "landing/events/export_2026-10-10.csv").partition_keys == ["2026-10-10"]
    record = ingest_landing_object(wh, lake, events, "landing/events/export_2026-10-10.csv")
    assert record.partition_keys == ["2026-10-10"] and record.rows_bronze == 2
    with pytest.raises(InputRejected, match="partition 2027-01-01 .* outside the contract's range"):
        ingest_landing_object(wh, lake, events, "landing/events/export_2027-01-01.csv")
    with pytest.raises(InputRejected, match="nodate.csv: no date in the file name"):
        ingest_landing_object(wh, lake, events, "landing/events/nodate.csv")
    assert [s for _, s, *_ in ingestions(warehouse_url)] == ["accepted", "rejected", "rejected"]
    assert pending_objects(lake, events) == []


def test_postgres_source_is_pulled_incrementally_by_watermark(
    pg_server: str, warehouse_url: str, tmp_path: Path
) -> None:
    source_url = pg.create_database(pg_server, "source_t", migrate=False)
    try:
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE shop_events (event_id int, event_ts timestamptz, kind text, amount float8, "
                "updated_at timestamptz)"
            )
            conn.execute(
                "INSERT INTO shop_events SELECT i, "
                "'2026-10-01T00:00:00Z'::timestamptz + i * interval '7 hours', "
                "'view', i * 1.5, '2026-10-20T00:00:00Z'::timestamptz + i * interval '1 second' "
                "FROM generate_series(1, 40) AS i"
            )
        wh, lake = Warehouse(warehouse_url), LocalLake(tmp_path / "lake")
        events = contract(
            {
                "kind": "postgres",
                "url_env": "SHOP_DB_URL",
                "table": "shop_events",
                "watermark_column": "updated_at",
            }
        )
        env = {"SHOP_DB_URL": source_url}
        first = pull_snapshot(wh, lake, events, env=env)
        assert first is not None and first.status == "accepted" and first.rows_bronze == 40
        assert first.partition_keys[0] == "2026-10-01" and first.rows_quarantined == 0
        assert read_watermark(wh, "events") == "2026-10-20 00:00:40+00"
        assert pull_snapshot(wh, lake, events, env=env) is None  # nothing new
        with psycopg.connect(source_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO shop_events VALUES (41, "
                "'2026-10-12T08:00:00Z', 'buy', 3, '2026-10-21T00:00:00Z'), "
                "(42, '2026-10-12T09:00:00Z', 'buy', 4, '2026-10-21T00:00:01Z')"
            )
        second = pull_snapshot(wh, lake, events, env=env)
        assert second is not None and second.rows_bronze == 2 and second.partition_keys == ["2026-10-12"]
        assert read_watermark(wh, "events") == "2026-10-21 00:00:01+00"
        with psycopg.connect(warehouse_url) as conn:
            stamps = conn.execute("SELECT event_ts FROM atlas_bronze.events WHERE event_id = '41'").fetchone()
        assert stamps == ("2026-10-12T08:00:00.000000Z",)
        with pytest.raises(AtlasError, match="environment variable SHOP_DB_URL"):
            pull_snapshot(wh, lake, events, env={})
    finally:
        pg.drop_database(source_url)


def test_http_source_pages_and_retries_transient_statuses(warehouse_url: str, tmp_path: Path) -> None:
    receiver = start_receiver()
    try:
        receiver.pages = {
            "/api/events?page=1&per_page=2": {
                "data": [
                    {"event_id": 1, "event_ts": "2026-10-03T10:00:00Z", "kind": "view", "amount": 1.25},
                    {"event_id": 2, "event_ts": "2026-10-03T11:00:00Z", "kind": "buy", "amount": None},
                ]
            },
            "/api/events?page=2&per_page=2": {
                "data": [
                    {
                        "event_id": 3,
                        "event_ts": "2026-10-05T10:00:00Z",
                        "kind": "view",
                        "extra": {"nested": True},
                    }
                ]
            },
        }
        receiver.script.extend([503, 429])  # the first two requests fail transiently
        wh, lake = Warehouse(warehouse_url), LocalLake(tmp_path / "lake")
        events = contract(
            {
                "kind": "http",
                "url": f"{receiver.url}/api/events",
                "records_path": "data",
                "page_param": "page",
                "page_size_param": "per_page",
                "page_size": 2,
                "timeout_seconds": 5,
            }
        )
        record = pull_snapshot(wh, lake, events, max_wait=0.3)
        assert (
            record is not None
            and record.rows_bronze == 3
            and record.partition_keys == ["2026-10-03", "2026-10-05"]
        )
        assert [r.path for r in receiver.received] == ["/api/events?page=1&per_page=2"] * 3 + [
            "/api/events?page=2&per_page=2"
        ]
        again = pull_snapshot(wh, lake, events, max_wait=0.3)
        assert again is not None and again.status == "duplicate"  # same content, same sha256

        receiver.received.clear()
        missing = contract({"kind": "http", "url": f"{receiver.url}/api/nothing", "records_path": "data"})
        with pytest.raises(AtlasError, match="answered 404"):
            pull_snapshot(wh, lake, missing, max_wait=0.3)
        assert len(receiver.received) == 1  # a 404 is not retried
    finally:
        receiver.stop()


def test_circuit_breaker_opens_against_a_dead_postgres_and_ignores_data_errors(warehouse_url: str) -> None:
    breakers.reset()
    breakers.configure(fail_max=3, reset_seconds=30)
    try:
        port = closed_port()
        dead = Warehouse(f"postgresql://postgres@127.0.0.1:{port}/atlas", connect_timeout=2)
        for _ in range(3):
            with pytest.raises(
                ServiceUnavailable,
                match=f"PostgreSQL at postgresql://postgres@127.0.0.1:{port}/atlas is unreachable",
            ):
                dead.scalar("SELECT 1")
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as opened:
            dead.scalar("SELECT 1")
        assert time.monotonic() - started < 0.5
        assert str(opened.value).startswith(
            f"circuit open: PostgreSQL at 127.0.0.1:{port} failed 3 times; retry after "
        )
        live = Warehouse(warehouse_url)
        for _ in range(5):  # data errors do not trip the breaker
            with pytest.raises(psycopg.errors.UndefinedTable):
                live.scalar("SELECT * FROM no_such_table")
        assert live.scalar("SELECT 1") == 1
    finally:
        breakers.reset()
        breakers.configure(fail_max=5, reset_seconds=30)


def test_circuit_breaker_opens_against_a_dead_s3_endpoint() -> None:
    breakers.reset()
    breakers.configure(fail_max=2, reset_seconds=60)
    try:
        endpoint = f"127.0.0.1:{closed_port()}"
        lake = S3Lake(endpoint, "key", "secret-key-1234")
        for _ in range(2):
            with pytest.raises(ServiceUnavailable, match=f"S3 endpoint {endpoint} is unreachable"):
                lake.exists("atlas-bronze", "raw/x")
        started = time.monotonic()
        with pytest.raises(
            ServiceUnavailable, match=f"circuit open: S3 at {endpoint} failed 2 times; retry after 60s"
        ):
            lake.list("atlas-bronze")
        assert time.monotonic() - started < 0.5
    finally:
        breakers.reset()
        breakers.configure(fail_max=5, reset_seconds=30)


def test_landing_on_s3_moves_objects_server_side(warehouse_url: str, seaweed: object) -> None:
    from tests.support.seaweed import SeaweedS3

    assert isinstance(seaweed, SeaweedS3)
    wh, lake = Warehouse(warehouse_url), S3Lake(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    lake.ensure_buckets([BUCKET])
    lake.delete_prefix(BUCKET, "")
    events = contract({"kind": "landing"})
    lake.put_bytes(
        BUCKET, "landing/events/s3.csv", csv_text([(7, "2026-10-06T10:00:00Z", "buy", 2)]).encode()
    )
    record = ingest_landing_object(wh, lake, events, "landing/events/s3.csv")
    assert (record.status, record.partition_keys) == ("accepted", ["2026-10-06"])
    assert record.lake_uri == f"s3://{BUCKET}/{processed_key('events', record.sha256, 's3.csv')}"
    assert lake.list(BUCKET, "landing/") == [] and lake.exists(
        BUCKET, processed_key("events", record.sha256, "s3.csv")
    )
