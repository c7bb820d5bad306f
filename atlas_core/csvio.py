"""Streaming CSV reading into Arrow string batches, with the checks that keep bad files out.

Everything is read as text (bronze is a raw copy); types are applied later in silver. The reader
handles a UTF-8 BOM, CRLF, quoted newlines and gzip; it caps field size, column count and the
decompressed size so a hostile file cannot exhaust memory or disk. It refuses NUL bytes anywhere
(PostgreSQL text cannot hold them) and a quoted field that is still open at the end of the file
(pyarrow would silently let that one field swallow every following row).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from atlas_core.errors import InputRejected
from atlas_core.file_open import MAX_FIELD_BYTES, open_source
from atlas_core.identifiers import repeated

T = TypeVar("T")

MAX_COLUMNS = 1024
READ_BLOCK_BYTES = 4 << 20  # the largest read block: a longer row is rejected
SMALL_READ_BLOCK_BYTES = 1 << 20  # fewer bytes held per block; a reader using it retries longer rows
ROW_NUMBER = "_atlas_row_number"
RAW_LINE = "_atlas_raw_line"
_QUOTED = re.compile(rb'"(?:[^"]|"")*"')
# Appended after the last byte of the body as a record of its own: if the parser does not see it as
# a lone (invalid) record, it was inside a quoted field that the file never closed.
_END_MARK = "\u2063atlas-end-of-input\u2063"


class _BodyStream(io.RawIOBase):
    """The CSV body as pyarrow reads it: refuses NUL bytes, then ends with the end-of-input mark record."""

    def __init__(self, source: io.BufferedReader, name: str, mark: bytes) -> None:
        self._source = source
        self._name = name
        self._tail = b"\n" + mark
        self._offset = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if (
            size is None or size < 0
        ):  # read everything (pyarrow asks for sized blocks; this is for other callers)
            return b"".join(iter(lambda: self.read(READ_BLOCK_BYTES), b""))
        if size == 0:
            return b""
        data = self._source.read(size)
        if not data:
            data, self._tail = self._tail[:size], self._tail[size:]
            return data
        nul = data.find(b"\x00")
        if nul >= 0:
            raise InputRejected(
                f"{self._name}: binary content (NUL byte at offset "
                f"{self._offset + nul} of the text) - not a CSV file"
            )
        self._offset += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _end_mark(delimiter: str, columns: int) -> str:
    """One field when the header has several columns, two when it has one: an invalid record either way."""
    mark = _END_MARK.replace(delimiter, "")
    return mark if columns > 1 else f"{mark}{delimiter}{mark}"


@dataclass
class CsvReadStats:
    rows: int = 0
    malformed_rows: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)


def read_header(stream: io.BufferedReader, name: str, delimiter: str) -> list[str]:
    """Parse just the header row (bounded read) to validate columns before streaming the body."""
    head = stream.peek(MAX_FIELD_BYTES)[:MAX_FIELD_BYTES]
    if not head.strip():
        raise InputRejected(f"{name}: file is empty")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputRejected(f"{name}: UTF-16 text is not supported; re-encode as UTF-8")
    if b"\x00" in head:
        raise InputRejected(f"{name}: binary content (NUL bytes) - not a CSV file")
    text = head.removeprefix(b"\xef\xbb\xbf")
    # Refuse absurdly wide headers before Arrow builds a table with one array per column.
    first_line = _QUOTED.sub(b"", text).split(b"\n", 1)[0]
    if first_line.count(delimiter.encode()) >= MAX_COLUMNS:
        columns = first_line.count(delimiter.encode()) + 1
        raise InputRejected(f"{name}: {columns} columns exceeds the limit of {MAX_COLUMNS}")
    table = _parse_head(text, name, delimiter, {})
    if table.num_rows == 0:
        raise InputRejected(f"{name}: file is empty")
    if len(table.column_names) > MAX_COLUMNS:
        raise InputRejected(f"{name}: {len(table.column_names)} columns exceeds the limit of {MAX_COLUMNS}")
    if not all(pa.types.is_string(t) for t in table.schema.types):
        # Numeric-looking names were inferred as numbers ("007" -> 7): re-read the row as raw bytes.
        table = _parse_head(text, name, delimiter, {n: pa.binary() for n in table.column_names})
    header = []
    for i in range(table.num_columns):
        raw = pc.cast(table.column(i).slice(0, 1), pa.binary())[0].as_py() or b""
        try:
            header.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InputRejected(f"{name}: the header row is not valid UTF-8 text") from None
    return header


def _parse_head(text: bytes, name: str, delimiter: str, column_types: dict[str, pa.DataType]) -> pa.Table:
    try:
        return pacsv.read_csv(
            io.BytesIO(text),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=len(text) + 1),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=lambda row: "skip"
            ),
            # check_utf8=False: a bad byte further down must not turn the header into binary values;
            # the body reader reports invalid UTF-8 with its own message.
            convert_options=pacsv.ConvertOptions(
                column_types=column_types, strings_can_be_null=False, check_utf8=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputRejected(f"{name}: cannot parse the header row ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _shown(column: str) -> str:
    """A column name for an error message; non-ASCII escaped so a homoglyph ("nаme", Cyrillic а) is
    visible."""
    shown = column if len(column) <= 60 else column[:57] + "..."
    return repr(shown) if shown.isascii() else ascii(shown)


def check_header(header: list[str], expected: list[str], name: str) -> None:
    duplicates = repeated(header)
    if duplicates:
        raise InputRejected(
            f"{name}: duplicate column name(s) in header: {', '.join(map(_shown, duplicates[:5]))}"
        )
    missing = [c for c in expected if c not in header]
    if missing:
        extra = [h for h in header if h not in expected]
        hint = f"; unexpected: {', '.join(map(_shown, extra[:5]))}" if extra else ""
        raise InputRejected(f"{name}: missing column(s) {', '.join(map(_shown, missing[:10]))}{hint}")


class RowExceedsBlock(InputRejected):
    """A row longer than a read block smaller than ``READ_BLOCK_BYTES``: read again with larger blocks."""


def with_block_fallback(read: Callable[[int], T]) -> T:
    """``read(block_size)`` with small read blocks, which keep memory flat however large the file is
    (docs/BENCHMARKS.md); again with the largest blocks if a row does not fit one. ``read`` must start
    from nothing each time (fresh counters; a savepoint around what it writes)."""
    try:
        return read(SMALL_READ_BLOCK_BYTES)
    except RowExceedsBlock:
        return read(READ_BLOCK_BYTES)


def iter_csv_batches(
    path: Path,
    columns: list[str],
    *,
    delimiter: str = ",",
    batch_rows: int = 50_000,
    stats: CsvReadStats | None = None,
    block_size: int = READ_BLOCK_BYTES,
) -> Iterator[pa.RecordBatch]:
    """Yield string batches of ``columns`` (plus a 1-based ``_atlas_row_number``) from a CSV file.

    Rows with the wrong number of fields are not dropped: they come out with null columns and their
    raw text in ``_atlas_raw_line`` so they can be quarantined. Raises :class:`InputRejected` for
    files that cannot be read as CSV at all, and :class:`RowExceedsBlock` when a row does not fit a
    ``block_size`` smaller than ``READ_BLOCK_BYTES`` (pyarrow needs a row within one block).
    """
    stats = stats if stats is not None else CsvReadStats()
    name = path.name
    stream = open_source(path)
    try:
        try:
            header = read_header(stream, name, delimiter)
            check_header(header, columns, name)
        except InputRejected:
            start = stream.peek(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
            if start in (b"[", b"{"):
                raise InputRejected(
                    f"{name}: looks like JSON, not CSV (starts with {start.decode()!r})"
                ) from None
            raise
        malformed: list[tuple[int, str]] = []
        mark = _end_mark(delimiter, len(header))
        ended = False

        def on_invalid(row: pacsv.InvalidRow) -> str:
            nonlocal ended
            text = (row.text or "")[:MAX_FIELD_BYTES]
            if text == mark:
                ended = True
            else:
                malformed.append((row.number or -1, text))
            return "skip"

        try:  # opening reads (and parses) the first block already
            reader = pacsv.open_csv(
                _BodyStream(stream, name, mark.encode()),
                read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header},
                    include_columns=columns,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid as exc:
            raise _rejection(name, exc, block_size) from None
        buffered: list[pa.RecordBatch] = []
        buffered_rows = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _rejection(name, exc, block_size) from None
            for field_name in columns:
                col = batch.column(field_name)
                if len(col) and _max_len(col) > MAX_FIELD_BYTES:
                    raise InputRejected(
                        f"{name}: a value in column {field_name!r} exceeds {MAX_FIELD_BYTES // 1024} KiB"
                    )
            buffered.append(batch)
            buffered_rows += batch.num_rows
            if malformed or buffered_rows >= batch_rows:
                yield from _emit(buffered, columns, stats, malformed)
                buffered, buffered_rows = [], 0
        if not ended:
            last = stats.rows + buffered_rows + len(malformed)
            raise InputRejected(
                f"{name}: unterminated quoted field: a quote opened in the last record (data row {last}) "
                f"is never closed, so that field would swallow the rest of the file"
            )
        yield from _emit(buffered, columns, stats, malformed)
    except UnicodeDecodeError:
        raise InputRejected(f"{name}: not valid UTF-8 text") from None
    finally:
        stream.close()


def _max_len(col: pa.ChunkedArray | pa.Array) -> int:
    import pyarrow.compute as pc

    lengths = pc.binary_length(col)
    value = pc.max(lengths).as_py()
    return int(value or 0)


def _rejection(name: str, exc: pa.ArrowInvalid, block_size: int) -> InputRejected:
    if block_size < READ_BLOCK_BYTES and "straddl" in str(exc):
        return RowExceedsBlock(f"{name}: a row is longer than {block_size >> 10} KiB")
    return InputRejected(f"{name}: {_describe_arrow_error(exc)}")


def _describe_arrow_error(exc: pa.ArrowInvalid) -> str:
    text = _first_line(exc)
    if "invalid UTF8" in text or "UTF8" in text:
        return "not valid UTF-8 text"
    if "straddl" in text:
        # Arrow refuses a row larger than its read block instead of buffering it: memory stays bounded.
        return (
            f"a row is longer than {READ_BLOCK_BYTES >> 20} MiB (a huge field or an unclosed quote); "
            f"rejected to keep memory bounded"
        )
    if "quote" in text.lower():
        return f"broken quoting ({text})"
    return text


def _emit(
    batches: list[pa.RecordBatch], columns: list[str], stats: CsvReadStats, malformed: list[tuple[int, str]]
) -> Iterator[pa.RecordBatch]:
    schema = pa.schema(
        [
            *(pa.field(c, pa.string()) for c in columns),
            pa.field(ROW_NUMBER, pa.int64()),
            pa.field(RAW_LINE, pa.string()),
        ]
    )
    for batch in batches:
        n = batch.num_rows
        if not n:
            continue
        numbers = pa.array(range(stats.rows + 1, stats.rows + n + 1), pa.int64())
        stats.rows += n
        arrays = [batch.column(c) for c in columns] + [numbers, pa.nulls(n, pa.string())]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    if malformed:
        n = len(malformed)
        numbers = pa.array(range(stats.rows + 1, stats.rows + n + 1), pa.int64())
        stats.rows += n
        stats.malformed_rows += n
        stats.malformed.extend(malformed[:100])
        arrays = [pa.nulls(n, pa.string()) for _ in columns] + [
            numbers,
            pa.array([t for _, t in malformed], pa.string()),
        ]
        malformed.clear()
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)
