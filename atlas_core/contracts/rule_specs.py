"""The contract's ``rules:`` section: functional dependencies, references and SQL expressions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from atlas_core.contracts.expressions import ExpressionError, check_expression
from atlas_core.contracts.fields import Dimension, Name, StrictModel


class FunctionalDependency(StrictModel):
    """Rows whose dependent values differ from the most frequent ones of their determinant group fail."""

    determinant: list[str] = Field(min_length=1)
    dependent: list[str] = Field(min_length=1)
    name: Name | None = None
    on_fail: Literal["quarantine", "warn", "fail", "repair"] = Field(
        default="quarantine",
        description=(
            "repair: replace differing and null dependent values by the plurality of the valid values "
            "of their determinant group (ties and groups without a valid value are quarantined)"
        ),
    )


class Reference(StrictModel):
    columns: list[str] = Field(min_length=1)
    dataset: Name
    ref_columns: list[str] = Field(min_length=1)
    name: Name | None = None
    on_fail: Literal["quarantine", "warn", "fail"] = "quarantine"
    dimension: Dimension = Field(
        default=Dimension.CONSISTENCY, description="consistency (foreign keys) or accuracy (reference data)"
    )

    @field_validator("dimension")
    @classmethod
    def _reference_dimension(cls, value: Dimension) -> Dimension:
        if value not in (Dimension.CONSISTENCY, Dimension.ACCURACY):
            raise ValueError("a reference is scored as consistency or accuracy")
        return value

    @model_validator(mode="after")
    def _same_arity(self) -> Reference:
        if len(self.columns) != len(self.ref_columns):
            raise ValueError("columns and ref_columns must have the same length")
        return self


class Expression(StrictModel):
    name: Name
    sql: str
    dimension: Dimension = Dimension.VALIDITY
    on_fail: Literal["quarantine", "warn", "fail"] = "quarantine"
    description: str | None = None

    @field_validator("sql")
    @classmethod
    def _predicate_only(cls, value: str, info: ValidationInfo) -> str:
        try:
            check_expression(value)
        except ExpressionError as exc:
            raise ValueError(f"expression {info.data.get('name', '?')!r}: {exc}") from None
        return value


class Rules(StrictModel):
    functional_dependencies: list[FunctionalDependency] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    expressions: list[Expression] = Field(default_factory=list)
