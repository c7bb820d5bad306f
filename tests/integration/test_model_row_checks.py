"""``not_null`` and ``accepted_values`` model tests share one scan of the table; each keeps its own count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from atlas_core.model_checks import ModelCheck, PartitionWindow, check_query, row_checks_query
from tests.support.scratch_table import scratch_table

ROWS = [
    # id, status, channel, day
    (1, "placed", "web", "2026-10-01"),
    (2, None, "web", "2026-10-01"),
    (3, "lost", "fax", "2026-10-02"),
    (None, "shipped", None, "2026-10-02"),
    (5, "placed", "pigeon", "2026-10-03"),
]
CHECKS = [
    ModelCheck("not_null_id", "not_null", ("id",), "error", "test"),
    ModelCheck("not_null_status", "not_null", ("status",), "error", "test"),
    ModelCheck(
        "accepted_values_status", "accepted_values", ("status",), "error", "test", ("placed", "shipped")
    ),
    ModelCheck("accepted_values_channel", "accepted_values", ("channel",), "warn", "test", ("web", "store")),
]
TARGET = ("atlas_gold", "row_checked")


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[psycopg.Connection]:
    with scratch_table(warehouse_url, TARGET, "id bigint, status text, channel text, day date", ROWS) as conn:
        yield conn


def test_one_scan_counts_each_check_as_its_own_query_does(conn: psycopg.Connection) -> None:
    row = conn.execute(row_checks_query(CHECKS, TARGET)).fetchone()
    assert row == (1, 1, 1, 2, 5)  # NULL is not an unaccepted value; 'fax' and 'pigeon' are
    alone = [conn.execute(check_query(c, TARGET, model_name="row_checked")).fetchone() for c in CHECKS]
    assert alone == [(1, 5), (1, 5), (1, 5), (2, 5)]


def test_one_scan_looks_only_at_the_written_window(conn: psycopg.Connection) -> None:
    written = PartitionWindow("day", date(2026, 10, 2), date(2026, 10, 3))
    assert conn.execute(row_checks_query(CHECKS, TARGET, written=written)).fetchone() == (1, 0, 1, 1, 2)


def test_only_row_predicates_share_a_scan() -> None:
    unique = ModelCheck("unique_id", "unique", ("id",), "error", "test")
    with pytest.raises(ValueError, match="not_null / accepted_values"):
        row_checks_query([CHECKS[0], unique], TARGET)
