"""``atlas quality check`` end to end, as a subprocess against a real PostgreSQL."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import postgres as pg
from tests.support.expected import DIMENSIONS

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parents[2]
ATLAS = str(Path(sys.executable).parent / "atlas")
HEADER = "order_id,customer_id,product_id,order_ts,quantity,unit_price,total,status,channel"
LINES = [
    "1,1,1,2026-10-01T00:06:56Z,5,69.20,346.00,delivered,mobile",
    "2,2,1,2026-10-01T00:07:41Z,2,10.00,20.00,cancelled,web",
    "3,3,1,2026-10-02T08:00:00Z,2,10.00,25.50,placed,store",  # total does not add up (accuracy)
    "4,99,1,2026-10-02T09:00:00Z,1,10.00,10.00,placed,store",  # unknown customer (consistency)
    "5,4,1,2026-10-02T10:00:00Z,0,10.00,0.00,shipped,fax",  # quantity and channel invalid
    "6,4,1,not-a-timestamp,1,10.00,10.00,placed,web",  # no partition can be derived
    "7,4,1,2026-10-03T10:00:00Z,1",  # wrong number of fields
    "2,5,1,2026-10-03T11:00:00Z,1,1.00,1.00,placed,web",  # duplicate order id
    '8,5,1,2026-10-03T12:00:00Z,1,"1.0",1.00,placed,"NULL"',  # "NULL" is no null token here: invalid
]


@pytest.fixture
def env(pg_server: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    url = pg.create_database(pg_server)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE atlas_silver.customers (customer_id bigint, _atlas_partition text)")
        conn.execute("INSERT INTO atlas_silver.customers SELECT g, '' FROM generate_series(1, 10) AS g")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    environment.update(
        {"ATLAS_HOME": str(tmp_path / "home"), "ATLAS_POSTGRES_URL": url, "ATLAS_PROJECT_DIR": str(PROJECT)}
    )
    yield environment
    pg.drop_database(url)


def _atlas(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATLAS, *args], env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT)


def test_quality_check_writes_report_and_quarantine(env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text(HEADER + "\n" + "\n".join(LINES) + "\n")
    report, quarantine = tmp_path / "out" / "report.json", tmp_path / "out" / "quarantine.csv"
    done = _atlas(
        env,
        "quality",
        "check",
        str(source),
        "--contract",
        str(PROJECT / "contracts" / "orders.yml"),
        "--report",
        str(report),
        "--quarantine",
        str(quarantine),
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert (data["rows"], data["passed_rows"], data["quarantined_rows"]) == (9, 2, 7)
    assert set(data["dimensions"]) == set(DIMENSIONS)
    for dimension in data["dimensions"].values():
        assert {"score", "threshold", "passed"} <= set(dimension)
    assert data["dimensions"]["accuracy"]["passed"] is False
    assert data["dimensions"]["completeness"] == {
        **data["dimensions"]["completeness"],
        "score": 1.0,
        "passed": True,
    }
    rules = {r["id"]: r for r in data["rules"]}
    assert rules["expr.total_matches"] == {
        **rules["expr.total_matches"],
        "dimension": "accuracy",
        "columns": ["total", "quantity", "unit_price"],
        "failed_rows": 1,
    }
    assert rules["ref.customer_exists"]["failed_rows"] == 1
    # products has no silver table in this warehouse: reported, never counted as passed
    assert (
        rules["ref.product_exists"]["evaluated"] is False
        and rules["ref.product_exists"]["failed_rows"] is None
    )
    assert rules["quantity.range"]["failed_rows"] == 1 and rules["channel.allowed_values"]["failed_rows"] == 2
    assert rules["primary_key.unique"]["failed_rows"] == 1
    assert rules["partition.unmappable"]["failed_rows"] == 1 and rules["row.malformed"]["failed_rows"] == 1
    assert {s["dimension"] for s in data["soda"]} >= {"completeness", "validity", "accuracy", "uniqueness"}

    with quarantine.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == HEADER.split(",") + ["_atlas_reasons"]
    by_line = {tuple(r[:9]): r[9] for r in rows[1:]}
    originals = list(csv.reader(LINES))
    assert by_line[tuple(originals[2])] == "expr.total_matches"
    assert by_line[tuple(originals[3])] == "ref.customer_exists"
    assert set(by_line[tuple(originals[4])].split(";")) == {"quantity.range", "channel.allowed_values"}
    assert by_line[tuple(originals[5])] == "partition.unmappable"
    assert by_line[tuple(originals[7])] == "primary_key.unique"
    assert (
        by_line[("8", "5", "1", "2026-10-03T12:00:00Z", "1", "1.0", "1.00", "placed", "NULL")]
        == "channel.allowed_values"
    )
    assert "row.malformed" in by_line.values()
    assert len(rows) - 1 == data["quarantined_rows"]
    with psycopg.connect(env["ATLAS_POSTGRES_URL"]) as conn:
        leftovers = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas_scratch%'"
        ).fetchall()
        published = conn.execute("SELECT to_regclass('atlas_silver.orders')").fetchone()
    assert leftovers == [] and published == (None,)


def test_unusable_input_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    contract = str(PROJECT / "contracts" / "orders.yml")
    missing = _atlas(env, "quality", "check", str(tmp_path / "nope.csv"), "--contract", contract)
    assert (
        missing.returncode == 2 and missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    )
    assert "nope.csv: no such file" in missing.stderr

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    header = _atlas(env, "quality", "check", str(wrong), "--contract", contract)
    assert header.returncode == 2 and "missing column(s)" in header.stderr and header.stderr.count("\n") == 1

    bad = tmp_path / "bad.yml"
    bad.write_text(
        (PROJECT / "contracts" / "orders.yml")
        .read_text()
        .replace("abs(total - quantity * unit_price) < 0.01", "total = 1; DROP TABLE atlas_meta.ingestions")
    )
    refused = _atlas(env, "quality", "check", str(wrong), "--contract", str(bad))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "rules.expressions.0.sql" in refused.stderr and "semicolons are not allowed" in refused.stderr
    assert "Traceback" not in missing.stderr + header.stderr + refused.stderr
