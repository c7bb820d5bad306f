"""Compile a contract into row rules: each rule is a SQL predicate that is TRUE when a row fails it.

Rules are evaluated in one pass over the staging table of a load (see :func:`verdicts_query`);
window functions (uniqueness) and joins (references, functional dependencies) are declared by the
rule so the whole evaluation stays one set-based statement. See ``docs/quality.md`` for the
semantics of every rule kind (ties in functional dependencies, NULLs, self-references, freshness).
"""

from __future__ import annotations

from psycopg import sql

from atlas_core import layout
from atlas_core.contracts.expressions import expression_columns
from atlas_core.contracts.fields import ColumnType, Dimension
from atlas_core.contracts.model import Column, Contract, PiiSpec
from atlas_core.contracts.rule_specs import Expression
from atlas_core.quality.plan import (
    Rule,
    RulePlan,
    add_flag,
    evaluated,
)
from atlas_core.quality.relations import (
    ReferenceResolver,
    default_reference_target,
    functional_dependency_rule,
    reference_rule,
)


def column_rules(column: Column, plan: RulePlan, *, required: bool) -> None:
    c = evaluated(column.name)
    name = column.name
    cast_failed = cast_error(name, "r")

    def rule(kind: str, dimension: Dimension, failing: sql.Composable, description: str) -> None:
        plan.add(Rule(f"{name}.{kind}", dimension, kind, (name,), failing, description=description))

    if required:
        # Missing values only: a present value that did not cast is a validity failure, not a completeness
        # one.
        rule(
            "required",
            Dimension.COMPLETENESS,
            sql.SQL("{} IS NULL AND NOT {}").format(c, cast_failed),
            f"{name} must not be null",
        )
    if column.type != ColumnType.STRING:
        rule("type", Dimension.VALIDITY, cast_failed, f"{name} must be a valid {column.type.value}")
    text_value = c if column.type == ColumnType.STRING else sql.SQL("{}::text").format(c)
    if column.pattern is not None:
        rule(
            "pattern",
            Dimension.VALIDITY,
            sql.SQL("{} !~ {}").format(text_value, sql.Literal(column.pattern)),
            f"{name} must match {column.pattern}",
        )
    if column.allowed_values is not None:
        allowed = [str(v).lower() if isinstance(v, bool) else str(v) for v in column.allowed_values]
        rule(
            "allowed_values",
            Dimension.VALIDITY,
            sql.SQL("NOT ({} = ANY({}::text[]))").format(text_value, sql.Literal(allowed)),
            f"{name} must be one of the allowed values",
        )
    if column.min is not None or column.max is not None:
        parts = []
        if column.min is not None:
            parts.append(sql.SQL("{} < {}").format(c, _bound(column, column.min)))
        if column.max is not None:
            parts.append(sql.SQL("{} > {}").format(c, _bound(column, column.max)))
        rule(
            "range",
            Dimension.VALIDITY,
            sql.SQL(" OR ").join(parts),
            f"{name} must be within [{column.min}, {column.max}]",
        )
    if column.min_length is not None or column.max_length is not None:
        parts = []
        if column.min_length is not None:
            parts.append(sql.SQL("char_length({}) < {}").format(text_value, sql.Literal(column.min_length)))
        if column.max_length is not None:
            parts.append(sql.SQL("char_length({}) > {}").format(text_value, sql.Literal(column.max_length)))
        rule("length", Dimension.VALIDITY, sql.SQL(" OR ").join(parts), f"{name} length out of bounds")


def cast_error(name: str, alias: str | None) -> sql.Composable:
    """TRUE when the row's value of ``name`` did not cast (the list is NULL on most rows: tested first)."""
    errs = sql.Identifier(alias, layout.CAST_ERRORS) if alias else sql.Identifier(layout.CAST_ERRORS)
    return sql.SQL("({errs} IS NOT NULL AND strpos(';' || {errs} || ';', {needle}) > 0)").format(
        errs=errs, needle=sql.Literal(f";{name};")
    )


def _bound(column: Column, value: float) -> sql.Composable:
    """A range bound typed like the column, so the comparison needs no per-row cast."""
    if column.type == ColumnType.INTEGER and float(value).is_integer():
        return sql.Literal(int(value))
    return sql.SQL("CAST({} AS double precision)").format(sql.Literal(float(value)))


def uniqueness_rule(rule_id: str, columns: list[str], plan: RulePlan) -> None:
    """Every occurrence of a key but the first fails (newest ingestion first, then lowest row number).

    The ranking runs over the key and row identity only (a narrow sort), and only the later
    occurrences are joined back to the evaluated rows.
    """
    alias = f"_u_{len(plan.staged_joins)}"
    iid, rno = sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
    keys = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)

    def join(staging: sql.Composable) -> sql.Composable:
        return sql.SQL(
            "LEFT JOIN (SELECT {iid}, {rno} FROM (SELECT {iid}, {rno}, row_number() OVER "
            "(PARTITION BY {keys} ORDER BY {iid} DESC, {rno}) AS n FROM {stg} WHERE {not_null}) AS ranked "
            "WHERE n > 1) AS {alias} ON {a_iid} = {s_iid} AND {a_rno} = {s_rno}"
        ).format(
            iid=iid,
            rno=rno,
            keys=keys,
            stg=staging,
            not_null=not_null,
            alias=sql.Identifier(alias),
            a_iid=sql.Identifier(alias, layout.INGESTION_ID),
            s_iid=sql.Identifier("s", layout.INGESTION_ID),
            a_rno=sql.Identifier(alias, layout.ROW_NUMBER),
            s_rno=sql.Identifier("s", layout.ROW_NUMBER),
        )

    plan.staged_joins.append(join)
    flag = add_flag(
        plan, f"_x{alias}", sql.SQL("{} IS NOT NULL").format(sql.Identifier(alias, layout.ROW_NUMBER))
    )
    plan.add(
        Rule(
            rule_id,
            Dimension.UNIQUENESS,
            "unique",
            tuple(columns),
            flag,
            description=f"({', '.join(columns)}) must be unique; the first occurrence is kept",
        )
    )


def expression_rule(expr: Expression, contract: Contract, plan: RulePlan) -> None:
    """A row fails when the expression is FALSE; NULL passes, as in a SQL CHECK constraint.

    The text was checked by :func:`atlas_core.contracts.expressions.check_expression` when the contract
    was loaded; it is spliced into the predicate as-is (bare column names resolve to the row).
    """
    columns = tuple(expression_columns(expr.sql, set(contract.column_names)))
    # Validated predicate text (allow-listed tokens only): composed as SQL on purpose.
    predicate = sql.SQL("({}) IS FALSE").format(sql.SQL(expr.sql))
    plan.add(
        Rule(
            f"expr.{expr.name}",
            expr.dimension,
            "expression",
            columns,
            predicate,
            expr.on_fail,
            description=expr.description or expr.sql,
        )
    )


def _as_timestamptz(column: Column) -> sql.Composable:
    if column.type == ColumnType.DATE:
        return sql.SQL("({}::timestamp AT TIME ZONE 'UTC')").format(evaluated(column.name))
    return evaluated(column.name)


def partition_starts(keys: list[str], plan: RulePlan) -> sql.Composable:
    """``_p.start``: the UTC start of each row's partition, from a join to the load's (few) keys.

    Parsing the key on every row costs more than the rest of the rules together; without known keys
    the parse is the fallback.
    """
    days = [k for k in keys if k]
    if not days:
        return sql.SQL("({} || ' 00:00:00+00')::timestamptz").format(evaluated(layout.PARTITION))
    values = sql.SQL(", ").join(
        sql.SQL("({}, {}::timestamptz)").format(sql.Literal(k), sql.Literal(f"{k} 00:00:00+00")) for k in days
    )
    plan.joins.append(
        sql.SQL("LEFT JOIN (VALUES {}) AS _p(key, start) ON _p.key = {}").format(
            values, sql.Identifier("s", layout.PARTITION)
        )
    )
    plan.windows.append(sql.SQL("_p.start AS _x_partition_start"))
    return evaluated("_x_partition_start")


def freshness_rule(
    column: Column, contract: Contract, plan: RulePlan, start: sql.Composable | None = None
) -> None:
    """Timeliness; ``warn`` (a stale row is kept, it lowers the score).

    Unpartitioned: the value must be at most ``freshness`` older than now. Partitioned: the value must
    fall inside its partition's day, extended by ``freshness`` after its end (late but allowed).
    """
    window = column.freshness_window
    assert window is not None
    allowance = sql.SQL("make_interval(secs => {})").format(sql.Literal(window.total_seconds()))
    value = _as_timestamptz(column)
    if contract.is_partitioned:
        start = start if start is not None else partition_starts([], plan)
        day_and_allowance = sql.SQL("make_interval(secs => {})").format(
            sql.Literal(86400 + window.total_seconds())
        )
        failing = sql.SQL("{v} IS NOT NULL AND ({v} < {start} OR {v} >= {start} + {allow})").format(
            v=value, start=start, allow=day_and_allowance
        )
        description = f"{column.name} must fall inside its partition day (+{column.freshness})"
    else:
        failing = sql.SQL("{v} IS NOT NULL AND {v} < now() - {allow}").format(v=value, allow=allowance)
        description = f"{column.name} must be at most {column.freshness} old"
    plan.add(
        Rule(
            f"{column.name}.freshness",
            Dimension.TIMELINESS,
            "freshness",
            (column.name,),
            failing,
            "warn",
            description=description,
        )
    )


def row_key_columns(contract: Contract) -> list[str]:
    """The primary key, unless one of its columns is declared PII (then rows are identified by number)."""
    if any(isinstance(contract.column(c).pii, PiiSpec) for c in contract.primary_key):
        return []
    return list(contract.primary_key)


def compile_rules(
    contract: Contract,
    *,
    resolve_reference: ReferenceResolver | None = None,
    partition_keys: list[str] | None = None,
) -> RulePlan:
    """Every row rule the contract declares, in a stable order.

    ``resolve_reference`` tells where referenced keys live for this load (see ``atlas_engine.quality``);
    by default every referenced dataset's silver table is assumed to exist. ``partition_keys`` (the
    load's partitions) lets partitioned freshness look partition starts up instead of parsing them.
    """
    plan = RulePlan(key_columns=row_key_columns(contract))
    pk = set(contract.primary_key)
    for column in contract.columns:
        column_rules(column, plan, required=column.required or column.name in pk)
    if contract.primary_key:
        uniqueness_rule("primary_key.unique", contract.primary_key, plan)
    for column in contract.columns:
        if column.unique and [column.name] != contract.primary_key:
            uniqueness_rule(f"{column.name}.unique", [column.name], plan)
    fresh = [c for c in contract.columns if c.freshness]
    start = partition_starts(partition_keys or [], plan) if fresh and contract.is_partitioned else None
    for column in fresh:
        freshness_rule(column, contract, plan, start)
    for index, fd in enumerate(contract.rules.functional_dependencies):
        functional_dependency_rule(fd, index, plan)
    resolve = resolve_reference or default_reference_target(contract)
    for index, ref in enumerate(contract.rules.references):
        reference_rule(ref, index, resolve(ref), plan)
    for expr in contract.rules.expressions:
        expression_rule(expr, contract, plan)
    return plan


def verdicts_query(plan: RulePlan, staging: tuple[str, str], verdicts: tuple[str, str]) -> sql.Composed:
    """``CREATE TABLE verdicts AS`` the failing rows: row identity, partition, row key, and the ids of failed
    rules."""
    cases = (
        sql.SQL(", ").join(
            sql.SQL("CASE WHEN ({}) THEN {} END").format(rule.failing, sql.Literal(rule.id))
            for rule in plan.rules
        )
        if plan.rules
        else sql.SQL("NULL")
    )
    windows = sql.SQL("").join(sql.SQL(", ") + w for w in plan.windows)
    staged = sql.Identifier(*staging)
    joins = sql.SQL(" ").join([*plan.joins, *(make(staged) for make in plan.staged_joins)])
    identity = sql.SQL(", ").join(
        sql.Identifier("r", c)
        for c in (layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION, *plan.key_columns)
    )
    # Most rows pass: filter on "any rule fails" first, build the list of rule ids only for failing rows.
    any_fails = (
        sql.SQL(" OR ").join(sql.SQL("({})").format(r.failing) for r in plan.rules)
        if plan.rules
        else sql.SQL("false")
    )
    return sql.SQL(
        "CREATE UNLOGGED TABLE {verdicts} AS WITH r AS (SELECT s.*{windows} FROM {staging} s {joins}), "
        "v AS (SELECT {identity}, array_remove(ARRAY[{cases}]::text[], "
        "NULL) AS {rule_ids} FROM r WHERE {any_fails}) "
        "SELECT * FROM v WHERE cardinality({rule_ids}) > 0"
    ).format(
        any_fails=any_fails,
        verdicts=sql.Identifier(*verdicts),
        windows=windows,
        staging=staged,
        joins=joins,
        identity=identity,
        cases=cases,
        rule_ids=sql.Identifier(layout.RULE_IDS),
    )
