"""Ordered batches cut into runs of one key, across batch boundaries."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from atlas_engine.key_runs import key_runs


def test_a_run_continues_across_batches_and_keys_come_back_as_python_values() -> None:
    days = pa.array([date(2026, 10, 1), date(2026, 10, 1), date(2026, 10, 2)], pa.date32())
    first = pa.RecordBatch.from_arrays([pa.array(["a", "a", "b"]), days], names=["p", "d"])
    second = pa.RecordBatch.from_arrays(
        [pa.array(["b", "c"]), pa.array([date(2026, 10, 2), date(2026, 10, 3)], pa.date32())],
        names=["p", "d"],
    )

    by_text = [(key, sum(b.num_rows for b in run)) for key, run in key_runs([first, second], 0)]
    assert by_text == [("a", 2), ("b", 2), ("c", 1)]
    by_day = [(key, sum(b.num_rows for b in run)) for key, run in key_runs([first, second], 1)]
    assert by_day == [(date(2026, 10, 1), 2), (date(2026, 10, 2), 2), (date(2026, 10, 3), 1)]
    assert list(key_runs([], 0)) == []
