"""Feature sets on a real PostgreSQL and a real (local) lake: point-in-time correctness with a leak trap,
train-only statistics, reproducible versions, split stability, exports laid out for Feast."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from atlas_core.errors import AtlasError
from atlas_core.features.spec import FeatureSetSpec, load_feature_set
from atlas_core.features.splits import assign_splits
from atlas_core.features.transforms import apply_transforms
from atlas_engine.ai_ready import build_feature_set, dataset_versions, fingerprints_in_snapshot
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse

SPEC = """description: leak trap
entity_key: customer_id
spine: SELECT customer_id, as_of AS event_timestamp, churned FROM atlas_gold.labels
sources:
  events: {model: gold.events, timestamp: event_ts}
  profile: {model: gold.profiles, timestamp: updated_at}
features:
  - name: spend
    aggregate: {source: events, function: sum, column: amount}
    fill: 0
    transforms: [standardize]
  - name: events_n
    aggregate: {source: events, function: count}
    transforms: [min_max]
  - name: spend_7d
    aggregate: {source: events, function: sum, column: amount, window: 7d}
    fill: 0
  - name: web_events
    aggregate: {source: events, function: count, filter: channel = 'web'}
  - name: last_channel
    latest: {source: events, column: channel}
    fill: most_frequent
    transforms: [{one_hot: {top_k: 2}}]
  - name: region
    latest: {source: profile, column: region}
  - name: avg_spend
    expression: CASE WHEN events_n > 0 THEN spend / events_n END
    fill: mean
    transforms: [standardize, log, {bucketize: {boundaries: [10, 100]}}]
split: {seed: 7, fractions: {train: 0.6, validation: 0.2, test: 0.2}}
export: {formats: [parquet, arrow]}
"""

T0 = datetime(2026, 10, 1, tzinfo=UTC)
CHANNELS = ["web", "store", "mobile"]


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def background(first: int, last: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Ordinary customers: a few events each, one label row, one profile row."""
    events, labels, profiles = [], [], []
    for c in range(first, last + 1):
        for j in range(c % 4 + 1):
            events.append(
                (
                    c,
                    at(1 + (c * 7 + j * 3) % 20 + 0.25),
                    float((c * 37 + j * 11) % 300 + 1),
                    CHANNELS[(c + j) % 3],
                )
            )
        labels.append((c, at(22), c % 5 == 0))
        profiles.append((c, at(0), ["north", "south", "east"][c % 3]))
    return events, labels, profiles


# Customer 1 is the trap: an event exactly AT the first label time and a big one in its future.
TRAP_EVENTS = [(1, at(4.5), 100.0, "web"), (1, at(9), 5000.0, "store"), (1, at(19), 9999.0, "mobile")]
TRAP_LABELS = [(1, at(9), False), (1, at(24), True)]
TRAP_PROFILES = [(1, at(0), "north"), (1, at(14), "south")]


def load(url: str, events: list[tuple], labels: list[tuple], profiles: list[tuple]) -> None:
    with psycopg.connect(url) as conn:
        for ddl in (
            "events (customer_id bigint, event_ts timestamptz, amount double precision, channel text)",
            "labels (customer_id bigint, as_of timestamptz, churned boolean)",
            "profiles (customer_id bigint, updated_at timestamptz, region text)",
        ):
            conn.execute(f"DROP TABLE IF EXISTS atlas_gold.{ddl.split()[0]}")
            conn.execute(f"CREATE TABLE atlas_gold.{ddl}")
        for table, rows in (("events", events), ("labels", labels), ("profiles", profiles)):
            with conn.cursor().copy(f"COPY atlas_gold.{table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def spec_file(tmp_path: Path, text: str = SPEC) -> FeatureSetSpec:
    folder = tmp_path / "models" / "ai_ready"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trap.yml").write_text(text)
    return load_feature_set(folder / "trap.yml")


def seeded(url: str, last: int = 60) -> None:
    events, labels, profiles = background(2, last)
    load(url, TRAP_EVENTS + events, TRAP_LABELS + labels, TRAP_PROFILES + profiles)


def rows(url: str, where: str = "TRUE") -> list[dict[str, object]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(
            f"SELECT * FROM atlas_ai_ready.trap WHERE {where} ORDER BY customer_id, event_timestamp"  # noqa: S608 - test literal
        )
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_point_in_time_features_ignore_the_future(warehouse_url: str, tmp_path: Path) -> None:
    seeded(warehouse_url)
    result = build_feature_set(Warehouse(warehouse_url), None, spec_file(tmp_path))
    early, late = rows(warehouse_url, "customer_id = 1")
    assert early["event_timestamp"] == at(9) and early["churned"] is False  # labels pass through
    # As of day 9: only the day-4.5 event. The event AT day 9 and the one on day 19 are invisible.
    assert (early["spend"], early["events_n"], early["spend_7d"], early["web_events"]) == (100.0, 1, 100.0, 1)
    assert early["last_channel"] == "web" and early["region"] == "north" and early["avg_spend"] == 100.0
    # As of day 24 everything before is visible; the 7-day window keeps only the day-19 event.
    assert (late["spend"], late["events_n"], late["spend_7d"], late["web_events"]) == (15099.0, 3, 9999.0, 1)
    assert late["last_channel"] == "mobile" and late["region"] == "south"
    # Removing the future rows does not change the early row at all: no leakage.
    load(
        warehouse_url,
        TRAP_EVENTS[:1] + background(2, 60)[0],
        TRAP_LABELS + background(2, 60)[1],
        TRAP_PROFILES[:1] + background(2, 60)[2],
    )
    build_feature_set(Warehouse(warehouse_url), None, spec_file(tmp_path))
    again = rows(warehouse_url, "customer_id = 1")[0]
    raw = ["spend", "events_n", "spend_7d", "web_events", "last_channel", "region", "avg_spend"]
    assert {k: again[k] for k in raw} == {k: early[k] for k in raw}
    assert result.rows == 61


def test_versions_are_reproducible_and_recorded(warehouse_url: str, tmp_path: Path) -> None:
    seeded(warehouse_url)
    wh, lake = Warehouse(warehouse_url), LocalLake(tmp_path / "lake")
    spec = spec_file(tmp_path)
    first = build_feature_set(wh, lake, spec, run_id="run-1")
    # Same content loaded in another physical order: the same upstream fingerprints, the same version.
    events, labels, profiles = background(2, 60)
    load(
        warehouse_url,
        list(reversed(TRAP_EVENTS + events)),
        list(reversed(TRAP_LABELS + labels)),
        list(reversed(TRAP_PROFILES + profiles)),
    )
    second = build_feature_set(wh, lake, spec, run_id="run-2")
    assert second.version == first.version and second.upstream == first.upstream and second.reused_export
    assert set(first.upstream) == {"gold.events", "gold.labels", "gold.profiles"}
    (recorded,) = dataset_versions(wh, "trap")
    assert recorded["version"] == first.version and recorded["materializations"] == 2
    assert recorded["content_hash"] == first.content_hash and recorded["spec_hash"] == spec.spec_hash
    assert recorded["rows"] == 61 and recorded["formats"] == ["parquet", "arrow"]
    assert {r["version"] for r in rows(warehouse_url)} == {first.version}

    # The export: Parquet + Arrow IPC + spec.json (statistics), laid out for a Feast file source.
    prefix = f"trap/{first.version}"
    assert lake.list("atlas-ai-ready", "trap/") == [
        f"{prefix}/data.arrow",
        f"{prefix}/data.parquet",
        f"{prefix}/spec.json",
    ]
    document = json.loads(lake.get_bytes("atlas-ai-ready", f"{prefix}/spec.json"))
    assert document["statistics"] == first.stats and document["upstream"] == first.upstream
    assert document["feast"]["file_source"] == {
        "path": f"{prefix}/data.parquet",
        "timestamp_field": "event_timestamp",
    }
    parquet = pq.read_table(tmp_path / "lake" / "atlas-ai-ready" / prefix / "data.parquet")
    assert parquet.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert parquet.schema.field("customer_id").type == pa.int64()
    with pa.memory_map(str(tmp_path / "lake" / "atlas-ai-ready" / prefix / "data.arrow")) as source:
        assert pa.ipc.open_file(source).read_all().equals(parquet)
    assert parquet.num_rows == 61 and "version" not in parquet.schema.names

    # New upstream rows -> a new version; a new spec -> a new spec hash and version.
    load(
        warehouse_url,
        TRAP_EVENTS + events + [(5, at(3), 1.0, "web")],
        TRAP_LABELS + labels,
        TRAP_PROFILES + profiles,
    )
    third = build_feature_set(wh, lake, spec)
    assert third.version != first.version and third.upstream["gold.events"] != first.upstream["gold.events"]
    assert third.upstream["gold.labels"] == first.upstream["gold.labels"]
    changed = spec_file(tmp_path, SPEC.replace("seed: 7", "seed: 8"))
    fourth = build_feature_set(wh, lake, changed)
    assert fourth.spec_hash != spec.spec_hash and fourth.version not in (first.version, third.version)
    assert [v["version"] for v in dataset_versions(wh, "trap")] == [
        fourth.version,
        third.version,
        first.version,
    ]


def test_statistics_are_fitted_on_train_only_and_serving_reproduces_them(
    warehouse_url: str, tmp_path: Path
) -> None:
    seeded(warehouse_url)
    spec = spec_file(tmp_path)
    lake = LocalLake(tmp_path / "lake")
    result = build_feature_set(Warehouse(warehouse_url), lake, spec)
    table = rows(warehouse_url)
    train = [r["spend"] for r in table if r["split"] == "train"]
    everyone = [r["spend"] for r in table]
    assert 0 < len(train) < len(everyone)
    assert result.stats["spend"]["mean"] == pytest.approx(sum(train) / len(train), rel=1e-12)
    assert result.stats["spend"]["mean"] != pytest.approx(sum(everyone) / len(everyone), rel=1e-6)
    assert sum(r["spend_z"] for r in table if r["split"] == "train") == pytest.approx(0.0, abs=1e-9)
    counts = result.stats["events_n"]
    assert counts["min"] == min(r["events_n"] for r in table if r["split"] == "train")
    assert set(result.stats["last_channel"]["categories"]) <= set(CHANNELS)
    assert len(result.stats["last_channel"]["categories"]) == 2

    # Serving: raw features + the statistics stored with the version give the same transformed values.
    exported = pq.read_table(tmp_path / "lake" / "atlas-ai-ready" / "trap" / result.version / "data.parquet")
    stats = json.loads(lake.get_bytes("atlas-ai-ready", f"trap/{result.version}/spec.json"))["statistics"]
    raw_names = [
        "customer_id",
        "event_timestamp",
        "churned",
        "spend",
        "events_n",
        "spend_7d",
        "web_events",
        "last_channel",
        "region",
        "avg_spend",
    ]
    served = apply_transforms(exported.select(raw_names), spec, stats)
    for name in exported.schema.names:
        if name in ("split",):
            continue
        left, right = exported.column(name).to_pylist(), served.column(name).to_pylist()
        if isinstance(left[0], float):
            assert left == pytest.approx(right, rel=1e-12, abs=1e-12), name
        else:
            assert left == right, name


def test_splits_stay_put_when_rows_are_appended(warehouse_url: str, tmp_path: Path) -> None:
    seeded(warehouse_url, last=60)
    spec = spec_file(tmp_path)
    wh = Warehouse(warehouse_url)
    build_feature_set(wh, None, spec)
    before = {(r["customer_id"], r["event_timestamp"]): r["split"] for r in rows(warehouse_url)}
    seeded(warehouse_url, last=200)  # 140 new customers, with events and labels
    build_feature_set(wh, None, spec)
    after = {(r["customer_id"], r["event_timestamp"]): r["split"] for r in rows(warehouse_url)}
    assert len(after) == len(before) + 140
    assert {k: after[k] for k in before} == before
    # The SQL assignment is exactly the Python one (serving can recompute it).
    keys = sorted(after)
    assert [after[k] for k in keys] == assign_splits([k[0] for k in keys], 7, spec.split.fractions)
    both_rows_of_one_customer = {after[(1, at(9))], after[(1, at(24))]}
    assert len(both_rows_of_one_customer) == 1  # an entity never straddles splits


def test_bad_spines_are_refused_with_one_line(warehouse_url: str, tmp_path: Path) -> None:
    seeded(warehouse_url)
    duplicated = SPEC.replace(
        "FROM atlas_gold.labels",
        "FROM atlas_gold.labels UNION ALL SELECT customer_id, as_of, "
        "churned FROM atlas_gold.labels WHERE customer_id = 1",
    )
    with pytest.raises(AtlasError, match=r"spine: 2 duplicate \(customer_id, event_timestamp\) rows"):
        build_feature_set(Warehouse(warehouse_url), None, spec_file(tmp_path, duplicated))
    typed = SPEC.replace("transforms: [{one_hot: {top_k: 2}}]", "transforms: [standardize]")
    with pytest.raises(AtlasError) as excinfo:
        build_feature_set(Warehouse(warehouse_url), None, spec_file(tmp_path, typed))
    assert "feature 'last_channel': standardize needs a numeric feature (it is text)" in str(excinfo.value)
    with psycopg.connect(warehouse_url) as conn:  # nothing left behind in staging
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'atlas_staging'"
        ).fetchone() == (0,)


def test_cli_lists_versions(atlas_env: dict[str, str], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from atlas_cli.main import app

    spec = spec_file(tmp_path)
    atlas_env["ATLAS_MODELS_DIR"] = str(tmp_path / "models")
    runner = CliRunner()
    empty = runner.invoke(app, ["datasets", "versions", "trap", "--json"])  # migrates the warehouse too
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    url = atlas_env["ATLAS_POSTGRES_URL"]
    seeded(url)
    built = build_feature_set(Warehouse(url), None, spec)
    listed = runner.invoke(app, ["datasets", "versions", "trap", "--json"])
    assert listed.exit_code == 0, listed.output
    (entry,) = json.loads(listed.stdout)
    assert (entry["version"], entry["rows"], entry["materializations"]) == (built.version, 61, 1)
    table = runner.invoke(app, ["datasets", "versions", "trap"], env={"COLUMNS": "160"})
    assert built.version in table.stdout
    unknown = runner.invoke(app, ["datasets", "versions", "nope"])
    assert unknown.exit_code == 2 and "unknown feature set 'nope'; defined: trap" in unknown.stderr


def test_upstream_fingerprints_come_from_the_builds_snapshot(warehouse_url: str) -> None:
    """The fingerprints taken beside the build see the tables as its transaction does, not as they are
    once another session has written to them."""
    wh = Warehouse(warehouse_url)
    table = ("atlas_gold", "fingerprinted")
    with wh.transaction() as conn:
        conn.execute("CREATE TABLE atlas_gold.fingerprinted (id bigint, amount double precision)")
        conn.execute("INSERT INTO atlas_gold.fingerprinted VALUES (1, 2.5), (2, 4.0)")
    try:
        with wh.transaction() as build:
            build.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            snapshot = build.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
            seen = build.execute("SELECT atlas_meta.table_fingerprint('atlas_gold.fingerprinted')").fetchone()
            with wh.transaction() as writer:
                writer.execute("INSERT INTO atlas_gold.fingerprinted VALUES (3, 1.0)")
            assert fingerprints_in_snapshot(wh, snapshot, [table]) == [seen[0]]  # type: ignore[index]
        with wh.transaction() as after:
            now = after.execute("SELECT atlas_meta.table_fingerprint('atlas_gold.fingerprinted')").fetchone()
        assert now != seen
    finally:
        with wh.transaction() as conn:
            conn.execute("DROP TABLE atlas_gold.fingerprinted")
