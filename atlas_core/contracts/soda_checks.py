"""Shape of the Soda dataset checks a contract passes through unchanged (``quality.soda``).

Soda validates each check's body when it runs; the contract only refuses what cannot be one.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

DATASET_CHECK_TYPES = frozenset(
    {"row_count", "schema", "freshness", "failed_rows", "metric", "aggregate", "duplicate"}
)


def check_passthrough(item: Any, index: int, dimensions: Collection[str]) -> None:
    """Validate the shape of one ``quality.soda`` entry; ``dimensions`` are the quality dimension names."""
    where = f"quality.soda.{index}"
    if not isinstance(item, dict) or len(item) != 1:
        raise ValueError(
            f"{where}: each entry is a mapping with one Soda check type, e.g. {{row_count: {{...}}}}"
        )
    ((check_type, body),) = item.items()
    if check_type not in DATASET_CHECK_TYPES:
        raise ValueError(
            f"{where}: unknown Soda dataset check {check_type!r}; "
            f"use one of {', '.join(sorted(DATASET_CHECK_TYPES))}"
        )
    if body is not None and not isinstance(body, dict):
        raise ValueError(f"{where}.{check_type}: the check's configuration must be a mapping")
    dimension = ((body or {}).get("attributes") or {}).get("dimension")
    if dimension is not None and dimension not in dimensions:
        raise ValueError(
            f"{where}.{check_type}.attributes.dimension: {dimension!r} is not a quality dimension"
        )
