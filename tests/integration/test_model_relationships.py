"""The ``relationships`` model test counts child rows whose key has no parent (an anti-join)."""

from __future__ import annotations

from datetime import date

import psycopg

from atlas_core.model_checks import ModelCheck, PartitionWindow, check_query


def _check(column: str, parent: tuple[str, str, str]) -> ModelCheck:
    return ModelCheck(f"relationships_{column}", "relationships", (column,), "error", "test", parent=parent)


def test_relationships_count_orphans_once_each(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE atlas_gold.parent (id bigint)")
        conn.execute(
            "INSERT INTO atlas_gold.parent VALUES (1), (1), (2), (NULL)"
        )  # duplicate parents count once
        conn.execute(
            "CREATE TABLE atlas_gold.child (id bigint, parent_id bigint, manager_id bigint, day date)"
        )
        conn.execute(
            "INSERT INTO atlas_gold.child VALUES (1, 1, NULL, '2026-10-01'), (2, 2, 1, '2026-10-01'), "
            "(3, 3, 9, '2026-10-02'), (4, NULL, 2, '2026-10-02'), (5, 3, 3, '2026-10-03')"
        )
        target = ("atlas_gold", "child")

        def run(check: ModelCheck, window: tuple[date, date] | None = None) -> tuple[int, int]:
            written = PartitionWindow("day", *window) if window is not None else None
            query = check_query(check, target, model_name="child", written=written)
            failing, checked = conn.execute(query).fetchone()  # type: ignore[misc]
            return failing, checked

        to_parent = _check("parent_id", ("gold", "parent", "id"))
        assert run(to_parent) == (2, 5)  # two rows point at 3; NULL is not an orphan
        assert run(to_parent, (date(2026, 10, 2), date(2026, 10, 3))) == (1, 2)  # only the window is checked
        to_self = _check("manager_id", ("gold", "child", "id"))  # a key of the same model
        assert run(to_self) == (1, 5)  # 9 is nobody
