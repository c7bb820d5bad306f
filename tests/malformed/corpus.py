"""The malformed-input corpus: hostile and broken CSV files, generated at test time (nothing big is
committed).

Each case builds its bytes from ``(day, base)``: the partition day it writes into and the first id it
uses, so accepted cases never share a silver partition or an id. A case either expects a rejection
(``error`` is a substring of the one ``error:`` line) or an acceptance with exact row accounting.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

HEADER = "id,day,name,amount,note"
COLUMNS = HEADER.split(",")
MIB = 1 << 20
SQL_VALUES = [
    "Robert'); DROP TABLE atlas_meta.ingestions; --",
    "1; DELETE FROM atlas_silver.corpus WHERE true",
    "' OR '1'='1",
]
SQL_COLUMN = 'x"; DROP SCHEMA atlas_silver CASCADE; --'
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A9)"]
ODD_VALUES = ["\x1b[31mred\x1b[0m", "abc\u202egnp.exe", "zero\u200bwidth", 'a 12" pizza', "Zoë 東京 🚀"]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[str, int], bytes]
    error: str | None = None  # rejected: this text is in the error line
    status: str = "accepted"  # accepted | duplicate | rejected
    bronze: int = 0
    silver: int = 0
    quarantined: int = 0
    quarantine_rules: frozenset[str] = frozenset()
    verbatim: dict[str, list[str]] = field(
        default_factory=dict
    )  # column -> values kept exactly (bronze + silver)
    suffix: str = ".csv"

    def __post_init__(self) -> None:
        if self.error is not None:
            object.__setattr__(self, "status", "rejected")


def rows(day: str, base: int, n: int, *, start: int = 0) -> list[str]:
    return [f"{base + i},{day},name{base + i},{i},note {i}" for i in range(start, start + n)]


def text(*lines: str, newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode()


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _good(day: str, base: int) -> bytes:
    return text(HEADER, *rows(day, base, 3))


def _many_rows(day: str, base: int, size: int) -> bytes:
    out = io.BytesIO()
    out.write(text(HEADER))
    i = 0
    while out.tell() < size:
        out.write(f"{base + i},{day},name{i},{i},note\n".encode())
        i += 1
    return out.getvalue()


def _gzip_bomb(day: str, base: int) -> bytes:
    # ~80 MiB of text in ~100 KB (concatenated gzip members build it in milliseconds); cap is 64 MiB.
    row = f"{base},{day},n,1,".encode() + b"y" * 4000 + b"\n"
    return gzip.compress(text(HEADER)) + gzip.compress(row * 256, 9) * 80


def _zip(day: str, base: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("corpus.csv", _good(day, base))
    return buf.getvalue()


def _corrupt_gzip(day: str, base: int) -> bytes:
    data = gzip.compress(text(HEADER, *rows(day, base, 2000)))
    return data[: len(data) // 2] + b"\x00garbage"


REJECTED = [
    Case("empty", lambda d, b: b"", error="file is empty"),
    Case("header_only", lambda d, b: text(HEADER), error="header only, no data rows"),
    Case("binary_with_nul", lambda d, b: bytes(range(256)) * 8, error="binary content"),
    Case(
        "nul_after_first_mib",
        lambda d, b: _many_rows(d, b, 2 * MIB) + f"{b},{d},a\x00b,1,x\n".encode(),
        error="NUL byte at offset",
    ),
    Case(
        "wrong_delimiter",
        lambda d, b: text(HEADER.replace(",", ";"), *(r.replace(",", ";") for r in rows(d, b, 2))),
        error="missing column(s) 'id', 'day', 'name', 'amount', 'note'",
    ),
    Case(
        "unterminated_quote_last_column",
        lambda d, b: text(
            HEADER, *rows(d, b, 1), f'{b + 1},{d},bob,7,"never closed', *rows(d, b, 50, start=2)
        ),
        error="unterminated quoted field",
    ),
    Case(
        "unterminated_quote_middle_column",
        lambda d, b: text(HEADER, *rows(d, b, 1), f'{b + 1},{d},"bob,7,x', *rows(d, b, 50, start=2)),
        error="unterminated quoted field",
    ),
    Case(
        "unterminated_quote_far_from_end",  # more than one 4 MiB read block of file after the quote
        lambda d, b: text(HEADER, f'{b},{d},"open', *rows(d, b, 1)) + _many_rows(d, b + 1, 5 * MIB),
        error="a row is longer than 4 MiB",
    ),
    Case(
        "latin1_body",
        lambda d, b: text(HEADER, *rows(d, b, 2)) + f"{b + 9},{d},café,1,x\n".encode("latin-1"),
        error="not valid UTF-8 text",
    ),
    Case(
        "invalid_utf8_after_5_mib",
        lambda d, b: _many_rows(d, b, 5 * MIB) + f"{b},{d},caf".encode() + b"\xe9,1,x\n",
        error="not valid UTF-8 text",
    ),
    Case(
        "utf16_with_bom",
        lambda d, b: _good(d, b).decode().encode("utf-16"),
        error="UTF-16 text is not supported",
    ),
    Case(
        "json_array",
        lambda d, b: json.dumps(
            [dict(zip(COLUMNS, r.split(","), strict=True)) for r in rows(d, b, 3)]
        ).encode(),
        error="looks like JSON, not CSV",
    ),
    Case("gzip_bomb", _gzip_bomb, error="decompression bomb", suffix=".csv.gz"),
    Case("gzip_corrupt", _corrupt_gzip, error="corrupt gzip stream", suffix=".csv.gz"),
    Case("zip_archive", _zip, error="zip archives are not supported", suffix=".zip"),
    Case(
        "duplicate_column_names",
        lambda d, b: text(HEADER + ",name", *(r + ",again" for r in rows(d, b, 2))),
        error="duplicate column name(s) in header: 'name'",
    ),
    Case(
        "missing_column",
        lambda d, b: text("id,day,name,note", *(f"{b},{d},x,y",)),
        error="missing column(s) 'amount'",
    ),
    Case(
        # Cyrillic "а" (U+0430) in "name": shown escaped, so the difference is visible
        "homoglyph_column_name",
        lambda d, b: text(HEADER.replace("name", "n\u0430me"), *rows(d, b, 2)),
        error="missing column(s) 'name'; unexpected: 'n\\u0430me'",
    ),
    Case(
        "sql_in_required_column_name",
        lambda d, b: text(HEADER.replace("name", quoted(SQL_COLUMN)), *rows(d, b, 2)),
        error="missing column(s) 'name'",
    ),
    Case(
        "field_over_1_mib",
        lambda d, b: text(HEADER, f"{b},{d},big,1," + "x" * (MIB + 10)),
        error="a value in column 'note' exceeds 1024 KiB",
    ),
    Case(
        "header_20000_columns",
        lambda d, b: text(",".join(f"c{i}" for i in range(20_000)), ",".join("1" * 20_000)),
        error="20000 columns exceeds the limit of 1024",
    ),
]


def _ragged(day: str, base: int) -> bytes:
    good = rows(day, base, 2)
    return text(HEADER, good[0], f"{base + 5},{day},too,many,fields,here", f"{base + 6},{day}", good[1])


def _formulas(day: str, base: int) -> bytes:
    lines = [f"{base + i},{day},f{i},{i},{quoted(v)}" for i, v in enumerate(FORMULAS)]
    lines.append(
        f"{base + 9},{day},bad amount,=1+1,{quoted('@SUM(1+1)*cmd|calc')}"
    )  # cast error: quarantined
    return text(HEADER, *lines)


def _overflow(day: str, base: int) -> bytes:
    amounts = ["9223372036854775807", "9223372036854775808", "-9223372036854775809", "9" * 40]
    return text(HEADER, *(f"{base + i},{day},n{i},{a},x" for i, a in enumerate(amounts)))


def _unmappable(day: str, base: int) -> bytes:
    days = [day, "not-a-date", "2026-02-30", "1999-12-31", ""]
    return text(HEADER, *(f"{base + i},{d},n{i},1,x" for i, d in enumerate(days)))


def _quoted_fields(day: str, base: int) -> bytes:
    notes = ["line one\nline two", 'say "hi", then go', "a,b,c", "trailing space "]
    return text(
        HEADER, *(f"{base + i},{day},{quoted('q' + str(i))},{i},{quoted(n)}" for i, n in enumerate(notes))
    )


def _extra_columns(day: str, base: int) -> bytes:
    header = f"note,{quoted(SQL_COLUMN)},amount,name,day,id,extra"
    return text(header, *(f"n{i},drop me,{i},name{i},{day},{base + i},e" for i in range(2)))


def _odd(day: str, base: int) -> bytes:
    return text(HEADER, *(f"{base + i},{day},odd{i},{i},{quoted(v)}" for i, v in enumerate(ODD_VALUES)))


MALFORMED_ROW = frozenset({"row.malformed"})
UNMAPPABLE = frozenset({"partition.unmappable"})
ACCEPTED = [
    Case("baseline", _good, bronze=3, silver=3),
    Case(
        "crlf_with_bom",
        lambda d, b: b"\xef\xbb\xbf" + text(HEADER, *rows(d, b, 3), newline="\r\n"),
        bronze=3,
        silver=3,
    ),
    Case("ragged_rows", _ragged, bronze=4, silver=2, quarantined=2, quarantine_rules=MALFORMED_ROW),
    Case(
        "sql_in_values",
        lambda d, b: text(
            HEADER, *(f"{b + i},{d},{quoted(v)},{i},{quoted(v)}" for i, v in enumerate(SQL_VALUES))
        ),
        bronze=3,
        silver=3,
        verbatim={"name": SQL_VALUES, "note": SQL_VALUES},
    ),
    Case("extra_columns_reordered_sql_name", _extra_columns, bronze=2, silver=2),
    Case("formula_injection", _formulas, bronze=5, silver=4, quarantined=1, verbatim={"note": FORMULAS}),
    Case(
        "integer_overflow",
        _overflow,
        bronze=4,
        silver=1,
        quarantined=3,
        verbatim={"amount": ["9223372036854775807"]},
    ),
    Case("unmappable_dates", _unmappable, bronze=5, silver=1, quarantined=4, quarantine_rules=UNMAPPABLE),
    Case(
        "quoted_newlines_and_escapes",
        _quoted_fields,
        bronze=4,
        silver=4,
        verbatim={"note": ["line one\nline two", 'say "hi", then go', "a,b,c", "trailing space "]},
    ),
    Case("control_and_bidi_characters", _odd, bronze=5, silver=5, verbatim={"note": ODD_VALUES}),
]
# Same bytes as ``baseline`` under another name: recorded as a duplicate, nothing loaded twice.
DUPLICATE = Case("baseline_again", _good, status="duplicate")

# Further files the reader is checked against in-process only (tests/malformed/test_reader_edges.py):
# the CLI corpus keeps one file per kind of defect to stay within its time budget.
READER_ONLY = [
    Case("whitespace_only", lambda d, b: b"\n \r\n\t\n", error="file is empty"),
    Case(
        "header_only_bom_crlf",
        lambda d, b: b"\xef\xbb\xbf" + text(HEADER, "", newline="\r\n"),
        error="header only, no data rows",
    ),
    Case(
        "binary_png",
        lambda d, b: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200)),
        error="binary content",
    ),
    Case("utf16_without_bom", lambda d, b: _good(d, b).decode().encode("utf-16-le"), error="binary content"),
    Case(
        "json_lines",
        lambda d, b: text(
            *(json.dumps(dict(zip(COLUMNS, r.split(","), strict=True))) for r in rows(d, b, 3))
        ),
        error="looks like JSON, not CSV",
    ),
    Case("bzip2", lambda d, b: bz2.compress(_good(d, b)), error="bzip2-compressed files are not supported"),
    Case(
        "case_and_space_changed_header",
        lambda d, b: text("ID, day,Name,amount,note", *rows(d, b, 2)),
        error="missing column(s) 'id', 'day', 'name'",
    ),
    Case(
        "lone_cr_and_blank_lines",
        lambda d, b: b"\r".join([HEADER.encode(), b"", *(r.encode() for r in rows(d, b, 3)), b""]),
        bronze=3,
        silver=3,
    ),
    Case("gzip_by_content", lambda d, b: gzip.compress(_good(d, b)), bronze=3, silver=3, suffix=".csv.gz"),
    Case(
        "field_just_under_the_cap",
        lambda d, b: text(HEADER, f"{b},{d},big,1," + "x" * (MIB - 1024)),
        bronze=1,
        silver=1,
    ),
]
