"""Feature primitives: hash-based splits stable under appends, standardisation, order-free content hashes."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from atlas_core.features import (
    assign_splits,
    fit_standardizer,
    split_bucket,
    standardize,
    table_content_hash,
)


def test_split_bucket_is_fixed_by_seed_and_key() -> None:
    assert split_bucket("42", 1) == split_bucket("42", 1)
    assert 0 <= split_bucket("42", 1) < 1
    assert split_bucket("42", 1) != split_bucket("42", 2)
    assert split_bucket("42", 1) != split_bucket("43", 1)


def test_splits_are_stable_when_rows_are_appended() -> None:
    keys = list(range(1, 2001))
    before = assign_splits(keys, seed="atlas")
    after = assign_splits(keys + list(range(2001, 4001)), seed="atlas")
    assert after[:2000] == before
    # The order of the input does not matter either: a key's split depends on the key only.
    shuffled = list(reversed(keys))
    assert dict(zip(shuffled, assign_splits(shuffled, seed="atlas"), strict=True)) == dict(
        zip(keys, before, strict=True)
    )


def test_default_fractions_are_respected() -> None:
    counts = Counter(assign_splits(range(20_000), seed=3))
    assert set(counts) == {"train", "validation", "test"}
    assert abs(counts["train"] / 20_000 - 0.70) < 0.015
    assert abs(counts["validation"] / 20_000 - 0.15) < 0.015
    assert abs(counts["test"] / 20_000 - 0.15) < 0.015


def test_custom_fractions_and_their_validation() -> None:
    counts = Counter(assign_splits(range(10_000), seed=3, fractions={"train": 0.5, "test": 0.5}))
    assert set(counts) == {"train", "test"}
    assert abs(counts["train"] / 10_000 - 0.5) < 0.02
    with pytest.raises(ValueError, match="must sum to 1"):
        assign_splits([1], seed=3, fractions={"train": 0.8, "test": 0.1})


def test_standardizer_fitted_on_train_only() -> None:
    values = pa.array([1.0, 2.0, 3.0, 100.0, None])
    train = pa.array([True, True, True, False, False])
    stats = fit_standardizer(values, train)
    assert stats["mean"] == pytest.approx(2.0)
    assert stats["std"] == pytest.approx((2 / 3) ** 0.5)
    z = standardize(values, stats).to_pylist()
    assert z[1] == pytest.approx(0.0)
    assert z[3] == pytest.approx(98 / (2 / 3) ** 0.5)
    assert z[4] is None


def test_standardizer_degenerate_inputs() -> None:
    assert fit_standardizer(pa.array([5, 5, 5])) == {"mean": 5.0, "std": 1.0}
    assert fit_standardizer(pa.array([], pa.float64())) == {"mean": 0.0, "std": 1.0}
    assert standardize(pa.array([5, 6]), {"mean": 5.0, "std": 1.0}).to_pylist() == [0.0, 1.0]


def test_content_hash_ignores_row_order_and_chunking_but_not_values() -> None:
    table = pa.table({"id": [3, 1, 2], "v": ["c", "a", "b"]})
    reordered = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})
    chunked = pa.concat_tables([reordered.slice(0, 1), reordered.slice(1)])
    digest = table_content_hash(table, ["id"])
    assert digest == table_content_hash(reordered, ["id"]) == table_content_hash(chunked, ["id"])
    assert len(digest) == 64
    changed = pa.table({"id": [1, 2, 3], "v": ["a", "b", "C"]})
    assert table_content_hash(changed, ["id"]) != digest
    retyped = pa.table({"id": pa.array([1, 2, 3], pa.int32()), "v": ["a", "b", "c"]})
    assert table_content_hash(retyped, ["id"]) != digest
