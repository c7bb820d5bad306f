"""The API writes data only through Dagster: its import-linter contract holds, and the upload run plan."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from atlas_core.contracts import load_contracts
from atlas_core.file_scan import scan_file
from atlas_core.upload_runs import bronze_op_name, upload_run

PROJECT_DIR = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_the_api_never_imports_the_engines_write_paths() -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--contract", "api-writes-through-dagster"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 kept, 0 broken" in result.stdout


def test_upload_run_covers_the_files_partitions_or_runs_bronze_alone(tmp_path: Path) -> None:
    orders = next(c for c in load_contracts(PROJECT_DIR / "contracts") if c.dataset == "orders")
    header = ",".join(orders.column_names)
    two_days = tmp_path / "two_days.csv"
    two_days.write_text(
        f"{header}\n1,1,1,2026-10-20T10:00:00Z,1,1,1,placed,web\n"
        f"2,1,1,2026-10-22T10:00:00Z,1,1,1,placed,web\n"
    )
    scan = scan_file(orders, two_days)
    assert scan.rejected is None and scan.partition_keys == ["2026-10-20", "2026-10-22"]
    plan = upload_run(
        orders, scan, trigger="api", landing_key="landing/orders/.uploads/x/a.csv", require_new=True
    )
    assert plan.assets == [["bronze", "orders"], ["silver", "orders"]]
    assert plan.partition_tags == {
        "dagster/asset_partition_range_start": "2026-10-20",
        "dagster/asset_partition_range_end": "2026-10-22",
    }
    config = plan.run_config["ops"][bronze_op_name("orders")]["config"]
    assert config == {
        "source_system": "api",
        "require_new": True,
        "landing_keys": ["landing/orders/.uploads/x/a.csv"],
    }
    assert plan.tags["atlas/landing"] == "orders" and plan.tags["atlas/upload_sha256"] == scan.sha256[:16]

    broken = tmp_path / "broken.csv"
    broken.write_text("order_id\n1\n")
    rejected = scan_file(orders, broken)
    assert rejected.rejected is not None and rejected.rejected.startswith("broken.csv: missing column")
    alone = upload_run(orders, rejected, trigger="cli", file=str(broken))
    assert alone.assets == [["bronze", "orders"]]
    assert orders.partitioning is not None and alone.partition == orders.partitioning.start.isoformat()
    assert date.fromisoformat(alone.partition) == orders.partitioning.start
