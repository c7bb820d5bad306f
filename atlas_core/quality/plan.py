"""A compiled rule plan: the rules of a load and the window/join columns they read.

Each rule is a SQL predicate that is TRUE when a row fails it; :mod:`atlas_core.quality.rules` compiles a
contract into a plan and turns the plan into one set-based statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from psycopg import sql

from atlas_core import layout
from atlas_core.contracts.fields import Dimension

OnFail = Literal["quarantine", "warn", "fail", "repair"]
REPAIRED = "_atlas_repaired"
"""Staging column (text[]): the ids of the ``on_fail: repair`` rules that repaired the row."""

# Duplicates: the newest ingestion wins, then the first row of that file.
FIRST_OCCURRENCE_ORDER = sql.SQL("{} DESC, {} ASC").format(
    sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
)


@dataclass(frozen=True)
class RuleRef:
    """What names a rule in reports: its id, dimension, kind and the columns it reads."""

    id: str
    dimension: Dimension
    kind: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Rule(RuleRef):
    failing: sql.Composable
    on_fail: OnFail = "quarantine"
    description: str = ""


@dataclass(frozen=True)
class SkippedRule(RuleRef):
    """A declared rule that could not be evaluated for this load (reported, never counted as passed)."""

    reason: str


StagedJoin = Callable[[sql.Composable], sql.Composable]
"""A join that reads the load's own staging table (given as an identifier) - e.g. functional dependencies."""


@dataclass
class RulePlan:
    rules: list[Rule] = field(default_factory=list)
    windows: list[sql.Composable] = field(default_factory=list)
    """Extra select items of the evaluated row (window functions, flags computed from joins)."""
    joins: list[sql.Composable] = field(default_factory=list)
    staged_joins: list[StagedJoin] = field(default_factory=list)
    key_columns: list[str] = field(default_factory=list)
    """Columns copied into the verdicts to identify failing rows (the primary key unless it is PII)."""
    skipped: list[SkippedRule] = field(default_factory=list)

    def by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def add(self, rule: Rule) -> None:
        if any(r.id == rule.id for r in self.rules) or any(r.id == rule.id for r in self.skipped):
            raise ValueError(f"duplicate rule id {rule.id}")
        self.rules.append(rule)

    def ids(self, dimension: Dimension | None = None, on_fail: OnFail | None = None) -> list[str]:
        return [
            r.id
            for r in self.rules
            if (dimension is None or r.dimension == dimension) and (on_fail is None or r.on_fail == on_fail)
        ]


def evaluated(name: str) -> sql.Identifier:
    return sql.Identifier("r", name)


def add_flag(plan: RulePlan, name: str, expression: sql.Composable) -> sql.Identifier:
    """Add ``expression AS name`` to the evaluated row; rules then test ``r.name``."""
    plan.windows.append(sql.SQL("{} AS {}").format(expression, sql.Identifier(name)))
    return evaluated(name)


def row_of(columns: list[str] | tuple[str, ...], alias: str) -> sql.Composable:
    items = sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns)
    return sql.SQL("ROW({})").format(items) if len(columns) > 1 else items
