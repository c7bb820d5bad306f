"""Read a file once before ingesting it (no writes): its sha256 and the partitions its rows map to.

The landing sensor, the API's upload endpoint and ``atlas ingest`` scan a file first, so the run they
launch covers exactly the partitions the file touches (bronze + silver in one run). Rows are mapped to
partitions by :class:`PartitionMapper`, the same mapping bronze applies while loading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from atlas_core import layout
from atlas_core.casting import parse_partition_dates
from atlas_core.contracts import Contract
from atlas_core.contracts.sources import FileSource, LandingSource
from atlas_core.csvio import iter_csv_batches, with_block_fallback
from atlas_core.errors import InputRejected
from atlas_core.file_open import sha256_file


def source_delimiter(contract: Contract) -> str:
    return contract.source.delimiter if isinstance(contract.source, (FileSource, LandingSource)) else ","


def filename_partition(contract: Contract, filename: str) -> str | None:
    """The partition a file name names when the contract's landing source says ``partition_from:
    filename``."""
    source = contract.source
    if (
        not isinstance(source, LandingSource)
        or source.partition_from != "filename"
        or contract.partitioning is None
    ):
        return None
    match = re.search(source.filename_pattern, filename)
    if not match:
        raise InputRejected(f"{filename}: no date in the file name (pattern {source.filename_pattern})")
    return match.group("date")


class PartitionMapper:
    """Maps raw rows to daily partition keys; null when the date is missing, invalid or out of range.

    With ``fixed_key`` (a landing file whose name carries the date) every well-formed row gets that key.
    """

    def __init__(self, contract: Contract, fixed_key: str | None = None) -> None:
        self.partitioning = contract.partitioning
        self.column = contract.column(contract.partitioning.column) if contract.partitioning else None
        self.fixed_key = fixed_key

    def in_range(self, key: str) -> bool:
        if self.partitioning is None:
            return False
        if key < self.partitioning.start.isoformat():
            return False
        return self.partitioning.end is None or key < self.partitioning.end.isoformat()

    def keys(self, batch: pa.RecordBatch) -> pa.Array:
        malformed = pc.is_valid(batch.column(layout.RAW_LINE))
        if self.partitioning is None or self.column is None:
            # A row with the wrong number of fields belongs to no partition: it is quarantined at ingestion.
            unpartitioned = pa.array([layout.UNPARTITIONED] * batch.num_rows, pa.string())
            return pc.if_else(malformed, pa.scalar(None, pa.string()), unpartitioned)
        raw = batch.column(self.column.name)
        if self.fixed_key is not None:
            keys = pa.array([self.fixed_key] * batch.num_rows, pa.string())
        else:
            keys = parse_partition_dates(raw, self.column)
        start = self.partitioning.start.isoformat()
        in_range = pc.greater_equal(keys, start)
        if self.partitioning.end is not None:
            in_range = pc.and_(in_range, pc.less(keys, self.partitioning.end.isoformat()))
        keep = pc.and_(pc.fill_null(in_range, False), pc.invert(malformed))
        return pc.if_else(keep, keys, pa.scalar(None, pa.string()))


@dataclass
class FileScan:
    """What a scan learns from one file before a run is asked for: content hash, partitions, or why not."""

    sha256: str
    partition_keys: list[str] = field(default_factory=list)
    rejected: str | None = None


def scan_file(contract: Contract, path: Path, name: str | None = None) -> FileScan:
    """Stream ``path`` (bounded memory) once; ``name`` is the file name the reasons mention."""
    name = name or path.name
    sha = sha256_file(path)
    try:
        fixed = filename_partition(contract, name)
        mapper = PartitionMapper(contract, fixed)
        if fixed is not None and not mapper.in_range(fixed):
            raise InputRejected(
                f"{name}: partition {fixed} (from the file name) is outside the contract's range"
            )

        def partition_keys(block_size: int) -> set[str]:
            keys: set[str] = set()
            for batch in iter_csv_batches(
                path, contract.column_names, delimiter=source_delimiter(contract), block_size=block_size
            ):
                keys.update(k for k in pc.unique(mapper.keys(batch)).to_pylist() if k is not None)
            return keys

        keys = with_block_fallback(partition_keys)
    except InputRejected as exc:
        return FileScan(sha, [], str(exc))
    return FileScan(sha, sorted(keys))
