"""Orchestration through a real Dagster instance on real PostgreSQL: sensor ticks, alerts to a real HTTP
receiver, schedule and automation evaluation, retries, ``atlas ingest``/``backfill``/``retention`` and
the OpenLineage events they emit (validated against the official 2-0-2 schemas)."""

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from typer.testing import CliRunner, Result

from atlas_assets.policies import CELERY_QUEUE_TAG, RETRY_POLICY, layer_policies
from atlas_assets.sensors import run_failure_alerts
from atlas_assets.steps import atlas_step
from atlas_cli.ingest import ingest_now
from atlas_cli.main import app
from atlas_cli.runtime import boot
from atlas_core.errors import InputRejected
from atlas_core.layout import Layer
from atlas_core.lineage import iso
from atlas_engine.ingestions import FIELDS as INGESTION_FIELDS
from atlas_engine.lineage import LineageEmitter
from atlas_engine.sources.landing import BUCKET, pending_objects
from atlas_resources.resources import WarehouseResource
from atlas_resources.warehouse import Warehouse
from tests.support.http_receiver import HttpReceiver
from tests.support.lineage_schema import validate_event
from tests.support.orchestration import email_of, events_csv, write_project

pytestmark = pytest.mark.slow

BRONZE, SILVER = dg.AssetKey(["bronze", "events"]), dg.AssetKey(["silver", "events"])
GOLD = dg.AssetKey(["gold", "event_daily"])


@pytest.fixture
def project(atlas_env: dict[str, str], tmp_path: Path, receiver: HttpReceiver) -> dict[str, str]:
    atlas_env.update(write_project(tmp_path))
    atlas_env["ATLAS_ALERT_WEBHOOK"] = f"{receiver.url}/hooks/slack"
    atlas_env["ATLAS_LINEAGE_FILE"] = str(tmp_path / "lineage.jsonl")
    return atlas_env


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def test_landing_sensor_requests_one_run_and_settles_rejections(
    project: dict[str, str], receiver: HttpReceiver
) -> None:
    atlas = boot()
    defs, lake = atlas.definitions, atlas.lake
    lake.put_bytes(BUCKET, "landing/events/day1-2.csv", events_csv(range(1, 3), 6).encode())
    lake.put_bytes(BUCKET, "landing/events/day4.csv", events_csv(range(4, 5), 6, first_id=100).encode())
    lake.put_bytes(BUCKET, "landing/events/broken.csv", b"event_id;kind\n1;view\n")
    sensor = defs.resolve_sensor_def("landing_events")

    tick = sensor.evaluate_tick(
        dg.build_sensor_context(instance=atlas.instance, definitions=defs, resources=defs.resources)
    )
    assert len(tick.run_requests or []) == 1
    request = (tick.run_requests or [])[0]
    assert request.asset_selection == [BRONZE, SILVER]
    assert request.tags["dagster/asset_partition_range_start"] == "2026-10-01"
    assert request.tags["dagster/asset_partition_range_end"] == "2026-10-04"
    assert request.run_config["ops"]["bronze__events"]["config"]["landing_keys"] == [
        "landing/events/day1-2.csv",
        "landing/events/day4.csv",
    ]
    # The broken file needed no run: recorded, moved to rejected/, alerted.
    assert lake.list(BUCKET, "rejected/events/")[0].endswith("/broken.csv")
    (alert,) = receiver.posts("/hooks/slack")
    assert "broken.csv: missing column(s)" in alert.json()["text"] and alert.json()["blocks"]

    again = sensor.evaluate_tick(
        dg.build_sensor_context(
            instance=atlas.instance, definitions=defs, cursor=tick.cursor, resources=defs.resources
        )
    )
    assert not again.run_requests and again.skip_message  # requested once only

    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=atlas.instance,
        asset_selection=request.asset_selection,
        run_config=request.run_config,
        tags=request.tags,
        raise_on_error=False,
    )
    assert result.success
    assert pending_objects(lake, _contract(atlas)) == []
    assert len(lake.list(BUCKET, "processed/events/")) == 2
    url = project["ATLAS_POSTGRES_URL"]
    assert _rows(url, "SELECT _atlas_partition, count(*) FROM atlas_silver.events GROUP BY 1 ORDER BY 1") == [
        ("2026-10-01", 6),
        ("2026-10-02", 6),
        ("2026-10-04", 6),
    ]
    assert _rows(url, "SELECT status, count(*) FROM atlas_meta.ingestions GROUP BY 1 ORDER BY 1") == [
        ("accepted", 2),
        ("rejected", 1),
    ]


def _contract(atlas: object) -> object:
    from atlas_core.contracts import load_contracts

    return load_contracts(atlas.settings.resolved_contracts_dir())[0]  # type: ignore[attr-defined]


def test_failed_run_and_failed_checks_post_alerts(
    project: dict[str, str], receiver: HttpReceiver, tmp_path: Path
) -> None:
    atlas = boot()
    quality = atlas.definitions.resolve_sensor_def("atlas_quality_alerts")
    start = quality.evaluate_tick(
        dg.build_sensor_context(
            instance=atlas.instance, definitions=atlas.definitions, resources=atlas.definitions.resources
        )
    )
    bad = tmp_path / "bad_day.csv"
    bad.write_text(events_csv(range(1, 2), 10, bad_rows=5))  # half of the day fails validity: blocking check
    result = ingest_now(atlas, "events", bad)
    assert result.record["status"] == "accepted" and result.silver is not None and not result.silver.success

    run = atlas.instance.get_run_by_id(result.silver.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    # A failed blocking check is a data error: never retried.
    assert not atlas.instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
    ).records
    failure = atlas.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[
        0
    ]
    context = dg.build_run_status_sensor_context(
        sensor_name="atlas_run_failure_alerts",
        dagster_event=failure.event_log_entry.dagster_event,  # type: ignore[arg-type]
        dagster_instance=atlas.instance,
        dagster_run=run,
        resources={
            "alerts": atlas.definitions.resources["alerts"],
            "warehouse": WarehouseResource(postgres_url=project["ATLAS_POSTGRES_URL"]),
        },
    ).for_run_failure()
    run_failure_alerts(context)
    tick = quality.evaluate_tick(
        dg.build_sensor_context(
            instance=atlas.instance,
            definitions=atlas.definitions,
            resources=atlas.definitions.resources,
            cursor=start.cursor,
        )
    )
    assert tick.cursor != start.cursor

    bodies = [p.json() for p in receiver.posts("/hooks/slack")]
    assert [b["text"].split(":")[0] for b in bodies] == ["Atlas run failed", "Atlas quality checks failed"]
    assert "silver__events" in bodies[0]["text"] and run.run_id in json.dumps(bodies[0]["blocks"])
    assert "silver/events · validity (ERROR" in bodies[1]["text"]
    for body in bodies:  # names and counts only, never values
        assert email_of(1) not in json.dumps(body)
    recorded = _rows(
        project["ATLAS_POSTGRES_URL"],
        "SELECT kind, delivered, status_code FROM atlas_meta.alerts ORDER BY id",
    )
    assert recorded == [("run_failure", True, 200), ("quality_failure", True, 200)]
    assert run_failure_alerts.name == "atlas_run_failure_alerts" and quality.name == "atlas_quality_alerts"


def test_daily_schedule_automation_and_freshness(project: dict[str, str]) -> None:
    from atlas_assets.definitions import build_definitions
    from atlas_core.settings import get_settings

    defs = build_definitions(get_settings())
    instance = dg.DagsterInstance.ephemeral()
    schedule = defs.resolve_schedule_def("atlas_daily")
    assert schedule.cron_schedule == "0 2 * * *"
    tick = schedule.evaluate_tick(
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 26, 2, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        )
    )
    (request,) = tick.run_requests or []
    assert request.partition_key == "2026-10-14"  # the latest complete partition
    assert set(request.asset_selection or []) == {BRONZE, SILVER, GOLD}

    graph = defs.resolve_asset_graph()
    assert graph.get(SILVER).freshness_policy == dg.FreshnessPolicy.time_window(fail_window=timedelta(days=2))
    assert graph.get(BRONZE).automation_condition is None
    assert graph.get(GOLD).automation_condition is not None
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=BRONZE, partition="2026-10-05"))
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.get_requested_partitions(SILVER) == {"2026-10-05"}
    assert second.get_num_requested(GOLD) == 0  # silver partitions are still missing


def test_transient_failures_are_retried_data_errors_are_not(warehouse_url: str) -> None:
    attempts: dict[str, int] = {"transient": 0, "data": 0}

    @dg.asset(**layer_policies(Layer.BRONZE))
    @atlas_step
    def flaky(context: dg.AssetExecutionContext) -> None:
        attempts["transient"] += 1
        # First attempt: a real connection to a closed port (connection refused); then the real server.
        url = "postgresql://postgres@127.0.0.1:9/atlas" if context.retry_number == 0 else warehouse_url
        assert Warehouse(url, connect_timeout=2).scalar("SELECT 1") == 1

    @dg.asset(**layer_policies(Layer.BRONZE))
    @atlas_step
    def rejected(context: dg.AssetExecutionContext) -> None:
        attempts["data"] += 1
        raise InputRejected("orders.csv: missing column(s) 'total'")

    assert RETRY_POLICY.max_retries == 3 and flaky.op.tags[CELERY_QUEUE_TAG] == "pipeline"
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([flaky, rejected], instance=instance, raise_on_error=False)
    events = {e.event_type_value: [] for e in result.all_events}
    for event in result.all_events:
        events[event.event_type_value].append(event.step_key)
    assert attempts == {"transient": 2, "data": 1}
    assert events["STEP_UP_FOR_RETRY"] == ["flaky"]
    assert events["STEP_SUCCESS"] == ["flaky"] and events["STEP_FAILURE"] == ["rejected"]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "orders.csv: missing column(s) 'total'" in failure.event_specific_data.error.message  # type: ignore[union-attr]


def test_transient_failures_wait_the_pinned_exponential_backoff() -> None:
    """Three transient failures in a row, then success: Dagster waits delay * (2**n - 1) +- delay before retry
    n (2 s base: about 2, 6 and 14 s), as the shared RetryPolicy says."""
    with socket.socket() as probe:  # a port nothing listens on: every connect is refused
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    attempts: list[int] = []

    @dg.asset(**layer_policies(Layer.SILVER))
    @atlas_step
    def unreachable(context: dg.AssetExecutionContext) -> None:
        attempts.append(context.retry_number)
        if context.retry_number < RETRY_POLICY.max_retries:
            socket.create_connection(("127.0.0.1", closed), timeout=2).close()

    result = dg.materialize([unreachable], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success and attempts == [0, 1, 2, 3]
    waits = [
        e.event_specific_data.seconds_to_wait  # type: ignore[union-attr]
        for e in result.all_events
        if e.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert len(waits) == 3
    # Jitter (PLUS_MINUS) is random: only the window of each wait is deterministic.
    for n, wait in enumerate(waits, start=1):
        centre = 2 * (2**n - 1)
        assert centre - 2 <= wait <= centre + 2, (n, waits)


def test_ingest_backfill_retention_and_lineage_through_the_cli(
    project: dict[str, str], tmp_path: Path
) -> None:
    url = project["ATLAS_POSTGRES_URL"]
    runner = CliRunner()
    good = tmp_path / "october.csv"
    good.write_text(events_csv(range(1, 15), 6))
    ingested = runner.invoke(app, ["ingest", "events", str(good)])
    assert ingested.exit_code == 0, ingested.output
    record = json.loads(ingested.stdout.strip().splitlines()[-1])
    assert set(record) == set(INGESTION_FIELDS)
    assert (record["status"], record["rows_bronze"], record["rows_silver"], record["rows_quarantined"]) == (
        "accepted",
        84,
        84,
        0,
    )
    # One run holds both steps: bronze and silver are materializations of it.
    [ingest_run] = boot().instance.get_runs(
        filters=dg.RunsFilter(tags={"atlas/trigger": "cli", "atlas/landing": "events"})
    )
    steps = {(s.step_key, s.status.value) for s in boot().instance.get_run_step_stats(ingest_run.run_id)}
    assert steps >= {("bronze__events", "SUCCESS"), ("silver__events", "SUCCESS")}

    broken = tmp_path / "broken.csv"
    broken.write_text("event_id,event_ts\n1,2026-10-01T00:00:00Z\n")
    rejected = runner.invoke(app, ["ingest", "events", str(broken)])
    assert rejected.exit_code == 2
    assert rejected.stderr.strip().splitlines() == [
        "error: broken.csv: missing column(s) 'kind', 'amount', 'email'"
    ]
    listed = json.loads(runner.invoke(app, ["ingestions", "--json"]).stdout)
    assert [(r["file"], r["status"]) for r in listed] == [
        ("october.csv", "accepted"),
        ("broken.csv", "rejected"),
    ]
    assert listed[1]["reason"].startswith("broken.csv: missing column")

    xmin = "SELECT _atlas_partition, min(xmin::text), count(*) FROM atlas_silver.events GROUP BY 1 ORDER BY 1"
    before = dict((k, (x, n)) for k, x, n in _rows(url, xmin))

    def backfill_to(last: str) -> Result:
        return runner.invoke(
            app,
            [
                "backfill",
                "--select",
                "key:silver/events",
                "--from",
                "2026-10-03",
                "--to",
                last,
                "--in-process",
            ],
        )

    unknown = backfill_to("2026-10-20")
    assert unknown.exit_code == 2
    assert unknown.stderr.strip() == (
        "error: unknown partition '2026-10-20' for --to (valid: 2026-10-01 .. 2026-10-14)"
    )
    backfill = backfill_to("2026-10-09")
    assert backfill.exit_code == 0, backfill.output
    assert "(in_process): COMPLETED_SUCCESS, 7 partitions 2026-10-03..2026-10-09" in backfill.stdout
    after = dict((k, (x, n)) for k, x, n in _rows(url, xmin))
    window = {f"2026-10-{d:02d}" for d in range(3, 10)}
    assert all(after[k] == before[k] for k in before if k not in window)  # untouched rows keep their xmin
    assert all(after[k][0] != before[k][0] and after[k][1] == before[k][1] for k in window)

    atlas = boot()
    backfill_run = atlas.instance.get_runs(filters=dg.RunsFilter(tags={"atlas/trigger": "backfill"}))[0]
    materialized = sorted(
        r.event_log_entry.dagster_event.event_specific_data.materialization.partition  # type: ignore[union-attr]
        for r in atlas.instance.get_records_for_run(
            backfill_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    )
    assert materialized == sorted(window)
    gold = runner.invoke(app, ["materialize", "--select", "gold/event_daily"])
    assert gold.exit_code == 0, gold.output

    _check_lineage(Path(project["ATLAS_LINEAGE_FILE"]), atlas)
    _check_retention(runner, url)


def _check_lineage(path: Path, atlas: object) -> None:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert events
    for event in events:
        validate_event(event)
    text = path.read_text()
    assert email_of(1) not in text and "secret@example.org" not in text  # no raw PII in any event
    namespace = "postgres://localhost:5432" if "localhost" in text else events[0]["inputs"][0]["namespace"]
    by_job: dict[str, list[dict]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    silver = [e for e in by_job["silver.events"] if e["eventType"] == "COMPLETE"]
    assert len(silver) == 2  # ingest + backfill
    assert [(i["namespace"], i["name"].split(".", 1)[1]) for i in silver[0]["inputs"]] == [
        (namespace, "atlas_bronze.events")
    ]
    output = silver[0]["outputs"][0]
    assert output["name"].endswith("atlas_silver.events")
    assert output["facets"]["columnLineage"]["fields"]["email"]["transformationType"] == "MASKED"
    assert output["facets"]["columnLineage"]["fields"]["kind"]["transformationType"] == "IDENTITY"
    assert {f["name"] for f in output["facets"]["schema"]["fields"]} >= {"event_id", "event_ts", "email"}
    assert output["facets"]["dataQualityMetrics"]["rowCount"] == 84
    backfill_complete = silver[1]
    nominal = backfill_complete["run"]["facets"]["nominalTime"]
    assert (nominal["nominalStartTime"], nominal["nominalEndTime"]) == (
        "2026-10-03T00:00:00.000Z",
        "2026-10-10T00:00:00.000Z",
    )
    (gold_complete,) = [e for e in by_job["gold.event_daily"] if e["eventType"] == "COMPLETE"]
    assert [i["name"].split(".", 1)[1] for i in gold_complete["inputs"]] == ["atlas_silver.events"]
    # Gold column lineage from the model's SQL: event_date computed from event_ts, events counted.
    gold_columns = gold_complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    (source,) = gold_columns["event_date"]["inputFields"]
    assert (source["name"].split(".", 1)[1], source["field"]) == ("atlas_silver.events", "event_ts")
    assert source["transformations"][0]["subtype"] == "TRANSFORMATION"
    assert gold_columns["kind"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    assert gold_columns["amount"]["inputFields"][0]["transformations"][0]["subtype"] == "AGGREGATION"
    starts = [e for e in events if e["eventType"] == "START"]
    finals = [e for e in events if e["eventType"] in ("COMPLETE", "FAIL", "ABORT")]
    assert sorted(e["run"]["runId"] for e in starts) == sorted(e["run"]["runId"] for e in finals)
    keys = [(e["run"]["runId"], e["eventType"]) for e in events]
    assert len(keys) == len(set(keys))  # each event once: no replay after the live ones
    children = [e for e in events if "parent" in e["run"]["facets"]]
    parents = {e["run"]["facets"]["parent"]["run"]["runId"] for e in children}
    # Each Dagster run is itself a JOB run: START before its steps, its final event after theirs.
    runs = {
        e["run"]["runId"]: e
        for e in events
        if e["job"]["facets"]["jobType"]["jobType"] == "JOB" and e["eventType"] in ("COMPLETE", "FAIL")
    }
    assert parents <= set(runs)
    # The rejected file's ingestion is a run too (issue 19): it ends FAIL, its bronze step FAIL.
    failed = {run_id for run_id, e in runs.items() if e["eventType"] == "FAIL"}
    assert len(failed) == 1
    assert [
        (e["eventType"], e["job"]["name"])
        for e in children
        if e["run"]["facets"]["parent"]["run"]["runId"] in failed
    ] == [("START", "bronze.events"), ("FAIL", "bronze.events")]
    for parent in parents:
        mine = [
            i
            for i, e in enumerate(events)
            if e["run"]["runId"] == parent
            or e in children
            and e["run"]["facets"]["parent"]["run"]["runId"] == parent
        ]
        assert events[mine[0]]["eventType"] == "START" and events[mine[0]]["run"]["runId"] == parent
        final = "FAIL" if parent in failed else "COMPLETE"
        assert events[mine[-1]]["eventType"] == final and events[mine[-1]]["run"]["runId"] == parent
    tagged = {r.run_id for r in atlas.instance.get_runs() if r.tags.get("atlas/lineage")}  # type: ignore[attr-defined]
    assert parents <= tagged
    assert any("dataQualityAssertions" in i["inputFacets"] for e in finals for i in e["inputs"])


def _check_retention(runner: CliRunner, url: str) -> None:
    count = "SELECT count(*) FROM atlas_bronze.events WHERE _atlas_partition < '2026-10-06'"
    dry = runner.invoke(app, ["retention", "run", "--dry-run", "--as-of", "2027-01-04", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    bronze = [a for a in report["actions"] if a["layer"] == "bronze" and a["partition_key"]]
    assert [a["partition_key"] for a in bronze] == [
        "2026-10-01",
        "2026-10-02",
        "2026-10-03",
        "2026-10-04",
        "2026-10-05",
    ]
    assert all(a["rows"] == 6 and a["cutoff"] == "2026-10-06" for a in bronze)
    assert not [a for a in report["actions"] if a["layer"] in ("silver", "gold")]
    assert _rows(url, count) == [(30,)]
    real = runner.invoke(app, ["retention", "run", "--as-of", "2027-01-04"])
    assert real.exit_code == 0, real.output
    assert "deleted 30 rows" in real.stdout
    assert _rows(url, count) == [(0,)]
    assert _rows(url, "SELECT count(*) FROM atlas_silver.events") == [(84,)]
    assert _rows(
        url,
        "SELECT dry_run, count(*), sum(rows_deleted) FROM atlas_meta.retention_log "
        "WHERE layer = 'bronze' GROUP BY 1 ORDER BY 1",
    ) == [(False, 5, 30), (True, 5, 30)]


def test_http_lineage_transport_is_bounded_and_never_raises(receiver: HttpReceiver) -> None:
    from atlas_core.lineage import DatasetRef, StepFacts, build_events

    now = datetime.now(UTC)
    facts = StepFacts(
        "silver.events",
        "r1:silver__events",
        "2a0e0d7e-1c1b-4a8e-9f32-0d3d1b7c2f11",
        "__ASSET_JOB",
        now - timedelta(seconds=3),
        now,
        "COMPLETE",
        inputs=[DatasetRef("postgres://localhost:5432", "atlas.atlas_bronze.events")],
    )
    events = build_events(facts, namespace="atlas", dagster_version=dg.__version__)
    stats = LineageEmitter.configured(receiver.url, None, timeout=2).emit(events)
    assert (stats.emitted, stats.failed) == (2, 0)
    posted = receiver.posts("/api/v1/lineage")
    assert [p.json()["eventType"] for p in posted] == ["START", "COMPLETE"]
    for post in posted:
        validate_event(post.json())
    assert posted[0].json()["eventTime"] == iso(now - timedelta(seconds=3))

    receiver.script.extend([500] * 20)
    failing = LineageEmitter.configured(receiver.url, None, timeout=2, budget_seconds=5).emit(events)
    assert failing.emitted == 0 and failing.failed + failing.skipped == 2


def test_an_upload_is_one_run_and_the_landing_sensor_leaves_it_alone(
    project: dict[str, str], tmp_path: Path
) -> None:
    """What ``POST /datasets/{dataset}/files`` launches, executed here through the instance: the landed
    upload (a hidden folder of the landing prefix) is ingested by one run of bronze + silver over its
    partitions; a second upload of the same bytes fails its run at bronze with the duplicate's reason."""
    from atlas_cli.runs import execute
    from atlas_core import layout
    from atlas_core.contracts import load_contracts
    from atlas_core.file_scan import scan_file
    from atlas_core.upload_runs import upload_run

    atlas = boot()
    [events] = load_contracts(atlas.settings.resolved_contracts_dir())
    upload = tmp_path / "upload.csv"
    upload.write_text(events_csv(range(3, 5), 4))
    outcomes = []
    for attempt in ("first", "again"):
        key = layout.upload_key("events", attempt, upload.name)
        atlas.lake.ensure_buckets([BUCKET])
        atlas.lake.put_file(BUCKET, key, upload)
        assert pending_objects(atlas.lake, events) == []  # the landing sensor never sees uploads
        scan = scan_file(events, upload)
        plan = upload_run(events, scan, trigger="api", landing_key=key, require_new=True)
        assert plan.partition_range == ("2026-10-03", "2026-10-04")
        outcomes.append(
            execute(
                atlas.instance,
                atlas.definitions,
                [dg.AssetKey(a) for a in plan.assets],
                partition_range=plan.partition_range,
                tags=plan.tags,
                run_config=plan.run_config,
                show_progress=False,
            )
        )
        assert not atlas.lake.exists(BUCKET, key)  # taken out of the landing area by its run
    first, again = outcomes
    assert first.success, first.failures
    records = atlas.instance.get_records_for_run(
        first.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    materialized = {
        (
            r.event_log_entry.dagster_event.asset_key.to_user_string(),  # type: ignore[union-attr]
            r.event_log_entry.dagster_event.partition,
        )
        for r in records
    }  # type: ignore[union-attr]
    assert materialized == {
        (a, p) for a in ("bronze/events", "silver/events") for p in ("2026-10-03", "2026-10-04")
    }
    assert (
        not again.success and again.failures and again.failures[0].startswith("bronze__events: duplicate: ")
    )
    with psycopg.connect(project["ATLAS_POSTGRES_URL"]) as conn:
        ledger = conn.execute(
            "SELECT status, source_system, run_id, rows_bronze, rows_silver, reason "
            "FROM atlas_meta.ingestions ORDER BY ingestion_id"
        ).fetchall()
    assert ledger[0][:5] == ("accepted", "api", first.run_id, 8, 8)
    assert ledger[1][:3] == ("duplicate", "api", again.run_id) and ledger[1][5].startswith(
        "same content as ingestion"
    )
    assert ledger[1][5] in again.failures[0]
    sha = scan.sha256
    assert atlas.lake.exists(BUCKET, f"processed/events/{sha}/upload.csv")
