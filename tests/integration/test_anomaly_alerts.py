"""Anomaly alerts end to end: real loads through ``atlas ingest``'s code path into real PostgreSQL, alerts
posted to a real HTTP receiver (the webhook of the failure alerts).

Three clean loads make the history; a fourth load then either carries the three anomalies (a quality
dimension falling below its trailing median while still above threshold, a column that starts carrying
e-mails, a silver step held on a lock) or stays within every margin.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from atlas_cli.ingest import ingest_now
from atlas_cli.runtime import boot
from tests.support.http_receiver import HttpReceiver
from tests.support.orchestration import landing_contract

pytestmark = pytest.mark.slow

CONTRACT = landing_contract(
    "parcels",
    "parcel_id",
    "sent_ts",
    """\
  - {name: sent_ts, type: timestamp, required: true}
  - {name: weight, type: float, min: 0}
  - {name: note}
  - name: email
    pii: {entity: EMAIL_ADDRESS, strategy: hash}
quality:
  thresholds:
    {completeness: 0.5, validity: 0.5, consistency: 0.5, accuracy: 0.5, timeliness: 0.5, uniqueness: 0.5}
""",
    about="description: Parcels handed to the carrier (anomaly alert test).\nowner: logistics\n",
)
NOTES = ("standard", "express", "fragile", "gift")


def _csv(day: int, rows: int, *, bad: int = 0, emails_in_note: bool = False) -> str:
    lines = ["parcel_id,sent_ts,weight,note,email"]
    for i in range(rows):
        parcel = day * 1000 + i
        ts = (
            (datetime(2026, 10, day, tzinfo=UTC) + timedelta(minutes=13 * i))
            .isoformat()
            .replace("+00:00", "Z")
        )
        weight = -1.0 if i < bad else round(0.5 + i * 0.25, 2)
        note = f"buyer{parcel}.private@example.org" if emails_in_note else NOTES[i % len(NOTES)]
        lines.append(f"{parcel},{ts},{weight},{note},customer{parcel}.secret@example.org")
    return "\n".join(lines) + "\n"


@pytest.fixture
def project(atlas_env: dict[str, str], tmp_path: Path, receiver: HttpReceiver) -> dict[str, str]:
    contracts, models = tmp_path / "contracts", tmp_path / "models"
    contracts.mkdir()
    (models / "gold").mkdir(parents=True)
    (contracts / "parcels.yml").write_text(CONTRACT)
    atlas_env.update(
        {
            "ATLAS_CONTRACTS_DIR": str(contracts),
            "ATLAS_MODELS_DIR": str(models),
            "ATLAS_ALERT_WEBHOOK": f"{receiver.url}/hooks/slack",
            "ATLAS_ALERT_MIN_HISTORY": "3",
            "ATLAS_ALERT_SCORE_MARGIN": "0.05",
            "ATLAS_ALERT_PII_SHARE_JUMP": "0.3",
            "ATLAS_ALERT_DURATION_FACTOR": "3",
            "ATLAS_ALERT_DURATION_MIN_EXTRA_SECONDS": "5",
        }
    )
    return atlas_env


def _load(atlas: object, tmp_path: Path, day: int, text: str) -> str:
    path = tmp_path / f"parcels-{day}.csv"
    path.write_text(text)
    result = ingest_now(atlas, "parcels", path)  # type: ignore[arg-type]
    assert result.record["status"] == "accepted" and result.silver is not None, result.record
    return result.silver.run_id


def _release_after_wait(url: str, blocker: psycopg.Connection, hold_seconds: float) -> None:
    """Roll back ``blocker`` (releasing its lock) ``hold_seconds`` after another session starts waiting on
    it."""
    deadline = time.monotonic() + 120
    with psycopg.connect(url, autocommit=True) as watcher:
        while (
            time.monotonic() < deadline
            and not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
        ):  # type: ignore[index]
            time.sleep(0.2)
    time.sleep(hold_seconds)
    blocker.rollback()


def _history(atlas: object, tmp_path: Path) -> None:
    for day in (1, 2, 3):
        _load(atlas, tmp_path, day, _csv(day, 40))


def _anomaly_alerts(receiver: HttpReceiver) -> list[dict]:
    kinds = ("Atlas quality score dropping", "Atlas PII share shifted", "Atlas step slower than usual")
    return [p.json() for p in receiver.posts("/hooks/slack") if p.json()["text"].startswith(kinds)]


def _fields(alert: dict) -> dict[str, str]:
    text = alert["blocks"][2]["text"]["text"]
    return dict(line.removeprefix("*").split(":* ", 1) for line in text.splitlines())


def test_score_drop_pii_shift_and_slow_step_fire(
    project: dict[str, str], receiver: HttpReceiver, tmp_path: Path
) -> None:
    atlas = boot()
    _history(atlas, tmp_path)
    assert _anomaly_alerts(receiver) == []  # nothing fires while the history is being built
    sensor = atlas.definitions.resolve_sensor_def("atlas_anomaly_alerts")
    first = sensor.evaluate_tick(
        dg.build_sensor_context(
            instance=atlas.instance, definitions=atlas.definitions, resources=atlas.definitions.resources
        )
    )

    with psycopg.connect(project["ATLAS_POSTGRES_URL"]) as blocker:
        blocker.execute("LOCK TABLE atlas_silver.parcels IN ACCESS EXCLUSIVE MODE")
        release = threading.Thread(
            target=_release_after_wait, args=(project["ATLAS_POSTGRES_URL"], blocker, 20)
        )
        release.start()
        try:
            # 4 of 40 weights negative (validity 0.9: above its 0.5 threshold, 0.1 below its median of 1.0);
            # the note column now carries e-mail addresses; the silver step waits 20 s on the lock.
            run_id = _load(atlas, tmp_path, 4, _csv(4, 40, bad=4, emails_in_note=True))
        finally:
            release.join()

    alerts = _anomaly_alerts(receiver)
    by_kind = {_fields(a)["Kind"]: _fields(a) for a in alerts}
    assert sorted(by_kind) == ["pii_shift", "quality_trend", "slow_step"], [a["text"] for a in alerts]
    assert all(f["Run"] == run_id and f["Earlier loads"] == "3" for f in by_kind.values())
    with psycopg.connect(project["ATLAS_POSTGRES_URL"]) as conn:
        dropped = {
            d
            for d, s in conn.execute(
                "SELECT dimension, min(score) FROM atlas_meta.quality_results WHERE run_id = %s GROUP BY 1",
                (run_id,),
            ).fetchall()
            if s < 0.95
        }
        recorded = conn.execute(
            "SELECT kind, delivered FROM atlas_meta.alerts WHERE kind IN "
            "('quality_trend', 'pii_shift', 'slow_step') ORDER BY kind"
        ).fetchall()
    assert by_kind["quality_trend"]["Subject"] == "parcels" and by_kind["quality_trend"]["Item"] in dropped
    assert (
        float(by_kind["quality_trend"]["Value"]) == pytest.approx(0.9)
        and by_kind["quality_trend"]["Trailing median"] == "1"
    )
    assert (by_kind["pii_shift"]["Subject"], by_kind["pii_shift"]["Item"]) == ("parcels", "note")
    assert (
        float(by_kind["pii_shift"]["Value"]) >= 0.9 and float(by_kind["pii_shift"]["Trailing median"]) < 0.1
    )
    assert (by_kind["slow_step"]["Subject"], by_kind["slow_step"]["Item"]) == (
        "silver/parcels",
        "silver__parcels",
    )
    slow = by_kind["slow_step"]
    assert float(slow["Value"]) >= 20 and float(slow["Value"]) > 3 * float(slow["Trailing median"])
    assert recorded == [("pii_shift", True), ("quality_trend", True), ("slow_step", True)]
    body = json.dumps(alerts)
    assert "@example.org" not in body and "private" not in body  # names and shares only, never a value

    # The daemon's sensor sees the CLI run already evaluated (tagged): no second alert.
    run = atlas.instance.get_run_by_id(run_id)
    assert run is not None and run.tags["atlas/anomalies"] == "3 alerted"
    sensor.evaluate_tick(
        dg.build_sensor_context(
            instance=atlas.instance,
            definitions=atlas.definitions,
            resources=atlas.definitions.resources,
            cursor=first.cursor,
        )
    )
    assert len(_anomaly_alerts(receiver)) == 3

    # The asset metadata carries the trend: validity over the 4 loads, this one last.
    materialization = atlas.instance.get_latest_materialization_event(dg.AssetKey(["silver", "parcels"]))
    assert materialization is not None and materialization.asset_materialization is not None
    trend: Any = materialization.asset_materialization.metadata["quality/trend"].value
    dimension = by_kind["quality_trend"]["Item"]
    assert trend[dimension]["scores"] == [1.0, 1.0, 1.0, 0.9] and trend[dimension]["median"] == 1.0


def test_loads_within_the_margins_stay_quiet(
    project: dict[str, str], receiver: HttpReceiver, tmp_path: Path
) -> None:
    atlas = boot()
    _history(atlas, tmp_path)
    # 1 of 40 weights negative: 0.975, within the 0.05 margin; notes as usual; no lock.
    run_id = _load(atlas, tmp_path, 4, _csv(4, 40, bad=1))
    assert _anomaly_alerts(receiver) == []
    run = atlas.instance.get_run_by_id(run_id)
    assert run is not None and run.tags["atlas/anomalies"] == "0 alerted"  # evaluated, nothing to say
    with psycopg.connect(project["ATLAS_POSTGRES_URL"]) as conn:
        scores = conn.execute(
            "SELECT min(score) FROM atlas_meta.quality_results WHERE run_id = %s", (run_id,)
        ).fetchone()
    assert scores is not None and 0.95 < scores[0] < 1.0  # the load did dip, within the margin
