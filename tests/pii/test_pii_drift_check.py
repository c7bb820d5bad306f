"""The ``pii_drift`` check failing: a column the contract does not declare starts carrying e-mail addresses
in a later load. Real PostgreSQL, real Dagster instance, real Presidio; the check's result and metadata
name the column and the entity, never a value."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import psycopg

from atlas_cli.ingest import ingest_now
from atlas_cli.runtime import boot
from tests.support.orchestration import EVENTS_CONTRACT, write_project

SILVER = dg.AssetKey(["silver", "events"])
CONTRACT = EVENTS_CONTRACT + "  - {name: reply_to}\n"  # declared without pii: neither PII nor opted out


def _events(path: Path, first_id: int, day: int, reply_to: list[str]) -> Path:
    lines = ["event_id,event_ts,kind,amount,email,reply_to"]
    for i, value in enumerate(reply_to):
        event_id = first_id + i
        lines.append(
            f"{event_id},2026-10-{day:02d}T{i % 24:02d}:15:00Z,{('view', 'click', 'buy')[i % 3]},{i + 1}.5,"
            f"user{event_id}@example.org,{value}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _drift_evaluation(instance: dg.DagsterInstance, run_id: str) -> tuple[dg.AssetCheckEvaluation, str]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [
        r.event_log_entry
        for r in records
        if r.event_log_entry.dagster_event.event_specific_data.check_name == "pii_drift"
    ]  # type: ignore[union-attr]
    assert len(evaluations) == 1
    return evaluations[0].dagster_event.event_specific_data, evaluations[0].to_json()  # type: ignore[union-attr,return-value]


def test_a_column_that_starts_carrying_emails_fails_the_drift_check(
    atlas_env: dict[str, str], tmp_path: Path
) -> None:
    atlas_env.update(write_project(tmp_path / "project", contract=CONTRACT, model=None))
    atlas = boot()

    channels = ["web", "store", "app", "phone"] * 6
    first = ingest_now(atlas, "events", _events(tmp_path / "first.csv", 1, 1, channels))
    assert first.silver is not None and first.silver.success, first.silver
    passed, _ = _drift_evaluation(atlas.instance, first.silver.run_id)
    assert passed.passed and passed.severity == dg.AssetCheckSeverity.WARN
    assert passed.metadata["undeclared_pii"].value == {}

    emails = [f"buyer{i}.private@example.net" for i in range(24)]
    later = ingest_now(atlas, "events", _events(tmp_path / "later.csv", 100, 2, emails))
    assert later.silver is not None and later.silver.success, later.silver  # non-blocking: silver published
    failed, serialized = _drift_evaluation(atlas.instance, later.silver.run_id)
    assert failed.asset_key == SILVER and not failed.passed
    assert failed.severity == dg.AssetCheckSeverity.WARN  # the contract's default drift_severity
    with psycopg.connect(atlas_env["ATLAS_POSTGRES_URL"]) as conn:
        ((report_id, columns),) = conn.execute(
            "SELECT report_id, columns FROM atlas_meta.pii_reports WHERE dataset = 'events' AND run_id = %s",
            (later.silver.run_id,),
        ).fetchall()
        published = [
            r[0]
            for r in conn.execute(
                "SELECT reply_to FROM atlas_silver.events "
                "WHERE _atlas_partition = '2026-10-02' ORDER BY event_id"
            )
        ]
    assert set(failed.metadata) == {"undeclared_pii", "report_id", "columns_checked"}
    assert failed.metadata["undeclared_pii"].value == {
        "reply_to": {"entity": "EMAIL_ADDRESS", "confidence": 1.0}
    }
    assert failed.metadata["report_id"].value == report_id
    assert failed.metadata["columns_checked"].value == len(columns) == 6
    assert columns["reply_to"]["entity"] == "EMAIL_ADDRESS" and columns["reply_to"]["strategy"] == "hash"
    # The undeclared column is still anonymized (keyed hash): no e-mail reaches silver, nor the check.
    assert len(published) == 24 and all(len(v) == 64 and "@" not in v for v in published)
    assert not any(e in serialized for e in emails) and "example.net" not in serialized
    assert "example.net" not in json.dumps(columns)
