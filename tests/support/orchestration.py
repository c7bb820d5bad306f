"""A small, self-contained Atlas project for orchestration tests: one landing dataset and one gold model."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


def landing_contract(dataset: str, key: str, timestamp: str, rest: str, *, about: str = "") -> str:
    """The contract of a dataset that arrives through the landing area: keyed by the integer ``key``,
    partitioned by day on ``timestamp`` (2026-10-01 .. 2026-10-14). ``rest``: the YAML of the columns after
    the key (the ``timestamp`` column first) and of any later section; ``about``: lines after ``dataset``."""
    return (
        f"dataset: {dataset}\n{about}source: {{kind: landing}}\nprimary_key: [{key}]\n"
        f'partitioning: {{column: {timestamp}, start: "2026-10-01", end: "2026-10-15"}}\n'
        f"columns:\n  - {{name: {key}, type: integer, required: true, unique: true}}\n{rest}"
    )


EVENTS_CONTRACT = landing_contract(
    "events",
    "event_id",
    "event_ts",
    """\
  - {name: event_ts, type: timestamp, required: true, freshness: 2d}
  - {name: kind, required: true, allowed_values: [view, click, buy]}
  - {name: amount, type: float, min: 0}
  - name: email
    pii: {entity: EMAIL_ADDRESS, strategy: hash}
""",
    about="description: Click stream events (test project).\nowner: web\n",
)

DAILY_MODEL = """\
/* ---
description: Events per day and kind.
primary_key: [event_date, kind]
materialization: table
--- */
SELECT (e.event_ts AT TIME ZONE 'UTC')::date AS event_date, e.kind, count(*) AS events,
       sum(e.amount) AS amount
FROM atlas_silver.events AS e
GROUP BY 1, 2
"""


def write_project(
    root: Path, *, contract: str = EVENTS_CONTRACT, model: str | None = DAILY_MODEL
) -> dict[str, str]:
    contracts, models = root / "contracts", root / "models"
    (models / "gold").mkdir(parents=True, exist_ok=True)
    contracts.mkdir(parents=True, exist_ok=True)
    (contracts / "events.yml").write_text(contract)
    if model is not None:
        (models / "gold" / "event_daily.sql").write_text(model)
    return {"ATLAS_CONTRACTS_DIR": str(contracts), "ATLAS_MODELS_DIR": str(models)}


def email_of(event_id: int) -> str:
    return f"person{event_id}.secret@example.org"


def events_csv(days: range, per_day: int, first_id: int = 1, *, bad_rows: int = 0) -> str:
    """``per_day`` events for each day of October 2026 in ``days``; ``bad_rows`` with a negative amount."""
    lines = ["event_id,event_ts,kind,amount,email"]
    event_id = first_id
    for day in days:
        start = datetime(2026, 10, day, tzinfo=UTC)
        for i in range(per_day):
            amount = -1.0 if event_id - first_id < bad_rows else round(1 + i * 0.5, 2)
            ts = (start + timedelta(minutes=37 * i)).isoformat().replace("+00:00", "Z")
            lines.append(f"{event_id},{ts},{('view', 'click', 'buy')[i % 3]},{amount},{email_of(event_id)}")
            event_id += 1
    return "\n".join(lines) + "\n"


def apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)
