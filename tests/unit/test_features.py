"""Hash-based splits: fixed per key, stable when rows are appended, in the requested proportions."""

from __future__ import annotations

from collections import Counter

import pytest

from atlas_core.features.splits import (
    BUCKET_BITS,
    assign_splits,
    dataset_version,
    spec_hash,
    split_bucket,
    split_thresholds,
)


def test_split_bucket_is_fixed_by_seed_and_key() -> None:
    assert split_bucket("42", 1) == split_bucket("42", 1)
    assert 0 <= split_bucket("42", 1) < 2**BUCKET_BITS
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


def test_custom_fractions() -> None:
    counts = Counter(assign_splits(range(10_000), seed=3, fractions={"train": 0.5, "test": 0.5}))
    assert set(counts) == {"train", "test"}
    assert abs(counts["train"] / 10_000 - 0.5) < 0.02
    everything = assign_splits(range(100), seed=3, fractions={"train": 1.0})
    assert set(everything) == {"train"}


def test_thresholds_cover_every_bucket_exactly() -> None:
    bounds = split_thresholds({"train": 0.7, "validation": 0.2, "test": 0.1})
    assert [name for name, _ in bounds] == ["train", "validation", "test"]
    assert bounds[-1][1] == 2**BUCKET_BITS
    assert bounds[0][1] < bounds[1][1] < bounds[2][1]


@pytest.mark.parametrize(
    ("fractions", "message"),
    [({"train": 0.8, "test": 0.1}, "must sum to 1"), ({"train": 1.2, "test": -0.2}, "must not be negative")],
)
def test_bad_fractions(fractions: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        assign_splits([1], seed=3, fractions=fractions)


def test_versions_change_with_content_spec_and_upstream_only() -> None:
    spec = {"features": ["recency", "frequency"], "seed": 7}
    assert spec_hash(spec) == spec_hash({"seed": 7, "features": ["recency", "frequency"]})
    base = dataset_version("c1", spec_hash(spec), {"silver/orders": "u1", "silver/customers": "u2"})
    assert base == dataset_version("c1", spec_hash(spec), {"silver/customers": "u2", "silver/orders": "u1"})
    assert base != dataset_version("c2", spec_hash(spec), {"silver/orders": "u1", "silver/customers": "u2"})
    assert base != dataset_version(
        "c1", spec_hash({**spec, "seed": 8}), {"silver/orders": "u1", "silver/customers": "u2"}
    )
    assert base != dataset_version("c1", spec_hash(spec), {"silver/orders": "u9", "silver/customers": "u2"})
