"""CLI commands of the orchestration domain: ``ingest``, ``ingestions``, ``backfill``, ``retention run``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from atlas_cli.errors import fail, one_line_errors

console = Console()
retention_app = typer.Typer(
    help="Retention per layer: delete expired partitions and lake objects.", no_args_is_help=True
)


@one_line_errors
def ingest_command(
    dataset: Annotated[str, typer.Argument(help="Dataset name (its contract in contracts/, or --contract)")],
    file: Annotated[Path, typer.Argument(help="CSV file (plain or .gz)")],
    contract: Annotated[
        Path | None, typer.Option("--contract", help="Contract file to use for this dataset")
    ] = None,
) -> None:
    """Ingest one file now as one Dagster run.

    The raw copy is kept in the lake, the rows go to bronze, then silver is built for the touched
    partitions.

    Prints the ingestion record as JSON. A file that cannot be read is rejected: one line
    'error: <file>: <reason>', exit code 2, the file kept under rejected/ and recorded.
    """
    from atlas_cli.ingest import ingest_now
    from atlas_cli.runtime import boot

    result = ingest_now(boot(), dataset, file, contract)
    print(json.dumps(result.record))
    if result.silver is not None and not result.silver.success:
        raise fail(f"{file.name}: in bronze, but silver failed: {'; '.join(result.silver.failures)}")


@one_line_errors
def ingestions_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of records")] = False,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the newest N records")] = None,
) -> None:
    """The ingestion ledger: every file Atlas looked at (accepted, rejected, duplicate)."""
    from atlas_cli.runtime import boot
    from atlas_engine.ingestions import list_ingestions

    records = list_ingestions(boot().warehouse, dataset, limit)
    if as_json:
        print(json.dumps(records, indent=2))
        return
    table = Table("ingested at", "dataset", "file", "status", "bronze", "silver", "quarantined", "reason")
    for r in records:
        table.add_row(
            str(r["ingested_at"])[:19],
            str(r["dataset"]),
            str(r["file"]),
            str(r["status"]),
            str(r["rows_bronze"]),
            str(r["rows_silver"] if r["rows_silver"] is not None else "-"),
            str(r["rows_quarantined"] if r["rows_quarantined"] is not None else "-"),
            str(r["reason"] or ""),
        )
    console.print(table)


@one_line_errors
def backfill_command(
    select: Annotated[
        str, typer.Option("--select", "-s", help="Dagster selection, e.g. 'key:silver/orders+'")
    ],
    start: Annotated[str, typer.Option("--from", help="First partition key, e.g. 2026-10-03")],
    end: Annotated[str, typer.Option("--to", help="Last partition key (inclusive)")],
    wait: Annotated[
        bool, typer.Option("--wait", help="With a running atlas up: wait for the backfill to end")
    ] = False,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Never hand over to a running daemon")
    ] = False,
) -> None:
    """Re-materialize a partition range (validated first).

    Runs in-process, or as a Dagster backfill when 'atlas up' is running."""
    from atlas_cli.backfill import plan_backfill, run_backfill
    from atlas_cli.runtime import boot

    atlas = boot()
    plan = plan_backfill(atlas.definitions, select, start, end)
    port = None if in_process else atlas.settings.webserver_port
    outcome = run_backfill(atlas.instance, atlas.definitions, plan, port=port, wait=wait)
    print(
        f"backfill {outcome.backfill_id} ({outcome.mode}): {outcome.status}, "
        f"{outcome.partitions} partitions {plan.start}..{plan.end}, "
        f"{len(plan.asset_keys)} asset(s)"
    )
    failures = [f for run in outcome.runs for f in run.failures]
    if failures or outcome.status in ("COMPLETED_FAILED", "FAILED", "CANCELED"):
        raise fail("; ".join(failures) or f"backfill {outcome.backfill_id} ended {outcome.status}")


@retention_app.command("run")
@one_line_errors
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be deleted")] = False,
    as_of: Annotated[
        str | None, typer.Option(help="Evaluate the windows as of this day (YYYY-MM-DD)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delete partitions and lake objects older than their layer's retention.

    Every deletion is logged in atlas_meta.retention_log."""
    from atlas_assets.orchestration import retention_days
    from atlas_cli.runtime import boot
    from atlas_core.contracts import load_contracts
    from atlas_core.errors import InputRejected
    from atlas_core.sql_models import load_models
    from atlas_engine.retention import as_of as as_of_day
    from atlas_engine.retention import policy_from, run_retention

    atlas = boot()
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise InputRejected(f"--as-of {as_of!r}: use YYYY-MM-DD") from None
    contracts = load_contracts(atlas.settings.resolved_contracts_dir())
    models = load_models(atlas.settings.resolved_models_dir())
    gold = [
        (m.name, m.header.partition_column) for m in models if m.incremental and m.header.partition_column
    ]
    report = run_retention(
        atlas.warehouse,
        atlas.lake,
        contracts,
        gold,
        policy_from(retention_days(atlas.settings), contracts),
        now=as_of_day(day),
        dry_run=dry_run,
    )
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
        return
    verb = "would delete" if dry_run else "deleted"
    for action in report.actions:
        print(
            f"{verb} {action.layer:10} {action.target} {action.partition_key or '':10} "
            f"{action.rows} rows {action.objects} objects (before {action.cutoff})"
        )
    print(f"{verb} {report.rows} rows and {report.objects} objects")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("ingestions")(ingestions_command)
    app.command("backfill")(backfill_command)
    app.add_typer(retention_app, name="retention")
