"""Property: for generated dirty files, every bronze row ends in silver or quarantine, exactly once.

Checked per dataset and per partition (rows with no derivable partition are quarantined at ingestion),
after a first build and after rebuilding the same partitions.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_core.contracts.loader import parse_contract
from atlas_engine.bronze import ingest_file
from atlas_engine.silver import build_silver
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse
from tests.integration.quality_support import unique_name

DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]
row = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(1, 25).map(str), st.sampled_from(["", "x1", "NULL"])),
        "parent_id": st.one_of(st.integers(1, 30).map(str), st.just("")),
        "name": st.sampled_from(["ada", "alan", "grace", "", "NULL", "ADA"]),
        "code": st.sampled_from(["A1", "B2", "C3", "bad code", ""]),
        "amount": st.one_of(
            st.floats(-5, 2000, allow_nan=False).map(lambda f: f"{f:.2f}"), st.sampled_from(["abc", ""])
        ),
        "day": st.one_of(
            st.sampled_from(DAYS).flatmap(lambda d: st.sampled_from([f"{d}T01:02:03Z", f"{d} 23:59:59", d])),
            st.sampled_from(["2026-09-30T10:00:00Z", "2026-13-01", "not a date", ""]),
        ),
    }
)
dirty_file = st.tuples(st.lists(row, min_size=1, max_size=40), st.lists(st.integers(0, 40), max_size=3))


def _write(path: Path, rows: list[dict[str, str]], malformed_at: list[int]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "parent_id", "name", "code", "amount", "day"])
    for index, values in enumerate(rows):
        if index in malformed_at:
            buffer.write("1,2,too,many,fields,here,and,more\n")
        writer.writerow(list(values.values()))
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _counts(wh: Warehouse, dataset: str) -> dict[str, dict[str | None, int]]:
    out: dict[str, dict[str | None, int]] = {}
    for layer in ("atlas_bronze", "atlas_silver", "atlas_quarantine"):
        if not wh.table_exists((layer, dataset)):
            out[layer] = {}
            continue
        rows = wh.fetch_all(f'SELECT _atlas_partition, count(*) FROM {layer}."{dataset}" GROUP BY 1')  # noqa: S608
        out[layer] = {p: int(n) for p, n in rows}
    return out


def _assert_accounted(wh: Warehouse, dataset: str) -> None:
    counts = _counts(wh, dataset)
    bronze, silver, quarantine = counts["atlas_bronze"], counts["atlas_silver"], counts["atlas_quarantine"]
    assert sum(bronze.values()) == sum(silver.values()) + sum(quarantine.values())
    for partition in set(bronze) | set(silver) | set(quarantine):
        assert bronze.get(partition, 0) == silver.get(partition, 0) + quarantine.get(partition, 0), partition
    duplicates = (
        wh.fetch_all(
            "SELECT _atlas_row_number FROM (SELECT _atlas_row_number "  # noqa: S608
            f'FROM atlas_silver."{dataset}" UNION ALL '
            f'SELECT _atlas_row_number FROM atlas_quarantine."{dataset}") AS u GROUP BY 1 HAVING count(*) > 1'
        )
        if silver
        else []
    )
    assert duplicates == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=dirty_file)
def test_bronze_rows_equal_silver_plus_quarantine(
    wh: Warehouse, tmp_path_factory: pytest.TempPathFactory, data: tuple[list[dict[str, str]], list[int]]
) -> None:
    rows, malformed_at = data
    tmp = tmp_path_factory.mktemp("inv")
    dataset = unique_name("dirty")
    path = tmp / f"{dataset}.csv"
    _write(path, rows, malformed_at)
    contract = parse_contract(
        {
            "dataset": dataset,
            "source": {"kind": "file", "path": str(path)},
            "primary_key": ["id"],
            "null_values": ["", "NULL"],
            "partitioning": {"column": "day", "start": "2026-10-01", "end": "2026-10-04"},
            "columns": [
                {"name": "id", "type": "integer"},
                {"name": "parent_id", "type": "integer"},
                {"name": "name", "required": True, "pattern": "^[a-z]+$"},
                {"name": "code", "allowed_values": ["A1", "B2", "C3"]},
                {"name": "amount", "type": "float", "min": 0},
                {"name": "day", "type": "timestamp", "freshness": "1h"},
            ],
            "rules": {
                "functional_dependencies": [{"determinant": ["code"], "dependent": ["name"]}],
                "references": [{"columns": ["parent_id"], "dataset": dataset, "ref_columns": ["id"]}],
                "expressions": [{"name": "small", "sql": "amount < 1000", "dimension": "accuracy"}],
            },
        },
        f"{dataset}.yml",
    )
    ingest_file(wh, LocalLake(tmp / "lake"), contract, path)
    keys = [
        r[0]
        for r in wh.fetch_all(
            f'SELECT DISTINCT _atlas_partition FROM atlas_bronze."{dataset}" '  # noqa: S608
            "WHERE _atlas_partition IS NOT NULL"
        )
    ]
    if keys:
        build_silver(wh, None, contract, keys, run_id="first")
    _assert_accounted(wh, dataset)
    if keys:
        build_silver(
            wh, None, contract, keys, run_id="again"
        )  # replacing partitions replaces their quarantine too
        _assert_accounted(wh, dataset)
