"""The "exactly one of these keys" rule of Atlas's YAML sections (a source, a feature, a ``latest``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator


def exactly_one_of(*fields: str, message: str) -> Any:
    """A model validator (assign it in the class body) raising ``message`` unless exactly one of
    ``fields`` is set (not None)."""

    def check(model: BaseModel) -> BaseModel:
        if sum(getattr(model, name) is not None for name in fields) != 1:
            raise ValueError(message)
        return model

    return model_validator(mode="after")(check)
