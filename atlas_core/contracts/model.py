"""The typed contract model. See ``docs/contracts.md`` for every key."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from atlas_core.contracts.expressions import ExpressionError, check_expression
from atlas_core.contracts.fields import ColumnType, Dimension, Name, StrictModel, parse_duration
from atlas_core.contracts.rule_specs import Rules
from atlas_core.contracts.soda_checks import check_passthrough
from atlas_core.contracts.sources import Source
from atlas_core.contracts.standardize import STEP_EXAMPLES, STEP_TYPES, Step, check_step_shapes
from atlas_core.identifiers import repeated


class PiiSpec(StrictModel):
    """Column-level PII declaration: the entity it holds and how to anonymize it."""

    entity: str
    strategy: Literal["replace", "redact", "mask", "hash", "encrypt", "keep"] | None = None
    pseudonym: bool = False
    deterministic: bool = False
    free_text: bool = False
    strategies: dict[str, Literal["replace", "redact", "mask", "hash", "encrypt", "keep"]] = Field(
        default_factory=dict,
        description="Free text: strategy per entity found in the text (default: strategy)",
    )


class Column(StrictModel):
    name: Name
    type: ColumnType = ColumnType.STRING
    description: str | None = None
    required: bool = False
    unique: bool = False
    pattern: str | None = None
    allowed_values: list[str | int | float | bool] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    format: str | None = Field(default=None, description="strptime format for date/timestamp/time columns")
    formats: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Accepted strptime formats for date/timestamp/time columns, tried in order "
        "(e.g. ['%Y-%m-%d', '%m/%d/%Y', '%d %b %Y'])",
    )
    standardize: list[Step] = Field(
        default_factory=list,
        description="Steps applied in order to the raw text before null tokens, typing and rules. "
        + "; ".join(f"{name}: {text}" for name, (text, _) in STEP_EXAMPLES.items()),
        json_schema_extra={"examples": [[example for _, example in STEP_EXAMPLES.values()]]},
    )
    freshness: str | None = None
    pii: PiiSpec | Literal[False] | None = None

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @field_validator("standardize", mode="before")
    @classmethod
    def _known_steps(cls, value: Any) -> Any:
        return check_step_shapes(value)

    @field_validator("freshness")
    @classmethod
    def _valid_freshness(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Column:
        if (self.min is not None or self.max is not None) and self.type not in (
            ColumnType.INTEGER,
            ColumnType.FLOAT,
        ):
            raise ValueError("min/max apply to integer or float columns")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if self.freshness and self.type not in (ColumnType.TIMESTAMP, ColumnType.DATE):
            raise ValueError("freshness applies to timestamp or date columns")
        if (self.format or self.formats) and self.type not in (
            ColumnType.DATE,
            ColumnType.TIMESTAMP,
            ColumnType.TIME,
        ):
            raise ValueError("format/formats apply to date, timestamp or time columns")
        if self.format and self.formats:
            raise ValueError("give format or formats, not both")
        for index, step in enumerate(self.standardize):
            allowed = STEP_TYPES.get(step.name)
            if allowed is not None and self.type.value not in allowed:
                raise ValueError(
                    f"standardize.{index}: step {step.name!r} does not apply to a {self.type.value} column "
                    f"(it applies to {', '.join(allowed)} columns)"
                )
        return self

    @property
    def accepted_formats(self) -> list[str]:
        if self.formats:
            return list(self.formats)
        return [self.format] if self.format else []

    @property
    def freshness_window(self) -> timedelta | None:
        return parse_duration(self.freshness) if self.freshness else None


class Partitioning(StrictModel):
    """Daily partitions keyed by the date of ``column`` (a timestamp or date column)."""

    column: str
    granularity: Literal["daily"] = "daily"
    start: date
    end: date | None = Field(default=None, description="Exclusive end; open-ended when unset")

    @model_validator(mode="after")
    def _ordered(self) -> Partitioning:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


DEFAULT_THRESHOLDS = {
    Dimension.COMPLETENESS: 0.95,
    Dimension.VALIDITY: 0.90,
    Dimension.CONSISTENCY: 0.85,
    Dimension.ACCURACY: 0.90,
    Dimension.TIMELINESS: 0.95,
    Dimension.UNIQUENESS: 0.99,
}


class Quality(StrictModel):
    thresholds: dict[Dimension, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    blocking: bool = True
    soda: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Extra Soda v4 dataset-level checks, passed through (tag a dimension in attributes)",
    )

    @field_validator("soda")
    @classmethod
    def _soda_checks(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, item in enumerate(value):
            check_passthrough(item, index, {d.value for d in Dimension})
        return value

    @field_validator("thresholds")
    @classmethod
    def _fill(cls, value: dict[Dimension, float]) -> dict[Dimension, float]:
        for dim, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold for {dim.value} must be between 0 and 1")
        return {**DEFAULT_THRESHOLDS, **value}


class DatasetPii(StrictModel):
    consent_column: str | None = Field(
        default=None, description="Boolean column; rows where it is not true never reach gold or ai_ready"
    )
    sample_size: int = Field(default=500, ge=1)
    drift_severity: Literal["warn", "error"] = Field(
        default="warn",
        description="Severity of the pii_drift check (a detected PII column the contract does not declare)",
    )


class Contract(StrictModel):
    """The declaration of one dataset. Its ``dataset`` name is the table name in every layer."""

    dataset: Name
    description: str | None = None
    owner: str | None = None
    source: Source | None = Field(
        default=None,
        description="Where files come from; optional when the file is given explicitly "
        "(atlas quality check, atlas ingest DATASET FILE)",
    )
    schema_version: int = Field(default=1, ge=1)
    primary_key: list[str] = Field(default_factory=list)
    null_values: list[str] = Field(default_factory=lambda: [""])
    columns: list[Column] = Field(min_length=1)
    partitioning: Partitioning | None = None
    rules: Rules = Field(default_factory=Rules)
    quality: Quality = Field(default_factory=Quality)
    pii: DatasetPii = Field(default_factory=DatasetPii)
    retention_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _references_resolve(self) -> Contract:
        duplicates = repeated(c.name for c in self.columns)
        if duplicates:
            raise ValueError(f"duplicate column names: {', '.join(duplicates)}")
        known = {c.name for c in self.columns}

        def need(cols: list[str], where: str) -> None:
            missing = [c for c in cols if c not in known]
            if missing:
                raise ValueError(f"{where} names unknown column(s): {', '.join(missing)}")

        need(self.primary_key, "primary_key")
        if self.partitioning is not None:
            need([self.partitioning.column], "partitioning.column")
            column = self.column(self.partitioning.column)
            if column.type not in (ColumnType.TIMESTAMP, ColumnType.DATE):
                raise ValueError("partitioning.column must be a timestamp or date column")
        for i, fd in enumerate(self.rules.functional_dependencies):
            need(fd.determinant + fd.dependent, f"rules.functional_dependencies.{i}")
        for i, ref in enumerate(self.rules.references):
            need(ref.columns, f"rules.references.{i}")
            if ref.dataset == self.dataset:
                need(ref.ref_columns, f"rules.references.{i}.ref_columns")
        seen_names: set[str] = set()
        for i, expr in enumerate(self.rules.expressions):
            if expr.name in seen_names:
                raise ValueError(f"rules.expressions.{i}: duplicate expression name {expr.name!r}")
            seen_names.add(expr.name)
            try:
                check_expression(expr.sql, known)
            except ExpressionError as exc:
                raise ValueError(f"rules.expressions.{i} ({expr.name}): {exc}") from None
        if self.pii.consent_column:
            need([self.pii.consent_column], "pii.consent_column")
        return self

    # -- helpers -------------------------------------------------------------------------------------
    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def is_partitioned(self) -> bool:
        return self.partitioning is not None

    @property
    def declared_pii_columns(self) -> dict[str, PiiSpec]:
        return {c.name: c.pii for c in self.columns if isinstance(c.pii, PiiSpec)}

    @property
    def fingerprint(self) -> str:
        """Stable hash of the contract's content: the code version of the assets built from it."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
