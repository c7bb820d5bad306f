"""Atlas's event log storage: Dagster's PostgreSQL storage that remembers the tables it found."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg
import pytest

from atlas_resources import pgurl
from atlas_resources.bootstrap import install_dagster_home
from atlas_resources.dagster_event_log import AtlasEventLogStorage

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
