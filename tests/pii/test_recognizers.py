"""Custom recognizers from YAML: validated with one-line errors, then live in the real Presidio analyzer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_core.pii.recognizers import RecognizerConfigError, load_recognizers, parse_recognizers

PROJECT_DIR = Path(__file__).resolve().parents[2]
VALID = {
    "name": "badge",
    "entity": "EMPLOYEE_ID",
    "patterns": [{"name": "p", "regex": r"\bEMP-\d{6}\b", "score": 0.6}],
}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"recognizers": [{**VALID, "patterns": [{"name": "p", "regex": "EMP-(\\d{6}", "score": 0.6}]}]},
            "x.yml: recognizers.0.patterns.0.regex: invalid "
            "regular expression: missing ), unterminated subpattern",
        ),
        (
            {"recognizers": [{**VALID, "patterns": []}]},
            "x.yml: recognizers.0.patterns: List should have at least 1 item",
        ),
        (
            {"recognizers": [{**VALID, "entity": "employee id"}]},
            "x.yml: recognizers.0.entity: invalid entity 'employee id'",
        ),
        (
            {"recognizers": [{**VALID, "patterns": [{"name": "p", "regex": "x*", "score": 0.5}]}]},
            "x.yml: recognizers.0.patterns.0.regex: the regular expression matches the empty string",
        ),
        (
            {"recognizers": [{**VALID, "patterns": [{"name": "p", "regex": "x", "score": 1.5}]}]},
            "x.yml: recognizers.0.patterns.0.score: Input should be less than or equal to 1",
        ),
        ({"recognizers": [VALID, VALID]}, "x.yml: recognizers: duplicate recognizer names: badge"),
        (
            {"recognizers": [{**VALID, "stratgy": "hash"}]},
            "x.yml: recognizers.0.stratgy: Extra inputs are not permitted",
        ),
        ({"recognizers": [{**VALID, "strategy": "shred"}]}, "x.yml: recognizers.0.strategy: Input should be"),
        (["not", "a", "mapping"], "x.yml: expected a mapping with a 'recognizers' list"),
    ],
)
def test_invalid_recognizers_are_one_line_errors(data: object, message: str) -> None:
    with pytest.raises(RecognizerConfigError) as info:
        parse_recognizers(data, "x.yml")
    text = str(info.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "recognizers.yml"
    path.write_text("recognizers:\n  - name: a\n    entity: [unclosed\n", encoding="utf-8")
    with pytest.raises(RecognizerConfigError, match=rf"^{path}: YAML error at line \d+"):
        load_recognizers(path)


def test_shipped_recognizers_detect_in_text(presidio_engine) -> None:
    specs = {s.name for s in load_recognizers(PROJECT_DIR / "pii" / "recognizers.yml")}
    assert {"employee_id", "gps_coordinates"} <= specs
    text = "Badge EMP-204518 was seen at 48.85837, 2.29448 near 12 Rue Street; call (239) 085-3922."
    spans = presidio_engine.analyze_texts([text], presidio_engine.entities)[0]
    found = {(s.entity, text[s.start : s.end]) for s in spans if s.score >= 0.35}
    assert ("EMPLOYEE_ID", "EMP-204518") in found
    assert ("GPS_COORDINATES", "48.85837, 2.29448") in found
    assert ("PHONE_NUMBER", "(239) 085-3922") in found  # a shape libphonenumber rejects (exchange 0xx)


def test_cli_reports_a_broken_recognizer_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "recognizers.yml"
    bad.write_text(
        "recognizers:\n  - {name: x, entity: X_ID, patterns: [{name: p, regex: '(', score: 0.5}]}\n"
    )
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,2\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    env.update({"ATLAS_PII_RECOGNIZERS": str(bad), "ATLAS_HOME": str(tmp_path / "home")})
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "atlas"),
            "pii",
            "scan",
            str(source),
            "--out",
            str(tmp_path / "o.csv"),
            "--report",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {bad}: recognizers.0.patterns.0.regex: invalid regular expression: "
        "missing ), unterminated subpattern at position 0"
    ]
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "o.csv").exists()
