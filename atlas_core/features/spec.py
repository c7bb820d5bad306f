"""Feature sets: ``models/ai_ready/<name>.yml`` declares an entity, a spine of (entity, event_timestamp)
rows, sources with event timestamps, and features computed point-in-time with transforms.

Feature kinds (exactly one per feature):

- ``aggregate``: ``{source, function, column | expression, filter, window}`` over the source rows of
  the same entity strictly BEFORE the row's event timestamp (``window: 30d`` narrows to the last 30 days);
- ``latest``: the newest value of a source column strictly before the event timestamp (an as-of join);
- ``expression``: SQL over the spine's columns and earlier features.

Transforms (each adds one output column): ``standardize`` (``<f>_z``), ``min_max`` (``<f>_minmax``),
``log`` (``<f>_log``, ln(1 + max(x, 0))), ``{bucketize: {boundaries: [...]}}`` (``<f>_bucket``),
``{one_hot: {top_k: n}}`` (``<f>__<category>`` and ``<f>__other``). Fill rules: a constant
(``fill: 0`` or ``fill: {value: x}``) or ``mean`` / ``median`` / ``most_frequent`` fitted on train.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from atlas_core import yaml_text
from atlas_core.errors import ContractError
from atlas_core.features.splits import ordered_fractions, spec_hash
from atlas_core.identifiers import check_identifier, is_identifier
from atlas_core.one_of import exactly_one_of
from atlas_core.sql_models import Ref, parse_refs

RESERVED_COLUMNS = ("split", "version")
_DURATION_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _ident(value: str, what: str) -> str:
    if not is_identifier(value):
        raise ValueError(f"invalid {what} {value!r}")
    return value


def parse_window(text: str) -> timedelta:
    match = _DURATION_RE.match(text.strip())
    if not match:
        raise ValueError(f"window {text!r}: use <n><unit>, unit one of s m h d w (e.g. 30d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Rows with an entity key and an event timestamp: a SELECT (``sql``) or a whole table (``model``)."""

    sql: str | None = None
    model: str | None = Field(default=None, description="gold.<table>")
    timestamp: str = Field(
        description="when each row became known; only rows strictly before a spine row count"
    )
    entity_key: str | None = Field(default=None, description="defaults to the feature set's entity_key")

    _one = exactly_one_of("sql", "model", message="a source has exactly one of sql, model")

    @model_validator(mode="after")
    def _names(self) -> Source:
        if self.model is not None:
            parts = self.model.split(".")
            if len(parts) != 2 or parts[0] != "gold" or not is_identifier(parts[1]):
                raise ValueError(f"model {self.model!r} must be gold.<table> (feature sets read gold only)")
        _ident(self.timestamp, "timestamp column")
        if self.entity_key is not None:
            _ident(self.entity_key, "entity_key")
        return self


class Aggregate(_Strict):
    source: str
    function: Literal["count", "count_distinct", "sum", "avg", "min", "max", "mode"]
    column: str | None = None
    expression: str | None = None
    filter: str | None = None
    window: str | None = None

    @model_validator(mode="after")
    def _value(self) -> Aggregate:
        if self.column is not None and self.expression is not None:
            raise ValueError("give column or expression, not both")
        if self.column is None and self.expression is None and self.function != "count":
            raise ValueError(f"{self.function} needs a column or an expression")
        if self.column is not None:
            _ident(self.column, "column")
        if self.window is not None:
            parse_window(self.window)
        return self


class Latest(_Strict):
    source: str
    column: str | None = None
    expression: str | None = None

    _one = exactly_one_of("column", "expression", message="latest needs exactly one of column, expression")

    @model_validator(mode="after")
    def _column(self) -> Latest:
        if self.column is not None:
            _ident(self.column, "column")
        return self


class Transform(_Strict):
    kind: Literal["standardize", "min_max", "log", "bucketize", "one_hot"]
    boundaries: list[float] = Field(default_factory=list)
    top_k: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": data}
        if isinstance(data, dict) and len(data) == 1 and "kind" not in data:
            ((kind, options),) = data.items()
            return {"kind": kind, **(options or {})}
        return data

    @model_validator(mode="after")
    def _options(self) -> Transform:
        if self.kind == "bucketize" and (
            not self.boundaries or self.boundaries != sorted(set(self.boundaries))
        ):
            raise ValueError("bucketize needs strictly increasing boundaries")
        return self

    @property
    def suffix(self) -> str:
        return {
            "standardize": "_z",
            "min_max": "_minmax",
            "log": "_log",
            "bucketize": "_bucket",
            "one_hot": "__",
        }[self.kind]


class Fill(_Strict):
    strategy: Literal["constant", "mean", "median", "most_frequent"]
    value: float | int | str | bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, bool | int | float):
            return {"strategy": "constant", "value": data}
        if isinstance(data, str):
            return {"strategy": data}
        if isinstance(data, dict) and set(data) == {"value"}:
            return {"strategy": "constant", "value": data["value"]}
        return data

    @property
    def fitted(self) -> bool:
        return self.strategy != "constant"


class Feature(_Strict):
    name: str
    description: str = ""
    aggregate: Aggregate | None = None
    latest: Latest | None = None
    expression: str | None = None
    fill: Fill | None = None
    transforms: list[Transform] = Field(default_factory=list)
    output: bool = Field(default=True, description="false: an intermediate, used by later expressions only")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        _ident(value, "feature name")
        if value in RESERVED_COLUMNS or value.startswith("__"):
            raise ValueError(f"feature name {value!r} is reserved")
        return value

    _one_kind = exactly_one_of(
        "aggregate",
        "latest",
        "expression",
        message="a feature has exactly one of aggregate, latest, expression",
    )

    @model_validator(mode="after")
    def _transformed_output(self) -> Feature:
        if not self.output and self.transforms:
            raise ValueError("a feature with output: false cannot have transforms")
        return self

    @property
    def kind(self) -> str:
        return "aggregate" if self.aggregate else "latest" if self.latest else "expression"


class Split(_Strict):
    seed: int | str = 42
    fractions: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.7, "validation": 0.15, "test": 0.15}
    )

    @model_validator(mode="after")
    def _fractions(self) -> Split:
        ordered_fractions(self.fractions)
        if "train" not in self.fractions:
            raise ValueError("fractions need a train split (statistics are fitted on it)")
        for name in self.fractions:
            _ident(name, "split name")
        return self


class Export(_Strict):
    formats: list[Literal["parquet", "arrow"]] = Field(default=["parquet"], min_length=1)


class FeatureSetSpec(_Strict):
    name: str
    path: str
    description: str
    owners: list[str] = Field(default_factory=list)
    entity_key: str
    event_timestamp: str = "event_timestamp"
    spine: str = Field(
        description="SELECT returning entity_key, event_timestamp (and labels, passed through)"
    )
    sources: dict[str, Source] = Field(default_factory=dict)
    features: list[Feature]
    split: Split = Field(default_factory=Split)
    export: Export = Field(default_factory=Export)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSetSpec:
        _ident(self.entity_key, "entity_key")
        _ident(self.event_timestamp, "event_timestamp")
        for name in self.sources:
            _ident(name, "source name")
        seen: set[str] = set()
        for i, feature in enumerate(self.features):
            if feature.name in seen or feature.name in (self.entity_key, self.event_timestamp):
                raise ValueError(f"features.{i}: name {feature.name!r} is used twice")
            seen.add(feature.name)
            ref = feature.aggregate or feature.latest
            if ref is not None and ref.source not in self.sources:
                raise ValueError(f"features.{i}: unknown source {ref.source!r}")
        if not any(f.output for f in self.features):
            raise ValueError("at least one feature must be output")
        silver = [table for layer, table in self.refs if layer != "gold"]
        if silver:
            # Consent filtering and PII protection are enforced by the gold models.
            raise ValueError(f"reads atlas_silver.{silver[0]}: feature sets read gold models only")
        return self

    @property
    def refs(self) -> list[Ref]:
        found = set(parse_refs(self.spine))
        for source in self.sources.values():
            if source.model is not None:
                layer, table = source.model.split(".")
                found.add((layer, table))
            else:
                found.update(parse_refs(source.sql or ""))
        return sorted(found)

    def definition(self) -> dict[str, Any]:
        """The spec as plain data (what the spec hash covers: everything but the file path)."""
        return self.model_dump(mode="json", exclude={"path"})

    @property
    def spec_hash(self) -> str:
        return spec_hash(self.definition())


def load_feature_set(path: Path) -> FeatureSetSpec:
    name = check_identifier(path.stem, "feature set name")
    try:
        data = yaml_text.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ContractError(f"{path}: a mapping of keys is expected")
    if "name" in data and data["name"] != name:
        raise ContractError(f"{path}: name: {data['name']!r} differs from the file name {name!r}")
    try:
        return FeatureSetSpec.model_validate({**data, "name": name, "path": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise ContractError(f"{path}: {where}: {first['msg'].removeprefix('Value error, ')}") from None


def load_feature_sets(directory: Path) -> list[FeatureSetSpec]:
    folder = directory / "ai_ready"
    if not folder.is_dir():
        return []
    return [load_feature_set(p) for p in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])]
