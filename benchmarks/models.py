"""Gold models and the customer_features feature set on N generated orders, against plain SQL, in one run.

    .venv/bin/python benchmarks/models.py [--rows 200000] [--postgres-url URL]

Baselines, measured in the same run on the same data:
- gold: each shipped model's SELECT (with its rule columns) as a bare ``CREATE TABLE AS`` (no tests, rule
  hit counts, write-audit-publish, primary keys, fingerprints), in dependency order;
- ai_ready: the point-in-time raw feature query as a bare ``CREATE TABLE AS`` (no split statistics,
  transforms, fingerprints, version bookkeeping, Parquet export).
The measured work is ``run_model`` for every model and ``build_feature_set`` (with a local lake); the
Parquet export of every published model to a local lake (``export_model``) is timed on its own.
Results go to ``benchmarks/results/models.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas_core.features.point_in_time import point_in_time_query  # noqa: E402
from atlas_core.features.spec import load_feature_sets  # noqa: E402
from atlas_core.model_rules import model_select  # noqa: E402
from atlas_core.sql_models import load_models  # noqa: E402
from atlas_engine.ai_ready import build_feature_set, spine_column_names  # noqa: E402
from atlas_engine.gold import run_model  # noqa: E402
from atlas_engine.gold_lake import export_model  # noqa: E402
from atlas_resources.lake import LocalLake  # noqa: E402
from atlas_resources.warehouse import Warehouse  # noqa: E402
from benchmarks.results import write_result  # noqa: E402
from benchmarks.scratch_db import scratch_benchmark_args, scratch_database  # noqa: E402

WINDOW = (date(2026, 10, 1), date(2026, 10, 31))
SILVER = """
SELECT setseed(0.42);
CREATE TABLE atlas_silver.customers AS
SELECT g::bigint AS customer_id, 'first' || g AS first_name, 'last' || g AS last_name,
       'h' || md5(g::text) AS email,
       'city' || (g % 300) AS city, 'st' || (g % 50) AS state, lpad((g % 99999)::text, 5, '0') AS zip,
       timestamptz '2024-01-01' + (g % 900) * interval '1 day' AS signup_ts,
       (g % 10) <> 0 AS marketing_consent
FROM generate_series(1, {customers}) AS g;
CREATE TABLE atlas_silver.products AS
SELECT g::bigint AS product_id, 'SKU-' || g AS sku, 'product ' || g AS name,
       (ARRAY['toys','garden','beauty','home','sports','books','grocery','electronics'])[1 + g % 8]
           AS category,
       round((5 + (g * 37) % 400)::numeric, 2)::double precision AS unit_price, true AS active
FROM generate_series(1, {products}) AS g;
CREATE TABLE atlas_silver.orders AS
SELECT g::bigint AS order_id, 1 + floor(random() * {customers})::bigint AS customer_id,
       1 + floor(random() * {products})::bigint AS product_id,
       timestamptz '2026-10-01' + random() * interval '30 days' AS order_ts, q AS quantity, p AS unit_price,
       round((q * p)::numeric, 2)::double precision AS total,
       (ARRAY['placed','shipped','delivered','cancelled','returned'])[1 + floor(random() * 5)::int] AS status,
       (ARRAY['web','mobile','store'])[1 + floor(random() * 3)::int] AS channel
FROM generate_series(1, {orders}) AS g,
     LATERAL (SELECT 1 + floor(random() * 5)::int AS q,
                     round((5 + random() * 400)::numeric, 2)::double precision AS p
              WHERE g IS NOT NULL) AS v;
ANALYZE atlas_silver.customers; ANALYZE atlas_silver.products; ANALYZE atlas_silver.orders;
"""


def main() -> None:
    args = scratch_benchmark_args(__doc__, rows=200_000, result="models.json")

    with scratch_database(args.postgres_url) as url:
        wh = Warehouse(url)
        sizes = {"orders": args.rows, "customers": max(100, args.rows // 10), "products": 200}
        with wh.connect(autocommit=True) as conn:
            conn.execute(sql.SQL(SILVER).format(**{k: sql.Literal(v) for k, v in sizes.items()}))
        models = load_models(ROOT / "models")

        t0 = time.perf_counter()
        with wh.transaction() as conn:  # baseline: the bare SELECTs
            for model in models:
                window = WINDOW if model.incremental else None
                conn.execute(
                    sql.SQL("CREATE TABLE {} AS {}").format(
                        sql.Identifier("atlas_gold", model.name), model_select(model, window)
                    )
                )
        baseline_gold = time.perf_counter() - t0
        with wh.connect(autocommit=True) as conn:
            for model in models:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier("atlas_gold", model.name)))

        t1 = time.perf_counter()
        runs = [run_model(wh, m, WINDOW if m.incremental else None, rebuild=True) for m in models]
        gold_s = time.perf_counter() - t1
        assert all(r.published for r in runs), [
            (r.model, r.blocking_failures) for r in runs if not r.published
        ]

        (spec,) = load_feature_sets(ROOT / "models")
        with wh.connect(autocommit=True) as conn:
            spine_columns = spine_column_names(conn, spec)
            t2 = time.perf_counter()
            conn.execute(
                sql.SQL("CREATE TABLE atlas_staging.bench_raw AS {}").format(
                    point_in_time_query(spec, spine_columns)
                )
            )
            baseline_features = time.perf_counter() - t2
        with tempfile.TemporaryDirectory(prefix="atlas-bm-lake-") as lake_dir:
            t3 = time.perf_counter()
            features = build_feature_set(wh, LocalLake(lake_dir), spec)
            features_s = time.perf_counter() - t3
            t4 = time.perf_counter()
            exported = [
                export_model(wh, LocalLake(lake_dir), m, WINDOW if m.incremental else None) for m in models
            ]
            export_s = time.perf_counter() - t4
            export_bytes = sum(p.stat().st_size for p in (Path(lake_dir) / "atlas-gold").rglob("*.parquet"))

        result = {
            "orders": args.rows,
            "gold_rows": {r.model: r.rows for r in runs},
            "gold_checks": sum(len(r.checks) for r in runs),
            "gold_rules": sum(len(r.rules) for r in runs),
            "gold_baseline_s": round(baseline_gold, 3),
            "gold_s": round(gold_s, 3),
            "gold_ratio": round(gold_s / baseline_gold, 2),
            "gold_export_s": round(export_s, 3),
            "gold_export_objects": sum(len(e) for e in exported),
            "gold_export_bytes": export_bytes,
            "feature_rows": features.rows,
            "features_baseline_s": round(baseline_features, 3),
            "features_s": round(features_s, 3),
            "features_ratio": round(features_s / baseline_features, 2),
        }
        write_result(args.out, result)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
