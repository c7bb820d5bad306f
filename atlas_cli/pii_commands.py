"""``atlas pii``: scan a file, show a dataset's PII report, decrypt (audited), forget a data subject."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from atlas_cli.errors import fail, one_line_errors
from atlas_cli.options import DatasetName, JsonOutput

pii_app = typer.Typer(
    help="PII protection: classify and anonymize files, reports, audited decryption, erasure.",
    no_args_is_help=True,
)


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


def _contract(dataset: str):  # -> Contract
    from atlas_core.contracts import load_contracts
    from atlas_core.settings import get_settings

    contracts = {c.dataset: c for c in load_contracts(get_settings().resolved_contracts_dir())}
    if dataset not in contracts:
        raise fail(f"unknown dataset {dataset!r}; known: {', '.join(sorted(contracts)) or 'none'}", 2)
    return contracts[dataset]


@pii_app.command("scan")
@one_line_errors
def scan(
    source: Annotated[Path, typer.Argument(help="CSV file to classify and anonymize")],
    out: Annotated[Path, typer.Option("--out", help="Anonymized CSV (same columns, same order, same rows)")],
    report: Annotated[
        Path, typer.Option("--report", help="JSON report: rows, seconds, per-column decisions")
    ],
    contract: Annotated[
        Path | None, typer.Option("--contract", help="Contract whose pii declarations apply")
    ] = None,
    sample_size: Annotated[
        int | None, typer.Option(min=1, help="Values sampled per column (default 500)")
    ] = None,
) -> None:
    """Classify every column of a CSV file and write an anonymized copy plus a report (no values in it)."""
    from atlas_cli.runtime import quiet_warnings
    from atlas_core.contracts import load_contract
    from atlas_core.pii.keys import keyring_from_settings
    from atlas_core.settings import get_settings
    from atlas_engine.pii_scan import scan_csv
    from atlas_resources.presidio import shared_engine

    quiet_warnings()
    settings = get_settings()
    keys = keyring_from_settings(settings)
    parsed = load_contract(contract) if contract is not None else None
    engine = shared_engine(
        str(settings.resolved_pii_recognizers()), settings.pii_n_process, settings.pii_batch_size
    )
    result = scan_csv(source, out, engine, keys, contract=parsed, sample_size=sample_size)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
    pii = [f"{name} ({c['entity']}, {c['strategy']})" for name, c in result.columns.items() if c["strategy"]]
    print(f"{result.rows} rows in {result.seconds:.2f}s; PII: {', '.join(pii) or 'none'}")


@pii_app.command("report")
@one_line_errors
def report(
    dataset: DatasetName,
    as_json: JsonOutput = False,
) -> None:
    """The latest PII report of a dataset: per column entity, confidence, strategy, counts."""
    from rich.console import Console
    from rich.table import Table

    from atlas_cli.runtime import boot
    from atlas_core.errors import AtlasError
    from atlas_engine.pii import latest_report

    _contract(dataset)
    atlas = boot()
    found = latest_report(atlas.warehouse, dataset)
    if found is None:
        raise AtlasError(f"no PII report for {dataset!r} yet: materialize silver/{dataset} first")
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table(
        "column",
        "entity",
        "confidence",
        "strategy",
        "free text",
        "cells changed",
        title=f"{dataset} ({found['partition_key'] or 'all'}, run {found['run_id']})",
    )
    for name, c in found["columns"].items():
        table.add_row(
            name,
            c["entity"] or "-",
            f"{c['confidence']:.2f}",
            c["strategy"] or "-",
            "yes" if c["free_text"] else "",
            str(c["cells_changed"]),
        )
    Console().print(table)


@pii_app.command("decrypt")
@one_line_errors
def decrypt(
    dataset: DatasetName,
    column: Annotated[str, typer.Argument(help="An encrypted column of the dataset")],
    tokens: Annotated[
        list[str] | None, typer.Argument(help="Tokens (enc1:...); '-' or none reads stdin")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who is asking (default: the OS user)")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded in atlas_meta.pii_audit)")] = None,
) -> None:
    """Decrypt tokens of an encrypted column. Every call is recorded in atlas_meta.pii_audit."""
    from atlas_cli.runtime import boot
    from atlas_engine.pii_decrypt import decrypt_values

    values = [t for t in (tokens or []) if t != "-"]
    if not values:
        values = [line.strip() for line in sys.stdin if line.strip()]
    if not values:
        raise fail("no tokens given (arguments or stdin)", 2)
    atlas = boot()
    for plain in decrypt_values(
        atlas.warehouse, atlas.settings, dataset, column, values, _actor(actor), reason=reason
    ):
        print(plain)


@pii_app.command("forget")
@one_line_errors
def forget(
    dataset: DatasetName,
    key: Annotated[str, typer.Argument(help="Primary-key value of the data subject")],
    actor: Annotated[
        str | None, typer.Option(help="Who requested the erasure (default: the OS user)")
    ] = None,
) -> None:
    """Erase one data subject from bronze, quarantine, silver, gold, ai_ready and the lake; keep it erased.

    Runs as the Dagster job 'atlas_pii_forget' (in-process, recorded in the instance's run history):
    the key is encrypted in its run config and hashed (keyed digest) in its tags, never stored raw."""
    from atlas_cli.pii_forget import forget_in_run
    from atlas_cli.runtime import boot

    contract = _contract(dataset)
    summary = forget_in_run(boot(), contract, key, _actor(actor))
    rows = ", ".join(f"{where} {n}" for where, n in summary["rows"].items())
    print(
        f"erased from {dataset}: rows deleted: {rows}; lake "
        f"objects rewritten: {summary['lake_objects_rewritten']}; "
        f"audit #{summary['audit_id']}; run {summary['run_id']}; later loads drop this subject"
    )
