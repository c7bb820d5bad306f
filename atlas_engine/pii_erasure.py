"""Right to erasure: remove one data subject (a primary-key value) from every layer, and keep it removed.

``forget_subject`` deletes the subject's rows from bronze, quarantine, silver and every gold /
ai_ready table carrying the dataset's primary-key column (one transaction, with the erasure list
entry and the audit row), then rewrites the lake objects that held them: the raw source files in
atlas-bronze (raw/, rejected/, processed/, landing/ - bronze's files are append-only by convention, so erasure
*rewrites* the object under the same key, minus the subject's records; the ingestion ledger keeps
the original sha256, so the original file is still recognised as already ingested) and the Parquet
exports of silver, gold and ai_ready.

The erasure list stores a keyed HMAC of (dataset, key), never the key. Every later silver load
checks its staged rows against the list (:func:`enforce_erasures`): a re-ingested old file, or a new
one that mentions the subject again, cannot bring the subject back - the rows are dropped from
staging, bronze and quarantine and the new raw file is rewritten as well.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from atlas_core import layout
from atlas_core.contracts import Contract
from atlas_core.contracts.fields import ColumnType
from atlas_core.contracts.sources import FileSource, LandingSource
from atlas_core.errors import InputRejected
from atlas_core.pii.keys import KeyRing
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Table, Warehouse

csv.field_size_limit(64 << 20)
_INT_TEXT = r"^\s*[+-]?\d{1,18}\s*$"


@dataclass
class ForgetResult:
    dataset: str
    key_digest: str
    rows: dict[str, int] = field(default_factory=dict)
    lake_objects: list[str] = field(default_factory=list)
    audit_id: int | None = None


def subject_column(contract: Contract) -> str:
    if len(contract.primary_key) != 1:
        raise InputRejected(
            f"{contract.dataset}: forgetting a data subject needs a single-column primary_key in the contract"
        )
    return contract.primary_key[0]


def normalize_key(contract: Contract, key: str) -> str:
    """The key as the typed silver column prints it (``' 017'`` is customer 17)."""
    column = contract.column(subject_column(contract))
    text = key.strip()
    if column.type == ColumnType.INTEGER:
        try:
            return str(int(text))
        except ValueError:
            raise InputRejected(f"{contract.dataset}.{column.name} is an integer: {text!r} is not") from None
    if not text:
        raise InputRejected("the key is empty")
    return text


def _raw_match(column: str, contract: Contract) -> sql.Composable:
    """SQL matching the raw (text) key column of bronze/quarantine against the normalized key ``%s``."""
    ident = sql.Identifier(column)
    if contract.column(column).type == ColumnType.INTEGER:
        return sql.SQL("(CASE WHEN {c} ~ {re} THEN trim({c})::numeric = %s::numeric ELSE false END)").format(
            c=ident, re=sql.Literal(_INT_TEXT)
        )
    return sql.SQL("trim({}) = %s").format(ident)


def _delete(
    conn: psycopg.Connection, table: Table, where: sql.Composable, params: tuple, iid: bool
) -> tuple[int, dict[int, int]]:
    if not _exists(conn, table):
        return 0, {}
    returning = sql.SQL(" RETURNING {}").format(sql.Identifier(layout.INGESTION_ID)) if iid else sql.SQL("")
    cur = conn.execute(
        sql.SQL("DELETE FROM {} WHERE {}{}").format(sql.Identifier(*table), where, returning), params
    )
    per_ingestion: dict[int, int] = {}
    if iid:
        for (ingestion_id,) in cur.fetchall():
            if ingestion_id is not None:
                per_ingestion[ingestion_id] = per_ingestion.get(ingestion_id, 0) + 1
    return cur.rowcount, per_ingestion


def _exists(conn: psycopg.Connection, table: Table) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{table[0]}"."{table[1]}"',)).fetchone()
    return bool(row and row[0])


def _decrement(conn: psycopg.Connection, counter: str, per_ingestion: dict[int, int]) -> None:
    for ingestion_id, n in per_ingestion.items():
        conn.execute(
            sql.SQL(
                "UPDATE atlas_meta.ingestions SET {c} = greatest(coalesce({c}, 0) - %s, 0) "
                "WHERE ingestion_id = %s"
            ).format(c=sql.Identifier(counter)),
            (n, ingestion_id),
        )


def _downstream_tables(conn: psycopg.Connection, column: str) -> list[Table]:
    rows = conn.execute(
        "SELECT c.table_schema, c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = ANY(%s) AND c.column_name = %s AND t.table_type = 'BASE TABLE' ORDER BY 1, 2",
        ([layout.Layer.GOLD.schema, layout.Layer.AI_READY.schema], column),
    ).fetchall()
    return [(schema, table) for schema, table in rows]


def record_erasure(conn: psycopg.Connection, dataset: str, keys: KeyRing, key: str, audit_id: int) -> str:
    digest = keys.erasure_digest(dataset, key)
    conn.execute(
        "INSERT INTO atlas_meta.pii_erasures (dataset, key_id, key_digest, audit_id) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (dataset, key_id, key_digest) DO NOTHING",
        (dataset, keys.active.key_id, digest, audit_id),
    )
    return digest


def forget_subject(
    wh: Warehouse, lake: Lake | None, contract: Contract, key: str, keys: KeyRing, *, actor: str
) -> ForgetResult:
    """Erase the subject whose primary key is ``key`` from every layer; audited; idempotent."""
    dataset = contract.dataset
    column = subject_column(contract)
    normalized = normalize_key(contract, key)
    result = ForgetResult(dataset, keys.erasure_digest(dataset, normalized))
    raw_where = _raw_match(column, contract)
    typed_where = sql.SQL("{}::text = %s").format(sql.Identifier(column))
    with wh.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pii-forget:{dataset}",))
        audit_id = conn.execute(
            "INSERT INTO atlas_meta.pii_audit (action, actor, dataset, detail) VALUES ('forget', %s, %s, %s) "
            "RETURNING audit_id",
            (actor, dataset, json.dumps({"key_digest": result.key_digest, "key_id": keys.active.key_id})),
        ).fetchone()[0]  # type: ignore[index]
        result.audit_id = int(audit_id)
        record_erasure(conn, dataset, keys, normalized, result.audit_id)
        n, bronze = _delete(conn, (layout.Layer.BRONZE.schema, dataset), raw_where, (normalized,), True)
        result.rows["bronze"] = n
        n, quarantined = _delete(conn, (layout.QUARANTINE_SCHEMA, dataset), raw_where, (normalized,), True)
        result.rows["quarantine"] = n
        n, silver = _delete(conn, (layout.Layer.SILVER.schema, dataset), typed_where, (normalized,), True)
        result.rows["silver"] = n
        for table in _downstream_tables(conn, column):
            n, _ = _delete(conn, table, typed_where, (normalized,), False)
            result.rows[f"{table[0].removeprefix('atlas_')}.{table[1]}"] = n
        _decrement(conn, "rows_bronze", bronze)
        _decrement(conn, "rows_quarantined", quarantined)
        _decrement(conn, "rows_silver", silver)
    if lake is not None:
        result.lake_objects = scrub_lake(lake, contract, column, {normalized})
    with wh.transaction() as conn:
        conn.execute(
            "UPDATE atlas_meta.pii_audit SET detail = detail || %s::jsonb WHERE audit_id = %s",
            (
                json.dumps({"rows": result.rows, "lake_objects_rewritten": len(result.lake_objects)}),
                result.audit_id,
            ),
        )
    return result


# -- the lake -------------------------------------------------------------------------------------------
def scrub_lake(
    lake: Lake, contract: Contract, column: str, keys: set[str], raw_prefixes: list[str] | None = None
) -> list[str]:
    """Rewrite every lake object of ``contract``'s dataset holding a row whose ``column`` is in ``keys``."""
    rewritten: list[str] = []
    bronze = layout.Layer.BRONZE.bucket
    prefixes = raw_prefixes if raw_prefixes is not None else _raw_prefixes(contract)
    for prefix in prefixes:
        for object_key in lake.list(bronze, prefix):
            if rewrite_raw_file(lake, bronze, object_key, contract, column, keys):
                rewritten.append(lake.uri(bronze, object_key))
    integer = contract.column(column).type == ColumnType.INTEGER
    for bucket, prefix in [
        (layout.Layer.SILVER.bucket, f"{contract.dataset}/"),
        (layout.Layer.GOLD.bucket, ""),
        (layout.Layer.AI_READY.bucket, ""),
    ]:
        for object_key in lake.list(bucket, prefix):
            if object_key.endswith(".parquet") and _rewrite_parquet(
                lake, bucket, object_key, column, keys, integer
            ):
                rewritten.append(lake.uri(bucket, object_key))
    return rewritten


def _raw_prefixes(contract: Contract) -> list[str]:
    dataset = contract.dataset
    # processed/: raw copies of landing objects and uploads; landing/<dataset>/: uploads waiting for their
    # run.
    prefixes = [f"raw/{dataset}/", f"rejected/{dataset}/", f"processed/{dataset}/", f"landing/{dataset}/"]
    source = contract.source
    if isinstance(source, LandingSource) and source.prefix and source.prefix not in prefixes:
        prefixes.append(source.prefix)
    return prefixes


def _key_matches(value: str, keys: set[str], integer: bool) -> bool:
    text = value.strip()
    if integer:
        try:
            return str(int(text)) in keys
        except ValueError:
            return False
    return text in keys


def rewrite_raw_file(
    lake: Lake, bucket: str, object_key: str, contract: Contract, column: str, keys: set[str]
) -> bool:
    """Drop the subject's records from one raw CSV object (plain or gzip), keeping its key; True if
    changed."""
    delimiter = contract.source.delimiter if isinstance(contract.source, FileSource | LandingSource) else ","
    integer = contract.column(column).type == ColumnType.INTEGER
    with tempfile.TemporaryDirectory(prefix="atlas-forget-") as tmp:
        original, cleaned = Path(tmp) / "original", Path(tmp) / "cleaned"
        lake.get_file(bucket, object_key, original)
        compressed = original.read_bytes()[:2] == b"\x1f\x8b"
        opener = gzip.open if compressed else open
        dropped = 0
        with opener(original, "rb") as raw_in, opener(cleaned, "wb") as raw_out:
            reader = csv.reader(
                io.TextIOWrapper(raw_in, encoding="utf-8-sig", newline=""), delimiter=delimiter
            )
            text_out = io.TextIOWrapper(raw_out, encoding="utf-8", newline="")
            writer = csv.writer(text_out, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            header = next(reader, None)
            if header is None or column not in header:
                return False
            writer.writerow(header)
            index = header.index(column)
            for record in reader:
                if len(record) > index and _key_matches(record[index], keys, integer):
                    dropped += 1
                    continue
                writer.writerow(record)
            text_out.flush()
            text_out.detach()
        if not dropped:
            return False
        lake.put_file(bucket, object_key, cleaned)
    return True


def _rewrite_parquet(
    lake: Lake, bucket: str, object_key: str, column: str, keys: set[str], integer: bool
) -> bool:
    schema = _parquet_schema(lake, bucket, object_key)
    if schema is None or column not in schema.names:
        return False
    wanted = pa.array(sorted(keys), pa.string())
    hits = 0
    for batch in lake.read_parquet(bucket, object_key):
        hits += int(
            pc.sum(pc.is_in(pc.cast(batch.column(column), pa.string()), value_set=wanted)).as_py() or 0
        )
    if not hits:
        return False

    def kept() -> Iterator[pa.RecordBatch]:
        for batch in lake.read_parquet(bucket, object_key):
            as_text = pc.cast(batch.column(column), pa.string())
            keep = pc.invert(pc.fill_null(pc.is_in(as_text, value_set=wanted), False))
            yield batch.filter(keep)

    # Read fully before replacing the object under the same key.
    batches = list(kept())
    lake.write_parquet(bucket, object_key, batches, schema)
    return True


def _parquet_schema(lake: Lake, bucket: str, object_key: str) -> pa.Schema | None:
    import pyarrow.parquet as pq

    with lake.open(bucket, object_key) as stream:
        try:
            return pq.ParquetFile(stream).schema_arrow
        except pa.ArrowInvalid:
            return None


# -- later loads ------------------------------------------------------------------------------------------
def has_erasures(wh: Warehouse, dataset: str) -> bool:
    """Whether any subject of ``dataset`` was erased (its loads then drop rows while they are classified)."""
    return bool(
        wh.scalar("SELECT EXISTS (SELECT 1 FROM atlas_meta.pii_erasures WHERE dataset = %s)", (dataset,))
    )


def erased_digests(wh: Warehouse, dataset: str) -> dict[str, set[str]]:
    rows = wh.fetch_all(
        "SELECT key_id, key_digest FROM atlas_meta.pii_erasures WHERE dataset = %s", (dataset,)
    )
    out: dict[str, set[str]] = {}
    for key_id, digest in rows:
        out.setdefault(key_id, set()).add(digest)
    return out


def enforce_erasures(
    wh: Warehouse, lake: Lake | None, contract: Contract, staging: Table, verdicts: Table, keys: KeyRing
) -> int:
    """Drop erased subjects from a silver load (staging, verdicts, bronze, quarantine, new raw files)."""
    dataset = contract.dataset
    digests = erased_digests(wh, dataset)
    if not digests or len(contract.primary_key) != 1:
        return 0
    column = contract.primary_key[0]
    known_ids = [k for k in digests if k in keys.key_ids]
    candidates = wh.fetch_all(
        sql.SQL("SELECT DISTINCT {c}::text FROM {t} WHERE {c} IS NOT NULL").format(
            c=sql.Identifier(column), t=sql.Identifier(*staging)
        )
    )
    matches = sorted(
        value
        for (value,) in candidates
        if any(keys.erasure_digest(dataset, value, kid) in digests[kid] for kid in known_ids)
    )
    if not matches:
        return 0
    iid, rno = sql.Identifier(layout.INGESTION_ID), sql.Identifier(layout.ROW_NUMBER)
    with wh.transaction() as conn:
        rows = conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {c}::text = ANY(%s) RETURNING {iid}, {rno}").format(
                t=sql.Identifier(*staging), c=sql.Identifier(column), iid=iid, rno=rno
            ),
            (matches,),
        ).fetchall()
        ids, numbers = [r[0] for r in rows], [r[1] for r in rows]
        pairs = sql.SQL("(SELECT unnest(%s::bigint[]) AS i, unnest(%s::bigint[]) AS r) d")
        conn.execute(
            sql.SQL("DELETE FROM {v} x USING {pairs} WHERE x.{iid} = d.i AND x.{rno} = d.r").format(
                v=sql.Identifier(*verdicts), pairs=pairs, iid=iid, rno=rno
            ),
            (ids, numbers),
        )
        per_ingestion: dict[int, int] = {}
        for table in [(layout.Layer.BRONZE.schema, dataset), (layout.QUARANTINE_SCHEMA, dataset)]:
            if not _exists(conn, table):
                continue
            deleted = conn.execute(
                sql.SQL(
                    "DELETE FROM {t} x USING {pairs} WHERE x.{iid} = d.i AND x.{rno} = d.r RETURNING x.{iid}"
                ).format(t=sql.Identifier(*table), pairs=pairs, iid=iid, rno=rno),
                (ids, numbers),
            ).fetchall()
            if table[0] == layout.Layer.BRONZE.schema:
                for (ingestion_id,) in deleted:
                    per_ingestion[ingestion_id] = per_ingestion.get(ingestion_id, 0) + 1
        _decrement(conn, "rows_bronze", per_ingestion)
    if lake is not None:
        scrub_lake(lake, contract, column, set(matches), raw_prefixes=_raw_prefixes(contract))
    return len(rows)
