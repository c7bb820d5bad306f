"""Pipeline benchmarks at 1M-5M generated order rows, each a ratio against a baseline measured in the same
run.

    .venv/bin/python benchmarks/pipeline.py e2e      [--rows 1000000]
    .venv/bin/python benchmarks/pipeline.py memory   [--small 500000 --large 5000000] [--select '*']
    .venv/bin/python benchmarks/pipeline.py load     [--rows 1000000 --repeat 3]
    .venv/bin/python benchmarks/pipeline.py backfill [--rows 1000000]
    .venv/bin/python benchmarks/pipeline.py handsql  [--rows 1000000 --repeat 3]
    .venv/bin/python benchmarks/pipeline.py fixedcost [--rows N: default the bundled sample] [--repeat 3]
    .venv/bin/python benchmarks/pipeline.py all      (e2e, backfill on the same installation, load, memory)

- ``e2e``: ``atlas materialize --select '*'`` (the real CLI: bronze -> silver -> gold -> ai_ready, all
  partitions, one run) on N generated orders ÷ the IO floor of the same file (pyarrow CSV read +
  Parquet write + psycopg COPY of the file's rows into a typed table). Goal <= 4. Per-step times come
  from the Dagster event log.
- ``memory``: peak RSS of the CLI process tree (``os.wait4``; the PostgreSQL server is not part of it)
  for the whole graph at 5M ÷ at 500k rows. Goal <= 1.3.
- ``load``: rows/s of a bare psycopg ``COPY ... FROM STDIN`` of the CSV bytes into a table of text
  columns (the baseline) against (a) the ``Warehouse`` resource's load path on the same rows: the file
  streamed as Arrow record batches, encoded and COPYed by ``Warehouse.replace_table`` into the same
  columns, and (b) Atlas' whole bronze ingestion (``atlas_engine.bronze.ingest_file``: sha256, raw copy
  to the lake, CSV parse with malformed-row capture, partition mapping, COPY with five metadata columns
  and the partition index, ingestion record). Goal >= 0.8.
- ``backfill``: one daily partition of the orders chain (``atlas materialize --partition``) ÷ the
  30-partition single-run backfill of the same chain (``atlas backfill --in-process``). Goal <= 1/10.
- ``handsql``: the whole graph ÷ a hand-written SQL medallion over the same files (``benchmarks/handsql.py``,
  run by ``benchmarks/baselines.py``). Goal <= 1.5.
- ``fixedcost``: one daily partition of the orders chain ÷ the same asset graph with no-op bodies
  through the same CLI path (``benchmarks/noop_graph.py``). Goal <= 1.5.

Every sub-command starts its own embedded PostgreSQL in a short /tmp directory (removed at exit) and
writes ``benchmarks/results/pipeline_<name>.json``. The machine's load average is recorded: other
processes share the cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import bench_fixedcost, bench_handsql
from sandbox import ROOT, Scenario, Server, generate_orders, machine, make_root, print_table, write_result

from atlas_core.casting import arrow_schema
from atlas_core.contracts import load_contract
from atlas_resources.arrowpg import column_definitions

CHAIN = 'key:"bronze/orders" or key:"silver/orders" or key:"gold/fact_orders" or key:"gold/daily_revenue"'
ONE_PARTITION = "2026-10-15"
FIRST, LAST = "2026-10-01", "2026-10-30"
FILE_CHUNK = 1 << 20


DATA_DIR: list[Path] = []  # --data-dir: where generated files are kept between invocations


def orders_file(root: Path, rows: int) -> Path:
    path = (DATA_DIR[0] if DATA_DIR else root) / f"orders_{rows}.csv"
    seconds = generate_orders(rows, path)
    if seconds:
        print(f"generated {rows:,} orders in {seconds:.1f}s ({path.stat().st_size / 1e6:.0f} MB)", flush=True)
    return path


def copy_file(conn: psycopg.Connection, table: str, path: Path, *, skip_bad_rows: bool = False) -> int:
    """COPY the bytes of a CSV file (header skipped) into ``table``; returns rows loaded."""
    options = sql.SQL("FORMAT csv, HEADER true" + (", ON_ERROR ignore" if skip_bad_rows else ""))
    with conn.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} FROM STDIN WITH ({})").format(sql.Identifier(table), options)) as copy:
            with open(path, "rb") as fh:
                while chunk := fh.read(FILE_CHUNK):
                    copy.write(chunk)
        return cur.rowcount


def io_floor(server: Server, csv: Path, scratch: Path) -> dict[str, float]:
    """The least any pipeline must do with the file: read it, write it as Parquet, COPY its rows."""
    contract = load_contract(ROOT / "contracts" / "orders.yml")
    url = server.database("atlas_floor")
    try:
        t0 = time.perf_counter()
        table = pacsv.read_csv(csv)
        t1 = time.perf_counter()
        pq.write_table(table, scratch / "floor.parquet")
        t2 = time.perf_counter()
        with psycopg.connect(url) as conn:
            conn.execute(
                sql.SQL("CREATE TABLE floor ({})").format(column_definitions(arrow_schema(contract)))
            )
            t3 = time.perf_counter()
            # The generated file has a few deliberately bad values (e.g. "not-a-timestamp"): skipped.
            rows = copy_file(conn, "floor", csv, skip_bad_rows=True)
            conn.commit()
        t4 = time.perf_counter()
    finally:
        server.drop("atlas_floor")
        (scratch / "floor.parquet").unlink(missing_ok=True)
    assert rows > 0.99 * table.num_rows, (rows, table.num_rows)
    read_s, parquet_s, copy_s = t1 - t0, t2 - t1, t4 - t3
    return {
        "rows": rows,
        "csv_read_s": round(read_s, 3),
        "parquet_write_s": round(parquet_s, 3),
        "copy_s": round(copy_s, 3),
        "total_s": round(read_s + parquet_s + copy_s, 3),
    }


# -- 1. end to end ------------------------------------------------------------------------------------
def bench_e2e(server: Server, rows: int, keep: Scenario | None = None) -> tuple[dict[str, Any], Scenario]:
    csv = orders_file(server.root, rows)
    before = io_floor(server, csv, server.root)
    scenario = keep or Scenario(server, "e2e", csv)
    load_at_start = machine()["load_average"]
    run = scenario.cli("materialize", "--select", "*")
    after = io_floor(server, csv, server.root)
    floor_s = (before["total_s"] + after["total_s"]) / 2
    steps = scenario.step_seconds(run.run_ids[0]) if run.run_ids else {}
    run_s = steps.pop("(run)", None)
    result = {
        "rows": rows,
        "io_floor_before": before,
        "io_floor_after": after,
        "io_floor_s": round(floor_s, 3),
        "cli_wall_s": round(run.wall_s, 3),
        "cli_cpu_s": round(run.cpu_s, 3),
        "run_wall_s": run_s,
        "cli_max_rss_mb": round(run.max_rss_mb, 1),
        "steps_s": dict(sorted(steps.items(), key=lambda kv: -kv[1])),
        "ratio": round(run.wall_s / floor_s, 2),
        "ratio_run_only": round(run_s / floor_s, 2) if run_s else None,
        "goal_ratio": 4.0,
        "load_average_at_start": load_at_start,
        "machine": machine(),
    }
    print_table(
        f"end to end, {rows:,} orders (atlas materialize --select '*')",
        [
            (
                "IO floor (read + parquet + COPY)",
                f"{floor_s:8.2f} s  (before {before['total_s']:.2f}, after {after['total_s']:.2f})",
            ),
            (
                "atlas materialize (CLI wall)",
                f"{run.wall_s:8.2f} s  (run {run_s or 0:.2f} s, CPU {run.cpu_s:.1f} s)",
            ),
            ("ratio (goal <= 4)", f"{result['ratio']:8.2f}   (run only {result['ratio_run_only']})"),
            *[(f"  step {k}", f"{v:8.2f} s") for k, v in result["steps_s"].items()],
        ],
    )
    write_result("e2e", result)
    return result, scenario


# -- 2. memory ----------------------------------------------------------------------------------------
def bench_memory(server: Server, small: int, large: int, select: str) -> dict[str, Any]:
    measured: dict[str, Any] = {}
    for label, rows in (("small", small), ("large", large)):
        csv = orders_file(server.root, rows)
        scenario = Scenario(server, f"mem{label}", csv)
        try:
            if label == "small":  # the same CLI without a run: what booting and the definitions cost
                status = scenario.cli("status")
                measured["boot_only_max_rss_mb"] = round(status.max_rss_mb, 1)
            run = scenario.cli("materialize", "--select", select)
            measured[label] = {
                "rows": rows,
                "max_rss_mb": round(run.max_rss_mb, 1),
                "wall_s": round(run.wall_s, 2),
                "cpu_s": round(run.cpu_s, 2),
                "load_average_after": machine()["load_average"],
            }
            print(f"{rows:>10,} rows: peak RSS {run.max_rss_mb:7.1f} MB in {run.wall_s:.1f}s", flush=True)
        finally:
            scenario.drop()
    ratio = measured["large"]["max_rss_mb"] / measured["small"]["max_rss_mb"]
    result = {
        "select": select,
        **measured,
        "ratio": round(ratio, 3),
        "growth_mb": round(measured["large"]["max_rss_mb"] - measured["small"]["max_rss_mb"], 1),
        "goal_ratio": 1.3,
        "machine": machine(),
    }
    print_table(
        f"peak RSS, atlas materialize --select {select!r}",
        [
            ("boot only (atlas status)", f"{measured['boot_only_max_rss_mb']:8.1f} MB"),
            (f"{small:,} rows", f"{measured['small']['max_rss_mb']:8.1f} MB"),
            (f"{large:,} rows", f"{measured['large']['max_rss_mb']:8.1f} MB"),
            ("ratio (goal <= 1.3)", f"{result['ratio']:8.3f}"),
        ],
    )
    write_result("memory", result)
    return result


# -- 3. warehouse load --------------------------------------------------------------------------------
def bench_load(server: Server, rows: int, repeat: int) -> dict[str, Any]:
    from atlas_core.csvio import READ_BLOCK_BYTES
    from atlas_core.file_open import sha256_file
    from atlas_engine.bronze import ingest_file
    from atlas_resources.lake import LocalLake
    from atlas_resources.migrations import apply_migrations
    from atlas_resources.warehouse import Warehouse

    csv = orders_file(server.root, rows)
    contract = load_contract(ROOT / "contracts" / "orders.yml")
    text_columns = sql.SQL(", ").join(
        sql.SQL("{} text").format(sql.Identifier(c)) for c in contract.column_names
    )

    def atlas_once(i: int) -> tuple[float, int]:
        url = server.database(f"atlas_load{i}")
        apply_migrations(url)
        lake = LocalLake(server.root / f"lake{i}")
        try:
            started = time.perf_counter()
            record = ingest_file(Warehouse(url), lake, contract, csv)
            return time.perf_counter() - started, record.rows_bronze
        finally:
            server.drop(f"atlas_load{i}")
            import shutil

            shutil.rmtree(lake.root, ignore_errors=True)

    def warehouse_load(block_size: int) -> Callable[[int], tuple[float, int]]:
        """Warehouse.replace_table fed by Arrow batches read with ``block_size`` (the source's choice:
        1 MiB blocks, as a stream of modest batches hands them, or 4 MiB as bronze's file reader does)."""

        def once(i: int) -> tuple[float, int]:
            url = server.database(f"wh_load{i}")
            try:
                started = time.perf_counter()
                options = pacsv.ConvertOptions(column_types={c: pa.string() for c in contract.column_names})
                reader = pacsv.open_csv(
                    csv, convert_options=options, read_options=pacsv.ReadOptions(block_size=block_size)
                )
                n = Warehouse(url).replace_table(("public", "loaded"), reader.schema, reader)
                return time.perf_counter() - started, n
            finally:
                server.drop(f"wh_load{i}")

        return once

    def raw_once(i: int) -> tuple[float, int]:
        url = server.database(f"raw_load{i}")
        try:
            with psycopg.connect(url) as conn:
                conn.execute(sql.SQL("CREATE TABLE raw ({})").format(text_columns))
                conn.commit()
                started = time.perf_counter()
                n = copy_file(conn, "raw", csv)
                conn.commit()
                return time.perf_counter() - started, n
        finally:
            server.drop(f"raw_load{i}")

    atlas_s: list[float] = []
    raw_s: list[float] = []
    warehouse_s: list[float] = []
    warehouse_4m_s: list[float] = []
    runs: list[tuple[str, Callable[[int], tuple[float, int]], list[float]]] = [
        ("raw COPY", raw_once, raw_s),
        ("Warehouse load", warehouse_load(1 << 20), warehouse_s),
        ("Warehouse 4MiB", warehouse_load(READ_BLOCK_BYTES), warehouse_4m_s),
        ("atlas ingest", atlas_once, atlas_s),
    ]
    for i in range(repeat):
        for label, fn, sink in runs if i % 2 == 0 else reversed(runs):  # alternate the order
            seconds, n = fn(i)
            assert n == rows, (label, n, rows)
            sink.append(seconds)
            print(f"  {label:<14}{seconds:7.2f} s  {rows / seconds:>12,.0f} rows/s", flush=True)
    t0 = time.perf_counter()
    sha256_file(csv)
    sha_s = time.perf_counter() - t0
    atlas_med, raw_med, warehouse_med = (
        statistics.median(atlas_s),
        statistics.median(raw_s),
        statistics.median(warehouse_s),
    )
    warehouse_4m_med = statistics.median(warehouse_4m_s)
    result = {
        "rows": rows,
        "file_mb": round(csv.stat().st_size / 1e6, 1),
        "repeat": repeat,
        "atlas_s": [round(s, 3) for s in atlas_s],
        "raw_copy_s": [round(s, 3) for s in raw_s],
        "warehouse_s": [round(s, 3) for s in warehouse_s],
        "warehouse_rows_per_s": round(rows / warehouse_med),
        "warehouse_ratio": round(raw_med / warehouse_med, 3),
        "warehouse_4mib_blocks_s": [round(s, 3) for s in warehouse_4m_s],
        "warehouse_4mib_blocks_ratio": round(raw_med / warehouse_4m_med, 3),
        "atlas_rows_per_s": round(rows / atlas_med),
        "raw_copy_rows_per_s": round(rows / raw_med),
        "sha256_s": round(sha_s, 3),
        "ratio": round(raw_med / atlas_med, 3),
        "goal_ratio": 0.8,
        "machine": machine(),
    }
    print_table(
        f"warehouse load, {rows:,} rows (median of {repeat})",
        [
            ("raw COPY of the CSV bytes", f"{result['raw_copy_rows_per_s']:>12,} rows/s"),
            ("Warehouse load (Arrow batches -> COPY)", f"{result['warehouse_rows_per_s']:>12,} rows/s"),
            ("  the same, source read in 4 MiB blocks", f"{rows / warehouse_4m_med:>12,.0f} rows/s"),
            ("Atlas bronze ingestion", f"{result['atlas_rows_per_s']:>12,} rows/s"),
            ("Warehouse load ratio (goal >= 0.8)", f"{result['warehouse_ratio']:12.3f}"),
            ("  with 4 MiB source blocks", f"{result['warehouse_4mib_blocks_ratio']:12.3f}"),
            ("bronze ingestion ratio", f"{result['ratio']:12.3f}"),
        ],
    )
    write_result("load", result)
    return result


# -- 4. one partition vs a 30-partition backfill ------------------------------------------------------
def bench_backfill(server: Server, rows: int, scenario: Scenario | None = None) -> dict[str, Any]:
    if scenario is None:
        scenario = Scenario(server, "backfill", orders_file(server.root, rows))
        scenario.cli("materialize", "--select", "*")  # everything upstream exists, bronze holds the file
    one_runs = []
    for _ in range(2):
        run = scenario.cli("materialize", "--select", CHAIN, "--partition", ONE_PARTITION)
        one_runs.append((run, scenario.step_seconds(run.run_ids[0])))
    run = scenario.cli("backfill", "--select", CHAIN, "--from", FIRST, "--to", LAST, "--in-process")
    backfill_id = run.stdout.split()[1]
    [backfill_run_id] = scenario.run_ids(("atlas/backfill", backfill_id))
    backfill_steps = scenario.step_seconds(backfill_run_id)
    one_wall = statistics.median(r.wall_s for r, _ in one_runs)
    one_run = statistics.median(s["(run)"] for _, s in one_runs)
    result = {
        "rows": rows,
        "chain": CHAIN,
        "one_partition": {
            "cli_wall_s": [round(r.wall_s, 3) for r, _ in one_runs],
            "run_wall_s": [s["(run)"] for _, s in one_runs],
            "steps_s": one_runs[-1][1],
        },
        "backfill_30": {
            "cli_wall_s": round(run.wall_s, 3),
            "run_wall_s": backfill_steps["(run)"],
            "steps_s": backfill_steps,
        },
        "ratio": round(one_wall / run.wall_s, 3),
        "ratio_run_only": round(one_run / backfill_steps["(run)"], 3),
        "backfill_vs_30_single_runs": round(run.wall_s / (30 * one_wall), 3),
        "goal_ratio": 0.1,
        "machine": machine(),
    }
    print_table(
        f"one partition vs 30-partition backfill, {rows:,} orders, chain of 4 assets",
        [
            ("one partition (CLI wall, median of 2)", f"{one_wall:8.2f} s  (run {one_run:.2f} s)"),
            (
                "30-partition backfill (CLI wall)",
                f"{run.wall_s:8.2f} s  (run {backfill_steps['(run)']:.2f} s)",
            ),
            (
                "ratio one / backfill (goal <= 0.1)",
                f"{result['ratio']:8.3f}  (run only {result['ratio_run_only']})",
            ),
            ("backfill / (30 x one partition)", f"{result['backfill_vs_30_single_runs']:8.3f}"),
        ],
    )
    write_result("backfill", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=["e2e", "memory", "load", "backfill", "handsql", "fixedcost", "all"]
    )
    parser.add_argument("--rows", type=int, default=None, help="default 1,000,000 (fixedcost: the sample)")
    parser.add_argument("--small", type=int, default=500_000)
    parser.add_argument("--large", type=int, default=5_000_000)
    parser.add_argument("--select", default="*", help="memory: the selection to materialize")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="Keep generated CSV files here (default: the temporary directory, removed at exit)",
    )
    args = parser.parse_args()
    if args.data_dir:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        DATA_DIR.append(args.data_dir.resolve())

    print(f"machine: {machine()}", flush=True)
    server = Server(make_root())
    if args.command == "fixedcost":
        csv = orders_file(server.root, args.rows) if args.rows else ROOT / "data" / "samples" / "orders.csv"
        bench_fixedcost(server, csv, CHAIN, ONE_PARTITION, args.repeat)
        return
    args.rows = args.rows or 1_000_000
    if args.command == "handsql":
        bench_handsql(server, orders_file(server.root, args.rows), args.rows, args.repeat)
    if args.command in ("e2e", "all"):
        _, scenario = bench_e2e(server, args.rows)
        if args.command == "all":
            bench_backfill(server, args.rows, scenario)
    if args.command == "backfill":
        bench_backfill(server, args.rows)
    if args.command in ("load", "all"):
        bench_load(server, args.rows, args.repeat)
    if args.command in ("memory", "all"):
        bench_memory(server, args.small, args.large, args.select)


if __name__ == "__main__":
    main()
