"""``atlas db``: the databases behind Atlas (migrations here; more sub-commands join ``db_app``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from atlas_cli.errors import one_line_errors

db_app = typer.Typer(help="The warehouse and Dagster databases: migrations and roles.", no_args_is_help=True)
console = Console()


@db_app.command("migrate")
@one_line_errors
def migrate(
    dagster_storage: Annotated[
        bool,
        typer.Option(
            "--dagster-storage/--no-dagster-storage", help="Also create or upgrade Dagster's storage"
        ),
    ] = True,
) -> None:
    """Create missing databases, apply pending migrations, create/upgrade Dagster's storage (idempotent).

    The `atlas` and `dagster` databases are created when missing, Atlas' numbered migrations are applied
    once each, and Dagster's run, event and schedule storage is created or upgraded. docker-compose runs
    it once (service atlas-migrate) before any Dagster process starts.
    """
    from atlas_cli.runtime import quiet_warnings
    from atlas_core.settings import get_settings
    from atlas_resources import pgurl
    from atlas_resources.bootstrap import prepare_runtime

    quiet_warnings()
    runtime = prepare_runtime(get_settings())
    if runtime.migrations_applied:
        for name in runtime.migrations_applied:
            console.print(f"applied {name}")
    else:
        console.print("atlas migrations: up to date")
    if dagster_storage:
        upgrade_dagster_storage()
        console.print(f"dagster storage: ready ({pgurl.redact(runtime.dagster_postgres_url)})")


def upgrade_dagster_storage() -> None:
    """What ``dagster instance migrate`` does, for the instance in ``$DAGSTER_HOME`` (exported by
    prepare_runtime)."""
    import dagster as dg

    from atlas_core.errors import ServiceUnavailable

    try:
        instance = dg.DagsterInstance.get()
    except Exception as exc:  # dagster raises its own config/connection errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(f"cannot open the Dagster instance: {first}") from exc
    try:
        instance.upgrade()
    finally:
        instance.dispose()


@db_app.command("grants")
@one_line_errors
def grants() -> None:
    """Create Postgres roles mirroring the API roles and reset their privileges (idempotent).

    atlas_analyst reads gold and ai_ready, atlas_ml ai_ready, atlas_engineer/atlas_admin also the
    non-raw columns of bronze/silver; only atlas_pipeline reads raw (PII) columns. See
    atlas_resources/db_roles.py and docs/api.md.
    """
    from atlas_cli.runtime import quiet_warnings
    from atlas_core.contracts import load_contracts
    from atlas_core.settings import get_settings
    from atlas_resources.bootstrap import prepare_runtime
    from atlas_resources.db_roles import apply_grants

    quiet_warnings()
    settings = get_settings()
    runtime = prepare_runtime(settings)
    for line in apply_grants(runtime.postgres_url, load_contracts(settings.resolved_contracts_dir())):
        console.print(line)
