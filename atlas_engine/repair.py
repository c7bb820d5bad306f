"""Majority repair of functional dependencies (``on_fail: repair``), set-based on the staging table.

For each dependent column of a repairing rule, the valid values of each determinant group vote: the
load's rows plus the silver rows of the same determinant that the load does not replace. A value
votes when it is not null and passes its column's own rules (type, pattern, allowed values, range,
length). The plurality value replaces differing and null values of the group; a tie, or a group
without a valid value, repairs nothing (the rule then quarantines the rows, as without repair).

Each repaired cell is written to a repairs table next to the staging table (published with the
load into ``atlas_meta.repairs``); the row's ``_atlas_repaired`` lists the rules that repaired it.
Values of PII columns are never kept raw: they are replaced by a keyed digest (or withheld).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from atlas_core import layout
from atlas_core.casting import ARROW_TYPES
from atlas_core.contracts import Contract
from atlas_core.contracts.rule_specs import FunctionalDependency
from atlas_core.layout import CAST_ERRORS
from atlas_core.quality.plan import REPAIRED, RulePlan
from atlas_core.quality.relations import fd_rule_id
from atlas_core.quality.rules import column_rules, row_key_columns
from atlas_resources.arrowpg import pg_type
from atlas_resources.warehouse import Table, Warehouse

Digest = Callable[[str], str]


@dataclass(frozen=True)
class RepairSources:
    """Where votes come from besides the load: silver rows outside the partitions being replaced."""

    silver: Table | None
    replaced_partitions: list[str]


def repairing(contract: Contract) -> list[FunctionalDependency]:
    return [fd for fd in contract.rules.functional_dependencies if fd.on_fail == "repair"]


def _valid_value(contract: Contract, column: str) -> sql.Composable:
    """TRUE when ``r.<column>`` is present and passes the column's own rules."""
    plan = RulePlan()
    column_rules(contract.column(column), plan, required=False)
    failing = [sql.SQL("({})").format(r.failing) for r in plan.rules]
    present = sql.SQL("{} IS NOT NULL").format(sql.Identifier("r", column))
    if not failing:
        return present
    return sql.SQL("{} AND ({}) IS NOT TRUE").format(present, sql.SQL(" OR ").join(failing))


def _winners(
    contract: Contract, fd: FunctionalDependency, column: str, staging: Table, sources: RepairSources
) -> sql.Composable:
    det = fd.determinant
    keys = [sql.Identifier(f"k{i}") for i in range(len(det))]
    det_as = sql.SQL(", ").join(
        sql.SQL("r.{} AS {}").format(sql.Identifier(c), k) for c, k in zip(det, keys, strict=True)
    )
    not_null = sql.SQL(" AND ").join(sql.SQL("r.{} IS NOT NULL").format(sql.Identifier(c)) for c in det)
    votes = [
        sql.SQL("SELECT {det_as}, r.{col} AS v FROM {stg} r WHERE {not_null} AND {valid}").format(
            det_as=det_as,
            col=sql.Identifier(column),
            stg=sql.Identifier(*staging),
            not_null=not_null,
            valid=_valid_value(contract, column),
        )
    ]
    if sources.silver is not None:
        votes.append(
            sql.SQL(
                "SELECT {det_as}, r.{col} FROM {silver} r WHERE {not_null} AND r.{col} IS NOT NULL "
                "AND NOT (r.{part} = ANY({replaced}))"
            ).format(
                det_as=det_as,
                col=sql.Identifier(column),
                silver=sql.Identifier(*sources.silver),
                not_null=not_null,
                part=sql.Identifier(layout.PARTITION),
                replaced=sql.Literal(list(sources.replaced_partitions)),
            )
        )
    key_list = sql.SQL(", ").join(keys)
    return sql.SQL(
        "SELECT {keys}, v FROM (SELECT {keys}, v, n, row_number() OVER w AS rn, lead(n) OVER w AS next_n "
        "FROM (SELECT {keys}, v, count(*) AS n FROM ({votes}) AS votes GROUP BY {keys}, v) AS counted "
        "WINDOW w AS (PARTITION BY {keys} ORDER BY n DESC)) AS ranked "
        "WHERE rn = 1 AND (next_n IS NULL OR next_n < n)"
    ).format(keys=key_list, votes=sql.SQL(" UNION ALL ").join(votes))


def create_repairs_table(wh: Warehouse, repairs: Table) -> None:
    with wh.connect(autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE UNLOGGED TABLE {} ({} bigint, {} bigint, {} text, "
                "row_key jsonb, column_name text, old_value text, "
                "new_value text, values_hashed boolean NOT NULL DEFAULT false, rule_id text)"
            ).format(
                sql.Identifier(*repairs),
                sql.Identifier(layout.INGESTION_ID),
                sql.Identifier(layout.ROW_NUMBER),
                sql.Identifier(layout.PARTITION),
            )
        )


def repair_load(
    wh: Warehouse,
    contract: Contract,
    staging: Table,
    raw: Table,
    repairs: Table,
    sources: RepairSources,
    digest: Digest | None = None,
) -> dict[str, int]:
    """Repair the staged rows in place; returns the repaired cells per rule id."""
    create_repairs_table(wh, repairs)
    fds = repairing(contract)
    if not fds:
        return {}
    iid, rno, part = (
        sql.Identifier(layout.INGESTION_ID),
        sql.Identifier(layout.ROW_NUMBER),
        sql.Identifier(layout.PARTITION),
    )
    key_cols = row_key_columns(contract)
    row_key = (
        sql.SQL("jsonb_build_object({})").format(
            sql.SQL(", ").join(
                sql.SQL("{}, s.{}::text").format(sql.Literal(c), sql.Identifier(c)) for c in key_cols
            )
        )
        if key_cols
        else sql.SQL("jsonb_build_object('row', s.{})").format(rno)
    )
    counts: dict[str, int] = {}
    with wh.transaction() as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} text[] NOT NULL DEFAULT '{{}}'").format(
                sql.Identifier(*staging), sql.Identifier(REPAIRED)
            )
        )
        for fd in fds:
            rule_id = fd_rule_id(fd)
            for column in fd.dependent:
                pg = sql.SQL(pg_type(ARROW_TYPES[contract.column(column).type]))
                col = sql.Identifier(column)
                on = sql.SQL(" AND ").join(
                    sql.SQL("w.{} = s.{}").format(sql.Identifier(f"k{i}"), sql.Identifier(c))
                    for i, c in enumerate(fd.determinant)
                )
                # The placeholders both statements (record the repairs, then apply them) share.
                shared = {
                    "repairs": sql.Identifier(*repairs),
                    "stg": sql.Identifier(*staging),
                    "iid": iid,
                    "rno": rno,
                    "name": sql.Literal(column),
                    "col": col,
                    "rule": sql.Literal(rule_id),
                }
                inserted = conn.execute(
                    sql.SQL(
                        "INSERT INTO {repairs} ({iid}, {rno}, {part}, "
                        "row_key, column_name, old_value, new_value, rule_id) "
                        "SELECT s.{iid}, s.{rno}, s.{part}, {row_key}, "
                        "{name}, coalesce(s.{col}::text, b.{col}), "
                        "w.v::text, {rule} FROM {stg} s JOIN ({winners}) AS w ON {on} "
                        "LEFT JOIN {raw} b ON b.{iid} = s.{iid} AND b.{rno} = s.{rno} "
                        "WHERE s.{col} IS DISTINCT FROM w.v"
                    ).format(
                        **shared,
                        part=part,
                        row_key=row_key,
                        winners=_winners(contract, fd, column, staging, sources),
                        on=on,
                        raw=sql.Identifier(*raw),
                    )
                ).rowcount
                counts[rule_id] = counts.get(rule_id, 0) + inserted
                if not inserted:
                    continue
                needle = sql.Literal(f";{column};")
                conn.execute(
                    sql.SQL(
                        "UPDATE {stg} s SET {col} = x.new_value::{pg}, "
                        "{errs} = nullif(trim(both ';' from replace(';' || "
                        "coalesce(s.{errs}, '') || ';', {needle}, ';')), ''), "
                        "{rep} = CASE WHEN {rule} = ANY(s.{rep}) "
                        "THEN s.{rep} ELSE array_append(s.{rep}, {rule}) END "
                        "FROM {repairs} x WHERE x.{iid} = s.{iid} AND x.{rno} = s.{rno} "
                        "AND x.column_name = {name} AND x.rule_id = {rule}"
                    ).format(
                        **shared,
                        pg=pg,
                        errs=sql.Identifier(CAST_ERRORS),
                        needle=needle,
                        rep=sql.Identifier(REPAIRED),
                    )
                )
    protect_values(wh, repairs, list(contract.declared_pii_columns), digest)
    return counts


def protect_values(wh: Warehouse, repairs: Table, pii: list[str], digest: Digest | None) -> None:
    """Replace the raw values of PII columns by a keyed digest (HMAC), or withhold them without a key.

    Called for the declared PII columns, and again for the columns the PII classification found in the
    load. Repairs are few: the digest runs in Python on those cells only (the key never goes to the database).
    """
    if not pii:
        return
    with wh.transaction() as conn:
        if digest is None:
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET old_value = NULL, new_value = NULL, values_hashed = true "
                    "WHERE column_name = ANY(%s) AND NOT values_hashed"
                ).format(sql.Identifier(*repairs)),
                (pii,),
            )
            return
        rows = conn.execute(
            sql.SQL(
                "SELECT ctid::text, old_value, new_value FROM {} WHERE column_name = ANY(%s) "
                "AND NOT values_hashed"
            ).format(sql.Identifier(*repairs)),
            (pii,),
        ).fetchall()
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "UPDATE {} SET old_value = %s, new_value = %s, values_hashed = true WHERE ctid = %s::tid"
                ).format(sql.Identifier(*repairs)),
                [
                    (None if old is None else digest(old), None if new is None else digest(new), tid)
                    for tid, old, new in rows
                ],
            )


def publish_repairs(conn, dataset: str, repairs: Table, run_id: str) -> int:
    """Append the load's repaired cells to ``atlas_meta.repairs`` (inside the publishing transaction)."""
    return conn.execute(
        sql.SQL(
            "INSERT INTO atlas_meta.repairs (dataset, ingestion_id, "
            "row_number, partition_key, row_key, column_name, "
            "old_value, new_value, values_hashed, rule_id, run_id) "
            "SELECT %s, {iid}, {rno}, {part}, row_key, column_name, "
            "old_value, new_value, values_hashed, rule_id, %s "
            "FROM {repairs}"
        ).format(
            iid=sql.Identifier(layout.INGESTION_ID),
            rno=sql.Identifier(layout.ROW_NUMBER),
            part=sql.Identifier(layout.PARTITION),
            repairs=sql.Identifier(*repairs),
        ),
        (dataset, run_id),
    ).rowcount
