"""Compile a contract into row rules: each rule is a SQL predicate that is TRUE when a row fails it.

Rules are evaluated in one pass over the staging table of a load (see :func:`verdicts_query`);
window functions (uniqueness) and joins (references, functional dependencies) are declared by the
rule so the whole evaluation stays one set-based statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from psycopg import sql

from atlas_core import layout
from atlas_core.casting import CAST_ERRORS
from atlas_core.contracts.model import Column, ColumnType, Contract, Dimension

OnFail = Literal["quarantine", "warn", "fail"]

# Duplicates: the newest ingestion wins, then the first row of that file.
FIRST_OCCURRENCE_ORDER = sql.SQL("{} DESC, {} ASC").format(
    sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
)


@dataclass(frozen=True)
class Rule:
    id: str
    dimension: Dimension
    kind: str
    columns: tuple[str, ...]
    failing: sql.Composable
    on_fail: OnFail = "quarantine"
    description: str = ""


@dataclass
class RulePlan:
    rules: list[Rule] = field(default_factory=list)
    windows: list[sql.Composable] = field(default_factory=list)
    joins: list[sql.Composable] = field(default_factory=list)

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def add(self, rule: Rule) -> None:
        if any(r.id == rule.id for r in self.rules):
            raise ValueError(f"duplicate rule id {rule.id}")
        self.rules.append(rule)


def _col(name: str) -> sql.Identifier:
    return sql.Identifier("r", name)


def column_rules(column: Column, plan: RulePlan, *, required: bool) -> None:
    c = _col(column.name)
    name = column.name
    if required:
        plan.add(Rule(f"{name}.required", Dimension.COMPLETENESS, "required", (name,),
                      sql.SQL("{} IS NULL").format(c), description=f"{name} must not be null"))
    if column.type != ColumnType.STRING:
        plan.add(Rule(
            f"{name}.type", Dimension.VALIDITY, "type", (name,),
            sql.SQL("strpos(';' || coalesce({errs}, '') || ';', {needle}) > 0").format(
                errs=_col(CAST_ERRORS), needle=sql.Literal(f";{name};")
            ),
            description=f"{name} must be a valid {column.type.value}",
        ))
    text_value = c if column.type == ColumnType.STRING else sql.SQL("{}::text").format(c)
    if column.pattern is not None:
        plan.add(Rule(f"{name}.pattern", Dimension.VALIDITY, "pattern", (name,),
                      sql.SQL("{} !~ {}").format(text_value, sql.Literal(column.pattern)),
                      description=f"{name} must match {column.pattern}"))
    if column.allowed_values is not None:
        allowed = [str(v).lower() if isinstance(v, bool) else str(v) for v in column.allowed_values]
        plan.add(Rule(f"{name}.allowed_values", Dimension.VALIDITY, "allowed_values", (name,),
                      sql.SQL("NOT ({} = ANY({}::text[]))").format(text_value, sql.Literal(allowed)),
                      description=f"{name} must be one of the allowed values"))
    if column.min is not None or column.max is not None:
        parts = []
        if column.min is not None:
            parts.append(sql.SQL("{} < {}").format(c, sql.Literal(column.min)))
        if column.max is not None:
            parts.append(sql.SQL("{} > {}").format(c, sql.Literal(column.max)))
        plan.add(Rule(f"{name}.range", Dimension.VALIDITY, "range", (name,),
                      sql.SQL(" OR ").join(parts), description=f"{name} must be within [{column.min}, {column.max}]"))
    if column.min_length is not None or column.max_length is not None:
        parts = []
        if column.min_length is not None:
            parts.append(sql.SQL("char_length({}) < {}").format(text_value, sql.Literal(column.min_length)))
        if column.max_length is not None:
            parts.append(sql.SQL("char_length({}) > {}").format(text_value, sql.Literal(column.max_length)))
        plan.add(Rule(f"{name}.length", Dimension.VALIDITY, "length", (name,), sql.SQL(" OR ").join(parts),
                      description=f"{name} length out of bounds"))


def uniqueness_rule(rule_id: str, columns: list[str], plan: RulePlan) -> None:
    window = f"_w_{rule_id.replace('.', '_')}"[:63]
    plan.windows.append(
        sql.SQL("row_number() OVER (PARTITION BY {} ORDER BY {}) AS {}").format(
            sql.SQL(", ").join(sql.Identifier("s", c) for c in columns),
            sql.SQL("{} DESC, {} ASC").format(
                sql.Identifier("s", layout.INGESTION_ID), sql.Identifier("s", layout.ROW_NUMBER)
            ),
            sql.Identifier(window),
        )
    )
    not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(_col(c)) for c in columns)
    plan.add(Rule(rule_id, Dimension.UNIQUENESS, "unique", tuple(columns),
                  sql.SQL("{} AND {} > 1").format(not_null, _col(window)),
                  description=f"({', '.join(columns)}) must be unique; the first occurrence is kept"))


def compile_rules(contract: Contract) -> RulePlan:
    """Every row rule the contract declares, in a stable order."""
    plan = RulePlan()
    pk = set(contract.primary_key)
    for column in contract.columns:
        column_rules(column, plan, required=column.required or column.name in pk)
    if contract.primary_key:
        uniqueness_rule("primary_key.unique", contract.primary_key, plan)
    for column in contract.columns:
        if column.unique and [column.name] != contract.primary_key:
            uniqueness_rule(f"{column.name}.unique", [column.name], plan)
    return plan


def verdicts_query(plan: RulePlan, staging: tuple[str, str], verdicts: tuple[str, str]) -> sql.Composed:
    """``CREATE TABLE verdicts AS`` the failing rows: row identity, partition, and the ids of failed rules."""
    cases = sql.SQL(", ").join(
        sql.SQL("CASE WHEN ({}) THEN {} END").format(rule.failing, sql.Literal(rule.id)) for rule in plan.rules
    ) if plan.rules else sql.SQL("NULL")
    windows = sql.SQL("").join(sql.SQL(", ") + w for w in plan.windows)
    joins = sql.SQL(" ").join(plan.joins)
    identity = sql.SQL(", ").join(
        sql.Identifier("r", c) for c in (layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION)
    )
    return sql.SQL(
        "CREATE TABLE {verdicts} AS WITH r AS (SELECT s.*{windows} FROM {staging} s {joins}), "
        "v AS (SELECT {identity}, array_remove(ARRAY[{cases}]::text[], NULL) AS {rule_ids} FROM r) "
        "SELECT * FROM v WHERE cardinality({rule_ids}) > 0"
    ).format(
        verdicts=sql.Identifier(*verdicts),
        windows=windows,
        staging=sql.Identifier(*staging),
        joins=joins,
        identity=identity,
        cases=cases,
        rule_ids=sql.Identifier(layout.RULE_IDS),
    )
