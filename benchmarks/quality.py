"""Quality evaluation of N generated order rows vs one COPY of the same rows, measured in one run.

    .venv/bin/python benchmarks/quality.py [--rows 1000000] [--postgres-url URL]

The baseline is the COPY of the typed rows into a staging table (what every silver load does
anyway). The measured work is everything quality adds on top of it for the sample ``orders``
contract: planning (reference resolution, expression validation), the single rule pass writing the
verdicts (types, required, ranges, allowed values, primary key, references to customers and
products, the accuracy expression, freshness), dimension scores per partition, samples, and the
generated Soda contract verified against the staging table. Goal: at most 3x the COPY.
Results go to ``benchmarks/results/quality.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas_core import layout  # noqa: E402
from atlas_core.casting import cast_batch  # noqa: E402
from atlas_core.contracts import load_contract  # noqa: E402
from atlas_core.contracts.fields import Dimension  # noqa: E402
from atlas_core.samples import DEFAULT_ROWS, iter_orders  # noqa: E402
from atlas_engine.quality import evaluate  # noqa: E402
from atlas_engine.quality_plan import plan_for_load, write_verdicts  # noqa: E402
from atlas_engine.staging import StagedLoad, staging_schema  # noqa: E402
from atlas_engine.tables import ensure_table  # noqa: E402
from atlas_resources.warehouse import Warehouse  # noqa: E402
from benchmarks.results import write_result  # noqa: E402
from benchmarks.scratch_db import scratch_benchmark_args, scratch_database  # noqa: E402


def typed_batches(contract, rows: int) -> list[pa.RecordBatch]:
    """The orders sample as staging batches (typed columns, row identity, partition, cast errors)."""
    out: list[pa.RecordBatch] = []
    offset = 0
    for raw in iter_orders(rows, batch_size=100_000):
        day = pc.utf8_slice_codeunits(raw.column("order_ts"), 0, 10)
        keep = pc.match_substring_regex(day, r"^\d{4}-\d{2}-\d{2}$")  # unmappable rows never reach staging
        n = raw.num_rows
        extra = pa.RecordBatch.from_arrays(
            [
                *raw.columns,
                pa.array([1] * n, pa.int64()),
                pa.array(range(offset + 1, offset + n + 1), pa.int64()),
                day,
            ],
            names=[*raw.schema.names, layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION],
        ).filter(keep)
        offset += n
        out.append(cast_batch(extra, contract, [layout.INGESTION_ID, layout.ROW_NUMBER, layout.PARTITION]))
    return out


def reference_tables(wh: Warehouse) -> None:
    with wh.connect(autocommit=True) as conn:
        for name, key, n in (
            ("customers", "customer_id", DEFAULT_ROWS["customers"]),
            ("products", "product_id", DEFAULT_ROWS["products"]),
        ):
            conn.execute(
                sql.SQL("CREATE TABLE atlas_silver.{} ({} bigint, {} text)").format(
                    sql.Identifier(name), sql.Identifier(key), sql.Identifier(layout.PARTITION)
                )
            )
            conn.execute(
                sql.SQL("INSERT INTO atlas_silver.{} SELECT g, '' FROM generate_series(1, %s) AS g").format(
                    sql.Identifier(name)
                ),
                (n,),
            )
            conn.execute(sql.SQL("ANALYZE atlas_silver.{}").format(sql.Identifier(name)))


def main() -> None:
    args = scratch_benchmark_args(__doc__, rows=1_000_000, result="quality.json")

    contract = load_contract(ROOT / "contracts" / "orders.yml")
    with scratch_database(args.postgres_url) as url:
        wh = Warehouse(url)
        reference_tables(wh)
        started = time.perf_counter()
        batches = typed_batches(contract, args.rows)
        generate_s = time.perf_counter() - started
        staged_rows = sum(b.num_rows for b in batches)
        staging = (layout.STAGING_SCHEMA, "orders__bench")
        verdicts = (layout.STAGING_SCHEMA, "orders__bench_v")

        with wh.connect(autocommit=True) as conn:
            ensure_table(conn, *staging, staging_schema(contract))
        t0 = time.perf_counter()
        with wh.transaction() as conn:
            Warehouse.copy_batches(conn, staging, iter(batches))
        copy_s = time.perf_counter() - t0

        # Soda's import (about a second) is paid once per process, not per load: keep it out of the timing.
        import soda_core.contracts.contract_verification  # noqa: F401

        keys = [
            r[0]
            for r in wh.fetch_all(
                sql.SQL("SELECT DISTINCT {} FROM {} ORDER BY 1").format(
                    sql.Identifier(layout.PARTITION), sql.Identifier(*staging)
                )
            )
        ]
        t1 = time.perf_counter()
        plan = plan_for_load(wh, contract, keys)
        t2 = time.perf_counter()
        with wh.connect(autocommit=True) as conn:
            write_verdicts(conn, plan, staging, verdicts)
        t3 = time.perf_counter()
        report = evaluate(
            wh, StagedLoad(contract, staging, verdicts, keys, "bench", staged_rows, plan), run_soda=False
        )
        t4 = time.perf_counter()
        from atlas_engine.quality import window_end
        from atlas_engine.quality_plan import soda_references
        from atlas_engine.soda import verify_table

        soda = verify_table(
            wh,
            contract,
            staging,
            references=soda_references(wh, contract, plan),
            window_end=window_end(contract, keys),
        )
        t5 = time.perf_counter()
        quality_s = t5 - t1
        result = {
            "rows": staged_rows,
            "partitions": len(keys),
            "rules": len(plan.rules),
            "soda_checks": len(soda),
            "generate_and_cast_s": round(generate_s, 3),
            "copy_s": round(copy_s, 3),
            "quality_s": round(quality_s, 3),
            "plan_s": round(t2 - t1, 3),
            "verdicts_s": round(t3 - t2, 3),
            "scores_s": round(t4 - t3, 3),
            "soda_s": round(t5 - t4, 3),
            "ratio": round(quality_s / copy_s, 3),
            "goal_ratio": 3.0,
            "failing_rows": {d.value: report.overall(d).failed_rows for d in Dimension},
        }

    print(
        f"quality evaluation of {result['rows']:,} rows ({result['partitions']} partitions, "
        f"{result['rules']} rules, {result['soda_checks']} Soda checks)"
    )
    print(f"{'step':<28}{'seconds':>10}")
    for label, key in (
        ("COPY into staging (baseline)", "copy_s"),
        ("plan", "plan_s"),
        ("rule pass (verdicts)", "verdicts_s"),
        ("scores + samples", "scores_s"),
        ("Soda contract", "soda_s"),
        ("quality total", "quality_s"),
    ):
        print(f"{label:<28}{result[key]:>10.3f}")
    print(f"{'ratio quality / COPY':<28}{result['ratio']:>10.2f}   (goal <= {result['goal_ratio']:.0f})")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
