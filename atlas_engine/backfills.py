"""Validate a backfill's partition range before anything runs (Dagster silently drops unknown keys)."""

from __future__ import annotations

from collections.abc import Sequence

from atlas_core.errors import InputRejected


def _span(keys: Sequence[str]) -> str:
    return f"{keys[0]} .. {keys[-1]}" if keys else "none"


def validate_partition_range(valid_keys: Sequence[str], start: str, end: str) -> list[str]:
    """The keys from ``start`` to ``end`` inclusive, in order; a clear error for unknown or reversed keys."""
    if not valid_keys:
        raise InputRejected("the selection has no partitions: a backfill needs partitioned assets")
    position = {key: i for i, key in enumerate(valid_keys)}
    for label, key in (("--from", start), ("--to", end)):
        if key not in position:
            raise InputRejected(f"unknown partition {key!r} for {label} (valid: {_span(valid_keys)})")
    first, last = position[start], position[end]
    if first > last:
        raise InputRejected(f"--from {start} is after --to {end}")
    return list(valid_keys[first : last + 1])
