"""``atlas pii scan``: same columns, same order, same rows; PII anonymized; a report without values."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from atlas_cli.main import app
from atlas_core import samples
from atlas_core.pii.keys import build_keyring
from atlas_core.pii.strategies import Anonymizer

PROJECT_DIR = Path(__file__).resolve().parents[2]
REPORT_KEYS = {"entity", "confidence", "strategy", "free_text", "cells_changed"}


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    samples.write_csv(path, samples.generate_customers(120, seed=11))
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _scan(presidio_engine, monkeypatch: pytest.MonkeyPatch, *args: str):
    for key in ("ATLAS_PII_KEY", "ATLAS_PII_KEYS", "ATLAS_PII_RECOGNIZERS", "ATLAS_ENVIRONMENT"):
        monkeypatch.delenv(key, raising=False)
    return CliRunner().invoke(app, ["pii", "scan", *args])


def test_scan_without_contract(presidio_engine, customers_csv: Path, tmp_path: Path, monkeypatch) -> None:
    out, report = tmp_path / "out.csv", tmp_path / "r.json"
    result = _scan(
        presidio_engine, monkeypatch, str(customers_csv), "--out", str(out), "--report", str(report)
    )
    assert result.exit_code == 0, result.output
    before, after = _rows(customers_csv), _rows(out)
    assert list(after[0]) == list(before[0])  # same columns, same order
    assert len(after) == len(before) == 125
    assert [r["customer_id"] for r in after] == [r["customer_id"] for r in before]  # same rows, same order
    data = json.loads(report.read_text())
    assert set(data) == {"rows", "seconds", "columns"} and data["rows"] == 125 and data["seconds"] > 0
    assert list(data["columns"]) == list(before[0])
    assert all(set(c) == REPORT_KEYS for c in data["columns"].values())
    cols = data["columns"]
    assert {
        n: cols[n]["entity"]
        for n in ("email", "phone", "ssn", "first_name", "date_of_birth", "street_address")
    } == {
        "email": "EMAIL_ADDRESS",
        "phone": "PHONE_NUMBER",
        "ssn": "US_SSN",
        "first_name": "PERSON",
        "date_of_birth": "DATE_TIME",
        "street_address": "LOCATION",
    }
    assert cols["notes"]["free_text"] and cols["notes"]["strategy"] == "replace"
    for name in ("customer_id", "signup_ts", "updated_at", "marketing_consent", "zip"):
        assert cols[name]["entity"] is None and cols[name]["cells_changed"] == 0, name
        assert [r[name] for r in after] == [r[name] for r in before], name  # passed through unchanged
    for before_row, after_row in zip(before, after, strict=True):
        for name in ("email", "phone", "ssn", "first_name", "last_name", "street_address"):
            assert before_row[name] not in after_row.values() or not before_row[name], name
        assert after_row["date_of_birth"] == ""  # redacted
    assert cols["email"]["cells_changed"] == sum(1 for r in before if r["email"])
    text = out.read_text() + report.read_text()
    for row in before:
        assert row["email"] == "" or row["email"] not in text


def test_scan_with_contract_encrypts_and_round_trips(
    presidio_engine, customers_csv: Path, tmp_path: Path, monkeypatch
) -> None:
    out, report = tmp_path / "out.csv", tmp_path / "r.json"
    result = _scan(
        presidio_engine,
        monkeypatch,
        str(customers_csv),
        "--out",
        str(out),
        "--report",
        str(report),
        "--contract",
        str(PROJECT_DIR / "contracts" / "customers.yml"),
    )
    assert result.exit_code == 0, result.output
    cols = json.loads(report.read_text())["columns"]
    assert cols["ssn"]["strategy"] == "encrypt" and cols["phone"]["strategy"] == "mask"
    assert cols["first_name"]["confidence"] == 1.0  # declared in the contract
    before, after = _rows(customers_csv), _rows(out)
    dev = Anonymizer(build_keyring(None, "k1", None, environment="development"))
    assert [dev.decrypt(r["ssn"]) for r in after[:10]] == [r["ssn"] for r in before[:10]]
    pseudonyms = {}
    for b, a in zip(before, after, strict=True):  # consistent pseudonyms: same name, same pseudonym
        assert pseudonyms.setdefault(b["first_name"], a["first_name"]) == a["first_name"]
    assert all(
        a["phone"].startswith("*") and a["phone"][-4:] == b["phone"][-4:]
        for b, a in zip(before, after, strict=True)
    )


def test_scan_of_a_missing_file_is_one_line(presidio_engine, tmp_path: Path, monkeypatch) -> None:
    result = _scan(
        presidio_engine,
        monkeypatch,
        str(tmp_path / "nope.csv"),
        "--out",
        str(tmp_path / "o.csv"),
        "--report",
        str(tmp_path / "r.json"),
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {tmp_path / 'nope.csv'}: no such file"]


MALFORMED = {
    "nul.csv": (
        b"name,email\nAda,ada@example.org\n\x00\x00\x00\n",
        r"binary content \(NUL bytes\)|not valid UTF-8",
    ),
    "open_quote.csv": (
        b'name,email\nAda,ada@example.org\n"Grace Hopper,grace@example.org\n',
        "unterminated quoted field",
    ),
    "ragged.csv": (
        b"name,email\nAda,ada@example.org\nGrace,grace@example.org,extra,secret-value\nLin,lin@example.org\n",
        r"row 3 \(counting the header\) does not have the 2 fields of the header",
    ),
    "utf16.csv": ("name,email\nAda,ada@example.org\n".encode("utf-16"), "UTF-16"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_scan_refuses_malformed_files_in_one_line(
    presidio_engine, tmp_path: Path, monkeypatch, name: str
) -> None:
    import re

    content, reason = MALFORMED[name]
    source, out = tmp_path / name, tmp_path / "out.csv"
    source.write_bytes(content)
    result = _scan(
        presidio_engine, monkeypatch, str(source), "--out", str(out), "--report", str(tmp_path / "r.json")
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: ") and re.search(reason, lines[0]), lines
    assert "secret-value" not in result.output and "grace@" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))  # nothing partial left behind


def test_scan_reads_gzip_bom_and_crlf(
    presidio_engine, customers_csv: Path, tmp_path: Path, monkeypatch
) -> None:
    import gzip

    source = tmp_path / "customers.csv.gz"
    source.write_bytes(gzip.compress(b"\xef\xbb\xbf" + customers_csv.read_bytes().replace(b"\n", b"\r\n")))
    out = tmp_path / "out.csv"
    result = _scan(
        presidio_engine, monkeypatch, str(source), "--out", str(out), "--report", str(tmp_path / "r.json")
    )
    assert result.exit_code == 0, result.output
    original, scanned = _rows(customers_csv), _rows(out)
    assert list(scanned[0]) == list(original[0]) and len(scanned) == len(original)
    assert [r["customer_id"] for r in scanned] == [r["customer_id"] for r in original]
    assert all(a["email"] != b["email"] for a, b in zip(original, scanned, strict=True) if a["email"])
