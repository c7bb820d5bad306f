"""Rules that look beyond one row: functional dependencies (the plurality of a determinant group) and
references to another dataset (or the same one). See ``docs/quality.md`` for ties, NULLs and
self-references."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from atlas_core import layout
from atlas_core.contracts.fields import Dimension
from atlas_core.contracts.model import Contract
from atlas_core.contracts.rule_specs import FunctionalDependency, Reference
from atlas_core.quality.plan import (
    REPAIRED,
    Rule,
    RulePlan,
    SkippedRule,
    add_flag,
    evaluated,
    row_of,
)


def functional_dependency_rule(fd: FunctionalDependency, index: int, plan: RulePlan) -> None:
    """Dependent values must equal the most frequent ones of their determinant group.

    The mode of each group is computed over the load's rows with a non-null determinant. Ties are
    broken by first occurrence (newest ingestion first, then lowest row number - the same order that
    decides which duplicate survives), so the outcome never depends on the physical row order.
    """
    rule_id = fd_rule_id(fd)
    alias = f"_fd_{index}"
    det, dep = fd.determinant, fd.dependent
    keys = [f"k{i}" for i in range(len(det))]
    modes = [f"m{i}" for i in range(len(dep))]
    iid, rno = sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)

    def join(staging: sql.Composable) -> sql.Composable:
        det_cols = sql.SQL(", ").join(sql.Identifier(c) for c in det)
        return sql.SQL(
            "LEFT JOIN (SELECT DISTINCT ON ({det}) {det_as}, {dep_as} FROM {stg} WHERE {not_null} "
            "GROUP BY {det}, {dep} ORDER BY {det}, count(*) "
            "DESC, min(ARRAY[-{iid}, {rno}])) AS {alias} ON {on}"
        ).format(
            det=det_cols,
            det_as=sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(sql.Identifier(c), sql.Identifier(k))
                for c, k in zip(det, keys, strict=True)
            ),
            dep_as=sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(sql.Identifier(c), sql.Identifier(m))
                for c, m in zip(dep, modes, strict=True)
            ),
            dep=sql.SQL(", ").join(sql.Identifier(c) for c in dep),
            stg=staging,
            not_null=sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in det),
            iid=iid,
            rno=rno,
            alias=sql.Identifier(alias),
            on=sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier(alias, k), sql.Identifier("s", c))
                for c, k in zip(det, keys, strict=True)
            ),
        )

    plan.staged_joins.append(join)
    flag = add_flag(
        plan,
        f"_x{alias}",
        sql.SQL("{} IS NOT NULL AND {} IS DISTINCT FROM {}").format(
            sql.Identifier(alias, keys[0]), row_of(dep, "s"), row_of(modes, alias)
        ),
    )
    description = f"({', '.join(dep)}) must be the most frequent value for each ({', '.join(det)})"
    repairs = fd.on_fail == "repair"
    # With repair, repair ran before evaluation (atlas_engine.repair): rows still differing could not be
    # repaired (tie, or no valid value) and are quarantined; repaired rows pass to silver but still count as
    # inconsistent input (the second rule below).
    plan.add(
        Rule(
            rule_id,
            Dimension.CONSISTENCY,
            "functional_dependency",
            (*det, *dep),
            flag,
            "quarantine" if repairs else fd.on_fail,
            description=description + (" (not repairable)" if repairs else ""),
        )
    )
    if not repairs:
        return
    plan.add(
        Rule(
            repaired_rule_id(fd),
            Dimension.CONSISTENCY,
            "repair",
            (*det, *dep),
            sql.SQL("{} = ANY({})").format(sql.Literal(rule_id), evaluated(REPAIRED)),
            "repair",
            description=f"({', '.join(dep)}) repaired to the plurality value of each ({', '.join(det)})",
        )
    )


def fd_rule_id(fd: FunctionalDependency) -> str:
    return f"fd.{fd.name}" if fd.name else f"fd.{'+'.join(fd.determinant)}->{'+'.join(fd.dependent)}"


def repaired_rule_id(fd: FunctionalDependency) -> str:
    return f"{fd_rule_id(fd)}.repaired"


@dataclass(frozen=True)
class ReferenceTarget:
    """Where the referenced keys of one reference rule are looked up for a load."""

    table: tuple[str, str] | None
    """A silver table holding referenced rows (None: only the load's own rows, for self-references)."""
    include_staged: bool = False
    """Self-reference: the rows of the same load count as referenced rows."""
    exclude_partitions: tuple[str, ...] = ()
    """Partitions of ``table`` being replaced by this load (their old rows no longer count)."""
    compare_as_text: bool = False
    """The two sides have different SQL types: compare their text forms."""
    skip_reason: str | None = None


ReferenceResolver = Callable[[Reference], ReferenceTarget]


def default_reference_target(contract: Contract) -> ReferenceResolver:
    """Assume every referenced silver table exists (the engine resolves targets against the warehouse)."""

    def resolve(ref: Reference) -> ReferenceTarget:
        table = (layout.Layer.SILVER.schema, ref.dataset)
        return ReferenceTarget(table, include_staged=ref.dataset == contract.dataset)

    return resolve


def reference_rule_id(ref: Reference) -> str:
    return f"ref.{ref.name}" if ref.name else f"ref.{'+'.join(ref.columns)}->{ref.dataset}"


def reference_rule(ref: Reference, index: int, target: ReferenceTarget, plan: RulePlan) -> None:
    """Rows whose (non-null) key is not found among the referenced rows fail (MATCH SIMPLE semantics)."""
    rule_id = reference_rule_id(ref)
    if target.skip_reason is not None or (target.table is None and not target.include_staged):
        plan.skipped.append(
            SkippedRule(
                rule_id,
                ref.dimension,
                "reference",
                tuple(ref.columns),
                target.skip_reason or "no referenced rows available",
            )
        )
        return
    alias = f"_ref_{index}"
    keys = [f"k{i}" for i in range(len(ref.columns))]

    def key_items(prefix: str | None) -> sql.Composable:
        cols = [sql.Identifier(prefix, c) if prefix else sql.Identifier(c) for c in ref.ref_columns]
        rendered = [sql.SQL("{}::text").format(c) if target.compare_as_text else c for c in cols]
        return sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(c, sql.Identifier(k)) for c, k in zip(rendered, keys, strict=True)
        )

    not_null = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in ref.ref_columns
    )

    def join(staging: sql.Composable) -> sql.Composable:
        parts: list[sql.Composable] = []
        if target.table is not None:
            where = not_null
            if target.exclude_partitions:
                where = sql.SQL("{} AND NOT ({} = ANY({}))").format(
                    not_null, sql.Identifier(layout.PARTITION), sql.Literal(list(target.exclude_partitions))
                )
            parts.append(
                sql.SQL("SELECT {} FROM {} WHERE {}").format(
                    key_items(None), sql.Identifier(*target.table), where
                )
            )
        if target.include_staged:
            parts.append(sql.SQL("SELECT {} FROM {} WHERE {}").format(key_items(None), staging, not_null))
        local = [sql.Identifier("s", c) for c in ref.columns]
        if target.compare_as_text:
            local = [sql.SQL("{}::text").format(c) for c in local]  # type: ignore[misc]
        return sql.SQL("LEFT JOIN (SELECT DISTINCT * FROM ({}) AS u) AS {} ON {}").format(
            sql.SQL(" UNION ALL ").join(parts),
            sql.Identifier(alias),
            sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier(alias, k), c)
                for k, c in zip(keys, local, strict=True)
            ),
        )

    plan.staged_joins.append(join)
    local_not_null = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT NULL").format(sql.Identifier("s", c)) for c in ref.columns
    )
    flag = add_flag(
        plan,
        f"_x{alias}",
        sql.SQL("{} AND {} IS NULL").format(local_not_null, sql.Identifier(alias, keys[0])),
    )
    plan.add(
        Rule(
            rule_id,
            ref.dimension,
            "reference",
            tuple(ref.columns),
            flag,
            ref.on_fail,
            description=(
                f"({', '.join(ref.columns)}) must exist in {ref.dataset} ({', '.join(ref.ref_columns)})"
            ),
        )
    )
