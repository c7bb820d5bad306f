"""Planning a silver load's quality evaluation: the contract's rules with references resolved against
the warehouse and expressions validated, and the references Soda verifies too."""

from __future__ import annotations

import psycopg
from psycopg import sql

from atlas_core import layout
from atlas_core.casting import ARROW_TYPES
from atlas_core.contracts import Contract
from atlas_core.contracts.rule_specs import Reference
from atlas_core.errors import ContractError
from atlas_core.quality.plan import RulePlan
from atlas_core.quality.relations import ReferenceTarget, reference_rule_id
from atlas_core.quality.rules import compile_rules, verdicts_query
from atlas_core.quality.soda_contract import ReferenceData
from atlas_engine.soda import qualified_name
from atlas_resources.arrowpg import pg_type
from atlas_resources.warehouse import Table, Warehouse


def _column_types(wh: Warehouse, table: Table) -> dict[str, str]:
    rows = wh.fetch_all(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (f'"{table[0]}"."{table[1]}"',),
    )
    return {name: dtype for name, dtype in rows}


def reference_resolver(
    wh: Warehouse, contract: Contract, partition_keys: list[str], *, schema: str = layout.Layer.SILVER.schema
):
    """Resolve each reference against the warehouse: the referenced silver table if it exists.

    A self-reference also counts the load's own rows (and the rows of partitions not being replaced).
    A reference to a dataset whose silver table does not exist is reported as not evaluated.
    """
    local_types = {c.name: pg_type(ARROW_TYPES[c.type]) for c in contract.columns}

    def resolve(ref: Reference) -> ReferenceTarget:
        table: Table = (schema, ref.dataset)
        types = _column_types(wh, table) if wh.table_exists(table) else {}
        if ref.dataset == contract.dataset:
            return ReferenceTarget(
                table if types else None, include_staged=True, exclude_partitions=tuple(partition_keys)
            )
        if not types:
            return ReferenceTarget(
                None, skip_reason=f"{schema}.{ref.dataset} does not exist (build it first)"
            )
        missing = [c for c in ref.ref_columns if c not in types]
        if missing:
            return ReferenceTarget(
                None, skip_reason=f"{schema}.{ref.dataset} has no column(s) {', '.join(missing)}"
            )
        as_text = any(
            _normal(types[rc]) != _normal(local_types[lc])
            for lc, rc in zip(ref.columns, ref.ref_columns, strict=True)
        )
        return ReferenceTarget(table, compare_as_text=as_text)

    return resolve


def _normal(pg: str) -> str:
    return {"timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone"}.get(pg, pg)


def validate_expressions(wh: Warehouse, contract: Contract) -> None:
    """Evaluate every expression against one all-NULL row of the contract's types, read-only.

    Catches what the token allow-list cannot (unknown functions, type errors, non-boolean results)
    before any data is touched, as a one-line contract error naming the rule.
    """
    if not contract.rules.expressions:
        return
    row = sql.SQL(", ").join(
        sql.SQL("CAST(NULL AS {}) AS {}").format(
            sql.SQL(pg_type(ARROW_TYPES[c.type])), sql.Identifier(c.name)
        )
        for c in contract.columns
    )
    with wh.connect() as conn:
        for index, expr in enumerate(contract.rules.expressions):
            query = sql.SQL("SELECT pg_typeof(({}))::text FROM (SELECT {}) AS r").format(
                sql.SQL(expr.sql), row
            )
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    conn.execute("SET LOCAL statement_timeout = '5s'")
                    result = conn.execute(query).fetchone()
            except psycopg.Error as exc:
                message = (exc.diag.message_primary or type(exc).__name__).splitlines()[0]
                raise ContractError(
                    f"{contract.dataset}: rules.expressions.{index} ({expr.name}): {message}"
                ) from None
            if result is None or result[0] != "boolean":
                got = result[0] if result else "nothing"
                raise ContractError(
                    f"{contract.dataset}: rules.expressions.{index} "
                    f"({expr.name}): must be a boolean expression, got {got}"
                )


def plan_for_load(wh: Warehouse, contract: Contract, partition_keys: list[str]) -> RulePlan:
    """The contract's rules with references resolved against the warehouse, expressions validated."""
    validate_expressions(wh, contract)
    return compile_rules(
        contract,
        resolve_reference=reference_resolver(wh, contract, partition_keys),
        partition_keys=partition_keys,
    )


def soda_references(wh: Warehouse, contract: Contract, plan: RulePlan) -> list[ReferenceData]:
    """Single-column references to other datasets' tables, also verified by Soda's
    ``valid_reference_data``."""
    evaluated = {r.id for r in plan.rules}
    out = []
    for ref in contract.rules.references:
        rule_id = reference_rule_id(ref)
        if ref.dataset == contract.dataset or len(ref.columns) != 1 or rule_id not in evaluated:
            continue
        table: Table = (layout.Layer.SILVER.schema, ref.dataset)
        out.append(
            ReferenceData(
                ref.columns[0], qualified_name(wh, table), ref.ref_columns[0], ref.dimension, rule_id
            )
        )
    return out


def write_verdicts(conn: psycopg.Connection, plan: RulePlan, staging: Table, verdicts: Table) -> None:
    """Evaluate every rule of ``plan`` over ``staging`` into the ``verdicts`` table (autocommit ``conn``).

    Merge joins are off for the statement. Each of its joins has one small side (the later occurrences
    of a key, the referenced keys, the partition starts), but PostgreSQL expects a third of the rows to
    be duplicates, and with a merge join it sorts every staged row by row identity (1M rows: 2.1 s with
    it, 1.6 s with hash joins).
    """
    with conn.transaction():
        conn.execute("SET LOCAL enable_mergejoin = off")
        conn.execute(verdicts_query(plan, staging, verdicts))
