"""Fast checks of the reader's defences the corpus relies on, and of the CSV formula neutralisation."""

from __future__ import annotations

import gzip
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from atlas_core import csvio
from atlas_core.csvio import CsvReadStats, iter_csv_batches
from atlas_core.csvsafe import is_formula, neutralise, neutralise_array, neutralised_sql
from atlas_core.errors import InputRejected
from tests.malformed import corpus

COLUMNS = ["id", "name"]


def read(path: Path, data: bytes, columns: list[str] = COLUMNS, **kwargs: object) -> list[dict]:
    path.write_bytes(data)
    batches = list(iter_csv_batches(path, columns, stats=CsvReadStats(), **kwargs))  # type: ignore[arg-type]
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def rejected(path: Path, data: bytes, columns: list[str] = COLUMNS, **kwargs: object) -> str:
    path.write_bytes(data)
    with pytest.raises(InputRejected) as excinfo:
        list(iter_csv_batches(path, columns, **kwargs))  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert "\n" not in message and message.startswith(f"{path.name}: ")
    return message


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return tmp_path / "input.csv"


@pytest.mark.parametrize(
    "data",
    [
        b'id,name\n1,ada\n2,"never closed\n3,grace\n4,linus\n',  # the last column swallows two rows
        b'id,name\n1,ada\n2,"never closed',  # no newline at the end
        b'id,name\n1,"a""b"\n2,"x""',  # an escaped quote, then nothing closes
        b'id,name\n"1,ada\n2,grace\n',  # a middle column: one short record
    ],
)
def test_a_quote_still_open_at_the_end_of_the_file_is_rejected(csv_path: Path, data: bytes) -> None:
    message = rejected(csv_path, data)
    assert "unterminated quoted field" in message and "swallow the rest of the file" in message
    assert "unterminated quoted field" in rejected(csv_path, gzip.compress(data))


def test_the_end_of_input_mark_never_becomes_a_row(csv_path: Path) -> None:
    assert [r["name"] for r in read(csv_path, b'id,name\n1,"a\nb"\n2,"x"""\n')] == ["a\nb", 'x"']
    assert [r["id"] for r in read(csv_path, b"id\n1\n2", ["id"])] == ["1", "2"]  # one column: two-field mark
    assert read(csv_path, b"id,name\n") == []
    rows = read(csv_path, b"id|name\n1|a\n", delimiter="|")
    assert [(r["id"], r["name"], r[csvio.RAW_LINE]) for r in rows] == [("1", "a", None)]
    rows = read(csv_path, b"id,name\n1,ada,extra\n2,bob\n")
    assert sorted((r[csvio.RAW_LINE] or "") for r in rows) == ["", "1,ada,extra"]


def test_a_nul_byte_anywhere_is_rejected_with_its_offset(csv_path: Path) -> None:
    body = b"id,name\n" + b"1,ada\n" * 400_000  # 2.4 MB: past the header peek
    message = rejected(csv_path, body + b"2,a\x00b\n")
    assert f"NUL byte at offset {len(body) + 3} of the text" in message
    assert "NUL byte at offset" in rejected(csv_path, gzip.compress(body + b"2,a\x00b\n"))


def test_json_is_named_as_json(csv_path: Path) -> None:
    assert "looks like JSON, not CSV (starts with '[')" in rejected(csv_path, b'[{"id": 1, "name": "ada"}]')
    assert "looks like JSON, not CSV (starts with '{')" in rejected(csv_path, b'{"id": 1, "name": "ada"}\n')


def test_homoglyph_column_names_are_shown_escaped(csv_path: Path) -> None:
    message = rejected(csv_path, "id,n\u0430me\n1,ada\n".encode())
    assert message.endswith("missing column(s) 'name'; unexpected: 'n\\u0430me'")


FORMULA_CASES = {
    "=cmd|' /C calc'!A0": True,
    "+1+1": True,
    "-2+3": True,
    "@SUM(A1)": True,
    "\tx": True,
    "\rx": True,
    "-12.5": False,
    "+3": False,
    "1e-3": False,
    "-.5": False,
    "ok": False,
    "": False,
    "a=b": False,
    "+49 30 1234": True,
}


def test_formula_detection() -> None:
    assert {v: is_formula(v) for v in FORMULA_CASES} == FORMULA_CASES
    assert neutralise("=1+1") == "'=1+1" and neutralise("-1") == "-1"


def test_arrow_and_postgres_neutralise_exactly_like_python(pg_server: str) -> None:
    values = [*FORMULA_CASES, None]
    expected = [None if v is None else neutralise(v) for v in values]
    assert neutralise_array(pa.array(values, pa.string())).to_pylist() == expected
    assert neutralise_array(pa.chunked_array([pa.array(values, pa.string())])).to_pylist() == expected
    numbers = pa.array([1, 2])
    assert neutralise_array(numbers) is numbers
    with psycopg.connect(pg_server) as conn:
        query = sql.SQL("SELECT {} FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n").format(
            neutralised_sql(sql.Identifier("v"))
        )
        assert [r[0] for r in conn.execute(query, (values,)).fetchall()] == expected


ALL_FILES = [*corpus.ACCEPTED, *corpus.REJECTED, *corpus.READER_ONLY]


@pytest.mark.parametrize("case", ALL_FILES, ids=[c.name for c in ALL_FILES])
def test_the_reader_decides_every_corpus_file_in_process(case: corpus.Case, tmp_path: Path) -> None:
    """The CLI corpus's files (and the reader-only ones) straight through the reader: milliseconds each."""
    path = tmp_path / f"{case.name}{case.suffix}"
    path.write_bytes(case.build("2026-03-01", 7_000_000))
    stats = CsvReadStats()
    if case.status == "rejected" and case.error != "header only, no data rows":
        with pytest.raises(InputRejected) as excinfo:
            list(iter_csv_batches(path, corpus.COLUMNS, stats=stats))
        assert case.error in str(excinfo.value) and "\n" not in str(excinfo.value)
        return
    rows = sum(b.num_rows for b in iter_csv_batches(path, corpus.COLUMNS, stats=stats))
    assert rows == stats.rows == case.bronze  # header only: zero rows, which bronze rejects
    assert stats.malformed_rows == (case.quarantined if "row.malformed" in case.quarantine_rules else 0)
