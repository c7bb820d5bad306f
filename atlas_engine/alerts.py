"""Deliver alerts: POST a Slack-compatible JSON body to the webhook, log it, record it. Never raises."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from atlas_core.errors import one_line
from atlas_core.logs import get_logger
from atlas_resources.warehouse import Warehouse

log = get_logger("atlas.alerts")


@dataclass
class Delivery:
    delivered: bool
    status_code: int | None = None
    error: str | None = None


def post_webhook(url: str, payload: dict, timeout: float) -> Delivery:
    """One POST with a bounded timeout, retried once on a connection error or 5xx."""
    last = Delivery(False)
    for _ in range(2):
        try:
            response = httpx.post(url, json=payload, timeout=timeout)
        except httpx.HTTPError as exc:
            last = Delivery(False, None, f"{type(exc).__name__}: {one_line(exc)}")
            continue
        last = Delivery(
            200 <= response.status_code < 300,
            response.status_code,
            None if response.status_code < 300 else f"HTTP {response.status_code}",
        )
        if response.status_code < 500:
            break
    return last


def send_alert(
    kind: str, payload: dict, *, webhook: str | None, timeout: float = 5.0, wh: Warehouse | None = None
) -> Delivery:
    """Log the alert, post it when a webhook is configured, and keep a copy in ``atlas_meta.alerts``."""
    title = str(payload.get("text", kind)).split(":", 1)[0]
    delivery = (
        post_webhook(webhook, payload, timeout) if webhook else Delivery(False, None, "no webhook configured")
    )
    log.warning(
        "alert",
        kind=kind,
        text=payload.get("text"),
        delivered=delivery.delivered,
        status_code=delivery.status_code,
        error=delivery.error,
    )
    if wh is not None:
        try:
            with wh.transaction() as conn:
                conn.execute(
                    "INSERT INTO atlas_meta.alerts (kind, title, payload, delivered, status_code, error) "
                    "VALUES (%s, %s, %s::jsonb, %s, %s, %s)",
                    (
                        kind,
                        title,
                        json.dumps(payload),
                        delivery.delivered,
                        delivery.status_code,
                        delivery.error,
                    ),
                )
        except Exception as exc:  # recording is best effort: the alert itself matters more
            log.warning("alert_not_recorded", kind=kind, error=one_line(exc))
    return delivery
