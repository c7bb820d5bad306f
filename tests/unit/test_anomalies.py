"""Anomaly decisions (atlas_core.anomalies): trailing medians, margins, minimum history; payloads without
values."""

import json
from datetime import UTC, datetime, timedelta

from atlas_core import anomalies

LIMITS = anomalies.AnomalyThresholds(
    trend_loads=5,
    min_history=3,
    score_margin=0.05,
    pii_share_jump=0.3,
    duration_factor=3.0,
    duration_min_extra_seconds=5.0,
)
T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _trend(scores: list[float]) -> list:
    points = [anomalies.TrendPoint(f"r{i}", T0 + timedelta(hours=i), s) for i, s in enumerate(scores)]
    return anomalies.trends({"validity": list(reversed(points))}, LIMITS.trend_loads)


def test_trend_is_ordered_limited_and_has_a_trailing_median() -> None:
    (trend,) = _trend([0.90, 1.0, 0.99, 0.98, 0.97, 0.96])
    assert [p.run_id for p in trend.points] == [
        "r1",
        "r2",
        "r3",
        "r4",
        "r5",
    ]  # the last 5 loads, oldest first
    assert trend.latest == 0.96 and trend.median == 0.985 and round(trend.delta or 0, 6) == -0.025
    assert trend.as_dict()["points"][0] == {
        "run_id": "r1",
        "evaluated_at": "2026-10-01T01:00:00+00:00",
        "score": 1.0,
    }


def test_a_score_drop_beyond_the_margin_fires_even_above_threshold() -> None:
    (drop,) = anomalies.score_drops("orders", _trend([1.0, 0.99, 1.0, 0.90]), LIMITS)
    assert (drop.kind, drop.subject, drop.item, drop.value, drop.baseline, drop.history) == (
        "quality_trend",
        "orders",
        "validity",
        0.90,
        1.0,
        3,
    )
    assert anomalies.score_drops("orders", _trend([1.0, 0.99, 1.0, 0.96]), LIMITS) == []  # within the margin
    assert anomalies.score_drops("orders", _trend([1.0, 1.0, 0.5]), LIMITS) == []  # too little history
    assert anomalies.score_drops("orders", _trend([0.5, 0.5, 0.5, 1.0]), LIMITS) == []  # rising is fine


def test_a_column_starting_to_carry_emails_fires_a_pii_shift() -> None:
    earlier = [{"note": 0.0, "email": 1.0}] * 3
    (shift,) = anomalies.pii_shifts("orders", earlier, {"note": 0.96, "email": 1.0}, LIMITS)
    assert (shift.item, shift.value, shift.baseline) == ("note", 0.96, 0.0)
    assert "went up to 96%" in shift.detail
    assert anomalies.pii_shifts("orders", earlier, {"note": 0.1, "email": 1.0}, LIMITS) == []
    assert anomalies.pii_shifts("orders", earlier[:2], {"note": 0.96}, LIMITS) == []
    # A new column counts from 0 in earlier loads; the report's confidence is the detected share.
    assert anomalies.pii_shares(
        {"note": {"entity": "EMAIL_ADDRESS", "confidence": 0.96}, "x": {"entity": None}}
    ) == {"note": 0.96}
    payload = json.dumps(shift.payload("run-1"))
    assert "note" in payload and "@" not in payload and "run-1" in payload


def test_a_step_k_times_slower_than_its_trailing_median_fires() -> None:
    slow = anomalies.slow_step("silver/orders", "silver__orders", 12.0, [2.0, 1.5, 2.5, 2.0], LIMITS)
    assert slow is not None and (slow.kind, slow.value, slow.baseline) == ("slow_step", 12.0, 2.0)
    assert (
        anomalies.slow_step("silver/orders", "silver__orders", 5.5, [2.0, 1.5, 2.5], LIMITS) is None
    )  # < 3x
    assert (
        anomalies.slow_step("silver/orders", "silver__orders", 0.9, [0.1, 0.2, 0.2], LIMITS) is None
    )  # < 5 s longer
    assert (
        anomalies.slow_step("silver/orders", "silver__orders", 60.0, [2.0, 2.0], LIMITS) is None
    )  # too little history
