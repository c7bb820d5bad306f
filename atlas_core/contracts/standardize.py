"""Column standardizers: the ``standardize:`` steps of a contract column (see ``docs/quality.md``).

Each step is a plain name (``trim``) or a one-key mapping (``{strip_units: [oz, ounce]}``). Steps are
applied in order to the raw text of a value before null tokens, typing and rules; bronze keeps the raw
value. Regular expressions use RE2 syntax (they run in Arrow): checked when the contract is loaded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

NUMERIC = ("integer", "float")
TEXT_ONLY = ("string",)


def check_re2(pattern: str) -> str:
    """Compile ``pattern`` with Arrow's RE2, the engine that will run it (Python ``re`` accepts more)."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).removeprefix("Invalid regular expression: ")
        raise ValueError(f"invalid regular expression {pattern!r}: {reason}") from None
    return pattern


def capture_groups(pattern: str) -> int:
    """Number of capture groups (Python's parser agrees with RE2 on groups; 1 when it cannot tell)."""
    try:
        return re.compile(pattern).groups
    except re.error:
        return 1


class _Step(BaseModel):
    """A step declared as a one-key mapping (``{replace: ...}``): named by that key, its only field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def name(self) -> str:
        (key,) = type(self).model_fields
        return key


class Simple(_Step):
    """A step without parameters."""

    step: Literal["trim", "collapse_spaces", "lower", "upper", "title", "currency", "percent"]

    @model_serializer
    def _as_name(self) -> str:
        return self.step  # written back as it is declared: a plain name

    @property
    def name(self) -> str:
        return self.step


class ReplaceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    pattern: str = Field(description="RE2 regular expression")
    with_: str = Field(default="", alias="with", description=r"Replacement; \1 .. \9 insert capture groups")

    @field_validator("pattern")
    @classmethod
    def _re2(cls, value: str) -> str:
        return check_re2(value)


class Replace(_Step):
    replace: ReplaceSpec


class Extract(_Step):
    extract: str = Field(
        description="RE2 regular expression: the value becomes its first capture group (or the "
        "whole match); a value that does not match is left unchanged"
    )

    @field_validator("extract")
    @classmethod
    def _re2(cls, value: str) -> str:
        return check_re2(value)


class StripUnits(_Step):
    strip_units: list[str] = Field(
        min_length=1, description="Units removed after a number (case-insensitive)"
    )

    @field_validator("strip_units")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        for unit in value:
            if not str(unit).strip():
                raise ValueError("a unit must not be empty")
        return [str(u).strip() for u in value]


class MapStep(_Step):
    map: dict[str, str | int | float | bool] = Field(
        min_length=1, description="Synonyms (case-insensitive) to values"
    )

    @field_validator("map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_text(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _no_conflict(self) -> MapStep:
        seen: dict[str, str] = {}
        for key, target in self.map.items():
            low = key.lower()
            if low in seen and seen[low] != _text(target):
                raise ValueError(f"map: {key!r} maps to two values ({seen[low]!r} and {_text(target)!r})")
            seen[low] = _text(target)
        return self

    def pairs(self) -> tuple[list[str], list[str]]:
        lowered: dict[str, str] = {k.lower(): _text(v) for k, v in self.map.items()}
        return list(lowered), list(lowered.values())


class NumberSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    decimal: str = Field(default=".", min_length=1, max_length=1)
    thousands: str | None = Field(default=None, min_length=1, max_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> NumberSpec:
        if self.thousands == self.decimal:
            raise ValueError("decimal and thousands separators must differ")
        if self.decimal.isdigit() or (self.thousands or "").isdigit():
            raise ValueError("a separator cannot be a digit")
        return self


class NumberStep(_Step):
    number: NumberSpec


class BooleanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    true: list[str] = Field(default_factory=list, description="Extra words read as true (case-insensitive)")
    false: list[str] = Field(default_factory=list, description="Extra words read as false (case-insensitive)")

    @field_validator("true", "false", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return [_text(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _disjoint(self) -> BooleanSpec:
        both = {w.lower() for w in self.true} & {w.lower() for w in self.false}
        if both:
            raise ValueError(f"words both true and false: {', '.join(sorted(both))}")
        return self


class BooleanStep(_Step):
    boolean: BooleanSpec


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SIMPLE_STEPS = ("trim", "collapse_spaces", "lower", "upper", "title", "currency", "percent")
MAPPING_STEPS = ("replace", "extract", "strip_units", "map", "number", "boolean")
STEP_NAMES = (*SIMPLE_STEPS, *MAPPING_STEPS)

# The column types each step may be declared on; steps absent here apply to every type.
STEP_TYPES: dict[str, tuple[str, ...]] = {
    "lower": ("string", "boolean"),
    "upper": ("string", "boolean"),
    "title": ("string",),
    "currency": NUMERIC,
    "percent": NUMERIC,
    "strip_units": NUMERIC,
    "number": NUMERIC,
    "boolean": ("boolean",),
}

STEP_EXAMPLES: dict[str, tuple[str, Any]] = {
    "trim": ("remove leading/trailing whitespace: '  12 ' -> '12'", "trim"),
    "collapse_spaces": (
        "runs of whitespace become one space: 'San  Francisco' -> 'San Francisco'",
        "collapse_spaces",
    ),
    "lower": ("lower-case: 'MALE' -> 'male'", "lower"),
    "upper": ("upper-case: 'ca' -> 'CA'", "upper"),
    "title": ("title-case: 'san francisco' -> 'San Francisco'", "title"),
    "currency": (
        "drop a currency symbol or ISO code around a number: '$1,299.00' -> '1,299.00', '12 EUR' -> '12'",
        "currency",
    ),
    "percent": (
        "a number followed by % becomes a fraction: '5%' -> '0.05' (a number without % is unchanged)",
        "percent",
    ),
    "replace": ("RE2 regex replacement: 'AA-1733' -> 'AA1733'", {"replace": {"pattern": "-", "with": ""}}),
    "extract": (
        "keep the first capture group of the first match (unmatched values unchanged): '12 oz can' -> '12'",
        {"extract": r"(\d+(?:\.\d+)?)"},
    ),
    "strip_units": (
        "drop a unit after a number (case-insensitive, optional space): '12.0 OZ.' -> '12.0'",
        {"strip_units": ["oz", "oz.", "ounce", "%"]},
    ),
    "map": (
        "case-insensitive synonyms: 'M', 'Male', 'm' -> 'male'",
        {"map": {"M": "male", "Male": "male", "F": "female"}},
    ),
    "number": ("locale numbers: '1.234,5' -> '1234.5'", {"number": {"decimal": ",", "thousands": "."}}),
    "boolean": (
        "extra words for true/false: 'ja' -> 'true'",
        {"boolean": {"true": ["ja", "oui"], "false": ["nein", "non"]}},
    ),
}


def _discriminate(value: Any) -> str | None:
    if isinstance(value, str):
        return "simple"
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    if isinstance(value, BaseModel):
        return "simple" if isinstance(value, Simple) else value.name  # type: ignore[attr-defined]
    return None


def _simple_before(value: Any) -> Any:
    return {"step": value} if isinstance(value, str) else value


class SimpleStep(Simple):
    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return _simple_before(value)


Step = Annotated[
    Annotated[SimpleStep, Tag("simple")]
    | Annotated[Replace, Tag("replace")]
    | Annotated[Extract, Tag("extract")]
    | Annotated[StripUnits, Tag("strip_units")]
    | Annotated[MapStep, Tag("map")]
    | Annotated[NumberStep, Tag("number")]
    | Annotated[BooleanStep, Tag("boolean")],
    Discriminator(_discriminate),
]


def check_step_shapes(value: Any) -> Any:
    """Name unknown steps before pydantic tries the union (its message would list every member)."""
    if not isinstance(value, list):
        return value
    for index, item in enumerate(value):
        if isinstance(item, str):
            if item not in SIMPLE_STEPS:
                hint = f" (give it as {{{item}: ...}})" if item in MAPPING_STEPS else ""
                raise ValueError(f"step {index}: unknown step {item!r}{hint}; steps: {', '.join(STEP_NAMES)}")
        elif isinstance(item, dict):
            if len(item) != 1:
                raise ValueError(
                    f"step {index}: a step is a name or a mapping with one key, got {sorted(map(str, item))}"
                )
            key = next(iter(item))
            if key not in MAPPING_STEPS:
                hint = f" (write it as the plain name {key!r})" if key in SIMPLE_STEPS else ""
                raise ValueError(f"step {index}: unknown step {key!r}{hint}; steps: {', '.join(STEP_NAMES)}")
        elif not isinstance(item, BaseModel):
            raise ValueError(f"step {index}: a step is a name or a one-key mapping")
    return value


def step_name(step: _Step) -> str:
    return step.name
