"""AI-ready: customer features (RFM and friends), standardised on the train split, versioned by content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from atlas_core import features
from atlas_core.layout import Layer
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Warehouse

SPLIT_SEED = 42
FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}
RAW_FEATURES = ["recency_days", "frequency", "monetary", "avg_order_value", "distinct_products", "tenure_days", "cancel_rate"]

CUSTOMER_FEATURES_SQL = sql.SQL("""
WITH ref AS (SELECT coalesce(max(order_date), current_date) + 1 AS as_of FROM atlas_gold.fact_orders),
orders AS (
    SELECT f.customer_sk,
           count(*) FILTER (WHERE NOT f.is_cancelled) AS frequency,
           coalesce(sum(f.total) FILTER (WHERE NOT f.is_cancelled), 0) AS monetary,
           max(f.order_date) AS last_order_date,
           count(DISTINCT f.product_sk) AS distinct_products,
           avg(f.is_cancelled::int) AS cancel_rate
    FROM atlas_gold.fact_orders f GROUP BY f.customer_sk
)
SELECT c.customer_id,
       (ref.as_of - o.last_order_date)::bigint AS recency_days,
       o.frequency::bigint AS frequency,
       round(o.monetary::numeric, 2)::double precision AS monetary,
       CASE WHEN o.frequency > 0 THEN round((o.monetary / o.frequency)::numeric, 2)::double precision ELSE 0 END
           AS avg_order_value,
       o.distinct_products::bigint AS distinct_products,
       (ref.as_of - c.signup_date)::bigint AS tenure_days,
       o.cancel_rate::double precision AS cancel_rate,
       ref.as_of AS as_of_date
FROM atlas_gold.dim_customer c JOIN orders o ON o.customer_sk = c.customer_sk CROSS JOIN ref
ORDER BY c.customer_id
""")

SOURCE_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64()),
        *(pa.field(n, pa.float64() if n in ("monetary", "avg_order_value", "cancel_rate") else pa.int64()) for n in RAW_FEATURES),
        pa.field("as_of_date", pa.date32()),
    ]
)


@dataclass
class FeatureResult:
    rows: int
    version: str
    stats: dict[str, dict[str, float]]
    split_counts: dict[str, int]
    lake_uri: str | None
    schema: pa.Schema


def build_customer_features(wh: Warehouse, lake: Lake | None) -> FeatureResult:
    table = pa.Table.from_batches(list(wh.stream(CUSTOMER_FEATURES_SQL, SOURCE_SCHEMA)), schema=SOURCE_SCHEMA)
    ids = table.column("customer_id").to_pylist()
    split = pa.array(features.assign_splits(ids, SPLIT_SEED, FRACTIONS), pa.string())
    train = pc.equal(split, "train")
    stats = {}
    for name in RAW_FEATURES:
        column = table.column(name).combine_chunks()
        stats[name] = features.fit_standardizer(column, train)
        table = table.append_column(f"{name}_z", features.standardize(column, stats[name]))
    table = table.append_column("split", split)
    spec = {"features": RAW_FEATURES, "seed": SPLIT_SEED, "fractions": FRACTIONS, "stats": stats}
    content = features.table_content_hash(table, ["customer_id"])
    version = hashlib.sha256((content + json.dumps(spec, sort_keys=True)).encode()).hexdigest()[:16]
    table = table.append_column("version", pa.array([version] * table.num_rows, pa.string()))
    target = (Layer.AI_READY.schema, "customer_features")
    wh.replace_table(target, table.schema, table.to_batches())
    uri = None
    if lake is not None:
        bucket = Layer.AI_READY.bucket
        lake.ensure_buckets([bucket])
        key = f"customer_features/{version}/data.parquet"
        if not lake.exists(bucket, key):
            lake.write_parquet(bucket, key, table.to_batches(), table.schema)
            lake.put_bytes(bucket, f"customer_features/{version}/spec.json", json.dumps(spec, indent=2).encode())
        uri = lake.uri(bucket, key)
    counts = {name: int(pc.sum(pc.equal(split, name)).as_py() or 0) for name in FRACTIONS}
    return FeatureResult(table.num_rows, version, stats, counts, uri, table.schema)
