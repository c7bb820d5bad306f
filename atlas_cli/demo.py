"""``atlas demo``: the whole pipeline on the bundled sample data, with a summary file."""

from __future__ import annotations

import json
import time

from rich.console import Console
from rich.table import Table

from atlas_cli.errors import fail
from atlas_cli.runs import materialize_all
from atlas_cli.runtime import boot
from atlas_cli.summary import layer_counts, quarantine_counts
from atlas_engine.pii import pii_summary


def summarize_checks(evaluations: list[dict[str, object]]) -> dict[str, object]:
    """Check results of the demo runs: totals, and per asset and check the evaluations passed/failed."""
    by_asset: dict[str, dict[str, dict[str, object]]] = {}
    for e in evaluations:
        entry = by_asset.setdefault(str(e["asset"]), {}).setdefault(
            str(e["check"]), {"passed": 0, "failed": 0, "severity": e["severity"]}
        )
        entry["passed" if e["passed"] else "failed"] += 1  # type: ignore[operator]
    failed = sorted(
        f"{asset}:{check}"
        for asset, checks in by_asset.items()
        for check, entry in checks.items()
        if entry["failed"]
    )
    return {
        "evaluations": len(evaluations),
        "passed": sum(1 for e in evaluations if e["passed"]),
        "failed": failed,
        "by_asset": {asset: dict(sorted(checks.items())) for asset, checks in sorted(by_asset.items())},
    }


def run_demo(*, show_progress: bool, console: Console) -> dict:
    started = time.monotonic()
    atlas = boot()
    defs = atlas.definitions
    keys = list(defs.resolve_asset_graph().get_all_asset_keys())
    outcomes = materialize_all(atlas.instance, defs, keys, "atlas demo")
    failures = [f for o in outcomes for f in o.failures]
    counts = layer_counts(atlas.warehouse, defs)
    summary = {
        "layers": counts,
        "quarantine": quarantine_counts(atlas.warehouse, sorted(counts["bronze"])),
        "checks": summarize_checks([c for o in outcomes for c in o.checks]),
        "pii": pii_summary(atlas.warehouse),
        "runs": [
            {"run_id": o.run_id, "success": o.success, "seconds": round(o.seconds, 2)} for o in outcomes
        ],
        "lineage_events": sum(o.lineage_events for o in outcomes),
        "success": not failures,
        "seconds": round(time.monotonic() - started, 2),
    }
    out = atlas.settings.resolved_home() / "demo" / "summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")

    table = Table("layer", "table", "rows", title="Atlas demo")
    for layer, tables in counts.items():
        for name, rows in tables.items():
            table.add_row(layer, name, f"{rows:,}")
    console.print(table)
    console.print(f"summary: {out}  ({summary['seconds']}s)")
    if failures:
        raise fail("; ".join(failures))
    return summary
