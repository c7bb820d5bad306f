"""Column lineage of the shipped gold models and feature set, from their SQL (sqlglot), as OpenLineage
facets."""

import json
from datetime import UTC, datetime, timedelta

from openlineage.client.serde import Serde

from atlas_core.column_lineage import (
    AGGREGATION,
    IDENTITY,
    TRANSFORMATION,
    SourceColumn,
    feature_set_column_lineage,
    model_column_lineage,
    sql_column_lineage,
)
from atlas_core.features.spec import load_feature_sets
from atlas_core.lineage import DatasetRef, OutputFacts, StepFacts, build_events, derived_column_lineage
from atlas_core.settings import PROJECT_DIR
from atlas_core.sql_models import load_models
from tests.support.lineage_schema import validate_event

MODELS = {m.name: m for m in load_models(PROJECT_DIR / "models")}


def test_gold_model_columns_trace_to_silver_and_gold_columns() -> None:
    fact = model_column_lineage(MODELS["fact_orders"])
    assert (fact["order_id"].kind, fact["order_id"].sources) == (
        IDENTITY,
        [SourceColumn("atlas_silver.orders", "order_id")],
    )
    assert (fact["order_date"].kind, fact["order_date"].sources) == (
        TRANSFORMATION,
        [SourceColumn("atlas_silver.orders", "order_ts")],
    )
    assert fact["customer_sk"].sources == [SourceColumn("atlas_gold.dim_customer", "customer_sk")]
    # A business rule is a column too: needs_review is computed from total.
    assert (fact["needs_review"].kind, fact["needs_review"].sources) == (
        TRANSFORMATION,
        [SourceColumn("atlas_silver.orders", "total")],
    )
    revenue = model_column_lineage(MODELS["daily_revenue"])
    assert (revenue["net_revenue"].kind, revenue["net_revenue"].sources) == (
        AGGREGATION,
        [
            SourceColumn("atlas_gold.fact_orders", "is_cancelled"),
            SourceColumn("atlas_gold.fact_orders", "total"),
        ],
    )
    assert "orders" not in revenue  # count(*) reads no column
    assert sql_column_lineage("SELEC broken") == {}


def test_feature_set_columns_trace_through_their_sources() -> None:
    (spec,) = load_feature_sets(PROJECT_DIR / "models")
    columns = [
        "customer_id",
        "event_timestamp",
        "recency_days",
        "monetary",
        "avg_order_value",
        "tenure_days",
        "preferred_channel_web",
        "split",
    ]
    lineage = feature_set_column_lineage(spec, columns)
    assert lineage["customer_id"].sources == [SourceColumn("atlas_gold.dim_customer", "customer_id")]
    assert lineage["monetary"].kind == AGGREGATION
    assert set(lineage["avg_order_value"].sources) == {
        SourceColumn("atlas_gold.fact_orders", "is_cancelled"),
        SourceColumn("atlas_gold.fact_orders", "total"),
    }
    assert set(lineage["tenure_days"].sources) == {
        SourceColumn("atlas_gold.dim_customer", "signup_date"),
        SourceColumn("atlas_gold.fact_orders", "order_date"),
    }
    assert lineage["preferred_channel_web"].sources == [SourceColumn("atlas_gold.fact_orders", "channel")]
    assert "split" not in lineage


def test_gold_column_lineage_events_are_valid_openlineage() -> None:
    now = datetime.now(UTC)
    resolve = lambda table: DatasetRef("postgres://localhost:5432", f"atlas.{table}")  # noqa: E731
    output = OutputFacts(
        resolve("atlas_gold.daily_revenue"),
        columns=[("order_date", "date")],
        column_lineage=derived_column_lineage(model_column_lineage(MODELS["daily_revenue"]), resolve),
    )
    facts = StepFacts(
        "gold.daily_revenue",
        "r:gold__daily_revenue",
        "2a0e0d7e-1c1b-4a8e-9f32-0d3d1b7c2f11",
        "__ASSET_JOB",
        now - timedelta(seconds=2),
        now,
        "COMPLETE",
        outputs=[output],
    )
    run_facts = StepFacts(
        "__ASSET_JOB",
        "2a0e0d7e-1c1b-4a8e-9f32-0d3d1b7c2f11",
        None,
        "__ASSET_JOB",
        now - timedelta(seconds=3),
        now,
        "ABORT",
        job_type="JOB",
    )
    for event in [
        *build_events(facts, namespace="atlas", dagster_version="1"),
        *build_events(run_facts, namespace="atlas", dagster_version="1"),
    ]:
        validate_event(json.loads(Serde.to_json(event)))
    complete = json.loads(Serde.to_json(build_events(facts, namespace="atlas", dagster_version="1")[-1]))
    fields = complete["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["units"]["inputFields"][0]["transformations"][0]["subtype"] == "AGGREGATION"
    assert fields["order_date"]["transformationType"] == "IDENTITY"
    assert fields["net_revenue"]["transformationType"] == "TRANSFORMATION"
