"""Bronze: keep the raw file in the lake, append its rows as text, record the ingestion.

Idempotent by content: a file whose sha256 was already accepted for the dataset is a no-op.
The rows, the ingestion record and the ingestion-time quarantine (rows no partition can be derived
for, rows with the wrong number of fields) are committed in one transaction.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.contracts.sources import FileSource
from atlas_core.csvio import CsvReadStats, iter_csv_batches, with_block_fallback
from atlas_core.errors import InputRejected
from atlas_core.file_open import sha256_file
from atlas_core.file_scan import PartitionMapper, source_delimiter
from atlas_engine.quarantine import insert_head, quarantine_schema, quarantine_table
from atlas_engine.tables import bronze_load_schema, create_bronze_indexes, ensure_bronze_table, ensure_table
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Warehouse

RULE_UNMAPPABLE = "partition.unmappable"
RULE_MALFORMED = "row.malformed"


@dataclass
class IngestionRecord:
    dataset: str
    file: str
    sha256: str
    status: str
    reason: str | None = None
    ingestion_id: int | None = None
    rows_bronze: int = 0
    rows_silver: int | None = None
    rows_quarantined: int | None = None
    partition_keys: list[str] = field(default_factory=list)
    lake_uri: str | None = None
    ingested_at: str | None = None

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("ingestion_id")
        return data


def source_files(contract: Contract, project_dir: Path) -> list[Path]:
    """The files a ``file`` source points at (a path or glob relative to the project)."""
    source = contract.source
    if not isinstance(source, FileSource):
        return []
    pattern = source.path if Path(source.path).is_absolute() else str(project_dir / source.path)
    return [Path(p) for p in sorted(glob.glob(pattern))]


def partition_key_for(day: date) -> str:
    return day.isoformat()


def _lookup_accepted(wh: Warehouse, dataset: str, sha: str) -> IngestionRecord | None:
    rows = wh.fetch_all(
        "SELECT ingestion_id, source_file, rows_bronze, rows_silver, rows_quarantined, partition_keys, "
        "lake_uri, ingested_at FROM atlas_meta.ingestions "
        "WHERE dataset = %s AND sha256 = %s AND status = 'accepted'",
        (dataset, sha),
    )
    if not rows:
        return None
    iid, file, bronze, silver, quarantined, keys, uri, at = rows[0]
    return IngestionRecord(
        dataset,
        file,
        sha,
        "accepted",
        None,
        iid,
        bronze,
        silver,
        quarantined,
        list(keys),
        uri,
        at.isoformat(),
    )


def record_outcome(
    wh: Warehouse,
    dataset: str,
    file: str,
    sha: str,
    status: str,
    reason: str | None,
    schema_version: str,
    source_system: str,
    lake_uri: str | None,
    run_id: str | None,
) -> IngestionRecord:
    with wh.transaction() as conn:
        iid, at = conn.execute(
            "INSERT INTO atlas_meta.ingestions (dataset, source_system, source_file, sha256, schema_version, "
            "status, reason, lake_uri, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING ingestion_id, ingested_at",
            (dataset, source_system, file, sha, schema_version, status, reason, lake_uri, run_id),
        ).fetchone()  # type: ignore[misc]
    return IngestionRecord(
        dataset, file, sha, status, reason, iid, lake_uri=lake_uri, ingested_at=at.isoformat()
    )


BeforeCommit = Callable[[psycopg.Connection, "IngestionRecord"], None]


def ingest_file(
    wh: Warehouse,
    lake: Lake,
    contract: Contract,
    path: Path,
    *,
    source_system: str = "file",
    run_id: str | None = None,
    record_duplicate: bool = False,
    batch_rows: int = 50_000,
    raw_key: str | None = None,
    copy_from: str | None = None,
    partition_key: str | None = None,
    before_commit: BeforeCommit | None = None,
    sha256: str | None = None,
) -> IngestionRecord:
    """Ingest one file into bronze. Raises :class:`InputRejected` (after recording it) for unusable files.

    ``raw_key``/``copy_from``: keep the raw copy under another key of atlas-bronze, copied server-side
    from the object ``copy_from`` (landing files) instead of uploading ``path``. ``partition_key``:
    every row goes to that partition (dates from file names). ``before_commit`` runs inside the
    transaction that publishes the rows (e.g. to advance a source watermark atomically).
    """
    dataset = contract.dataset
    name = path.name
    sha = sha256 or sha256_file(path)
    known = _lookup_accepted(wh, dataset, sha)
    if known is not None:
        return _duplicate(wh, contract, name, known, source_system, run_id, record_duplicate)

    lake.ensure_buckets([layout.Layer.BRONZE.bucket])
    bucket = layout.Layer.BRONZE.bucket
    raw = raw_key or layout.raw_key(dataset, sha, name)
    if not lake.exists(bucket, raw):
        if copy_from is not None:
            lake.copy(bucket, copy_from, raw)
        else:
            lake.put_file(bucket, raw, path)
    try:
        if partition_key is not None and not PartitionMapper(contract).in_range(partition_key):
            raise InputRejected(
                f"{name}: partition {partition_key} (from the file name) is outside the contract's range"
            )
        mapper = PartitionMapper(contract, partition_key)
        loaded = _load_once(
            wh,
            dataset,
            sha,
            lambda conn: _copy_rows(
                conn, lake, contract, path, sha, raw, source_system, run_id, batch_rows, mapper
            ),
            before_commit,
        )
    except InputRejected as exc:
        rejected = layout.rejected_key(dataset, sha, name)
        lake.move(bucket, raw, rejected)
        record_outcome(
            wh,
            dataset,
            name,
            sha,
            "rejected",
            str(exc),
            str(contract.schema_version),
            source_system,
            lake.uri(bucket, rejected),
            run_id,
        )
        raise
    if loaded is not None:
        return loaded
    # The same content was accepted by a concurrent ingestion while this one waited for the lock.
    known = _lookup_accepted(wh, dataset, sha)
    assert known is not None
    return _duplicate(wh, contract, name, known, source_system, run_id, record_duplicate)


def _duplicate(
    wh: Warehouse,
    contract: Contract,
    name: str,
    known: IngestionRecord,
    source_system: str,
    run_id: str | None,
    record_duplicate: bool,
) -> IngestionRecord:
    """The outcome for content already accepted: recorded as its own ``duplicate`` row when asked."""
    if record_duplicate:
        return record_outcome(
            wh,
            contract.dataset,
            name,
            known.sha256,
            "duplicate",
            f"same content as ingestion {known.ingestion_id}",
            str(contract.schema_version),
            source_system,
            known.lake_uri,
            run_id,
        )
    known.status = "duplicate"
    return known


def _load_once(
    wh: Warehouse,
    dataset: str,
    sha: str,
    copy_rows: Callable[[psycopg.Connection], IngestionRecord],
    before_commit: BeforeCommit | None,
) -> IngestionRecord | None:
    """Load the rows with ``copy_rows``, or return None when the same content was accepted meanwhile
    (checked under the lock)."""
    with wh.transaction() as conn:
        # Serialise concurrent ingestions of the same content; the loser sees a duplicate.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"ingest:{dataset}:{sha}",))
        again = conn.execute(
            "SELECT ingestion_id FROM atlas_meta.ingestions "
            "WHERE dataset = %s AND sha256 = %s AND status = 'accepted'",
            (dataset, sha),
        ).fetchone()
        if again is None:
            record = copy_rows(conn)
            if before_commit is not None:
                before_commit(conn, record)
            return record
    return None


def _copy_rows(
    conn: psycopg.Connection,
    lake: Lake,
    contract: Contract,
    path: Path,
    sha: str,
    raw_key: str,
    source_system: str,
    run_id: str | None,
    batch_rows: int,
    mapper: PartitionMapper,
) -> IngestionRecord:
    dataset = contract.dataset
    bronze = (layout.Layer.BRONZE.schema, dataset)
    quarantine = (layout.QUARANTINE_SCHEMA, dataset)
    bucket = layout.Layer.BRONZE.bucket
    delimiter = source_delimiter(contract)
    # A first load creates bronze in this transaction: its index is built once, after the rows.
    new_bronze = ensure_bronze_table(conn, contract, defer_index=True)
    ensure_table(conn, *quarantine, quarantine_schema(contract), index_on=[layout.PARTITION])
    ingestion_id, ingested_at = conn.execute(
        "INSERT INTO atlas_meta.ingestions (dataset, source_system, "
        "source_file, sha256, schema_version, status, "
        "lake_uri, run_id) VALUES (%s, %s, %s, %s, %s, "
        "'accepted', %s, %s) RETURNING ingestion_id, ingested_at",
        (
            dataset,
            source_system,
            path.name,
            sha,
            str(contract.schema_version),
            lake.uri(bucket, raw_key),
            run_id,
        ),
    ).fetchone()  # type: ignore[misc]
    stats = CsvReadStats()
    keys_seen: set[str] = set()

    def batches(block_size: int) -> Iterator[pa.RecordBatch]:
        for batch in iter_csv_batches(
            path,
            contract.column_names,
            delimiter=delimiter,
            batch_rows=batch_rows,
            stats=stats,
            block_size=block_size,
        ):
            keys = mapper.keys(batch)
            keys_seen.update(k for k in pc.unique(keys).to_pylist() if k is not None)
            yield _bronze_batch(batch, contract, keys, ingestion_id)

    def load(block_size: int) -> int:
        nonlocal stats
        stats = CsvReadStats()
        keys_seen.clear()
        with conn.transaction():  # a savepoint: a second pass with larger blocks starts from nothing
            return Warehouse.copy_batches(conn, bronze, batches(block_size))

    rows = with_block_fallback(load)
    if new_bronze:
        create_bronze_indexes(conn, contract)
    if stats.rows == 0:
        raise InputRejected(f"{path.name}: header only, no data rows")
    quarantined = _quarantine_unmapped(conn, contract, ingestion_id, run_id)
    # No row of the file belongs to a partition: no silver build will touch it, so its count is final now.
    rows_silver = 0 if quarantined == rows else None
    conn.execute(
        "UPDATE atlas_meta.ingestions SET record_count = %s, rows_bronze = %s, rows_silver = %s, "
        "rows_quarantined = %s, partition_keys = %s WHERE ingestion_id = %s",
        (stats.rows, rows, rows_silver, quarantined, sorted(keys_seen), ingestion_id),
    )
    return IngestionRecord(
        dataset,
        path.name,
        sha,
        "accepted",
        None,
        ingestion_id,
        rows,
        rows_silver,
        quarantined,
        sorted(keys_seen),
        lake.uri(bucket, raw_key),
        ingested_at.isoformat(),
    )


def _bronze_batch(
    batch: pa.RecordBatch, contract: Contract, keys: pa.Array, ingestion_id: int
) -> pa.RecordBatch:
    arrays = [batch.column(c) for c in contract.column_names] + [
        _constant(batch.num_rows, pa.scalar(ingestion_id, pa.int64())),
        batch.column(layout.ROW_NUMBER),
        keys,
        batch.column(layout.RAW_LINE),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=bronze_load_schema(contract))


def _constant(n: int, value: pa.Scalar) -> pa.Array:
    """``n`` copies of ``value``, filled by Arrow (faster than a Python list of a million values)."""
    return pc.fill_null(pa.nulls(n, value.type), value)


def _quarantine_unmapped(
    conn: psycopg.Connection, contract: Contract, ingestion_id: int, run_id: str | None
) -> int:
    """Rows no partition can be derived for (or with the wrong field count) go to quarantine right away."""
    raw_columns = sql.SQL(", ").join(sql.Identifier(c) for c in contract.column_names)
    query = insert_head(quarantine_table(contract), contract.column_names) + sql.SQL(
        "SELECT {cols}, {iid}, {rno}, NULL, {raw}, "
        "CASE WHEN {raw} IS NOT NULL THEN ARRAY[{malformed}] ELSE ARRAY[{unmappable}] END, "
        "ARRAY['validity'], %s, now() FROM {bronze} WHERE {iid} = %s AND {part} IS NULL"
    ).format(
        bronze=sql.Identifier(layout.Layer.BRONZE.schema, contract.dataset),
        cols=raw_columns,
        iid=sql.Identifier(layout.INGESTION_ID),
        rno=sql.Identifier(layout.ROW_NUMBER),
        part=sql.Identifier(layout.PARTITION),
        raw=sql.Identifier(layout.RAW_LINE),
        malformed=sql.Literal(RULE_MALFORMED),
        unmappable=sql.Literal(RULE_UNMAPPABLE),
    )
    return conn.execute(query, (run_id, ingestion_id)).rowcount


def bronze_row_counts(wh: Warehouse, contract: Contract, partition_keys: list[str] | None) -> int:
    table = (layout.Layer.BRONZE.schema, contract.dataset)
    if partition_keys is None:
        return wh.count_rows(table)
    return wh.count_rows(
        table, sql.SQL("{} = ANY(%s)").format(sql.Identifier(layout.PARTITION)), (partition_keys,)
    )
