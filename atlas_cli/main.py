"""``atlas``: run the platform from a terminal. Every command prints ``error: ...`` and exits non-zero on
failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from atlas_cli.errors import fail, one_line_errors
from atlas_cli.options import JsonOutput

app = typer.Typer(
    name="atlas",
    help="Atlas: a medallion data platform on Dagster (bronze, silver, gold, ai_ready).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
contract_app = typer.Typer(
    help="Dataset contracts: validate them, print their JSON Schema.", no_args_is_help=True
)
app.add_typer(contract_app, name="contract")
console = Console(stderr=False)


@app.command()
@one_line_errors
def demo(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
) -> None:
    """Start embedded services, materialize the whole graph (all partitions), print a per-layer table."""
    from atlas_cli.demo import run_demo

    run_demo(show_progress=not quiet and sys.stdout.isatty(), console=console)


@app.command()
@one_line_errors
def up(
    host: Annotated[str, typer.Option(help="Interface the webserver (and API) listen on")] = "127.0.0.1",
    api: Annotated[
        bool, typer.Option(help="Also serve the REST API (--no-api when it runs on its own, `atlas api`)")
    ] = True,
) -> None:
    """Start services and the Dagster webserver + daemon in the foreground; Ctrl-C stops everything."""
    from atlas_cli.up import run_up

    raise typer.Exit(run_up(host, with_api=api))


@app.command()
@one_line_errors
def materialize(
    select: Annotated[
        str,
        typer.Option(
            "--select", "-s", help="Dagster selection, e.g. 'silver/orders' or 'key:silver/orders+'"
        ),
    ],
    partition: Annotated[str | None, typer.Option(help="One partition key, e.g. 2026-10-05")] = None,
) -> None:
    """Materialize selected assets (all partitions, or one with --partition) through the Dagster instance."""
    from atlas_cli.runs import (
        execute,
        materialize_all,
        partitions_of,
        resolve_selection,
        start_analyzer,
        validate_partition,
    )
    from atlas_cli.runtime import boot

    atlas = boot()
    keys = resolve_selection(atlas.definitions, select)
    if partition is not None:
        validate_partition(partitions_of(atlas.definitions, keys), partition)
    start_analyzer(atlas.definitions, keys)  # its seconds of loading overlap the instance and the run's start
    if partition is not None:
        outcomes = [
            execute(
                atlas.instance,
                atlas.definitions,
                keys,
                partition=partition,
                show_progress=sys.stdout.isatty(),
            )
        ]
    else:
        outcomes = materialize_all(atlas.instance, atlas.definitions, keys, "materializing")
    for outcome in outcomes:
        console.print(
            f"run {outcome.run_id}: {'SUCCESS' if outcome.success else 'FAILURE'} "
            f"({outcome.materialized} materializations, {outcome.seconds:.1f}s)"
        )
    failures = [f for o in outcomes for f in o.failures]
    if failures:
        raise fail("; ".join(failures))


@app.command()
@one_line_errors
def status(as_json: JsonOutput = False) -> None:
    """Assets with partitions materialized, last materialization and rows; schedules and sensors."""
    from atlas_cli.runtime import boot
    from atlas_cli.status import collect_status

    atlas = boot()
    report = collect_status(atlas)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table("asset", "partitions", "last materialization", "rows")
    for asset in report["assets"]:
        parts = (
            f"{asset['partitions_materialized']}/{asset['partitions_total']}" if asset["partitioned"] else "-"
        )
        table.add_row(asset["key"], parts, asset["last_materialization"] or "never", str(asset["rows"]))
    console.print(table)


@app.command()
@one_line_errors
def generate(
    dataset: Annotated[str, typer.Option(help="customers, products or orders")],
    out: Annotated[Path, typer.Option(help="CSV file to write")],
    rows: Annotated[int | None, typer.Option(min=1, help="Row count (default: the sample size)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file)")] = 20261001,
) -> None:
    """Write deterministic sample data of any size (for demos and benchmarks)."""
    from atlas_core import samples

    if dataset not in samples.DEFAULT_ROWS:
        raise fail(f"unknown dataset {dataset!r}; choose one of {', '.join(samples.DEFAULT_ROWS)}", 2)
    n = samples.generate(dataset, rows, out, seed)
    console.print(f"wrote {n} {dataset} rows to {out}")


@contract_app.command("schema")
@one_line_errors
def contract_schema() -> None:
    """Print the JSON Schema of contract files (for editor validation)."""
    from atlas_core.contracts import contract_json_schema

    print(contract_json_schema())


@contract_app.command("validate")
@one_line_errors
def contract_validate(paths: Annotated[list[Path], typer.Argument(help="Contract files")]) -> None:
    """Validate contract files; prints one line per file."""
    from atlas_core.contracts import load_contract

    for path in paths:
        contract = load_contract(path)
        console.print(f"{path}: ok ({contract.dataset}, {len(contract.columns)} columns)")


# -- domain command groups: each lives in atlas_cli/<domain>_commands.py (heavy imports inside commands) --
from atlas_cli.db_commands import db_app  # noqa: E402

app.add_typer(db_app, name="db")

from atlas_cli.pii_commands import pii_app  # noqa: E402

app.add_typer(pii_app, name="pii")

from atlas_cli.api_commands import api_command, apikeys_app, users_app  # noqa: E402

app.command("api")(api_command)
app.add_typer(users_app, name="users")
app.add_typer(apikeys_app, name="apikeys")

from atlas_cli.quality_commands import quality_app  # noqa: E402

app.add_typer(quality_app, name="quality")

from atlas_cli.orchestration_commands import register as register_orchestration  # noqa: E402

register_orchestration(app)

from atlas_cli.datasets_commands import datasets_app  # noqa: E402

app.add_typer(datasets_app, name="datasets")

from atlas_cli.bot_commands import bot_app  # noqa: E402

app.add_typer(bot_app, name="bot")


def main() -> None:
    try:
        app()
    except SystemExit as exc:  # typer ends every command with one (standalone mode)
        if exc.code is None or isinstance(exc.code, int):
            from atlas_cli.fastexit import exit_now

            exit_now(exc.code or 0)
        raise


if __name__ == "__main__":
    main()
