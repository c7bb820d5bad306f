"""Quality trends and anomaly decisions: pure functions over numbers already recorded in ``atlas_meta``.

Three anomalies, each compared with the *trailing median* of earlier loads (robust to one odd load):

- a quality dimension score falling more than ``margin`` below its trailing median, even while it is
  still above the contract's threshold (a failing threshold already alerts as a failed check);
- the share of sampled values detected as PII in a column moving by at least ``jump`` from its trailing
  median (a column that starts carrying e-mails);
- a step lasting more than ``factor`` × its trailing median (and at least ``min_extra_seconds`` longer).

Nothing fires before ``min_history`` earlier loads exist. Alerts carry dataset, column, dimension and
step names and numbers only, never a data value.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from atlas_core.alerts import slack_payload

DIMENSIONS = ("completeness", "validity", "consistency", "accuracy", "timeliness", "uniqueness")


@dataclass(frozen=True)
class AnomalyThresholds:
    trend_loads: int = 10  # loads in a trend and in the trailing window
    min_history: int = 3  # earlier loads needed before anything fires
    score_margin: float = 0.05  # score below trailing median by more than this
    pii_share_jump: float = 0.3  # detected PII share moving by at least this
    duration_factor: float = 3.0  # duration above factor x trailing median
    duration_min_extra_seconds: float = 10.0  # ... and at least this much longer


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    evaluated_at: datetime
    score: float


@dataclass(frozen=True)
class DimensionTrend:
    """One dimension's scores over the last loads, oldest first; ``median`` of the loads before the latest."""

    dimension: str
    points: tuple[TrendPoint, ...]

    @property
    def latest(self) -> float | None:
        return self.points[-1].score if self.points else None

    @property
    def median(self) -> float | None:
        earlier = [p.score for p in self.points[:-1]]
        return statistics.median(earlier) if earlier else None

    @property
    def delta(self) -> float | None:
        return None if self.latest is None or self.median is None else self.latest - self.median

    def as_dict(self) -> dict[str, object]:
        return {
            "dimension": self.dimension,
            "points": [
                {"run_id": p.run_id, "evaluated_at": p.evaluated_at.isoformat(), "score": round(p.score, 6)}
                for p in self.points
            ],
            "latest": _round(self.latest),
            "median": _round(self.median),
            "delta": _round(self.delta),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def trends(points: Mapping[str, Sequence[TrendPoint]], loads: int) -> list[DimensionTrend]:
    """The six dimensions (those with scores), each limited to its last ``loads`` points, oldest first."""
    return [
        DimensionTrend(d, tuple(sorted(points[d], key=lambda p: p.evaluated_at)[-loads:]))
        for d in DIMENSIONS
        if points.get(d)
    ]


@dataclass(frozen=True)
class Anomaly:
    kind: str  # quality_trend | pii_shift | slow_step
    subject: str  # dataset or asset key
    item: str  # dimension, column or step
    value: float
    baseline: float
    history: int
    detail: str

    def payload(self, run_id: str | None = None) -> dict:
        titles = {
            "quality_trend": "Atlas quality score dropping",
            "pii_shift": "Atlas PII share shifted",
            "slow_step": "Atlas step slower than usual",
        }
        return slack_payload(
            titles.get(self.kind, "Atlas anomaly"),
            f"{self.subject} · {self.item}: {self.detail}",
            {
                "Kind": self.kind,
                "Subject": self.subject,
                "Item": self.item,
                "Value": f"{self.value:.4g}",
                "Trailing median": f"{self.baseline:.4g}",
                "Earlier loads": str(self.history),
                "Run": run_id or "",
            },
        )


def score_drops(dataset: str, trend: Sequence[DimensionTrend], limits: AnomalyThresholds) -> list[Anomaly]:
    """Dimensions whose latest score is more than ``score_margin`` below the median of the earlier loads."""
    found = []
    for dim in trend:
        earlier = len(dim.points) - 1
        if earlier < limits.min_history or dim.latest is None or dim.median is None:
            continue
        if dim.median - dim.latest > limits.score_margin:
            found.append(
                Anomaly(
                    "quality_trend",
                    dataset,
                    dim.dimension,
                    dim.latest,
                    dim.median,
                    earlier,
                    f"score {dim.latest:.4f} is {dim.median - dim.latest:.4f} below its trailing median "
                    f"{dim.median:.4f} over {earlier} loads (margin {limits.score_margin})",
                )
            )
    return found


def pii_shares(report_columns: Mapping[str, Mapping[str, object]]) -> dict[str, float]:
    """Share of sampled values detected as PII per column, from a PII report (``confidence``: the share of
    sampled values in which the column's entity was found; 0 for columns the contract declares not PII)."""
    shares = {}
    for column, entry in report_columns.items():
        value = entry.get("confidence")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            shares[column] = float(value)
    return shares


def pii_shifts(
    dataset: str,
    earlier: Sequence[Mapping[str, float]],
    latest: Mapping[str, float],
    limits: AnomalyThresholds,
) -> list[Anomaly]:
    """Columns whose detected PII share moved by at least ``pii_share_jump`` from its trailing median.

    ``earlier``: the shares of previous loads, oldest first (a column absent from a load counts as 0).
    """
    window = list(earlier)[-limits.trend_loads :]
    if len(window) < limits.min_history:
        return []
    found = []
    for column in sorted(latest):
        median = statistics.median([load.get(column, 0.0) for load in window])
        share = latest[column]
        if abs(share - median) >= limits.pii_share_jump:
            direction = "up" if share > median else "down"
            found.append(
                Anomaly(
                    "pii_shift",
                    dataset,
                    column,
                    share,
                    median,
                    len(window),
                    f"share of values detected as PII went {direction} "
                    f"to {share:.0%} from a trailing median of "
                    f"{median:.0%} over {len(window)} loads (jump {limits.pii_share_jump:.0%})",
                )
            )
    return found


def slow_step(
    asset: str, step: str, seconds: float, earlier: Sequence[float], limits: AnomalyThresholds
) -> Anomaly | None:
    """The step when it took more than ``duration_factor`` × the median of its earlier successful attempts."""
    window = list(earlier)[-limits.trend_loads :]
    if len(window) < limits.min_history:
        return None
    median = statistics.median(window)
    if seconds > limits.duration_factor * median and seconds - median >= limits.duration_min_extra_seconds:
        return Anomaly(
            "slow_step",
            asset,
            step,
            seconds,
            median,
            len(window),
            f"took {seconds:.1f} s, {seconds / median if median else float('inf'):.1f}x its trailing median "
            f"{median:.1f} s over {len(window)} runs (factor {limits.duration_factor})",
        )
    return None
