"""Deterministic train/validation/test splits by hashing the entity key, and dataset version hashes.

The split of a key depends only on (seed, key): appending rows never moves an existing entity to
another split. The same assignment is computed in Python (:func:`assign_splits`, for serving and
tests) and in SQL (:func:`split_sql`, when a feature set is built); both compare the first 56 bits
of ``sha256("<seed>:<key>")`` with integer thresholds, so they agree exactly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from fractions import Fraction

from psycopg import sql

SPLITS = ("train", "validation", "test")
BUCKET_BITS = 56
DEFAULT_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


def ordered_fractions(fractions: Mapping[str, float] | None) -> list[tuple[str, float]]:
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    if any(f < 0 for f in fractions.values()):
        raise ValueError("split fractions must not be negative")
    total = sum(Fraction(str(f)) for f in fractions.values())
    if total != 1:
        raise ValueError(f"split fractions must sum to 1 (got {float(total):g})")
    names = [n for n in SPLITS if n in fractions] + sorted(n for n in fractions if n not in SPLITS)
    return [(n, fractions[n]) for n in names]


def split_thresholds(fractions: Mapping[str, float] | None) -> list[tuple[str, int]]:
    """``[(split, upper bound)]`` on the 56-bit bucket; the last bound covers every bucket."""
    bounds: list[tuple[str, int]] = []
    acc = Fraction(0)
    ordered = ordered_fractions(fractions)
    for i, (name, fraction) in enumerate(ordered):
        acc += Fraction(str(fraction))
        bounds.append((name, 2**BUCKET_BITS if i == len(ordered) - 1 else int(acc * 2**BUCKET_BITS)))
    return bounds


def split_bucket(key: object, seed: int | str) -> int:
    """The first 56 bits of sha256("<seed>:<key>"), fixed forever for (seed, key)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[: BUCKET_BITS // 8], "big")


def assign_splits(
    keys: Sequence[object], seed: int | str, fractions: Mapping[str, float] | None = None
) -> list[str]:
    """Assign each entity key to a split by hashing; stable when rows are added."""
    bounds = split_thresholds(fractions)
    return [next(name for name, bound in bounds if split_bucket(key, seed) < bound) for key in keys]


def split_sql(key: sql.Composable, seed: int | str, fractions: Mapping[str, float] | None) -> sql.Composed:
    """The same assignment as :func:`assign_splits`, as a SQL expression over ``key``."""
    bucket = sql.SQL(
        "('x' || encode(substring(sha256(convert_to({} || ':' || ({})::text, 'UTF8')) FROM 1 FOR {}), 'hex'))"
        "::bit({})::bigint"
    ).format(sql.Literal(str(seed)), key, sql.Literal(BUCKET_BITS // 8), sql.Literal(BUCKET_BITS))
    bounds = split_thresholds(fractions)
    whens = [
        sql.SQL("WHEN {} < {} THEN {}").format(bucket, sql.Literal(bound), sql.Literal(name))
        for name, bound in bounds[:-1]
    ]
    return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(whens), sql.Literal(bounds[-1][0]))


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def spec_hash(spec: object) -> str:
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()[:16]


def dataset_version(content_hash: str, transform_spec_hash: str, upstream: Mapping[str, str]) -> str:
    """Same upstream data, same spec, same content -> same version."""
    payload = canonical_json(
        {"content": content_hash, "spec": transform_spec_hash, "upstream": dict(upstream)}
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
