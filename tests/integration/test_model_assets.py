"""Models and feature sets as Dagster assets, on a real instance: files alone add assets, a failing
blocking test stops downstream, and editing a business rule makes the model and its dependents stale."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import psycopg
import pytest

from atlas_assets.definitions import build_definitions
from atlas_cli.runs import execute
from atlas_cli.runtime import boot
from atlas_core.settings import get_settings
from tests.support.postgres import replace_table
from tests.support.processes import stop_group

pytestmark = pytest.mark.slow
PROJECT_DIR = Path(__file__).resolve().parents[2]

BASE = """/* ---
description: one row per order
primary_key: [order_id]
tests:
  - unique: [order_id]
  - accepted_values: {status: [placed, shipped]}
    severity: warn
--- */
SELECT order_id, customer_id, total, status FROM atlas_silver.orders
"""
BASE_RULES = """rules:
  - {name: review, kind: flag, expression: total >= 100, description: review big orders, owner: risk}
"""
CHILD = """/* ---
description: spend per customer
tests:
  - not_null: [customer_id]
--- */
SELECT customer_id, sum(total) AS spend, count(*) FILTER (WHERE review) AS reviewed
FROM atlas_gold.base_orders GROUP BY 1
"""
FEATURES = """description: spend features
entity_key: customer_id
spine: SELECT customer_id, now() AS event_timestamp FROM atlas_gold.customer_spend
sources:
  spend: {model: gold.customer_spend, timestamp: as_of}
features:
  - name: spend_seen
    aggregate: {source: spend, function: count}
"""


def models_dir(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    (root / "gold").mkdir(parents=True)
    (root / "ai_ready").mkdir()
    (root / "gold" / "base_orders.sql").write_text(BASE)
    (root / "gold" / "base_orders.rules.yml").write_text(BASE_RULES)
    (root / "gold" / "customer_spend.sql").write_text(CHILD)
    return root


def seed_orders(url: str, rows: list[tuple[int, int, float, str]]) -> None:
    columns = "order_id bigint, customer_id bigint, total double precision, status text"
    replace_table(url, "atlas_silver", "orders", columns, rows)


GOOD = [(1, 10, 50.0, "placed"), (2, 10, 150.0, "shipped"), (3, 11, 20.0, "lost")]
KEYS = [dg.AssetKey(["gold", "base_orders"]), dg.AssetKey(["gold", "customer_spend"])]


def test_files_alone_add_assets_with_edges_and_checks(isolated_env: dict[str, str], tmp_path: Path) -> None:
    root = models_dir(tmp_path)
    (root / "ai_ready" / "spend_features.yml").write_text(FEATURES)
    isolated_env["ATLAS_MODELS_DIR"] = str(root)
    isolated_env["ATLAS_PROJECT_DIR"] = str(PROJECT_DIR)
    graph = build_definitions(get_settings()).resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"gold/base_orders", "gold/customer_spend", "ai_ready/spend_features"} <= keys
    assert "gold/dim_customer" not in keys  # only the files of this models directory
    assert graph.get(KEYS[0]).parent_keys == {dg.AssetKey(["silver", "orders"])}
    assert graph.get(KEYS[1]).parent_keys == {KEYS[0]}
    assert graph.get(dg.AssetKey(["ai_ready", "spend_features"])).parent_keys == {KEYS[1]}
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert {
        ("gold/base_orders", "unique_order_id"),
        ("gold/base_orders", "accepted_values_status"),
        ("gold/customer_spend", "not_null_customer_id"),
    } <= checks


def check_evaluations(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[bool, str]]:
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    out = {}
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data  # type: ignore[union-attr]
        out[evaluation.check_name] = (evaluation.passed, evaluation.severity.value)  # type: ignore[union-attr]
    return out


def test_failing_model_test_blocks_downstream(atlas_env: dict[str, str], tmp_path: Path) -> None:
    atlas_env["ATLAS_MODELS_DIR"] = str(models_dir(tmp_path))
    atlas = boot()
    url = atlas.runtime.postgres_url
    seed_orders(url, GOOD)
    ok = execute(atlas.instance, atlas.definitions, KEYS, show_progress=False)
    assert ok.success and ok.materialized == 2
    evaluations = check_evaluations(atlas.instance, ok.run_id)
    assert evaluations["unique_order_id"] == (True, "ERROR")
    assert evaluations["accepted_values_status"] == (False, "WARN")  # reported, not blocking
    materialization = atlas.instance.get_latest_materialization_event(KEYS[0])
    assert materialization is not None
    metadata = materialization.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["rule/review"].value == 1 and metadata["dagster/row_count"].value == 3

    seed_orders(url, [*GOOD, (3, 12, 999.0, "placed")])  # a duplicate order id
    failed = execute(atlas.instance, atlas.definitions, KEYS, show_progress=False)
    assert not failed.success and failed.materialized == 0
    assert failed.failures == [
        "gold__base_orders: gold.base_orders: blocking tests failed: unique_order_id "
        "(1 failing); nothing published"
    ]
    assert check_evaluations(atlas.instance, failed.run_id)["unique_order_id"] == (False, "ERROR")
    for key in KEYS:  # neither the failing model nor its dependent recorded a new materialization
        latest = atlas.instance.get_latest_materialization_event(key)
        assert latest is not None and latest.run_id == ok.run_id
    started = atlas.instance.get_records_for_run(
        run_id=failed.run_id, of_type=dg.DagsterEventType.STEP_START
    ).records
    assert [r.event_log_entry.step_key for r in started] == ["gold__base_orders"]  # the dependent never ran
    with psycopg.connect(url) as conn:  # readers still see the last good table
        assert conn.execute("SELECT count(*), max(total) FROM atlas_gold.base_orders").fetchone() == (
            3,
            150.0,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STALE_QUERY = """query ($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) { assetKey { path } staleStatus staleCauses { key { path } category reason } }
}"""
RELOAD = """mutation { reloadRepositoryLocation(repositoryLocationName: "atlas") { __typename } }"""


def graphql(port: int, query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


def stale(port: int) -> dict[str, tuple[str, set[str]]]:
    data = graphql(port, STALE_QUERY, {"keys": [{"path": k.path} for k in KEYS]})
    return {
        "/".join(node["assetKey"]["path"]): (
            node["staleStatus"],
            {c["category"] for c in node["staleCauses"]},
        )
        for node in data["assetNodes"]  # type: ignore[union-attr]
    }


def test_editing_a_rule_makes_the_model_and_its_dependents_stale(
    atlas_env: dict[str, str], tmp_path: Path
) -> None:
    root = models_dir(tmp_path)
    atlas_env["ATLAS_MODELS_DIR"] = str(root)
    atlas = boot()
    seed_orders(atlas.runtime.postgres_url, GOOD)
    assert execute(atlas.instance, atlas.definitions, KEYS, show_progress=False).success

    port = free_port()
    log = open(tmp_path / "webserver.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(PROJECT_DIR / "workspace.yaml"),
        ],
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (tmp_path / "webserver.log").read_text(errors="replace")[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "webserver did not start"
            time.sleep(0.5)
        assert stale(port) == {"gold/base_orders": ("FRESH", set()), "gold/customer_spend": ("FRESH", set())}

        # The owner edits the rule's threshold: only the sidecar file changes.
        (root / "gold" / "base_orders.rules.yml").write_text(
            BASE_RULES.replace("total >= 100", "total >= 40")
        )
        assert graphql(port, RELOAD) == {"reloadRepositoryLocation": {"__typename": "WorkspaceLocationEntry"}}
        # Code versions hash the model lineage, so the dependent reports a code change right away.
        assert stale(port) == {
            "gold/base_orders": ("STALE", {"CODE"}),
            "gold/customer_spend": ("STALE", {"CODE"}),
        }
    finally:
        stop_group(server)
        log.close()

    # The same fact through the public Python API: the recorded code version differs from the new
    # definitions'.
    materialization = atlas.instance.get_latest_materialization_event(KEYS[0])
    assert materialization is not None
    recorded = materialization.asset_materialization.tags["dagster/code_version"]  # type: ignore[union-attr]
    current = build_definitions(get_settings()).resolve_asset_graph().get(KEYS[0]).code_version
    assert recorded != current
