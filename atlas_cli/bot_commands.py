"""``atlas bot``: run the chat bot, link chat identities to Atlas users, issue its relay key (docs/bot.md)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer

from atlas_cli.errors import fail, one_line_errors

bot_app = typer.Typer(help="The Opsdroid chat bot (it talks to the REST API only).", no_args_is_help=True)
RELAY_KEY_NAME = "atlas-bot"


def _db_url() -> str:
    from atlas_cli.api_commands import _prepare

    return _prepare()


async def _connect(url: str) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


def mint_relay_key(url: str, name: str = RELAY_KEY_NAME, created_by: str = "cli") -> str:
    """A new relay key (an active one of the same name is revoked); returns the secret."""
    from atlas_api import chat_links

    async def create() -> str:
        async with await _connect(url) as conn:
            _, key = await chat_links.create_relay_key(conn, name, created_by)
            return key

    return asyncio.run(create())


@bot_app.command("run")
@one_line_errors
def bot_run() -> None:
    """Serve the bot (websocket connector on 127.0.0.1:ATLAS_BOT_PORT, plus ATLAS_BOT_CONNECTORS_FILE)."""
    from atlas_bot.runner import run_bot
    from atlas_core.settings import get_settings

    settings = get_settings()
    print(
        f"Atlas bot: websocket on http://{settings.bot_host}:{settings.bot_port}/connector/websocket",
        file=sys.stderr,
    )
    run_bot(settings)


@bot_app.command("link")
@one_line_errors
def bot_link(
    chat_user: Annotated[
        str, typer.Argument(help="'<connector>:<user id>', e.g. websocket:alice or slack:U02ABCDEF")
    ],
    username: Annotated[str, typer.Option(help="The existing Atlas user whose role the chat identity gets")],
) -> None:
    """Link a chat identity to an Atlas user.

    The API applies that user's role to everything the bot does for it."""
    from atlas_api import chat_links

    url = _db_url()

    async def link() -> chat_links.ChatLink:
        async with await _connect(url) as conn:
            return await chat_links.link(conn, chat_user, username, "cli")

    made = asyncio.run(link())
    print(f"linked {made.chat_user} to {made.username} ({made.role.value})")


@bot_app.command("unlink")
@one_line_errors
def bot_unlink(chat_user: Annotated[str, typer.Argument(help="The linked chat identity")]) -> None:
    """Remove a chat identity's link: the bot refuses it from the next message on."""
    from atlas_api import chat_links

    url = _db_url()

    async def unlink() -> bool:
        async with await _connect(url) as conn:
            return await chat_links.unlink(conn, chat_user)

    if not asyncio.run(unlink()):
        raise fail(f"{chat_user!r} is not linked", 2)
    print(f"unlinked {chat_user}")


@bot_app.command("links")
@one_line_errors
def bot_links() -> None:
    """List linked chat identities and the user and role each acts as."""
    from atlas_api import chat_links

    url = _db_url()

    async def listing() -> list[chat_links.ChatLink]:
        async with await _connect(url) as conn:
            return await chat_links.list_links(conn)

    for made in asyncio.run(listing()):
        print(f"{made.chat_user}\t{made.username}\t{made.role.value}")


@bot_app.command("key")
@one_line_errors
def bot_key(
    name: Annotated[
        str, typer.Option(help="Key name; an active key of this name is revoked")
    ] = RELAY_KEY_NAME,
) -> None:
    """Issue the bot's chat relay key (printed once on stdout; set it as ATLAS_BOT_API_KEY)."""
    key = mint_relay_key(_db_url(), name)
    print(f"chat relay key {name}; it is shown only now (set ATLAS_BOT_API_KEY):", file=sys.stderr)
    print(key)
