"""PII in the pipeline (no Dagster): the silver transform factory, reports, drift (audited decryption and
reading reports: ``atlas_engine.pii_decrypt``).

``PiiStage`` is what ``build_silver(..., transform_factory=...)`` calls once the load is staged:
it enforces the erasure list, samples the staging table (typed raw rows, inside the boundary),
classifies the columns and returns the :class:`PiiTransform` applied to every batch published to
silver. Errors leaving this module never carry a value: unexpected exceptions are replaced by a
message naming the dataset and the exception type only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.errors import AtlasError, ServiceUnavailable
from atlas_core.pii.analysis import TextAnalyzer
from atlas_core.pii.classify import ColumnInput
from atlas_core.pii.keys import KeyRing
from atlas_core.pii.policy import PiiPolicy, classify_columns
from atlas_core.pii.strategies import Anonymizer
from atlas_core.pii.transform import PiiTransform
from atlas_core.transient import is_transient
from atlas_engine.pii_decrypt import latest_report as latest_report  # re-exported
from atlas_engine.pii_erasure import enforce_erasures, has_erasures
from atlas_engine.staging import StagedLoad
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Table, Warehouse

if TYPE_CHECKING:
    pass

SAMPLE_ROWS_FACTOR = 4
SPARSE_MINIMUM = 20


class PiiStageError(AtlasError):
    """The PII stage failed; the message names the dataset and column, never a value."""


def sample_columns(wh: Warehouse, contract: Contract, table: Table, sample_size: int) -> list[ColumnInput]:
    """Up to ``sample_size`` distinct non-null values per column, from a deterministic pseudo-random
    sample."""
    names = contract.column_names
    order = sql.SQL("md5({}::text || ':' || {}::text)").format(
        sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
    )
    # Cast after the LIMIT: in one query level PostgreSQL formats every row's values before it sorts.
    query = sql.SQL(
        "SELECT {} FROM (SELECT {}, {} AS _atlas_order FROM {} ORDER BY _atlas_order LIMIT %s) AS sample "
        "ORDER BY _atlas_order"
    ).format(
        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(n)) for n in names),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        order,
        sql.Identifier(*table),
    )
    rows = wh.fetch_all(query, (sample_size * SAMPLE_ROWS_FACTOR,))
    columns = []
    for i, column in enumerate(contract.columns):
        values = list(dict.fromkeys(r[i] for r in rows if r[i] is not None and r[i].strip()))[:sample_size]
        if len(values) < SPARSE_MINIMUM and len(rows) >= sample_size:
            values = _sparse_values(wh, table, column.name, sample_size)
        columns.append(ColumnInput(column.name, column.type.value, values, column.pii))
    return columns


def _sparse_values(wh: Warehouse, table: Table, column: str, limit: int) -> list[str]:
    """A sparse column: look further than the row sample for its few non-empty values."""
    rows = wh.fetch_all(
        sql.SQL(
            "SELECT DISTINCT {c}::text FROM (SELECT {c} FROM {t} WHERE {c} IS NOT NULL LIMIT %s) s"
        ).format(c=sql.Identifier(column), t=sql.Identifier(*table)),
        (limit * SAMPLE_ROWS_FACTOR,),
    )
    return [r[0] for r in rows if r[0] is not None and r[0].strip()][:limit]


class SafeTransform:
    """Wraps a :class:`PiiTransform` so that no exception message (which could quote a value) escapes."""

    def __init__(self, inner: PiiTransform, dataset: str) -> None:
        self.inner = inner
        self.dataset = dataset

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        return self.inner.output_schema(schema)

    def passes_through(self) -> bool:
        return self.inner.passes_through()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        try:
            return self.inner(batch)
        except AtlasError:
            raise
        except Exception as exc:
            raise PiiStageError(
                f"{self.dataset}: anonymizing a batch failed ({type(exc).__name__})"
            ) from None


@dataclass
class PiiStage:
    """Transform factory for ``build_silver``: erasures, sampling, classification, then the transform."""

    wh: Warehouse
    lake: Lake | None
    contract: Contract
    analyzer: TextAnalyzer
    keys: KeyRing
    sample_size: int | None = None
    policy: PiiPolicy | None = None
    transform: PiiTransform | None = None
    erased_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def removes_rows(self, staged: StagedLoad) -> bool:
        """Whether :meth:`__call__` may delete staged rows: only when this dataset has recorded erasures."""
        return len(self.contract.primary_key) == 1 and has_erasures(self.wh, self.contract.dataset)

    def __call__(self, staged: StagedLoad) -> SafeTransform:
        dataset = self.contract.dataset
        size = self.sample_size or self.contract.pii.sample_size
        try:
            self.erased_rows = enforce_erasures(
                self.wh, self.lake, self.contract, staged.staging, staged.verdicts, self.keys
            )
            columns = sample_columns(self.wh, self.contract, staged.staging, size)
            self.policy = classify_columns(columns, self.analyzer)
        except AtlasError:
            raise
        except Exception as exc:
            if is_transient(exc):  # e.g. the connection lost while sampling: retried like any outage
                raise ServiceUnavailable(
                    f"{dataset}: PII classification interrupted ({type(exc).__name__})"
                ) from None
            raise PiiStageError(f"{dataset}: PII classification failed ({type(exc).__name__})") from None
        self.transform = PiiTransform(self.policy, Anonymizer(self.keys), self.analyzer)
        return SafeTransform(self.transform, dataset)

    @property
    def report(self) -> dict[str, dict[str, object]]:
        return self.policy.report() if self.policy is not None else {}


# -- reports -----------------------------------------------------------------------------------------
def partition_label(keys: Sequence[str]) -> str:
    """``2026-10-01`` or ``2026-10-01..2026-10-30`` (one report covers one silver load)."""
    ordered = sorted(keys)
    if not ordered:
        return ""
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}..{ordered[-1]}"


def record_report(
    wh: Warehouse,
    dataset: str,
    partition_keys: Sequence[str],
    run_id: str | None,
    columns: dict[str, dict[str, object]],
) -> int:
    with wh.transaction() as conn:
        row = conn.execute(
            "INSERT INTO atlas_meta.pii_reports (dataset, "
            "partition_key, run_id, columns) VALUES (%s, %s, %s, %s) "
            "RETURNING report_id",
            (dataset, partition_label(partition_keys), run_id, json.dumps(columns)),
        ).fetchone()
    assert row is not None
    return int(row[0])


def pii_summary(wh: Warehouse) -> dict[str, dict[str, str]]:
    """Per dataset (latest report): its PII columns and their entities (for ``summary.json``)."""
    if not wh.table_exists((layout.META_SCHEMA, "pii_reports")):
        return {}
    rows = wh.fetch_all(
        "SELECT DISTINCT ON (dataset) dataset, columns FROM atlas_meta.pii_reports "
        "ORDER BY dataset, created_at DESC, report_id DESC"
    )
    return {
        dataset: {name: c["entity"] for name, c in columns.items() if c.get("entity") and c.get("strategy")}
        for dataset, columns in rows
    }


def pii_drift(contract: Contract, columns: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """Columns detected as PII that the contract neither declares nor opts out (``pii: false``)."""
    drift = {}
    for column in contract.columns:
        entry = columns.get(column.name)
        if entry and entry.get("entity") and column.pii is None:
            drift[column.name] = {"entity": entry["entity"], "confidence": entry.get("confidence")}
    return drift
