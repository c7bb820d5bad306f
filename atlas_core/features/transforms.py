"""Feature transforms: statistics fitted on the train split only, applied in SQL (building a version)
and in Arrow (:func:`apply_transforms`, for serving from the statistics stored with a version).

Statistics per feature (all from train rows): ``fill`` (fitted fill value), ``mean``/``std``
(standardize; population std, 1 when 0), ``min``/``max`` (min_max), ``categories`` (one_hot: the
top-k train values by frequency, ties by value). Both implementations use the same formulas.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from atlas_core.errors import ContractError
from atlas_core.features.spec import Feature, FeatureSetSpec, Transform

NUMERIC_TYPES = {"bigint", "integer", "smallint", "double precision", "real", "numeric"}
Stats = dict[str, dict[str, Any]]


def category_column(feature: str, category: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", str(category).lower()).strip("_") or "blank"
    return f"{feature}__{slug}"[:63]


def output_columns(feature: Feature, transform: Transform, stats: Mapping[str, Any]) -> list[str]:
    if transform.kind != "one_hot":
        return [f"{feature.name}{transform.suffix}"[:63]]
    names: list[str] = []
    for i, category in enumerate([*stats.get("categories", []), None]):
        name = (
            category_column(feature.name, category) if category is not None else f"{feature.name}__other"[:63]
        )
        if name in names:  # two categories with the same slug
            name = f"{name[:58]}_{i}"
        names.append(name)
    return names


def validate_types(spec: FeatureSetSpec, types: Mapping[str, str]) -> None:
    for feature in spec.features:
        numeric = types.get(feature.name) in NUMERIC_TYPES
        needs_numeric: list[str] = [t.kind for t in feature.transforms if t.kind != "one_hot"]
        if feature.fill is not None and feature.fill.strategy in ("mean", "median"):
            needs_numeric.append(f"fill {feature.fill.strategy}")
        if needs_numeric and not numeric:
            raise ContractError(
                f"{spec.path}: feature {feature.name!r}: {needs_numeric[0]} needs a numeric feature "
                f"(it is {types.get(feature.name, 'missing')})"
            )


# -- fitting (SQL over the raw table, train rows only) --------------------------------------------------


def fill_query(feature: Feature, raw: tuple[str, str]) -> sql.Composed | None:
    if feature.fill is None or not feature.fill.fitted:
        return None
    col = sql.Identifier(feature.name)
    train = sql.SQL("split = 'train' AND {} IS NOT NULL").format(col)
    if feature.fill.strategy == "mean":
        return sql.SQL("SELECT avg({}::numeric)::double precision FROM {} WHERE {}").format(
            col, sql.Identifier(*raw), train
        )
    if feature.fill.strategy == "median":
        return sql.SQL(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {}::double precision) FROM {} WHERE {}"
        ).format(col, sql.Identifier(*raw), train)
    return sql.SQL("SELECT {} FROM {} WHERE {} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").format(
        col, sql.Identifier(*raw), train
    )


def filled(feature: Feature, stats: Mapping[str, Any]) -> sql.Composable:
    col = sql.Identifier(feature.name)
    if feature.fill is not None and feature.fill.fitted and stats.get("fill") is not None:
        return sql.SQL("coalesce({}, {})").format(col, sql.Literal(stats["fill"]))
    return col


def numeric_stats_query(feature: Feature, raw: tuple[str, str], stats: Mapping[str, Any]) -> sql.Composed:
    value = filled(feature, stats)
    return sql.SQL(
        "SELECT avg(({v})::numeric)::double precision, stddev_pop(({v})::numeric)::double precision, "
        "min(({v})::double precision), max(({v})::double precision) FROM {t} WHERE split = 'train'"
    ).format(v=value, t=sql.Identifier(*raw))


def categories_query(
    feature: Feature, transform: Transform, raw: tuple[str, str], stats: Mapping[str, Any]
) -> sql.Composed:
    value = sql.SQL("({})::text").format(filled(feature, stats))
    return sql.SQL(
        "SELECT {v} FROM {t} WHERE split = 'train' AND {v} IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {k}"
    ).format(v=value, t=sql.Identifier(*raw), k=sql.Literal(transform.top_k))


def finish_numeric(row: tuple[Any, ...] | None) -> dict[str, float]:
    mean, std, low, high = row if row else (None, None, None, None)
    return {
        "mean": float(mean) if mean is not None else 0.0,
        "std": float(std) if std else 1.0,
        "min": float(low) if low is not None else 0.0,
        "max": float(high) if high is not None else 0.0,
    }


# -- applying in SQL --------------------------------------------------------------------------------------


def _transform_sql(feature: Feature, transform: Transform, stats: Mapping[str, Any]) -> list[sql.Composable]:
    value = sql.SQL("({})::double precision").format(filled(feature, stats))
    names = output_columns(feature, transform, stats)
    if transform.kind == "standardize":
        expr: sql.Composable = sql.SQL("({} - {}) / {}").format(
            value, sql.Literal(stats["mean"]), sql.Literal(stats["std"])
        )
    elif transform.kind == "min_max":
        span = stats["max"] - stats["min"]
        expr = (
            sql.SQL("({} - {}) / {}").format(value, sql.Literal(stats["min"]), sql.Literal(span))
            if span
            else sql.SQL("CASE WHEN {} IS NULL THEN NULL ELSE 0.0::double precision END").format(value)
        )
    elif transform.kind == "log":
        expr = sql.SQL("ln(1.0::double precision + greatest({}, 0.0))").format(value)
    elif transform.kind == "bucketize":
        expr = sql.SQL("width_bucket({}, {}::double precision[])::bigint").format(
            value, sql.Literal([float(b) for b in transform.boundaries])
        )
    else:
        text = sql.SQL("({})::text").format(filled(feature, stats))
        categories = list(stats.get("categories", []))
        columns = [
            sql.SQL("coalesce({} = {}, FALSE)::int::bigint AS {}").format(
                text, sql.Literal(c), sql.Identifier(n)
            )
            for c, n in zip(categories, names, strict=False)
        ]
        other = sql.SQL("(NOT coalesce({} = ANY({}::text[]), FALSE))::int::bigint AS {}").format(
            text, sql.Literal(categories), sql.Identifier(names[-1])
        )
        return [*columns, other]
    return [sql.SQL("{} AS {}").format(expr, sql.Identifier(names[0]))]


def final_query(
    spec: FeatureSetSpec,
    raw: tuple[str, str],
    spine_columns: list[str],
    types: Mapping[str, str],
    stats: Stats,
) -> sql.Composed:
    """Spine columns, output features (fitted fills applied), transformed columns, split."""

    def typed(name: str, value: sql.Composable, averaged_fill: bool = False) -> sql.Composable:
        t = types.get(name)
        if name == spec.event_timestamp:
            return sql.SQL("({})::timestamptz").format(value)
        if t in ("numeric", "real") or (averaged_fill and t in NUMERIC_TYPES):
            return sql.SQL("({})::double precision").format(value)
        if t in ("integer", "smallint"):
            return sql.SQL("({})::bigint").format(value)
        if t not in NUMERIC_TYPES | {
            "text",
            "boolean",
            "date",
            "timestamp with time zone",
            "double precision",
            "bigint",
        }:
            return sql.SQL("({})::text").format(value)
        return value

    columns: list[sql.Composable] = [
        sql.SQL("{} AS {}").format(typed(c, sql.Identifier(c)), sql.Identifier(c)) for c in spine_columns
    ]
    for feature in spec.features:
        if not feature.output:
            continue
        s = stats.get(feature.name, {})
        averaged = feature.fill is not None and feature.fill.strategy in ("mean", "median")
        columns.append(
            sql.SQL("{} AS {}").format(
                typed(feature.name, filled(feature, s), averaged), sql.Identifier(feature.name)
            )
        )
        for transform in feature.transforms:
            columns.extend(_transform_sql(feature, transform, s))
    columns.append(sql.SQL("split"))
    return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(columns), sql.Identifier(*raw))


# -- applying in Arrow (serving) --------------------------------------------------------------------------


def _floats(column: pa.Array | pa.ChunkedArray) -> list[float | None]:
    return [None if v is None else float(v) for v in column.to_pylist()]


def apply_transforms(table: pa.Table, spec: FeatureSetSpec, stats: Stats) -> pa.Table:
    """Add the transformed columns to a table of raw features, with the statistics of a version."""
    out = table
    for feature in spec.features:
        if not feature.output:
            continue
        s = stats.get(feature.name, {})
        raw = out.column(feature.name)
        if s.get("fill") is not None:
            raw = pc.fill_null(
                raw, pa.scalar(s["fill"]).cast(raw.type) if raw.type != pa.null() else s["fill"]
            )
            out = out.set_column(out.schema.get_field_index(feature.name), feature.name, raw)
        for transform in feature.transforms:
            names = output_columns(feature, transform, s)
            if transform.kind == "one_hot":
                texts = [
                    None if v is None else (str(v).lower() if isinstance(v, bool) else str(v))
                    for v in raw.to_pylist()
                ]
                categories = list(s.get("categories", []))
                for category, name in zip(categories, names, strict=False):
                    out = out.append_column(name, pa.array([int(v == category) for v in texts], pa.int64()))
                out = out.append_column(
                    names[-1], pa.array([int(v not in categories) for v in texts], pa.int64())
                )
                continue
            values = _floats(raw)
            result: list[Any]
            if transform.kind == "standardize":
                result = [None if v is None else (v - s["mean"]) / s["std"] for v in values]
            elif transform.kind == "min_max":
                span = s["max"] - s["min"]
                result = [None if v is None else ((v - s["min"]) / span if span else 0.0) for v in values]
            elif transform.kind == "log":
                result = [None if v is None else math.log(1.0 + max(v, 0.0)) for v in values]
            else:
                bounds = [float(b) for b in transform.boundaries]
                result = [None if v is None else bisect.bisect_right(bounds, v) for v in values]
            arrow_type = pa.int64() if transform.kind == "bucketize" else pa.float64()
            out = out.append_column(names[0], pa.array(result, arrow_type))
    return out
