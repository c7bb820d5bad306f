"""Delete what is older than its layer's retention window, from the warehouse and the lake.

- bronze rows and quarantine rows (both hold raw values) of daily partitions older than the bronze
  window (contract ``retention_days`` overrides it), plus rows no partition was derived for once
  their ingestion is that old; raw/processed/rejected files of ingestions that old;
- silver rows and Parquet partitions older than the silver window;
- incremental gold models' rows and Parquet partitions older than the gold window (by their partition
  column);
- ai_ready versions in the lake older than the ai_ready window, except each feature set's newest;
- temporary objects (``_tmp/``) older than a day in every bucket: orphans of writes interrupted between
  upload and publish (a lost S3 server, a killed worker). Readers never list them.

Everything is logged and written to ``atlas_meta.retention_log`` (with ``dry_run`` true when
nothing was deleted). Dagster's materialization history is left as it is: it is the audit trail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.layout import Layer
from atlas_core.logs import get_logger
from atlas_core.retention import RetentionPolicy
from atlas_engine.sources.landing import processed_key
from atlas_resources.lake import BUCKETS, TMP_PREFIX, Lake
from atlas_resources.warehouse import Table, Warehouse

log = get_logger("atlas.retention")


@dataclass
class RetentionAction:
    layer: str
    target: str
    partition_key: str | None
    cutoff: str
    rows: int = 0
    objects: int = 0


@dataclass
class RetentionReport:
    dry_run: bool
    now: str
    actions: list[RetentionAction] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(a.rows for a in self.actions)

    @property
    def objects(self) -> int:
        return sum(a.objects for a in self.actions)

    def as_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "now": self.now,
            "rows": self.rows,
            "objects": self.objects,
            "actions": [asdict(a) for a in self.actions],
        }


def _partition_counts(
    conn: psycopg.Connection, table: Table, column: str, cutoff: date
) -> list[tuple[str, int]]:
    """Rows per expired daily partition key (text ISO dates, ``''`` = unpartitioned is never expired)."""
    rows = conn.execute(
        sql.SQL("SELECT {c}, count(*) FROM {t} WHERE {c} <> '' AND {c} < %s GROUP BY 1 ORDER BY 1").format(
            c=sql.Identifier(column), t=sql.Identifier(*table)
        ),
        (cutoff.isoformat(),),
    ).fetchall()
    return [(str(k), int(n)) for k, n in rows]


def _exists(conn: psycopg.Connection, table: Table) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{table[0]}"."{table[1]}"',)).fetchone()
    return bool(row and row[0])


class _Run:
    def __init__(self, wh: Warehouse, lake: Lake | None, report: RetentionReport) -> None:
        self.wh, self.lake, self.report = wh, lake, report

    def partitioned_table(self, conn: psycopg.Connection, layer: str, table: Table, cutoff: date) -> None:
        if not _exists(conn, table):
            return
        for key, rows in _partition_counts(conn, table, layout.PARTITION, cutoff):
            self.report.actions.append(
                RetentionAction(layer, ".".join(table), key, cutoff.isoformat(), rows=rows)
            )
        if not self.report.dry_run:
            conn.execute(
                sql.SQL("DELETE FROM {t} WHERE {c} <> '' AND {c} < %s").format(
                    t=sql.Identifier(*table), c=sql.Identifier(layout.PARTITION)
                ),
                (cutoff.isoformat(),),
            )

    def unmapped_rows(
        self, conn: psycopg.Connection, layer: str, table: Table, cutoff: date, time_column: str
    ) -> None:
        """Rows without a partition (unmappable at ingestion): expired by their ingestion/quarantine time."""
        if not _exists(conn, table):
            return
        where = sql.SQL("{} IS NULL AND {} < %s").format(
            sql.Identifier(layout.PARTITION), sql.Identifier(time_column)
        )
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(*table), where), (cutoff,)
        ).fetchone()
        n = int(row[0]) if row else 0
        if n:
            self.report.actions.append(
                RetentionAction(layer, ".".join(table), None, cutoff.isoformat(), rows=n)
            )
            if not self.report.dry_run:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(*table), where), (cutoff,)
                )

    def delete_objects(
        self, layer: str, bucket: str, keys: list[str], partition: str | None, cutoff: date, target: str
    ) -> None:
        if not keys or self.lake is None:
            return
        self.report.actions.append(
            RetentionAction(layer, target, partition, cutoff.isoformat(), objects=len(keys))
        )
        if not self.report.dry_run:
            for key in keys:
                self.lake.delete(bucket, key)


def run_retention(
    wh: Warehouse,
    lake: Lake | None,
    contracts: list[Contract],
    gold_tables: list[tuple[str, str]],
    policy: RetentionPolicy,
    *,
    now: datetime,
    dry_run: bool,
) -> RetentionReport:
    """Apply ``policy`` as of ``now``. ``gold_tables``: (table, partition column) of incremental models."""
    report = RetentionReport(dry_run, now.isoformat())
    run = _Run(wh, lake, report)
    with wh.transaction() as conn:
        for contract in contracts:
            dataset = contract.dataset
            raw_cutoff = policy.cutoff(Layer.BRONZE, now, dataset)
            silver_cutoff = policy.cutoff(Layer.SILVER, now, dataset)
            run.partitioned_table(conn, "bronze", (Layer.BRONZE.schema, dataset), raw_cutoff)
            run.partitioned_table(conn, "quarantine", (layout.QUARANTINE_SCHEMA, dataset), raw_cutoff)
            run.unmapped_rows(conn, "bronze", (Layer.BRONZE.schema, dataset), raw_cutoff, layout.INGESTED_AT)
            run.unmapped_rows(
                conn, "quarantine", (layout.QUARANTINE_SCHEMA, dataset), raw_cutoff, layout.QUARANTINED_AT
            )
            run.partitioned_table(conn, "silver", (Layer.SILVER.schema, dataset), silver_cutoff)
            _raw_files(conn, run, contract, raw_cutoff)
            if contract.partitioning is not None:
                _parquet_partitions(run, Layer.SILVER, contract.dataset, silver_cutoff)
        gold_cutoff = policy.cutoff(Layer.GOLD, now)
        for table, column in gold_tables:
            _gold_rows(conn, run, table, column, gold_cutoff)
            _parquet_partitions(run, Layer.GOLD, table, gold_cutoff)
        _ai_ready_versions(run, policy.cutoff(Layer.AI_READY, now))
        _orphaned_temporaries(run, now)
        for action in report.actions:
            conn.execute(
                "INSERT INTO atlas_meta.retention_log (dry_run, "
                "layer, target, partition_key, cutoff, rows_deleted, "
                "objects_deleted) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    dry_run,
                    action.layer,
                    action.target,
                    action.partition_key,
                    action.cutoff,
                    action.rows,
                    action.objects,
                ),
            )
    log.info(
        "retention",
        dry_run=dry_run,
        now=now.isoformat(),
        rows=report.rows,
        objects=report.objects,
        actions=len(report.actions),
    )
    return report


def _raw_files(conn: psycopg.Connection, run: _Run, contract: Contract, cutoff: date) -> None:
    if run.lake is None:
        return
    rows = conn.execute(
        "SELECT DISTINCT sha256, source_file FROM atlas_meta.ingestions "
        "WHERE dataset = %s AND ingested_at < %s",
        (contract.dataset, cutoff),
    ).fetchall()
    bucket = Layer.BRONZE.bucket
    keys: list[str] = []
    for sha, name in rows:
        for key in (
            layout.raw_key(contract.dataset, sha, name),
            processed_key(contract.dataset, sha, name),
            layout.rejected_key(contract.dataset, sha, name),
        ):
            if run.lake.exists(bucket, key):
                keys.append(key)
    run.delete_objects("bronze", bucket, keys, None, cutoff, f"{bucket}/{contract.dataset} raw files")


def _parquet_partitions(run: _Run, layer: Layer, table: str, cutoff: date) -> None:
    """Daily Parquet partitions ``<table>/partition=<day>/`` of a silver dataset or gold model older than
    the cutoff."""
    if run.lake is None:
        return
    bucket = layer.bucket
    prefix = f"{table}/partition="
    by_key: dict[str, list[str]] = {}
    for key in run.lake.list(bucket, prefix):
        partition = key[len(prefix) :].split("/", 1)[0]
        by_key.setdefault(partition, []).append(key)
    for partition in sorted(by_key):
        try:
            expired = date.fromisoformat(partition) < cutoff
        except ValueError:
            continue
        if expired:
            run.delete_objects(layer.value, bucket, by_key[partition], partition, cutoff, f"{bucket}/{table}")


def _gold_rows(conn: psycopg.Connection, run: _Run, table: str, column: str, cutoff: date) -> None:
    target: Table = (Layer.GOLD.schema, table)
    if not _exists(conn, target):
        return
    col = sql.Identifier(column)
    rows = conn.execute(
        sql.SQL("SELECT {c}::date::text, count(*) FROM {t} WHERE {c} < %s GROUP BY 1 ORDER BY 1").format(
            c=col, t=sql.Identifier(*target)
        ),
        (cutoff,),
    ).fetchall()
    for key, n in rows:
        run.report.actions.append(
            RetentionAction("gold", ".".join(target), key, cutoff.isoformat(), rows=int(n))
        )
    if rows and not run.report.dry_run:
        conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {c} < %s").format(c=col, t=sql.Identifier(*target)), (cutoff,)
        )


def _ai_ready_versions(run: _Run, cutoff: date) -> None:
    """Version folders ``<feature set>/<version>/`` whose newest object is older than the cutoff,
    never the newest version of a feature set."""
    if run.lake is None:
        return
    bucket = Layer.AI_READY.bucket
    versions: dict[tuple[str, str], tuple[datetime, list[str]]] = {}
    for key, modified in run.lake.list_modified(bucket, ""):
        parts = key.split("/")
        if len(parts) < 3:
            continue
        group = (parts[0], parts[1])
        newest, keys = versions.get(group, (modified, []))
        versions[group] = (max(newest, modified), [*keys, key])
    latest: dict[str, datetime] = {}
    for (name, _), (modified, _) in versions.items():
        latest[name] = max(latest.get(name, modified), modified)
    limit = datetime.combine(cutoff, datetime.min.time(), tzinfo=UTC)
    for (name, version), (modified, keys) in sorted(versions.items()):
        if modified < limit and modified < latest[name]:
            run.delete_objects("ai_ready", bucket, sorted(keys), None, cutoff, f"{bucket}/{name}/{version}")


ORPHAN_AGE = timedelta(days=1)  # far longer than any upload between its start and its publish


def _orphaned_temporaries(run: _Run, now: datetime) -> None:
    if run.lake is None:
        return
    limit = now - ORPHAN_AGE
    for bucket in BUCKETS:
        keys = [key for key, modified in run.lake.list_temporary(bucket) if modified < limit]
        run.delete_objects("lake", bucket, keys, None, limit.date(), f"{bucket}/{TMP_PREFIX}")


def policy_from(days: dict[Layer, int], contracts: list[Contract]) -> RetentionPolicy:
    return RetentionPolicy(
        days=days, dataset_days={c.dataset: c.retention_days for c in contracts if c.retention_days}
    )


def as_of(day: date | None) -> datetime:
    """``now`` for a retention run: the last instant of ``day`` in UTC, or the current time."""
    if day is None:
        return datetime.now(UTC)
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) - timedelta(
        microseconds=1
    )
