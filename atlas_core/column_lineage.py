"""Column lineage of gold SQL models and ai_ready feature sets, derived from their SQL with sqlglot.

Each output column maps to the ``schema.table`` columns it is computed from, and how: ``IDENTITY`` (a
column passed through), ``TRANSFORMATION`` (an expression over columns) or ``AGGREGATION``. Only the
SQL text is read, never data. Best effort: a statement sqlglot cannot resolve yields no entry for that
column (lineage never fails a run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage

from atlas_core.features.spec import FeatureSetSpec, Source
from atlas_core.sql_models import SqlModel

IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}


@dataclass(frozen=True, order=True)
class SourceColumn:
    table: str  # schema.table, e.g. atlas_silver.orders
    column: str


@dataclass
class DerivedColumn:
    sources: list[SourceColumn] = field(default_factory=list)
    kind: str = IDENTITY

    def merge(self, other: DerivedColumn, kind: str | None = None) -> None:
        self.sources = sorted(set(self.sources) | set(other.sources))
        candidates = [self.kind, other.kind, kind or self.kind]
        self.kind = max(candidates, key=_RANK.__getitem__)


def _kind(projection: exp.Expr) -> str:
    inner = projection.this if isinstance(projection, exp.Alias) else projection
    if isinstance(inner, exp.Column):
        return IDENTITY
    if inner.find(exp.AggFunc) is not None:
        return AGGREGATION
    return TRANSFORMATION


def _leaves(node: Node) -> list[SourceColumn]:
    found = set()
    for child in node.walk():
        if child.downstream or not isinstance(child.expression, exp.Table):
            continue
        table = child.expression
        name = f"{table.db}.{table.name}" if table.db else table.name
        found.add(SourceColumn(name, child.name.split(".")[-1]))
    return sorted(found)


def sql_column_lineage(select_sql: str) -> dict[str, DerivedColumn]:
    """Every named column of a SELECT: the table columns it reads and how (``:placeholders`` are fine)."""
    try:
        tree = sqlglot.parse_one(select_sql, dialect="postgres")
    except SqlglotError:
        return {}
    if not isinstance(tree, exp.Query):
        return {}
    projections = {p.alias_or_name: p for p in tree.selects}
    result: dict[str, DerivedColumn] = {}
    for name in tree.named_selects:
        try:
            node = lineage(name, tree, schema={}, dialect="postgres")
        except (SqlglotError, KeyError, ValueError):
            continue
        sources = _leaves(node)
        if sources:
            result[name] = DerivedColumn(
                sources, _kind(projections[name]) if name in projections else TRANSFORMATION
            )
    return result


def _columns_of(expression: str) -> list[str]:
    try:
        parsed = sqlglot.parse_one(expression, dialect="postgres")
    except SqlglotError:
        return []
    return sorted({c.name for c in parsed.find_all(exp.Column)})


def model_column_lineage(model: SqlModel) -> dict[str, DerivedColumn]:
    """A gold model's columns: its SELECT, plus one column per business rule (flags and derived values)."""
    result = sql_column_lineage(model.sql)
    for rule in model.rules:
        derived = DerivedColumn(kind=TRANSFORMATION)
        for name in _columns_of(rule.expression):
            if name in result:
                derived.merge(result[name], TRANSFORMATION)
        if derived.sources:
            result[rule.name] = derived
    return result


def _source_lineage(source: Source) -> dict[str, DerivedColumn] | str:
    """A feature source's columns, or for ``model: gold.<table>`` the table every column comes from."""
    if source.model is not None:
        return f"atlas_gold.{source.model.split('.', 1)[1]}"
    return sql_column_lineage(source.sql or "")


def _through(source: dict[str, DerivedColumn] | str, column: str) -> DerivedColumn:
    if isinstance(source, str):
        return DerivedColumn([SourceColumn(source, column)])
    return source.get(column, DerivedColumn())


def feature_set_column_lineage(spec: FeatureSetSpec, output_columns: list[str]) -> dict[str, DerivedColumn]:
    """Each output column of a feature set (``recency_days``, ``preferred_channel_web``...) from the gold
    columns its feature is computed from; the entity key and event timestamp from the spine."""
    sources = {name: _source_lineage(source) for name, source in spec.sources.items()}
    spine = sql_column_lineage(spec.spine)
    by_feature: dict[str, DerivedColumn] = {}

    def of_feature(name: str, seen: frozenset[str]) -> DerivedColumn:
        if name in by_feature:
            return by_feature[name]
        feature = next((f for f in spec.features if f.name == name), None)
        derived = DerivedColumn(kind=TRANSFORMATION)
        if feature is None:
            if name in spine:
                derived.merge(spine[name])
            return derived
        if feature.aggregate is not None:
            agg = feature.aggregate
            columns = [agg.column] if agg.column else []
            columns += _columns_of(agg.expression) if agg.expression else []
            columns += _columns_of(agg.filter) if agg.filter else []
            for column in columns:
                derived.merge(_through(sources.get(agg.source, {}), column), AGGREGATION)
            derived.kind = AGGREGATION
        elif feature.latest is not None:
            latest = feature.latest
            columns = [latest.column] if latest.column else _columns_of(latest.expression or "")
            for column in columns:
                derived.merge(_through(sources.get(latest.source, {}), column))
            derived.kind = IDENTITY if latest.column and not feature.transforms else TRANSFORMATION
        elif feature.expression is not None:
            for column in _columns_of(feature.expression):
                if column != name and column not in seen:
                    derived.merge(of_feature(column, seen | {name}), TRANSFORMATION)
            derived.kind = max(derived.kind, TRANSFORMATION, key=_RANK.__getitem__)
        if feature.transforms and derived.kind == IDENTITY:
            derived.kind = TRANSFORMATION
        by_feature[name] = derived
        return derived

    names = sorted((f.name for f in spec.features), key=len, reverse=True)
    result: dict[str, DerivedColumn] = {}
    for column in output_columns:
        if column in (spec.entity_key, spec.event_timestamp):
            if column in spine:
                result[column] = spine[column]
            continue
        owner = next((n for n in names if column == n or column.startswith(f"{n}_")), None)
        if owner is None:
            continue
        derived = of_feature(owner, frozenset())
        if derived.sources:
            result[column] = derived
    return result
