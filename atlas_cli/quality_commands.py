"""``atlas quality ...``: data quality commands (``check`` a CSV file against a contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from atlas_cli.errors import one_line_errors

quality_app = typer.Typer(help="Data quality: check a file against a dataset contract.", no_args_is_help=True)
console = Console(stderr=False)


@quality_app.command("check")
@one_line_errors
def check(
    file: Annotated[Path, typer.Argument(help="CSV file (optionally gzip-compressed) to check")],
    contract: Annotated[Path, typer.Option("--contract", "-c", help="Contract YAML describing the file")],
    report: Annotated[Path | None, typer.Option("--report", help="Write the JSON report here")] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option("--quarantine", help="Write the quarantined rows (as read, plus _atlas_reasons) here"),
    ] = None,
    soda: Annotated[bool, typer.Option("--soda/--no-soda", help="Also run the generated Soda checks")] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the rows that would reach silver (standardized, repaired, typed) here"
        ),
    ] = None,
) -> None:
    """Evaluate FILE with the silver quality engine in a scratch schema; publish nothing.

    Exits 0 when the evaluation ran (even if checks failed); non-zero with an 'error: ...' line when the
    file or the contract cannot be used.
    """
    from atlas_core.contracts import load_contract
    from atlas_core.errors import InputRejected
    from atlas_core.logs import configure_logging
    from atlas_core.settings import get_settings
    from atlas_engine.file_check import check_file
    from atlas_resources.bootstrap import prepare_runtime
    from atlas_resources.warehouse import Warehouse

    parsed = load_contract(contract)
    if not file.is_file():
        raise InputRejected(f"{file}: no such file")
    settings = get_settings()
    configure_logging(file=settings.resolved_home() / "logs" / "atlas.log")
    runtime = prepare_runtime(settings, export=False)
    result = check_file(
        Warehouse(runtime.postgres_url),
        parsed,
        file,
        report_path=report,
        quarantine_path=quarantine,
        run_soda=soda,
        out_path=out,
    )
    data = result.report
    table = Table("dimension", "score", "threshold", "passed", title=f"{file.name} vs {parsed.dataset}")
    for name, dim in data["dimensions"].items():
        table.add_row(
            name, f"{dim['score']:.4f}", f"{dim['threshold']:.2f}", "yes" if dim["passed"] else "NO"
        )
    console.print(table)
    console.print(
        f"rows {data['rows']}, passed {data['passed_rows']}, quarantined {data['quarantined_rows']}"
    )
    skipped = [r["id"] for r in data["rules"] if not r["evaluated"]]
    if skipped:
        console.print(f"not evaluated: {', '.join(skipped)}")
    if report is not None:
        console.print(f"report: {report}")
    if data["repaired_cells"]:
        console.print(
            "repaired cells: " + ", ".join(f"{r} {n}" for r, n in sorted(data["repaired_cells"].items()))
        )
    if quarantine is not None:
        console.print(f"quarantine: {quarantine}")
    if out is not None:
        console.print(f"silver rows: {out}")
