"""What the PII logic needs from a text analyzer (Presidio in production, see
``atlas_resources.presidio``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, order=True)
class Span:
    """One detected entity inside a text: characters ``[start, end)``."""

    start: int
    end: int
    entity: str
    score: float


class TextAnalyzer(Protocol):
    """Detects entity spans in many texts at once (batched NLP, recognizers on precomputed artifacts)."""

    def analyze_texts(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]]: ...

    @property
    def entities(self) -> list[str]:
        """Every entity this analyzer can detect (built-in and custom recognizers)."""
        ...

    @property
    def custom_strategies(self) -> dict[str, str]:
        """Default strategies declared by custom recognizers, by entity."""
        ...
