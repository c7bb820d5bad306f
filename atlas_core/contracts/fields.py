"""What every part of a contract shares: column types, quality dimensions, durations, names, the strict
base."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from atlas_core.identifiers import IDENTIFIER_RE, RESERVED_PREFIX


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    TIME = "time"


class Dimension(StrEnum):
    COMPLETENESS = "completeness"
    VALIDITY = "validity"
    CONSISTENCY = "consistency"
    ACCURACY = "accuracy"
    TIMELINESS = "timeliness"
    UNIQUENESS = "uniqueness"


_DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION_RE.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and one of s, m, h, d, w (e.g. 1d)")
    return timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def check_name(value: str) -> str:
    if not IDENTIFIER_RE.match(value) or value.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"{value!r} is not a valid name: lower-case letters, digits, underscores, at most 63 "
            f"characters, not starting with a digit or {RESERVED_PREFIX!r}"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
"""A name a contract declares (dataset, column, rule): checked by :func:`check_name`."""


class StrictModel(BaseModel):
    """Every contract section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
