"""Point-in-time planning: one SQL statement computing every raw feature AS OF each spine row.

For a spine row (entity k, event timestamp ts) a source row counts only when it has the same
entity and its timestamp is STRICTLY before ts; nothing at or after ts can leak into the row.
Aggregates of one source share one grouped join; ``latest`` features take the newest source row
before ts (ties broken deterministically); expressions are nested layers over the result, so an
expression may use the features defined before it. The split is computed from the entity key.
"""

from __future__ import annotations

from psycopg import sql

from atlas_core.errors import ContractError
from atlas_core.features.spec import Aggregate, Feature, FeatureSetSpec, Latest, parse_window
from atlas_core.features.splits import split_sql
from atlas_core.sql_models import render

Id = sql.Identifier


def _value_column(index: int) -> str:
    return f"__v{index}"


def _filter_column(index: int) -> str:
    return f"__f{index}"


def _source_cte(spec: FeatureSetSpec, source_name: str, features: list[tuple[int, Feature]]) -> sql.Composed:
    """The source's rows plus one computed column per feature value/filter (evaluated on source columns
    only)."""
    extra: list[sql.Composable] = []
    for index, feature in features:
        ref: Aggregate | Latest = feature.aggregate or feature.latest  # type: ignore[assignment]
        if ref.column is not None:
            extra.append(sql.SQL("s.{} AS {}").format(Id(ref.column), Id(_value_column(index))))
        elif ref.expression is not None:
            extra.append(sql.SQL("({}) AS {}").format(render(ref.expression), Id(_value_column(index))))
        if isinstance(ref, Aggregate) and ref.filter is not None:
            extra.append(
                sql.SQL("coalesce(({}), FALSE) AS {}").format(render(ref.filter), Id(_filter_column(index)))
            )
    select_list = sql.SQL(", ").join([sql.SQL("s.*"), *extra])
    source = spec.sources[source_name]
    if source.sql is not None:
        rows: sql.Composable = render(source.sql)
    else:
        layer, table = (source.model or "").split(".")
        rows = sql.SQL("SELECT * FROM {}").format(sql.Identifier(f"atlas_{layer}", table))
    return sql.SQL("SELECT {} FROM ({}) AS s").format(select_list, rows)


def _aggregate_expression(
    index: int, agg: Aggregate, ts: sql.Composable, src_ts: sql.Composable
) -> sql.Composed:
    value = sql.Identifier("x", _value_column(index))
    conditions: list[sql.Composable] = []
    if agg.filter is not None:
        conditions.append(sql.Identifier("x", _filter_column(index)))
    if agg.window is not None:
        conditions.append(sql.SQL("{} >= {} - {}").format(src_ts, ts, sql.Literal(parse_window(agg.window))))
    where = (
        sql.SQL(" FILTER (WHERE {})").format(sql.SQL(" AND ").join(conditions)) if conditions else sql.SQL("")
    )
    if agg.function == "count":
        core = sql.SQL("count({})").format(value if agg.column or agg.expression else src_ts)
    elif agg.function == "count_distinct":
        core = sql.SQL("count(DISTINCT {})").format(value)
    elif agg.function in ("sum", "avg"):
        # Exact numeric arithmetic: the result does not depend on row order (reproducible versions).
        core = sql.SQL("{}(({})::numeric)").format(sql.SQL(agg.function), value)
    elif agg.function == "mode":
        core = sql.SQL("mode() WITHIN GROUP (ORDER BY {})").format(value)
    else:
        core = sql.SQL("{}({})").format(sql.SQL(agg.function), value)
    out = sql.SQL("{}{}").format(core, where)
    if agg.function in ("sum", "avg"):
        return sql.SQL("({})::double precision").format(out)
    return sql.Composed([out])


def point_in_time_query(spec: FeatureSetSpec, spine_columns: list[str]) -> sql.Composed:
    """Spine columns, every feature (output or not) and ``split``, one row per spine row."""
    key, ts_name = spec.entity_key, spec.event_timestamp
    for required in (key, ts_name):
        if required not in spine_columns:
            raise ContractError(f"{spec.path}: spine: its SELECT returns no column {required!r}")
    for feature in spec.features:
        if feature.name in spine_columns:
            raise ContractError(f"{spec.path}: feature {feature.name!r} clashes with a spine column")
    for reserved in ("split", "version"):
        if reserved in spine_columns:
            raise ContractError(f"{spec.path}: spine: column {reserved!r} is reserved")

    sp_key, sp_ts = sql.Identifier("sp", key), sql.Identifier("sp", ts_name)
    ctes: list[sql.Composable] = [sql.SQL("spine AS (SELECT * FROM ({}) AS s)").format(render(spec.spine))]
    joins: list[sql.Composable] = []
    base_columns: list[sql.Composable] = [sql.SQL("sp.*")]
    for s_index, source_name in enumerate(spec.sources):
        source = spec.sources[source_name]
        used = [
            (i, f)
            for i, f in enumerate(spec.features)
            if (f.aggregate or f.latest) and (f.aggregate or f.latest).source == source_name  # type: ignore[union-attr]
        ]
        if not used:
            continue
        src_key = sql.Identifier("x", source.entity_key or key)
        src_ts = sql.Identifier("x", source.timestamp)
        src_cte = sql.Identifier(f"src_{s_index}")
        ctes.append(sql.SQL("{} AS ({})").format(src_cte, _source_cte(spec, source_name, used)))
        before = sql.SQL("{} = {} AND {} < {}").format(src_key, sp_key, src_ts, sp_ts)
        aggregates = [(i, f) for i, f in used if f.aggregate is not None]
        if aggregates:
            agg_cte = sql.Identifier(f"agg_{s_index}")
            columns = [
                sql.SQL("{} AS {}").format(_aggregate_expression(i, f.aggregate, sp_ts, src_ts), Id(f.name))  # type: ignore[arg-type]
                for i, f in aggregates
            ]
            ctes.append(
                sql.SQL(
                    "{} AS (SELECT {} AS __k, {} AS __ts, {} "
                    "FROM spine AS sp JOIN {} AS x ON {} GROUP BY {}, {})"
                ).format(agg_cte, sp_key, sp_ts, sql.SQL(", ").join(columns), src_cte, before, sp_key, sp_ts)
            )
            joins.append(
                sql.SQL("LEFT JOIN {} ON {}.__k = {} AND {}.__ts = {}").format(
                    agg_cte, agg_cte, sp_key, agg_cte, sp_ts
                )
            )
            for _, f in aggregates:
                value: sql.Composable = sql.Identifier(f"agg_{s_index}", f.name)
                if f.aggregate and f.aggregate.function in ("count", "count_distinct"):
                    value = sql.SQL("coalesce({}, 0)").format(value)  # no history: zero events
                base_columns.append(sql.SQL("{} AS {}").format(_with_fill(value, f), Id(f.name)))
        latest = [(i, f) for i, f in used if f.latest is not None]
        if latest:
            lat_cte = sql.Identifier(f"lat_{s_index}")
            columns = [sql.SQL("x.{} AS {}").format(Id(_value_column(i)), Id(f.name)) for i, f in latest]
            ctes.append(
                sql.SQL(
                    "{} AS (SELECT DISTINCT ON ({}, {}) {} AS __k, {} AS __ts, {} "
                    "FROM spine AS sp JOIN {} AS x ON {} "
                    "ORDER BY {}, {}, {} DESC, x::text DESC)"
                ).format(
                    lat_cte,
                    sp_key,
                    sp_ts,
                    sp_key,
                    sp_ts,
                    sql.SQL(", ").join(columns),
                    src_cte,
                    before,
                    sp_key,
                    sp_ts,
                    src_ts,
                )
            )
            joins.append(
                sql.SQL("LEFT JOIN {} ON {}.__k = {} AND {}.__ts = {}").format(
                    lat_cte, lat_cte, sp_key, lat_cte, sp_ts
                )
            )
            for _, f in latest:
                base_columns.append(
                    sql.SQL("{} AS {}").format(
                        _with_fill(sql.Identifier(f"lat_{s_index}", f.name), f), Id(f.name)
                    )
                )
    ctes.append(
        sql.SQL("layer_0 AS (SELECT {} FROM spine AS sp {})").format(
            sql.SQL(", ").join(base_columns), sql.SQL(" ").join(joins)
        )
    )
    layer = 0
    for feature in spec.features:
        if feature.expression is None:
            continue
        expression = _with_fill(sql.SQL("({})").format(render(feature.expression)), feature)
        ctes.append(
            sql.SQL("{} AS (SELECT l.*, {} AS {} FROM {} AS l)").format(
                Id(f"layer_{layer + 1}"), expression, Id(feature.name), Id(f"layer_{layer}")
            )
        )
        layer += 1
    split = split_sql(sql.Identifier("l", key), spec.split.seed, spec.split.fractions)
    return sql.SQL("WITH {} SELECT l.*, {} AS split FROM {} AS l").format(
        sql.SQL(",\n").join(ctes), split, Id(f"layer_{layer}")
    )


def _with_fill(value: sql.Composable, feature: Feature) -> sql.Composable:
    """Constant fills apply where the feature is defined (later expressions see them)."""
    if feature.fill is None or feature.fill.fitted:
        return value
    return sql.SQL("coalesce({}, {})").format(value, sql.Literal(feature.fill.value))
