"""Gold models on a real PostgreSQL: incremental partitions, write-audit-publish, rule hit counts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest

from atlas_core.errors import AtlasError
from atlas_core.sql_models import SqlModel, load_models
from atlas_engine.gold import run_model
from atlas_resources.warehouse import Warehouse
from tests.support.postgres import replace_table

ORDERS = [  # order_id, customer_id, day, total, status
    (1, 10, 1, 50.0, "placed"),
    (2, 11, 1, 150.0, "placed"),
    (3, 10, 2, 20.0, "placed"),
    (4, 12, 2, 500.0, "shipped"),
    (5, 11, 3, 75.0, "placed"),
    (6, 12, 3, 99.0, "returned"),
]

# The front matter of an incremental orders fact (daily partitions of order_date), its first test included.
FACT_FRONT = """\
description: orders fact
materialization: incremental
partition_column: order_date
tests:
  - unique: [order_id]
"""


def model_text(front_matter: str, query: str) -> str:
    """The text of a SQL model file: its YAML front matter in the leading comment, then its query."""
    return f"/* ---\n{front_matter}--- */\n{query}"


FACT = model_text(
    FACT_FRONT
    + """\
  - not_null: [order_id]
  - accepted_values: {status: [placed, shipped]}
    severity: warn
  - row_count: {min: 1, max: 5}
rules:
  - {name: review, kind: flag, expression: total >= 100, description: review big orders, owner: risk}
  - {name: band, expression: "CASE WHEN review THEN 'high' ELSE 'low' END", description: band, owner: sales}
""",
    """\
SELECT order_id, customer_id, order_ts, (order_ts AT TIME ZONE 'UTC')::date AS order_date, total, status
FROM atlas_silver.orders
WHERE order_ts >= :partition_start AND order_ts < :partition_end
""",
)

CUSTOMERS = """/* ---
description: customers
primary_key: [customer_id]
tests:
  - unique: [customer_id]
  - relationships: {customer_id: gold.fact.customer_id}
--- */
SELECT customer_id, sum(total) AS spend FROM atlas_gold.fact GROUP BY customer_id
"""


def write_models(directory: Path, **files: str) -> dict[str, SqlModel]:
    gold = directory / "gold"
    gold.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (gold / f"{name}.sql").write_text(text)
    return {m.name: m for m in load_models(directory)}


def seed_orders(url: str, rows: list[tuple[int, int, int, float, str]]) -> None:
    replace_table(
        url,
        "atlas_silver",
        "orders",
        "order_id bigint, customer_id bigint, order_ts timestamptz, total double precision, status text",
        (
            (order_id, customer, f"2026-10-0{day} 12:00:00+00", total, status)
            for order_id, customer, day, total, status in rows
        ),
    )


def day(n: int) -> tuple[date, date]:
    return date(2026, 10, n), date(2026, 10, n + 1)


ALL_DAYS = (date(2026, 10, 1), date(2026, 10, 4))


def rows_by_day(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT order_date::text, order_id, xmin::text, total, review, band FROM atlas_gold.fact "
            "ORDER BY order_id"
        ).fetchall()
    out: dict[str, list[tuple[object, ...]]] = {}
    for row in rows:
        out.setdefault(str(row[0]), []).append(tuple(row[1:]))
    return out


def test_incremental_run_replaces_exactly_one_partition(warehouse_url: str, tmp_path: Path) -> None:
    seed_orders(warehouse_url, ORDERS)
    fact = write_models(tmp_path, fact=FACT)["fact"]
    wh = Warehouse(warehouse_url)
    first = run_model(wh, fact, ALL_DAYS, rebuild=True)
    assert first.published and first.rows == 6
    before = rows_by_day(warehouse_url)
    assert sorted(before) == ["2026-10-01", "2026-10-02", "2026-10-03"]
    assert [r[3] for r in before["2026-10-02"]] == [False, True]  # the review flag

    # Day 2 changes upstream; days 1 and 3 change too but are NOT rerun: they must stay as they were.
    changed = [(i, c, d, t * 2 if d != 2 else t + 1, s) for i, c, d, t, s in ORDERS] + [
        (7, 13, 2, 5.0, "placed")
    ]
    seed_orders(warehouse_url, changed)
    second = run_model(wh, fact, day(2))
    assert second.published and second.rows == 3
    after = rows_by_day(warehouse_url)
    assert after["2026-10-01"] == before["2026-10-01"]  # same rows, same transaction ids: untouched
    assert after["2026-10-03"] == before["2026-10-03"]
    assert [(r[0], r[2]) for r in after["2026-10-02"]] == [(3, 21.0), (4, 501.0), (7, 5.0)]
    assert {r[1] for r in after["2026-10-02"]} != {r[1] for r in before["2026-10-02"]}
    # Tests ran on the window only: 3 rows checked, one partition counted.
    checks = {c.check.name: c for c in second.checks}
    assert checks["not_null_order_id"].checked == 3 and checks["row_count"].checked == 1
    hits = {h.rule.name: h for h in second.rules}
    assert (hits["review"].hits, hits["review"].rows) == (1, 3)
    assert hits["band"].value_counts == {"low": 2, "high": 1}
    with psycopg.connect(warehouse_url) as conn:
        history = conn.execute(
            "SELECT rule, partition_start::text, hits, rows_evaluated FROM atlas_meta.rule_hits "
            "WHERE model = 'fact' ORDER BY id"
        ).fetchall()
    assert history == [
        ("review", "2026-10-01", 2, 6),
        ("band", "2026-10-01", 6, 6),
        ("review", "2026-10-02", 1, 3),
        ("band", "2026-10-02", 3, 3),
    ]


def test_warn_tests_report_and_error_tests_roll_back(warehouse_url: str, tmp_path: Path) -> None:
    seed_orders(warehouse_url, ORDERS)
    models = write_models(tmp_path, fact=FACT, customers=CUSTOMERS)
    wh = Warehouse(warehouse_url)
    first = run_model(wh, models["fact"], ALL_DAYS, rebuild=True)
    status = {c.check.name: c for c in first.checks}["accepted_values_status"]
    assert first.published and (status.failing, status.passed, status.check.blocking) == (1, False, False)
    assert run_model(wh, models["customers"]).published
    with psycopg.connect(warehouse_url) as conn:
        published = conn.execute("SELECT customer_id, spend FROM atlas_gold.customers ORDER BY 1").fetchall()

    # A duplicate order in day 3 fails the blocking unique test: day 3 keeps its previous rows.
    seed_orders(warehouse_url, [*ORDERS, (5, 11, 3, 1.0, "placed")])
    failed = run_model(wh, models["fact"], day(3))
    unique = {c.check.name: c for c in failed.checks}["unique_order_id"]
    assert not failed.published and unique.failing == 1 and failed.blocking_failures == [unique]
    assert [r[0] for r in rows_by_day(warehouse_url)["2026-10-03"]] == [5, 6]

    # A table model failing its test keeps the previous table.
    broken = write_models(
        tmp_path, customers=CUSTOMERS.replace("GROUP BY customer_id", "GROUP BY customer_id, status")
    )
    result = run_model(wh, broken["customers"])
    assert not result.published and [c.check.name for c in result.blocking_failures] == ["unique_customer_id"]
    with psycopg.connect(warehouse_url) as conn:
        assert (
            conn.execute("SELECT customer_id, spend FROM atlas_gold.customers ORDER BY 1").fetchall()
            == published
        )
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_new\\_%'"
        ).fetchone() == (0,)


def test_changed_columns_need_a_full_rebuild(warehouse_url: str, tmp_path: Path) -> None:
    seed_orders(warehouse_url, ORDERS)
    wh = Warehouse(warehouse_url)
    run_model(wh, write_models(tmp_path, fact=FACT)["fact"], ALL_DAYS, rebuild=True)
    extra_rule = FACT.replace(
        "rules:\n",
        "rules:\n  - {name: tiny, kind: flag, expression: total < 30, "
        "description: tiny orders, owner: ops}\n",
    )
    changed = write_models(tmp_path, fact=extra_rule)["fact"]
    with pytest.raises(AtlasError, match="model fact: its columns changed .*rematerialize all partitions"):
        run_model(wh, changed, day(2))
    rebuilt = run_model(wh, changed, ALL_DAYS, rebuild=True)
    assert rebuilt.rebuilt and rebuilt.rows == 6
    with psycopg.connect(warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FILTER (WHERE tiny) FROM atlas_gold.fact").fetchone() == (1,)


def test_sql_errors_are_one_line_and_name_the_model(warehouse_url: str, tmp_path: Path) -> None:
    seed_orders(warehouse_url, ORDERS)
    bad = write_models(
        tmp_path, bad="/* ---\ndescription: x\n--- */\nSELECT no_such_column FROM atlas_silver.orders"
    )
    with pytest.raises(AtlasError) as excinfo:
        run_model(Warehouse(warehouse_url), bad["bad"])
    assert "model bad (" in str(excinfo.value) and "no_such_column" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
