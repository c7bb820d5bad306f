"""Custom recognizers declared in YAML (``pii/recognizers.yml``): validated here, built by the Presidio
resource.

Format::

    recognizers:
      - name: employee_id            # unique, lower-case
        entity: EMPLOYEE_ID          # upper-case entity name (new or an existing Presidio one)
        strategy: hash               # optional default strategy for columns of this entity
        patterns:
          - {name: badge, regex: '\\bEMP-\\d{6}\\b', score: 0.6}
        context: [employee, badge]   # words near a match raise its score
        checksum: luhn               # optional: luhn (card numbers) or iban (mod 97);
                                     # failing matches are dropped

Any mistake is one line naming the file and the key path, e.g.
``pii/recognizers.yml: recognizers.1.patterns.0.regex: invalid regular expression: ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from atlas_core import yaml_text
from atlas_core.errors import InputRejected
from atlas_core.identifiers import repeated
from atlas_core.pii.entities import Strategy

_ENTITY_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,49}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_BYTES = 256 * 1024


class RecognizerConfigError(InputRejected):
    """The custom recognizer file is invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PatternSpec(_Strict):
    name: str
    regex: str
    score: float = Field(gt=0.0, le=1.0)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if re.compile(value).match(""):
            raise ValueError("the regular expression matches the empty string")
        return value


class RecognizerSpec(_Strict):
    name: str
    entity: str
    patterns: list[PatternSpec] = Field(min_length=1)
    context: list[str] = Field(default_factory=list)
    strategy: Strategy | None = None
    checksum: Literal["luhn", "iban"] | None = Field(
        default=None, description="Keep only matches passing this checksum (cards: luhn, IBANs: mod 97)"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"invalid recognizer name {value!r}: lower-case letters, digits, underscores")
        return value

    @field_validator("entity")
    @classmethod
    def _valid_entity(cls, value: str) -> str:
        if not _ENTITY_RE.match(value):
            raise ValueError(
                f"invalid entity {value!r}: upper-case letters, digits, underscores (e.g. EMPLOYEE_ID)"
            )
        return value


class RecognizerFile(_Strict):
    recognizers: list[RecognizerSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RecognizerFile:
        duplicates = repeated(r.name for r in self.recognizers)
        if duplicates:
            raise ValueError(f"recognizers: duplicate recognizer names: {', '.join(duplicates)}")
        return self


def parse_recognizers(data: object, origin: str) -> list[RecognizerSpec]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise RecognizerConfigError(f"{origin}: expected a mapping with a 'recognizers' list")
    try:
        return RecognizerFile.model_validate(data).recognizers
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RecognizerConfigError(f"{origin}: {where + ': ' if where else ''}{message}{more}") from None


def load_recognizers(path: Path) -> list[RecognizerSpec]:
    """Read and validate a recognizer file; a missing file means no custom recognizers."""
    if not path.exists():
        return []
    if path.stat().st_size > MAX_BYTES:
        raise RecognizerConfigError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        data = yaml_text.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RecognizerConfigError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RecognizerConfigError(
            f"{path}: YAML error{where}: {getattr(exc, 'problem', None) or 'invalid YAML'}"
        ) from None
    return parse_recognizers(data, str(path))


def luhn_valid(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    compact = "".join(text.split()).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


CHECKSUMS = {"luhn": luhn_valid, "iban": iban_valid}
