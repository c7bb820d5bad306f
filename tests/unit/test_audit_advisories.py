"""The offline dependency audit (tools/audit_advisories.py) over a small OSV database in the PyPA layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.audit_advisories import main

ADVISORIES = {
    "requests/PYSEC-0001.yaml": {  # introduced 0 .. fixed
        "id": "PYSEC-0001",
        "aliases": ["CVE-0001"],
        "affected": [
            {
                "package": {"name": "requests", "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.31.0"}]},
                    {"type": "GIT", "repo": "x", "events": [{"introduced": "0"}, {"fixed": "abc123"}]},
                ],
            }
        ],
    },
    "jinja2/PYSEC-0002.yaml": {  # introduced x .. last_affected (inclusive)
        "id": "PYSEC-0002",
        "affected": [
            {
                "package": {"name": "Jinja2", "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "3.0.0"}, {"last_affected": "3.1.2"}]}
                ],
            }
        ],
    },
    "pyyaml/PYSEC-0003.yaml": {  # listed versions only
        "id": "PYSEC-0003",
        "affected": [{"package": {"name": "PyYAML", "ecosystem": "PyPI"}, "versions": ["5.3"]}],
    },
    "pyyaml/PYSEC-0004.yaml": {  # withdrawn: never reported
        "id": "PYSEC-0004",
        "withdrawn": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"name": "PyYAML", "ecosystem": "PyPI"}, "versions": ["5.3"]}],
    },
}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], lock_text: str) -> tuple[int, list[str]]:
    for name, record in ADVISORIES.items():
        path = tmp_path / "db" / "vulns" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(record), encoding="utf-8")
    lock = tmp_path / "requirements.lock"
    lock.write_text(lock_text, encoding="utf-8")
    code = main(["--db", str(tmp_path / "db"), "--lock", str(lock)])
    return code, capsys.readouterr().out.splitlines()


def test_affected_pins_are_reported_with_their_fixed_releases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = run(
        tmp_path, capsys, "requests==2.20.0\njinja2==3.1.2\nPyYAML==5.3 ; python_version >= '3'\n"
    )
    assert code == 1
    assert lines == [
        "PYSEC-0002: jinja2==3.1.2, fixed in no fixed release",
        "PYSEC-0003: pyyaml==5.3, fixed in no fixed release",
        "PYSEC-0001 (CVE-0001): requests==2.20.0, fixed in 2.31.0",
        "3 pins audited, 3 known vulnerabilities",
    ]


def test_versions_outside_every_range_are_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run(tmp_path, capsys, "requests==2.31.0\njinja2==3.1.3\npyyaml[libyaml]==6.0.4\n")
    assert (code, lines) == (0, ["3 pins audited, 0 known vulnerabilities"])


def test_a_missing_database_is_an_error_not_a_clean_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path), "--lock", "requirements.lock"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
