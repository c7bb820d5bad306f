"""The ``unique`` model test counts what grouping every row with a key of the written window counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from atlas_core.model_checks import ModelCheck, PartitionWindow, check_query
from tests.support.scratch_table import scratch_table

ROWS = [
    # id, line, day
    (1, 1, "2026-10-01"),
    (1, 2, "2026-10-01"),  # id 1 twice inside day 1; (1, line) unique
    (2, 1, "2026-10-01"),
    (2, 1, "2026-10-03"),  # id 2 and (2, 1) again two days later
    (3, 1, "2026-10-02"),
    (3, 1, None),  # no day: outside every window, shares keys with day 2
    (None, 1, "2026-10-02"),  # a NULL key is never a duplicate
    (None, 1, "2026-10-02"),
    (4, None, "2026-10-03"),
    (4, None, "2026-10-03"),  # id 4 twice; (4, NULL) is not a key
    (5, 1, "2026-10-04"),
]
TARGET = ("atlas_gold", "unique_checked")
WINDOWS = [
    None,
    PartitionWindow("day", date(2026, 10, 1), date(2026, 10, 2)),
    PartitionWindow("day", date(2026, 10, 2), date(2026, 10, 3)),
    PartitionWindow("day", date(2026, 10, 3), date(2026, 10, 5)),
    PartitionWindow("day", date(2026, 10, 1), date(2026, 10, 31)),
    PartitionWindow("day", date(2026, 11, 1), date(2026, 11, 2)),  # nothing written
]


def expected(columns: tuple[int, ...], written: PartitionWindow | None) -> tuple[int, int]:
    """Group every row whose (non-null) key occurs in the window: (sum of n - 1, sum of n)."""

    def in_window(day: str | None) -> bool:
        if written is None:
            return True
        return day is not None and written.start <= date.fromisoformat(day) < written.end

    def key(row: tuple) -> tuple:
        return tuple(row[i] for i in columns)

    keyed = [row for row in ROWS if None not in key(row)]
    window_keys = {key(row) for row in keyed if in_window(row[2])}
    groups = Counter(key(row) for row in keyed if key(row) in window_keys)
    return sum(n - 1 for n in groups.values()), sum(groups.values())


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[psycopg.Connection]:
    with scratch_table(warehouse_url, TARGET, "id bigint, line bigint, day date", ROWS) as conn:
        yield conn


@pytest.mark.parametrize("written", WINDOWS, ids=lambda w: "table" if w is None else f"{w.start}..{w.end}")
@pytest.mark.parametrize("columns", [("id",), ("id", "line")], ids=lambda c: "+".join(c))
def test_unique_counts_the_rows_sharing_a_key_of_the_window(
    conn: psycopg.Connection, columns: tuple[str, ...], written: PartitionWindow | None
) -> None:
    check = ModelCheck(f"unique_{'_'.join(columns)}", "unique", columns, "error", "test")
    query = check_query(check, TARGET, model_name="unique_checked", written=written)
    indexes = tuple({"id": 0, "line": 1}[c] for c in columns)
    assert conn.execute(query).fetchone() == expected(indexes, written)


def test_the_cases_above_include_failures() -> None:
    assert expected((0,), None) == (4, 9)  # ids 1, 2, 3, 4 each once more than once; nulls left out
    assert expected((0,), WINDOWS[2]) == (1, 2)  # id 3 on day 2 and on no day
    assert expected((0, 1), WINDOWS[1]) == (1, 4)  # (2, 1) on days 1 and 3
