"""Feature engineering primitives: deterministic splits, normalisation fitted on train, content hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SPLITS = ("train", "validation", "test")


def split_bucket(key: str, seed: int | str) -> float:
    """A number in [0, 1) fixed by (seed, key): the same key lands in the same split forever."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    keys: Sequence[object], seed: int | str, fractions: Mapping[str, float] | None = None
) -> list[str]:
    """Assign each entity key to train/validation/test by hashing; stable when rows are added."""
    fractions = dict(fractions or {"train": 0.7, "validation": 0.15, "test": 0.15})
    total = sum(fractions.values())
    if not np.isclose(total, 1.0):
        raise ValueError(f"split fractions must sum to 1 (got {total:g})")
    bounds: list[tuple[float, str]] = []
    acc = 0.0
    for name in [n for n in SPLITS if n in fractions] + [n for n in fractions if n not in SPLITS]:
        acc += fractions[name]
        bounds.append((acc, name))
    out = []
    for key in keys:
        b = split_bucket(str(key), seed)
        out.append(next((name for bound, name in bounds if b < bound), bounds[-1][1]))
    return out


def fit_standardizer(values: pa.Array, mask: pa.Array | None = None) -> dict[str, float]:
    """Mean and standard deviation of ``values`` (restricted to ``mask``, e.g. the train split)."""
    data = values.filter(mask) if mask is not None else values
    arr = np.asarray(pc.cast(pc.drop_null(data), pa.float64()).to_numpy(zero_copy_only=False))
    if arr.size == 0:
        return {"mean": 0.0, "std": 1.0}
    std = float(arr.std())
    return {"mean": float(arr.mean()), "std": std if std > 0 else 1.0}


def standardize(values: pa.Array, stats: Mapping[str, float]) -> pa.Array:
    as_float = pc.cast(values, pa.float64())
    return pc.divide(pc.subtract(as_float, stats["mean"]), stats["std"])


def table_content_hash(table: pa.Table, sort_by: Sequence[str]) -> str:
    """A hash of the table's values, independent of row order and of Arrow chunking."""
    ordered = table.sort_by([(c, "ascending") for c in sort_by]) if sort_by else table
    digest = hashlib.sha256()
    digest.update(json.dumps([str(f) for f in ordered.schema]).encode())
    for batch in ordered.to_batches(max_chunksize=65_536):
        for column in batch.columns:
            digest.update(json.dumps(column.to_pylist(), default=str, separators=(",", ":")).encode())
    return digest.hexdigest()
