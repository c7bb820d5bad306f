"""Streaming CSV reading: encodings, quoting, gzip, malformed rows and the caps that keep hostile files
out."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pyarrow as pa
import pytest

from atlas_core import csvio
from atlas_core.csvio import CsvReadStats, iter_csv_batches
from atlas_core.errors import InputRejected
from atlas_core.file_open import sha256_file

COLUMNS = ["id", "name"]


def read(
    path: Path, data: bytes, columns: list[str] = COLUMNS, **kwargs: object
) -> tuple[list[dict], CsvReadStats]:
    path.write_bytes(data)
    stats = CsvReadStats()
    batches = list(iter_csv_batches(path, columns, stats=stats, **kwargs))  # type: ignore[arg-type]
    rows = pa.Table.from_batches(batches).to_pylist() if batches else []
    return rows, stats


def values(rows: list[dict], columns: list[str] = COLUMNS) -> list[tuple]:
    return [tuple(row[c] for c in columns) for row in rows]


def rejected(path: Path, data: bytes, columns: list[str] = COLUMNS) -> str:
    path.write_bytes(data)
    with pytest.raises(InputRejected) as excinfo:
        list(iter_csv_batches(path, columns))
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path.name}: ")
    assert excinfo.value.exit_code == 2
    return message


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return tmp_path / "input.csv"


def test_plain_file_gives_string_batches_with_row_numbers(csv_path: Path) -> None:
    rows, stats = read(csv_path, b"id,name\n1,ada\n2,grace\n")
    assert values(rows) == [("1", "ada"), ("2", "grace")]
    assert [r[csvio.ROW_NUMBER] for r in rows] == [1, 2]
    assert all(r[csvio.RAW_LINE] is None for r in rows)
    assert (stats.rows, stats.malformed_rows) == (2, 0)


def test_utf8_bom_is_stripped_from_the_header(csv_path: Path) -> None:
    rows, _ = read(csv_path, b"\xef\xbb\xbfid,name\n1,ada\n")
    assert values(rows) == [("1", "ada")]


def test_crlf_line_endings(csv_path: Path) -> None:
    rows, _ = read(csv_path, b"id,name\r\n1,ada\r\n2,grace\r\n")
    assert values(rows) == [("1", "ada"), ("2", "grace")]


def test_quoted_newlines_quotes_and_delimiters_stay_inside_values(csv_path: Path) -> None:
    data = b'id,name\n1,"line one\nline two"\n2,"say ""hi"", then go"\n3,"a,b"\n4,""\n5,\n'
    rows, stats = read(csv_path, data)
    assert values(rows) == [
        ("1", "line one\nline two"),
        ("2", 'say "hi", then go'),
        ("3", "a,b"),
        ("4", ""),
        ("5", ""),
    ]
    assert stats.rows == 5


def test_unicode_values(csv_path: Path) -> None:
    rows, _ = read(csv_path, "id,name\n1,Zoë Ångström 東京 🚀\n".encode())
    assert values(rows) == [("1", "Zoë Ångström 東京 🚀")]


def test_columns_are_selected_by_name_in_any_order(csv_path: Path) -> None:
    rows, _ = read(csv_path, b"extra,name,id\nx,ada,1\n")
    assert values(rows) == [("1", "ada")]
    assert list(rows[0]) == [*COLUMNS, csvio.ROW_NUMBER, csvio.RAW_LINE]


def test_gzip_is_detected_by_content_not_by_name(csv_path: Path) -> None:
    rows, _ = read(csv_path, gzip.compress(b"id,name\n1,ada\n2,grace\n"))
    assert values(rows) == [("1", "ada"), ("2", "grace")]


def test_corrupt_gzip_is_rejected(csv_path: Path) -> None:
    data = gzip.compress(b"id,name\n" + b"1,ada\n" * 1000)
    assert "corrupt gzip" in rejected(csv_path, data[: len(data) // 2] + b"\x00garbage")


def test_zip_archives_are_refused(csv_path: Path) -> None:
    assert "zip archives are not supported" in rejected(csv_path, b"PK\x03\x04rest-of-a-zip")


def test_ragged_rows_are_kept_with_their_raw_text(csv_path: Path) -> None:
    rows, stats = read(csv_path, b"id,name\n1,ada\n2,grace,extra\n3\n4,linus\n")
    good = [r for r in rows if r[csvio.RAW_LINE] is None]
    bad = [r for r in rows if r[csvio.RAW_LINE] is not None]
    assert values(good) == [("1", "ada"), ("4", "linus")]
    assert sorted(r[csvio.RAW_LINE] for r in bad) == ["2,grace,extra", "3"]
    assert all(r["id"] is None and r["name"] is None for r in bad)
    assert stats.rows == 4 and stats.malformed_rows == 2
    assert sorted(r[csvio.ROW_NUMBER] for r in rows) == [1, 2, 3, 4]


def test_batches_respect_batch_rows(csv_path: Path) -> None:
    data = b"id,name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(1, 2501))
    csv_path.write_bytes(data)
    batches = list(iter_csv_batches(csv_path, COLUMNS, batch_rows=1000))
    assert sum(b.num_rows for b in batches) == 2500
    numbers = pa.concat_arrays([b.column(csvio.ROW_NUMBER) for b in batches]).to_pylist()
    assert numbers == list(range(1, 2501))


def test_empty_file_is_rejected(csv_path: Path) -> None:
    assert "file is empty" in rejected(csv_path, b"")
    assert "file is empty" in rejected(csv_path, b"\n\n  \n")


def test_header_only_file_yields_no_rows(csv_path: Path) -> None:
    # Not an error here: bronze turns "no data rows" into its own rejection with the file recorded.
    rows, stats = read(csv_path, b"id,name\n")
    assert rows == [] and stats.rows == 0


def test_binary_content_is_rejected(csv_path: Path) -> None:
    assert "binary content (NUL bytes)" in rejected(csv_path, b"id,name\n1,\x00\x01\x02\n")


def test_utf16_is_rejected_with_a_hint(csv_path: Path) -> None:
    for encoding in ("utf-16", "utf-16-be"):
        data = "id,name\n1,ada\n".encode(encoding)
        if encoding == "utf-16-be":
            data = b"\xfe\xff" + data
        assert "UTF-16 text is not supported; re-encode as UTF-8" in rejected(csv_path, data)


def test_invalid_utf8_in_the_body_is_rejected(csv_path: Path) -> None:
    data = b"id,name\n" + b"1,ada\n" * 50 + b"2,caf\xe9\n"
    assert rejected(csv_path, data) == f"{csv_path.name}: not valid UTF-8 text"


def test_invalid_utf8_in_the_header_is_rejected(csv_path: Path) -> None:
    assert "header row is not valid UTF-8" in rejected(csv_path, b"id,n\xe4me\n1,ada\n")


def test_missing_column_is_named(csv_path: Path) -> None:
    message = rejected(csv_path, b"id,full_name\n1,ada\n")
    assert "missing column(s) 'name'" in message and "unexpected: 'full_name'" in message


def test_duplicate_header_is_rejected(csv_path: Path) -> None:
    assert "duplicate column name(s) in header: 'id'" in rejected(csv_path, b"id,name,id\n1,ada,2\n")


def test_numeric_looking_header_names_are_kept_verbatim(csv_path: Path) -> None:
    rows, _ = read(csv_path, b"007,name\n1,ada\n", ["007", "name"])
    assert values(rows, ["007", "name"]) == [("1", "ada")]


def test_field_larger_than_the_cap_is_rejected(csv_path: Path) -> None:
    data = b"id,name\n1," + b"x" * (csvio.MAX_FIELD_BYTES + 1) + b"\n"
    message = rejected(csv_path, data)
    assert f"a value in column 'name' exceeds {csvio.MAX_FIELD_BYTES // 1024} KiB" in message


def test_twenty_thousand_column_header_is_rejected(csv_path: Path) -> None:
    header = ",".join(f"c{i}" for i in range(20_000)).encode()
    assert f"20000 columns exceeds the limit of {csvio.MAX_COLUMNS}" in rejected(
        csv_path, header + b"\n1,2\n"
    )
    quoted = ",".join(f'"c{i}"' for i in range(20_000)).encode()
    assert "20000 columns exceeds the limit" in rejected(csv_path, quoted + b"\n1,2\n")


def test_gzip_bomb_is_refused_at_the_cap(csv_path: Path) -> None:
    # ~80 MiB of text in ~110 KB: concatenated gzip members, so the test builds it in milliseconds.
    row = b"1," + b"y" * 4000 + b"\n"
    member = gzip.compress(row * 256, 9)
    csv_path.write_bytes(gzip.compress(b"id,name\n") + member * 80)
    message = rejected(csv_path, csv_path.read_bytes())
    assert "decompressed size exceeds the 64 MiB cap" in message
    assert "decompression bomb" in message


def test_sha256_is_of_the_raw_bytes(csv_path: Path) -> None:
    data = gzip.compress(b"id,name\n1,ada\n")
    csv_path.write_bytes(data)
    assert sha256_file(csv_path) == hashlib.sha256(data).hexdigest()
