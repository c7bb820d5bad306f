"""``atlas api``, ``atlas users create``, ``atlas apikeys create``: the REST API and its accounts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from atlas_cli.errors import fail, one_line_errors

if TYPE_CHECKING:
    from atlas_core.roles import Role

users_app = typer.Typer(help="API users (argon2id hashes in atlas_meta.users).", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys for service accounts.", no_args_is_help=True)
ROLES = "admin, data_engineer, data_analyst, ml_engineer or viewer"


def _prepare() -> str:
    """Start/reach Postgres and apply migrations; returns the warehouse URL."""
    from atlas_cli.runtime import quiet_warnings
    from atlas_core.logs import configure_logging
    from atlas_core.settings import get_settings
    from atlas_resources.bootstrap import prepare_runtime

    quiet_warnings()
    settings = get_settings()
    configure_logging(file=settings.resolved_home() / "logs" / "atlas.log")
    return prepare_runtime(settings).postgres_url


def _role(value: str) -> Role:
    from atlas_core.roles import Role

    try:
        return Role(value)
    except ValueError:
        raise fail(f"unknown role {value!r}; choose {ROLES}", 2) from None


@one_line_errors
def api_command(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default ATLAS_API_PORT, 8000)")] = None,
    dagster_url: Annotated[
        str | None, typer.Option(help="Dagster GraphQL URL (default from ATLAS_WEBSERVER_PORT)")
    ] = None,
) -> None:
    """Serve the REST API and dashboard (uvicorn) on ATLAS_API_PORT."""
    import uvicorn

    from atlas_api.core.config import get_api_settings
    from atlas_api.main import create_app

    _prepare()
    overrides: dict[str, object] = {"api_host": host}
    if dagster_url:
        overrides["dagster_graphql_url"] = dagster_url
    settings = get_api_settings(**overrides)
    listen_port = port or settings.api_port
    print(f"Atlas API: http://{host}:{listen_port}  (docs: /docs, dashboard: /)", file=sys.stderr)
    # access_log=False: uvicorn's access log prints query strings (a WebSocket token); ours does not.
    # log_config=None: uvicorn's own records go through Atlas' JSON handler (atlas_core.logs).
    uvicorn.run(
        create_app(settings),
        host=host,
        port=listen_port,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        log_config=None,
    )


@users_app.command("create")
@one_line_errors
def users_create(
    username: Annotated[str, typer.Option(help="Login name (lower-case letters, digits, _ . -)")],
    role: Annotated[str, typer.Option(help=ROLES)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
) -> None:
    """Create an API user; the password is read from stdin (never from the command line)."""
    import asyncio

    import psycopg
    from psycopg.rows import dict_row

    from atlas_api import crud
    from atlas_api.models import UserOut

    if not password_stdin:
        raise fail("give --password-stdin and pipe the password in", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise fail("password: at least 8 characters", 2)
    chosen = _role(role)
    url = _prepare()

    async def create() -> UserOut:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await crud.create_user(conn, username, password, chosen)

    user = asyncio.run(create())
    print(f"created user {user.username} ({user.role.value})")


@apikeys_app.command("create")
@one_line_errors
def apikeys_create(
    name: Annotated[str, typer.Option(help="Service account name")],
    role: Annotated[str, typer.Option(help=ROLES)],
) -> None:
    """Create an API key and print it once on stdout (only its hash is stored)."""
    import asyncio

    import psycopg
    from psycopg.rows import dict_row

    from atlas_api import crud
    from atlas_api.models import ApiKeyOut

    chosen = _role(role)
    url = _prepare()

    async def create() -> tuple[ApiKeyOut, str]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await crud.create_api_key(conn, name, chosen, "cli")

    record, key = asyncio.run(create())
    print(
        f"API key {record.name} ({record.role.value}), id {record.key_id}; it is shown only now:",
        file=sys.stderr,
    )
    print(key)
