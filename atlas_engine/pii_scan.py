"""``atlas pii scan``: classify and anonymize a CSV file outside the pipeline.

Two streaming passes over the file: the first keeps a uniform reservoir sample of rows (to classify
the columns), the second rewrites every batch with the policy. The output has the same columns in
the same order and the same rows; every cell stays text (a redacted cell becomes empty).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from atlas_core.contracts import Contract
from atlas_core.contracts.sources import FileSource, LandingSource
from atlas_core.csvio import (
    RAW_LINE,
    CsvReadStats,
    iter_csv_batches,
    read_header,
    with_block_fallback,
)
from atlas_core.csvsafe import neutralise_array
from atlas_core.errors import InputRejected
from atlas_core.file_open import open_source
from atlas_core.pii.analysis import TextAnalyzer
from atlas_core.pii.classify import ColumnInput, infer_kind
from atlas_core.pii.keys import KeyRing
from atlas_core.pii.policy import DEFAULT_SAMPLE_SIZE, classify_columns
from atlas_core.pii.strategies import Anonymizer
from atlas_core.pii.transform import PiiTransform

SAMPLE_SEED = 20261001
RESERVOIR_FACTOR = 4


@dataclass
class ScanResult:
    rows: int
    seconds: float
    columns: dict[str, dict[str, object]]

    def as_json(self) -> dict[str, object]:
        return {"rows": self.rows, "seconds": round(self.seconds, 3), "columns": self.columns}


def _batches(path: Path, delimiter: str, block_size: int) -> Iterator[pa.RecordBatch]:
    """String batches of every column, through the same hardened reader as ingestion (gzip, BOM, caps on
    fields, columns and decompression, NUL bytes, unterminated quotes). Every row is rewritten, so a row
    with the wrong number of fields is an error here, not a quarantined row; its text is never shown."""
    try:
        stream = open_source(path)
    except FileNotFoundError:
        raise InputRejected(f"{path}: no such file") from None
    try:
        columns = read_header(stream, path.name, delimiter)
    finally:
        stream.close()
    stats = CsvReadStats()
    for batch in iter_csv_batches(path, columns, delimiter=delimiter, stats=stats, block_size=block_size):
        if batch.column(RAW_LINE).null_count == batch.num_rows:  # malformed rows come in batches of their own
            yield batch.select(columns)
    # Raised once the file is read (so an unterminated quote is reported as such); the first pass reads it
    # all before anything is written.
    if stats.malformed_rows:
        line = stats.malformed[0][0]
        where = f"row {line} (counting the header)" if line > 0 else "a row"
        raise InputRejected(
            f"{path.name}: {where} does not have the {len(columns)} fields of the header; "
            "fix or remove it (every row is rewritten)"
        )


def _reservoir(path: Path, delimiter: str, size: int, block_size: int) -> tuple[pa.Table, int]:
    """A uniform sample of ``size`` rows (Algorithm R, vectorised per batch) and the row count."""
    rng = np.random.default_rng(SAMPLE_SEED)
    kept: pa.Table | None = None
    seen = 0
    for batch in _batches(path, delimiter, block_size):
        table = pa.Table.from_batches([batch])
        if kept is None:
            kept = table.slice(0, 0)
        free = max(0, size - kept.num_rows)
        if free:
            kept = pa.concat_tables([kept, table.slice(0, free)])
        rest = table.slice(free)
        if rest.num_rows:
            index = np.arange(seen + free, seen + batch.num_rows)
            slots = rng.integers(0, index + 1)
            take = slots < size
            if take.any():
                rows = kept.to_pylist()
                for slot, row in zip(slots[take], rest.filter(pa.array(take)).to_pylist(), strict=True):
                    rows[int(slot)] = row
                kept = pa.Table.from_pylist(rows, schema=kept.schema)
        seen += batch.num_rows
    if kept is None:
        raise InputRejected(f"{path.name}: empty file (no header)")
    return kept, seen


def scan_csv(
    source: Path,
    out: Path,
    analyzer: TextAnalyzer,
    keys: KeyRing,
    *,
    contract: Contract | None = None,
    sample_size: int | None = None,
) -> ScanResult:
    started = time.perf_counter()
    size = sample_size or (contract.pii.sample_size if contract else DEFAULT_SAMPLE_SIZE)
    delimiter = (
        contract.source.delimiter
        if contract and isinstance(contract.source, FileSource | LandingSource)
        else ","
    )
    # The first pass finds the read block the file needs (small unless a row does not fit); the second reuses
    # it.
    block_size, (sample, _) = with_block_fallback(
        lambda block: (block, _reservoir(source, delimiter, size * RESERVOIR_FACTOR, block))
    )
    declared = {c.name: c for c in contract.columns} if contract else {}
    columns = []
    for name in sample.column_names:
        values = list(dict.fromkeys(v for v in sample.column(name).to_pylist() if v and v.strip()))[:size]
        column = declared.get(name)
        kind = column.type.value if column is not None else infer_kind(values)
        columns.append(ColumnInput(name, kind, values, column.pii if column is not None else None))
    policy = classify_columns(columns, analyzer)
    transform = PiiTransform(policy, Anonymizer(keys), analyzer)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    rows = 0
    schema = pa.schema([pa.field(n, pa.string()) for n in sample.column_names])
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed", delimiter=delimiter)
    with pacsv.CSVWriter(str(tmp), schema, write_options=options) as writer:
        for batch in _batches(source, delimiter, block_size):
            result = transform(batch)
            # formulas neutralised for spreadsheets (atlas_core/csvsafe.py)
            writer.write_batch(
                pa.RecordBatch.from_arrays(
                    [neutralise_array(_text(c)) for c in result.columns], schema=schema
                )
            )
            rows += batch.num_rows
    tmp.replace(out)
    return ScanResult(rows, time.perf_counter() - started, policy.report())


def _text(column: pa.Array) -> pa.Array:
    return column if pa.types.is_string(column.type) else column.cast(pa.string())
