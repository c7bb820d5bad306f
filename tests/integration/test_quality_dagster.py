"""Quality checks in a real Dagster run: a blocking dimension stops downstream assets, a warning does not.

A small project (two contracts with the same dirty data, one blocking and one warn-only, each with a
gold model reading it, plus a partitioned dataset) is materialized through a Dagster instance on
PostgreSQL, exactly like ``atlas materialize``.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from atlas_cli.runs import execute
from atlas_cli.runtime import boot

pytestmark = pytest.mark.slow

GOLD = """/* ---
description: Row count of {name}.
materialization: table
--- */
SELECT count(*) AS n FROM atlas_silver.{name}
"""


def _project(root: Path) -> tuple[Path, Path]:
    contracts, models = root / "contracts", root / "models" / "gold"
    contracts.mkdir(parents=True)
    models.mkdir(parents=True)
    rows = "id,name\n" + "".join(
        f"{i},{'' if i % 2 else f'n{i}'}\n" for i in range(1, 11)
    )  # half the names missing
    (root / "items.csv").write_text(rows)
    for name, blocking in (("strict_items", True), ("lenient_items", False)):
        (contracts / f"{name}.yml").write_text(
            yaml.safe_dump(
                {
                    "dataset": name,
                    "source": {"kind": "file", "path": str(root / "items.csv")},
                    "primary_key": ["id"],
                    "columns": [{"name": "id", "type": "integer"}, {"name": "name", "required": True}],
                    "quality": {"blocking": blocking},
                }
            )
        )
        (models / f"{name}_summary.sql").write_text(GOLD.format(name=name))
    (root / "daily.csv").write_text(
        "id,ts,amount\n1,2026-10-01T01:00:00Z,5\n2,2026-10-01T02:00:00Z,-1\n3,2026-10-02T01:00:00Z,7\n"
    )
    (contracts / "daily_items.yml").write_text(
        yaml.safe_dump(
            {
                "dataset": "daily_items",
                "source": {"kind": "file", "path": str(root / "daily.csv")},
                "primary_key": ["id"],
                "partitioning": {"column": "ts", "start": "2026-10-01", "end": "2026-10-03"},
                "columns": [
                    {"name": "id", "type": "integer"},
                    {"name": "ts", "type": "timestamp"},
                    {"name": "amount", "type": "integer", "min": 0},
                ],
                "quality": {"blocking": False},
            }
        )
    )
    return contracts, models.parent


def _materialized(instance: dg.DagsterInstance, key: list[str]) -> bool:
    return instance.get_latest_materialization_event(dg.AssetKey(key)) is not None


def test_blocking_failure_stops_downstream_and_warning_does_not(
    atlas_env: dict[str, str], tmp_path: Path
) -> None:
    contracts, models = _project(tmp_path)
    atlas_env.update({"ATLAS_CONTRACTS_DIR": str(contracts), "ATLAS_MODELS_DIR": str(models)})
    atlas = boot()
    defs = atlas.definitions
    graph = defs.resolve_asset_graph()
    strict = dg.AssetKey(["silver", "strict_items"])
    specs = {k.name: graph.get_check_spec(k) for k in graph.asset_check_keys if k.asset_key == strict}
    dimensions = {"completeness", "validity", "consistency", "accuracy", "timeliness", "uniqueness"}
    assert dimensions <= set(specs)
    assert all(specs[d].blocking for d in dimensions)
    unpartitioned = [k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is None]

    outcome = execute(atlas.instance, defs, unpartitioned, show_progress=False)
    assert not outcome.success
    assert [f for f in outcome.failures if "blocking asset check failed" in f] == [
        "silver__strict_items: 1 blocking asset check failed with ERROR severity:"
    ], outcome.failures
    instance = atlas.instance
    assert _materialized(instance, ["silver", "strict_items"])  # silver published the passing rows...
    assert not _materialized(instance, ["gold", "strict_items_summary"])  # ...but nothing downstream ran
    assert _materialized(instance, ["gold", "lenient_items_summary"])

    evaluations = {(e.asset_key.path[1], e.check_name): e for e in _evaluations(instance, outcome.run_id)}
    strict_completeness = evaluations[("strict_items", "completeness")]
    assert not strict_completeness.passed and strict_completeness.severity == dg.AssetCheckSeverity.ERROR
    assert strict_completeness.metadata["score"].value == pytest.approx(0.5)
    assert strict_completeness.metadata["threshold"].value == pytest.approx(0.95)
    samples = strict_completeness.metadata["failing_samples"].value
    assert samples and all(set(s) == {"key", "rules"} and set(s["key"]) == {"id"} for s in samples)
    lenient = evaluations[("lenient_items", "completeness")]
    assert not lenient.passed and lenient.severity == dg.AssetCheckSeverity.WARN
    assert evaluations[("strict_items", "validity")].passed

    with psycopg.connect(atlas_env["ATLAS_POSTGRES_URL"]) as conn:
        history = conn.execute(
            "SELECT dataset, dimension, score, passed, blocking FROM atlas_meta.quality_results "
            "WHERE run_id = %s AND dimension = 'completeness' ORDER BY dataset",
            (outcome.run_id,),
        ).fetchall()
    assert history == [
        ("lenient_items", "completeness", 0.5, False, False),
        ("strict_items", "completeness", 0.5, False, True),
    ]
    log = (Path(atlas_env["ATLAS_HOME"]) / "logs" / "atlas.log").read_text()
    assert '"event": "quality_check_failed"' in log and '"dataset": "strict_items"' in log

    # A partition range: one evaluation per partition, plus the run's result for the whole range.
    daily = dg.AssetKey(["silver", "daily_items"])
    ranged = execute(
        instance,
        defs,
        [dg.AssetKey(["bronze", "daily_items"]), daily],
        partition_range=("2026-10-01", "2026-10-02"),
        show_progress=False,
    )
    assert ranged.success, ranged.failures  # warn-only
    validity = [e for e in _evaluations(instance, ranged.run_id) if e.check_name == "validity"]
    by_partition = {e.partition: e for e in validity}
    assert {p: e.passed for p, e in by_partition.items()} == {
        "2026-10-01": False,
        "2026-10-02": False,
        None: False,
    }
    assert by_partition["2026-10-01"].metadata["score"].value == pytest.approx(0.5)
    # 2026-10-02 has no invalid row, but Soda's dataset-level check failed for the load it was part of
    assert by_partition["2026-10-02"].metadata["score"].value == 1.0
    assert by_partition["2026-10-02"].metadata["soda_failed"].value == ["amount.invalid"]
    single = execute(instance, defs, [daily], partition="2026-10-02", show_progress=False)
    assert single.success
    [only] = [e for e in _evaluations(instance, single.run_id) if e.check_name == "validity"]
    assert only.partition == "2026-10-02" and only.passed  # loaded alone, the partition passes Soda too


def _evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return [r.event_log_entry.dagster_event.event_specific_data for r in records]
