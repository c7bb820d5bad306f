"""Retention windows per layer and per dataset, and which daily partitions they expire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from atlas_core.layout import Layer

DEFAULT_DAYS = {Layer.BRONZE: 90, Layer.SILVER: 365, Layer.GOLD: 730, Layer.AI_READY: 365}


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep per layer; a contract's ``retention_days`` overrides bronze/silver/quarantine of its
    dataset."""

    days: Mapping[Layer, int] = field(default_factory=lambda: dict(DEFAULT_DAYS))
    dataset_days: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, layer: Layer, dataset: str | None = None) -> int:
        if dataset is not None and dataset in self.dataset_days and layer in (Layer.BRONZE, Layer.SILVER):
            return self.dataset_days[dataset]
        return self.days[layer]

    def cutoff(self, layer: Layer, now: datetime, dataset: str | None = None) -> date:
        """The oldest day still kept: partitions of earlier days are expired."""
        return now.date() - timedelta(days=self.days_for(layer, dataset))


def expired_keys(keys: Iterable[str], cutoff: date) -> list[str]:
    """Daily partition keys (ISO dates) strictly before ``cutoff``; other keys are never expired."""
    out = []
    for key in keys:
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError):
            continue
        if day < cutoff:
            out.append(key)
    return sorted(out)
