"""Chat identities linked to Atlas users, and the API keys that relay chat requests
(``atlas_meta.chat_links``).

The bot (``atlas_bot``) holds a relay key: a key that has no rights of its own and acts only for the chat
identity named in each request, with the role of the Atlas user that identity is linked to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atlas_api import crud
from atlas_api.core.db import Conn
from atlas_api.models import ApiKeyOut
from atlas_core.errors import InputRejected
from atlas_core.roles import Role

CHAT_USER = re.compile(r"^[a-z0-9_-]{1,32}:\S{1,200}$")
CHAT_USER_HINT = "'<connector>:<user id>', e.g. 'websocket:alice' or 'slack:U02ABCDEF'"


@dataclass(frozen=True)
class ChatLink:
    chat_user: str
    username: str
    role: Role
    created_at: datetime


def valid_chat_user(chat_user: str) -> bool:
    return bool(CHAT_USER.match(chat_user))


async def link(conn: Conn, chat_user: str, username: str, created_by: str | None) -> ChatLink:
    """Link (or re-link) ``chat_user`` to the existing, enabled Atlas user ``username``."""
    if not valid_chat_user(chat_user):
        raise InputRejected(f"invalid chat user {chat_user!r}: use {CHAT_USER_HINT}")
    cur = await conn.execute(
        "SELECT user_id, role FROM atlas_meta.users WHERE username = %s AND disabled_at IS NULL", (username,)
    )
    user: Any = await cur.fetchone()
    if user is None:
        raise InputRejected(f"no enabled Atlas user {username!r}; create it with `atlas users create`")
    cur = await conn.execute(
        "INSERT INTO atlas_meta.chat_links (chat_user, user_id, created_by) VALUES (%s, %s, %s) "
        "ON CONFLICT (chat_user) DO UPDATE SET user_id = EXCLUDED.user_id, created_by = EXCLUDED.created_by, "
        "created_at = now() RETURNING created_at",
        (chat_user, user["user_id"], created_by),
    )
    row: Any = await cur.fetchone()
    return ChatLink(chat_user, username, Role(user["role"]), row["created_at"])


async def unlink(conn: Conn, chat_user: str) -> bool:
    cur = await conn.execute("DELETE FROM atlas_meta.chat_links WHERE chat_user = %s", (chat_user,))
    return cur.rowcount == 1


async def list_links(conn: Conn) -> list[ChatLink]:
    cur = await conn.execute(
        "SELECT l.chat_user, u.username, u.role, l.created_at FROM atlas_meta.chat_links l "
        "JOIN atlas_meta.users u ON u.user_id = l.user_id ORDER BY l.chat_user"
    )
    return [
        ChatLink(r["chat_user"], r["username"], Role(r["role"]), r["created_at"])
        for r in await cur.fetchall()
    ]


async def linked_user(conn: Conn, chat_user: str) -> tuple[str, Role] | None:
    """(username, role) of the enabled user ``chat_user`` is linked to."""
    if not valid_chat_user(chat_user):
        return None
    cur = await conn.execute(
        "SELECT u.username, u.role FROM atlas_meta.chat_links l "
        "JOIN atlas_meta.users u ON u.user_id = l.user_id "
        "WHERE l.chat_user = %s AND u.disabled_at IS NULL",
        (chat_user,),
    )
    row: Any = await cur.fetchone()
    return (row["username"], Role(row["role"])) if row else None


async def create_relay_key(conn: Conn, name: str, created_by: str | None) -> tuple[ApiKeyOut, str]:
    """A new relay key named ``name``; an active key of that name is revoked first (rotation).

    Its stored role is ``viewer`` only because the column requires one: a relay key is never given a role
    of its own (without a linked chat identity every request is refused).
    """
    async with conn.transaction():
        await conn.execute(
            "UPDATE atlas_meta.api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL",
            (name,),
        )
        record, key = await crud.create_api_key(conn, name, Role.VIEWER, created_by)
        await conn.execute(
            "UPDATE atlas_meta.api_keys SET chat_relay = true WHERE key_id = %s", (record.key_id,)
        )
    return record, key
