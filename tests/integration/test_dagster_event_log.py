"""Atlas's event log storage: Dagster's PostgreSQL storage that remembers the tables it found and stores a
batch of planned events in one transaction.

No ``from __future__ import annotations``: Dagster reads the asset's ``context`` annotation at run time.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import sqlalchemy
from dagster_postgres import PostgresEventLogStorage

from atlas_resources import pgurl
from atlas_resources.bootstrap import install_dagster_home
from atlas_resources.dagster_event_log import AtlasEventLogStorage
from tests.support import postgres as pg

PROJECT = Path(__file__).resolve().parents[2]


def test_a_found_table_is_remembered_and_a_missing_one_looked_up_again(warehouse_url: str) -> None:
    storage = AtlasEventLogStorage(postgres_url=pgurl.for_sqlalchemy(warehouse_url))
    try:
        assert storage.has_table("asset_check_executions")
        assert not storage.has_table("atlas_created_later")
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE atlas_created_later (x int)")
            # a found table is not asked for again: renaming it does not change the answer
            conn.execute("ALTER TABLE asset_check_executions RENAME TO asset_check_executions_moved")
        assert storage.has_table("atlas_created_later")
        assert storage.has_table("asset_check_executions")
    finally:
        storage.dispose()


def test_the_project_instance_uses_it_and_stores_check_events(
    warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_PG_URL", pgurl.for_sqlalchemy(warehouse_url))
    monkeypatch.setenv("ATLAS_COMPUTE_LOG_DIR", str(tmp_path / "compute_logs"))
    install_dagster_home(tmp_path, PROJECT)

    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
    def numbers() -> dg.MaterializeResult:
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.event_log_storage, AtlasEventLogStorage)
        result = dg.materialize([numbers], instance=instance)
        assert result.success
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("numbers"), "positive"), limit=5
        )
        assert [r.status.value for r in records] == ["SUCCEEDED"]


DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-06")
RANGE = {
    "dagster/asset_partition_range_start": "2026-01-01",
    "dagster/asset_partition_range_end": "2026-01-05",
}
PLANNED = {
    dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
}


def _daily_numbers(fail: bool) -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=DAYS,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[dg.AssetCheckSpec("positive", asset="numbers")],
    )
    def numbers(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        if fail:
            raise RuntimeError("the source is down")
        for day in context.partition_keys:  # as Atlas's dimension checks report each partition
            context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey("numbers"), check_name="positive", passed=True, partition=day
                )
            )
        return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])

    return numbers


@pytest.fixture
def project_instance(
    pg_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The project's instance config on a database of its own, writing events in batches as the CLI does."""
    url = pg.create_database(pg_server, "dagster_t", migrate=False)
    monkeypatch.setenv("DAGSTER_PG_URL", pgurl.for_sqlalchemy(url))
    monkeypatch.setenv("ATLAS_COMPUTE_LOG_DIR", str(tmp_path / "compute_logs"))
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "100")
    install_dagster_home(tmp_path, PROJECT)
    try:
        with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
            yield instance
    finally:
        pg.drop_database(url)


def _stored(url: str) -> dict[str, list[tuple[object, ...]]]:
    """The rows a stored event leads to, with storage ids as ranks (the two databases number alike)."""
    first = pg.rows(url, "SELECT coalesce(min(id), 0) FROM event_logs")[0][0]
    return {
        "event_logs": pg.rows(
            url,
            "SELECT id - %s, run_id, event, dagster_event_type, timestamp, step_key, asset_key, partition"
            " FROM event_logs ORDER BY id",
            (first,),
        ),
        "asset_keys": pg.rows(
            url,
            "SELECT asset_key, last_materialization, last_run_id, last_materialization_timestamp,"
            " wipe_timestamp, asset_details, cached_status_data FROM asset_keys ORDER BY asset_key",
        ),
        "asset_event_tags": pg.rows(url, "SELECT event_id - %s, key, value FROM asset_event_tags", (first,)),
        "asset_check_executions": pg.rows(
            url,
            "SELECT asset_key, check_name, partition, run_id, execution_status, evaluation_event,"
            " evaluation_event_timestamp, evaluation_event_storage_id - %s, materialization_event_storage_id"
            " FROM asset_check_executions ORDER BY asset_key, check_name, partition",
            (first,),
        ),
    }


def _replay(storage: PostgresEventLogStorage, url: str, events: list[dg.EventLogEntry]) -> list[str]:
    """Store ``events`` as one batch; the notifications a listener received."""
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN run_events")
        try:
            storage.store_event_batch(events)
        finally:
            storage.dispose()
        return [n.payload for n in listener.notifies(timeout=1.0)]


def test_planned_events_are_stored_in_one_batch_as_one_at_a_time(
    project_instance: dg.DagsterInstance, pg_server: str
) -> None:
    """A run over five daily partitions reports its planned events as one batch: Atlas stores them in one
    transaction, and the rows, index rows and notifications are those of Dagster's one-at-a-time path."""
    result = dg.materialize([_daily_numbers(fail=False)], instance=project_instance, tags=RANGE)
    assert result.success
    numbers = dg.AssetKey("numbers")
    assert project_instance.get_materialized_partitions(numbers) == set(DAYS.get_partition_keys())
    history = project_instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(numbers, "positive"), limit=10
    )
    assert sorted((r.partition or "", r.status.value) for r in history) == [("", "SUCCEEDED")] + [
        (d, "SUCCEEDED") for d in sorted(DAYS.get_partition_keys())
    ]
    planned = [
        r.event_log_entry
        for r in project_instance.get_records_for_run(result.run_id, of_type=PLANNED).records
    ]
    assert len(planned) == 6  # five partitions of the asset, one check over the five

    one_at_a_time, batched = (pg.create_database(pg_server, "dagster_t", migrate=False) for _ in range(2))
    try:
        plain = PostgresEventLogStorage(postgres_url=pgurl.for_sqlalchemy(one_at_a_time))
        notified_plain = _replay(plain, one_at_a_time, planned)
        atlas = AtlasEventLogStorage(postgres_url=pgurl.for_sqlalchemy(batched))
        notified_atlas = _replay(atlas, batched, planned)
        expected, got = _stored(one_at_a_time), _stored(batched)
        assert len(got["event_logs"]) == 6 and len(got["asset_check_executions"]) == 5
        assert got == expected
        assert len(notified_atlas) == len(notified_plain) == 6
        assert sorted(p.rsplit("_", 1)[0] for p in notified_atlas) == [result.run_id] * 6
    finally:
        for url in (one_at_a_time, batched):
            pg.drop_database(url)


def test_a_batch_that_fails_writes_nothing(project_instance: dg.DagsterInstance) -> None:
    """Storing the same planned check twice breaks its unique index: none of that batch's events is kept."""
    result = dg.materialize([_daily_numbers(fail=False)], instance=project_instance, tags=RANGE)
    storage = project_instance.event_log_storage
    planned = [
        r.event_log_entry
        for r in project_instance.get_records_for_run(result.run_id, of_type=PLANNED).records
    ]
    url = pgurl.for_psycopg(storage.postgres_url)  # type: ignore[attr-defined]
    before = pg.rows(url, "SELECT count(*) FROM event_logs")[0][0]
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        storage.store_event_batch(planned)
    assert pg.rows(url, "SELECT count(*) FROM event_logs")[0][0] == before


def test_a_failed_run_leaves_its_planned_partitions_attempted(project_instance: dg.DagsterInstance) -> None:
    """Dagster derives failed partitions from the planned events: each of the five is an attempt without a
    materialization, pointing at its own planned event."""
    result = dg.materialize(
        [_daily_numbers(fail=True)], instance=project_instance, tags=RANGE, raise_on_error=False
    )
    assert not result.success
    storage = project_instance.event_log_storage
    attempts = storage.get_latest_asset_partition_materialization_attempts_without_materializations(
        dg.AssetKey("numbers")
    )
    assert sorted(attempts) == sorted(DAYS.get_partition_keys())
    assert {run_id for run_id, _ in attempts.values()} == {result.run_id}
    assert len({event_id for _, event_id in attempts.values()}) == 5
