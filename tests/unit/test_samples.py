"""Sample data: deterministic (same seed, same bytes), the promised sizes, and the shipped files
reproducible."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from atlas_core import samples
from tests.support.expected import PII_COLUMNS

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "samples"


def read(path: Path):
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(strings_can_be_null=False, column_types={}, check_utf8=True),
    )


@pytest.mark.parametrize(("dataset", "rows"), [("customers", 150), ("products", 40), ("orders", 3000)])
def test_same_seed_gives_identical_bytes(tmp_path: Path, dataset: str, rows: int) -> None:
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    assert samples.generate(dataset, rows, first, seed=7) == samples.generate(dataset, rows, second, seed=7)
    assert first.read_bytes() == second.read_bytes()
    samples.generate(dataset, rows, other, seed=8)
    assert other.read_bytes() != first.read_bytes()


def test_row_counts(tmp_path: Path) -> None:
    # customers carries a few re-sent duplicates on top of the requested rows
    assert samples.generate("customers", 100, tmp_path / "c.csv") == 105
    assert samples.generate("products", 30, tmp_path / "p.csv") == 30
    assert samples.generate("orders", 1234, tmp_path / "o.csv") == 1234
    assert read(tmp_path / "o.csv").num_rows == 1234
    assert read(tmp_path / "p.csv").num_rows == 30


def test_orders_in_several_batches_keep_unique_ids(tmp_path: Path) -> None:
    batches = list(samples.iter_orders(2500, batch_size=1000))
    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    ids = [int(v) for b in batches for v in b.column("order_id").to_pylist()]
    assert ids == list(range(1, 2501))


def test_orders_span_thirty_days() -> None:
    batch = next(samples.iter_orders(5000))
    ts = [v for v in batch.column("order_ts").to_pylist() if v != "not-a-timestamp"]
    parsed = [datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) for v in ts]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    assert min(parsed) >= start
    assert (max(parsed) - start).days == 29
    assert len({p.date() for p in parsed}) == 30


def test_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown sample dataset"):
        samples.generate("suppliers", 1, Path("/nonexistent/x.csv"))


@pytest.mark.parametrize("dataset", ["products", "orders", "customers"])
def test_shipped_samples_are_reproduced_by_the_generator(tmp_path: Path, dataset: str) -> None:
    out = tmp_path / f"{dataset}.csv"
    rows = samples.generate(dataset, None, out)
    assert rows >= samples.DEFAULT_ROWS[dataset]
    assert out.read_bytes() == (SHIPPED / f"{dataset}.csv").read_bytes()


def test_customers_carry_pii_and_deliberate_defects() -> None:
    table = samples.generate_customers(500)
    assert set(PII_COLUMNS) <= set(table.column_names)
    emails = table.column("email")
    assert pc.sum(pc.match_substring(emails, "_at_")).as_py() >= 1  # invalid email at a fixed position
    ssns = table.column("ssn").to_pylist()
    assert all(len(s) == 11 and s[3] == "-" and s[6] == "-" for s in ssns)
    ids = table.column("customer_id").to_pylist()
    assert len(ids) - len(set(ids)) == 5


@pytest.mark.parametrize("today", ["2020-02-29T08:00:00Z", "2031-06-15T23:30:00Z"])
def test_shipped_samples_do_not_depend_on_the_clock(tmp_path: Path, today: str) -> None:
    """The same seed gives the same bytes on any day: nothing is drawn relative to the current date."""
    import time_machine

    for dataset in ("customers", "products", "orders"):
        with time_machine.travel(today, tick=False):
            samples.generate(dataset, samples.DEFAULT_ROWS[dataset], tmp_path / f"{dataset}.csv")
        assert (tmp_path / f"{dataset}.csv").read_bytes() == (SHIPPED / f"{dataset}.csv").read_bytes(), (
            dataset
        )


def test_benchmark_pii_data_does_not_depend_on_the_clock() -> None:
    import time_machine

    from benchmarks.pii_data import labeled_columns, mixed_table

    def draw() -> tuple[object, object]:
        return mixed_table(200)[0].to_pydict(), [(c[0], c[2]) for c in labeled_columns()]

    with time_machine.travel("2021-03-01T00:00:00Z", tick=False):
        early = draw()
    with time_machine.travel("2034-09-30T12:00:00Z", tick=False):
        late = draw()
    assert early == late
