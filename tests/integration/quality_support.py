"""Helpers for quality tests: load a small CSV through bronze and silver on a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas_core.contracts import Contract
from atlas_core.contracts.loader import parse_contract
from atlas_engine.bronze import ingest_file
from atlas_engine.quality import QualityReport, evaluate
from atlas_engine.silver import SilverResult, build_silver
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse


@dataclass
class Loaded:
    contract: Contract
    silver: SilverResult
    report: QualityReport | None

    def rule_failures(self) -> dict[str, int]:
        assert self.report is not None
        return {r.id: r.failed_rows or 0 for r in self.report.rules if r.failed_rows}

    def score(self, dimension: str) -> float:
        assert self.report is not None
        from atlas_core.contracts.fields import Dimension

        return self.report.overall(Dimension(dimension)).score


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:6]}"


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def contract_for(dataset: str, csv_path: Path, columns: list[dict[str, Any]], **extra: Any) -> Contract:
    data: dict[str, Any] = {
        "dataset": dataset,
        "source": {"kind": "file", "path": str(csv_path)},
        "columns": columns,
    }
    data.update(extra)
    return parse_contract(data, f"{dataset}.yml")


def load(
    wh: Warehouse,
    tmp: Path,
    contract: Contract,
    *,
    partitions: list[str] | None = None,
    soda: bool = False,
    evaluate_quality: bool = True,
    run_id: str = "test-run",
) -> Loaded:
    """Ingest the contract's file into bronze and build silver (all partitions found, when partitioned)."""
    lake = LocalLake(tmp / "lake")
    source = Path(contract.source.path)  # type: ignore[union-attr]
    ingest_file(wh, lake, contract, source)
    keys = partitions
    if contract.is_partitioned and keys is None:
        keys = [
            r[0]
            for r in wh.fetch_all(
                f'SELECT DISTINCT _atlas_partition FROM atlas_bronze."{contract.dataset}" '  # noqa: S608 - test name
                "WHERE _atlas_partition IS NOT NULL ORDER BY 1"
            )
        ]
    reports: list[QualityReport] = []
    hook = (lambda staged: reports.append(evaluate(wh, staged, run_soda=soda))) if evaluate_quality else None
    result = build_silver(wh, None, contract, keys, run_id=run_id, on_staged=hook)
    return Loaded(contract, result, reports[0] if reports else None)


def quarantined(wh: Warehouse, dataset: str) -> dict[int, list[str]]:
    """Quarantined rows by source row number, with their rule ids."""
    rows = wh.fetch_all(
        f'SELECT _atlas_row_number, _atlas_rule_ids FROM atlas_quarantine."{dataset}" ORDER BY 1'  # noqa: S608
    )
    return {int(n): list(ids) for n, ids in rows}


def silver_rows(wh: Warehouse, dataset: str, columns: str = "*") -> list[tuple]:
    return wh.fetch_all(f'SELECT {columns} FROM atlas_silver."{dataset}" ORDER BY _atlas_row_number')  # noqa: S608
