"""Values that pass the pattern but not Arrow's cast are found by halving: exactly those become errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from atlas_core.casting import cast_column
from atlas_core.contracts.fields import ColumnType
from atlas_core.contracts.model import Column


def test_only_the_uncastable_values_of_a_large_batch_become_errors() -> None:
    values: list[str | None] = [f"2026-10-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z" for i in range(5000)]
    bad = {0, 7, 2500, 2501, 4999}
    for i in bad:
        values[i] = "2026-02-30T10:00:00Z"  # well-formed, but no such day
    values[100] = None
    typed, errors = cast_column(
        pa.array(values, pa.string()), Column(name="at", type=ColumnType.TIMESTAMP), [""]
    )
    assert set(pc.indices_nonzero(errors).to_pylist()) == bad
    assert typed.null_count == len(bad) + 1
    assert typed[1].as_py() == datetime(2026, 10, 2, 1, tzinfo=UTC)
    assert typed[4998].as_py() == datetime(2026, 10, 15, 6, tzinfo=UTC)


def test_an_all_bad_batch_is_all_errors() -> None:
    values = pa.array(["2026-02-30"] * 64, pa.string())
    typed, errors = cast_column(values, Column(name="d", type=ColumnType.DATE), [""])
    assert pc.all(errors).as_py() and typed.null_count == 64
