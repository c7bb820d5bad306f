"""Every rule kind on clean and dirty data, through bronze -> staging -> verdicts -> silver/quarantine.

All on a real PostgreSQL; one database for the module, one dataset name per case.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from atlas_core.contracts.fields import Dimension
from atlas_core.errors import ContractError
from atlas_resources.warehouse import Warehouse
from tests.integration.quality_support import (
    contract_for,
    load,
    quarantined,
    silver_rows,
    unique_name,
    write_csv,
)


def test_completeness_with_null_values(wh: Warehouse, tmp_path: Path) -> None:
    name = unique_name("people")
    path = write_csv(
        tmp_path / "people.csv",
        ["id", "name", "nickname"],
        [
            [1, "Ada", "NULL"],  # optional column: a null token is fine
            [2, "NULL", "x"],  # required column null (token)
            [3, "n/a", "y"],  # another null token
            [4, "", "z"],  # empty string is a null value too
            [5, "Grace", ""],
        ],
    )
    contract = contract_for(
        name,
        path,
        [{"name": "id", "type": "integer"}, {"name": "name", "required": True}, {"name": "nickname"}],
        primary_key=["id"],
        null_values=["", "NULL", "n/a"],
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {"name.required": 3}
    assert loaded.score("completeness") == pytest.approx(2 / 5)
    assert sorted(quarantined(wh, name)) == [2, 3, 4]
    assert silver_rows(wh, name, "id, name, nickname") == [(1, "Ada", None), (5, "Grace", None)]

    clean = unique_name("people")
    path = write_csv(tmp_path / "clean.csv", ["id", "name", "nickname"], [[1, "Ada", "a"], [2, "Alan", ""]])
    loaded = load(
        wh, tmp_path, contract_for(clean, path, contract.model_dump()["columns"], primary_key=["id"])
    )
    assert loaded.rule_failures() == {} and loaded.score("completeness") == 1.0


def test_validity_rules_and_type_cast_failures(wh: Warehouse, tmp_path: Path) -> None:
    name = unique_name("items")
    path = write_csv(
        tmp_path / "items.csv",
        ["id", "sku", "color", "qty", "made", "code"],
        [
            [1, "SKU-00001", "red", "5", "2026-01-31", "ab"],
            [2, "sku-1", "red", "5", "2026-01-31", "ab"],  # pattern
            [3, "SKU-00003", "purple", "5", "2026-01-31", "ab"],  # allowed values
            [4, "SKU-00004", "blue", "5000", "2026-01-31", "ab"],  # range
            [5, "SKU-00005", "blue", "12x", "2026-01-31", "ab"],  # integer cast
            [6, "SKU-00006", "blue", "1", "2026-02-30", "ab"],  # strict date cast
            [7, "SKU-00007", "blue", "1", "2026-02-28", "abcdef"],  # length
        ],
    )
    contract = contract_for(
        name,
        path,
        [
            {"name": "id", "type": "integer"},
            {"name": "sku", "pattern": r"^SKU-\d{5}$"},
            {"name": "color", "allowed_values": ["red", "blue"]},
            {"name": "qty", "type": "integer", "min": 1, "max": 100},
            {"name": "made", "type": "date"},
            {"name": "code", "max_length": 3},
        ],
        primary_key=["id"],
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {
        "sku.pattern": 1,
        "color.allowed_values": 1,
        "qty.range": 1,
        "qty.type": 1,
        "made.type": 1,
        "code.length": 1,
    }
    assert sorted(quarantined(wh, name)) == [2, 3, 4, 5, 6, 7]
    assert loaded.score("validity") == pytest.approx(1 / 7)
    assert loaded.score("completeness") == 1.0


def test_uniqueness_keeps_the_first_occurrence(wh: Warehouse, tmp_path: Path) -> None:
    name = unique_name("accounts")
    path = write_csv(
        tmp_path / "accounts.csv",
        ["id", "email", "label"],
        [[1, "a@x.io", "first"], [2, "b@x.io", "only"], [1, "c@x.io", "second"], [3, "a@x.io", "dup email"]],
    )
    contract = contract_for(
        name,
        path,
        [{"name": "id", "type": "integer"}, {"name": "email", "unique": True}, {"name": "label"}],
        primary_key=["id"],
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {"primary_key.unique": 1, "email.unique": 1}
    assert silver_rows(wh, name, "id, label") == [(1, "first"), (2, "only")]
    assert loaded.score("uniqueness") == pytest.approx(2 / 4)
    assert loaded.report is not None
    assert {s["key"]["id"] for s in loaded.report.samples["uniqueness"]} == {1, 3}


def test_functional_dependency_majority_ties_and_nulls(wh: Warehouse, tmp_path: Path) -> None:
    name = unique_name("addresses")
    rows = [
        [1, "10001", "New York", "ny"],
        [2, "10001", "New York", "ny"],
        [3, "10001", "NEW YORKX", "ny"],
        [4, "10001", "New York", "ny"],
        # tie 2:2 - the value seen first (row 5, "Boston") wins, the other two rows fail
        [5, "20002", "Boston", "ma"],
        [6, "20002", "Bostn", "ma"],
        [7, "20002", "Bostn", "ma"],
        [8, "20002", "Boston", "ma"],
        [9, "30003", "Lonely", "tx"],  # group of one: nothing to contradict
        [10, "", "Anywhere", "tx"],
        [11, "", "Elsewhere", "tx"],  # null determinant: not evaluated
        [12, "40004", "Austin", "tx"],
        [13, "40004", "Austin", "tx"],
        [14, "40004", "", "tx"],  # null dependent differs
        [15, "50005", "Dallas", "tx"],
        [16, "50005", "Dallas", "ok"],  # a second dependent column counts too
        [17, "50005", "Dallas", "tx"],
    ]
    path = write_csv(tmp_path / "addresses.csv", ["id", "zip", "city", "state"], rows)
    contract = contract_for(
        name,
        path,
        [{"name": "id", "type": "integer"}, {"name": "zip"}, {"name": "city"}, {"name": "state"}],
        primary_key=["id"],
        rules={"functional_dependencies": [{"determinant": ["zip"], "dependent": ["city", "state"]}]},
    )
    loaded = load(wh, tmp_path, contract)
    assert sorted(quarantined(wh, name)) == [3, 6, 7, 14, 16]
    assert all(ids == ["fd.zip->city+state"] for ids in quarantined(wh, name).values())
    assert loaded.score("consistency") == pytest.approx(12 / 17)

    # Ties follow file order, not values: when "Bostn" comes first, it wins the 2:2 tie.
    reordered = unique_name("addresses")
    path = write_csv(
        tmp_path / "reordered.csv", ["id", "zip", "city", "state"], [rows[5], rows[4], rows[7], rows[6]]
    )
    load(
        wh,
        tmp_path,
        contract_for(
            reordered,
            path,
            contract.model_dump()["columns"],
            primary_key=["id"],
            rules=contract.rules.model_dump(),
        ),
    )
    assert [r[0] for r in silver_rows(wh, reordered, "id")] == [6, 7]


def test_references_to_another_dataset_missing_tables_and_self(wh: Warehouse, tmp_path: Path) -> None:
    parents = unique_name("parents")
    path = write_csv(tmp_path / "parents.csv", ["id", "name"], [[1, "a"], [2, "b"], [3, "c"]])
    load(
        wh,
        tmp_path,
        contract_for(
            parents, path, [{"name": "id", "type": "integer"}, {"name": "name"}], primary_key=["id"]
        ),
    )

    children = unique_name("children")
    path = write_csv(
        tmp_path / "children.csv",
        ["id", "parent_id", "ghost_id"],
        [[10, 1, 1], [11, 3, 1], [12, 99, 1], [13, "", 1]],
    )
    contract = contract_for(
        children,
        path,
        [{"name": column, "type": "integer"} for column in ("id", "parent_id", "ghost_id")],
        primary_key=["id"],
        rules={
            "references": [
                {"columns": ["parent_id"], "dataset": parents, "ref_columns": ["id"]},
                {"name": "ghost_exists", "columns": ["ghost_id"], "dataset": "ghosts", "ref_columns": ["id"]},
            ]
        },
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {f"ref.parent_id->{parents}": 1}
    assert sorted(quarantined(wh, children)) == [3]  # parent 99; a NULL parent is not checked
    assert loaded.report is not None
    ghost = next(r for r in loaded.report.rules if r.id == "ref.ghost_exists")
    assert (
        ghost.evaluated is False
        and ghost.failed_rows is None
        and "ghosts does not exist" in (ghost.reason or "")
    )

    staff = unique_name("staff")
    path = write_csv(tmp_path / "staff.csv", ["id", "manager_id"], [[1, ""], [2, 1], [3, 2], [4, 7]])
    contract = contract_for(
        staff,
        path,
        [{"name": "id", "type": "integer"}, {"name": "manager_id", "type": "integer"}],
        primary_key=["id"],
        rules={"references": [{"columns": ["manager_id"], "dataset": staff, "ref_columns": ["id"]}]},
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {
        f"ref.manager_id->{staff}": 1
    }  # rows of the same load count as referenced
    assert sorted(quarantined(wh, staff)) == [4]


def test_expressions_accuracy_tolerance_nulls_and_warn(wh: Warehouse, tmp_path: Path) -> None:
    name = unique_name("lines")
    path = write_csv(
        tmp_path / "lines.csv",
        ["id", "qty", "price", "total", "discount"],
        [
            [1, 2, 1.10, 2.20, 0],
            [2, 3, 0.10, 0.305, 0],
            [3, 2, 5.00, 11.00, 0],
            [4, 2, 5.00, "", 0],
            [5, 1, 5.00, 5.00, 9],
        ],
    )
    contract = contract_for(
        name,
        path,
        [
            {"name": "id", "type": "integer"},
            {"name": "qty", "type": "integer"},
            {"name": "price", "type": "float"},
            {"name": "total", "type": "float"},
            {"name": "discount", "type": "integer"},
        ],
        primary_key=["id"],
        rules={
            "expressions": [
                {"name": "total_matches", "dimension": "accuracy", "sql": "abs(total - qty * price) < 0.01"},
                {
                    "name": "small_discount",
                    "dimension": "validity",
                    "sql": "discount <= 5",
                    "on_fail": "warn",
                },
            ]
        },
    )
    loaded = load(wh, tmp_path, contract)
    # 0.305 vs 0.30 is within the cent tolerance; a NULL total is not an accuracy failure (CHECK semantics)
    assert loaded.rule_failures() == {"expr.total_matches": 1, "expr.small_discount": 1}
    assert sorted(quarantined(wh, name)) == [3]
    assert [r[0] for r in silver_rows(wh, name, "id")] == [1, 2, 4, 5]  # a warn rule keeps its row
    assert loaded.score("accuracy") == pytest.approx(4 / 5)
    assert loaded.score("validity") == pytest.approx(4 / 5)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("total > 'abc'", r"rules\.expressions\.0 \(bad\): invalid input syntax for type double precision"),
        ("total + 1", r"rules\.expressions\.0 \(bad\): must be a boolean expression, got double precision"),
        (
            "length(total) > 1",
            r"rules\.expressions\.0 \(bad\): function length\(double precision\) does not exist",
        ),
    ],
)
def test_expressions_postgres_rejects_are_one_line_contract_errors(
    wh: Warehouse, tmp_path: Path, sql: str, message: str
) -> None:
    name = unique_name("bad")
    path = write_csv(tmp_path / "bad.csv", ["id", "total"], [[1, 2.0]])
    contract = contract_for(
        name,
        path,
        [{"name": "id", "type": "integer"}, {"name": "total", "type": "float"}],
        rules={"expressions": [{"name": "bad", "sql": sql}]},
    )
    with pytest.raises(ContractError, match=message) as info:
        load(wh, tmp_path, contract)
    assert "\n" not in str(info.value)
    assert not wh.table_exists(("atlas_silver", name))  # nothing published


def test_freshness_vs_now_and_vs_partition_window(wh: Warehouse, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    name = unique_name("profiles")
    path = write_csv(
        tmp_path / "profiles.csv",
        ["id", "updated_at"],
        [
            [1, (now - timedelta(hours=1)).isoformat()],
            [2, (now - timedelta(days=10)).isoformat()],
            [3, ""],
        ],
    )
    contract = contract_for(
        name,
        path,
        [{"name": "id", "type": "integer"}, {"name": "updated_at", "type": "timestamp", "freshness": "1d"}],
        primary_key=["id"],
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {"updated_at.freshness": 1}
    assert loaded.score("timeliness") == pytest.approx(2 / 3)
    assert quarantined(wh, name) == {}  # stale rows are kept (warn), they lower the score

    events = unique_name("events")
    path = write_csv(
        tmp_path / "events.csv",
        ["id", "event_ts", "shipped_ts"],
        [
            [1, "2026-10-01T10:00:00Z", "2026-10-02T05:00:00Z"],  # within the day + 1d
            [2, "2026-10-01T10:00:00Z", "2026-10-03T01:00:00Z"],  # too late for its partition
            [3, "2026-10-02T10:00:00Z", "2026-09-30T23:00:00Z"],  # before its partition
            [4, "2026-10-02T10:00:00Z", "2026-10-02T11:00:00Z"],
        ],
    )
    contract = contract_for(
        events,
        path,
        [
            {"name": "id", "type": "integer"},
            {"name": "event_ts", "type": "timestamp"},
            {"name": "shipped_ts", "type": "timestamp", "freshness": "1d"},
        ],
        primary_key=["id"],
        partitioning={"column": "event_ts", "start": "2026-10-01", "end": "2026-10-31"},
    )
    loaded = load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {"shipped_ts.freshness": 2}
    assert loaded.report is not None
    by_partition = {s.partition_key: s.score for s in loaded.report.scores(Dimension.TIMELINESS)}
    assert by_partition == {"2026-10-01": 0.5, "2026-10-02": 0.5}
