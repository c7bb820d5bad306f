"""Users, token families, refresh tokens, API keys and the audit trail in ``atlas_meta``.

Every function takes an open async connection whose rows are dicts (``psycopg.rows.dict_row``),
so the API (through its pool) and the CLI (one connection) share them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import AsyncCursor
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from atlas_api.core import security
from atlas_api.core.db import Conn
from atlas_api.models import ApiKeyOut, UserOut
from atlas_core.errors import AlreadyExists, AtlasError, InputRejected
from atlas_core.roles import Role


@dataclass(frozen=True)
class RefreshState:
    """What the database knows about one refresh token."""

    username: str
    role: Role
    user_active: bool
    family_revoked: bool
    used: bool


async def _insert_named(
    conn: Conn, query: LiteralString, params: tuple[Any, ...], *, what: str, name: str, name_label: str
) -> AsyncCursor[DictRow]:
    """Run an INSERT of a named row; a taken name is AlreadyExists, a malformed one InputRejected."""
    try:
        return await conn.execute(query, params)
    except psycopg.errors.UniqueViolation:
        raise AlreadyExists(f"{what} {name!r} already exists") from None
    except psycopg.errors.CheckViolation:
        raise InputRejected(
            f"invalid {name_label} {name!r}: use 2-63 lower-case letters, digits, '_', '.', '-'"
        ) from None


async def create_user(conn: Conn, username: str, password: str, role: Role) -> UserOut:
    password_hash = security.hash_password(password)
    cur = await _insert_named(
        conn,
        "INSERT INTO atlas_meta.users (username, password_hash, role) VALUES (%s, %s, %s) "
        "RETURNING user_id, created_at",
        (username, password_hash, role.value),
        what="user",
        name=username,
        name_label="username",
    )
    row = await cur.fetchone()
    assert row is not None
    return UserOut(user_id=row["user_id"], username=username, role=role, created_at=row["created_at"])


async def user_credentials(conn: Conn, username: str) -> tuple[int, str, Role] | None:
    """(user_id, password_hash, role) of an enabled user."""
    cur = await conn.execute(
        "SELECT user_id, password_hash, role FROM atlas_meta.users "
        "WHERE username = %s AND disabled_at IS NULL",
        (username,),
    )
    row: Any = await cur.fetchone()
    return (row["user_id"], row["password_hash"], Role(row["role"])) if row else None


async def start_family(conn: Conn, user_id: int) -> str:
    family = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO atlas_meta.token_families (family_id, user_id) VALUES (%s, %s)", (family, user_id)
    )
    return family


async def store_refresh_token(conn: Conn, claims: security.TokenClaims) -> None:
    await conn.execute(
        "INSERT INTO atlas_meta.refresh_tokens (jti, family_id, expires_at) VALUES (%s, %s, %s)",
        (claims.jti, claims.family, claims.expires_at),
    )


async def access_allowed(conn: Conn, claims: security.TokenClaims) -> bool:
    """An access token stays valid while its user is enabled with the same role and its family is live."""
    cur = await conn.execute(
        "SELECT u.role FROM atlas_meta.users u JOIN atlas_meta.token_families f ON f.user_id = u.user_id "
        "WHERE u.username = %s AND f.family_id = %s AND f.revoked_at IS NULL AND u.disabled_at IS NULL",
        (claims.subject, claims.family),
    )
    row: Any = await cur.fetchone()
    return row is not None and row["role"] == claims.role.value


async def claim_refresh_token(conn: Conn, claims: security.TokenClaims) -> RefreshState | None:
    """Lock the token's row and mark it used; the caller's transaction decides what to do with the state."""
    cur = await conn.execute(
        "SELECT u.username, u.role, u.disabled_at IS NULL AS "
        "user_active, f.revoked_at IS NOT NULL AS family_revoked, "
        "r.used_at IS NOT NULL AS used FROM atlas_meta.refresh_tokens r "
        "JOIN atlas_meta.token_families f ON f.family_id = r.family_id "
        "JOIN atlas_meta.users u ON u.user_id = f.user_id "
        "WHERE r.jti = %s AND r.family_id = %s FOR UPDATE OF r, f",
        (claims.jti, claims.family),
    )
    row: Any = await cur.fetchone()
    if row is None:
        return None
    if not row["used"]:
        await conn.execute(
            "UPDATE atlas_meta.refresh_tokens SET used_at = now() WHERE jti = %s", (claims.jti,)
        )
    return RefreshState(
        row["username"], Role(row["role"]), row["user_active"], row["family_revoked"], row["used"]
    )


async def revoke_family(conn: Conn, family: str, reason: str) -> None:
    await conn.execute(
        "UPDATE atlas_meta.token_families SET revoked_at = now(), revoked_reason = %s "
        "WHERE family_id = %s AND revoked_at IS NULL",
        (reason, family),
    )


async def user_id_of(conn: Conn, username: str) -> int | None:
    cur = await conn.execute("SELECT user_id FROM atlas_meta.users WHERE username = %s", (username,))
    row: Any = await cur.fetchone()
    return row["user_id"] if row else None


async def create_api_key(conn: Conn, name: str, role: Role, created_by: str | None) -> tuple[ApiKeyOut, str]:
    """Returns the key record and the secret key, which is shown once and never stored."""
    key = security.new_api_key()
    cur = await _insert_named(
        conn,
        "INSERT INTO atlas_meta.api_keys (name, prefix, "
        "key_hash, role, created_by) VALUES (%s, %s, %s, %s, %s) "
        "RETURNING key_id, created_at",
        (name, security.api_key_display_prefix(key), security.api_key_hash(key), role.value, created_by),
        what="API key",
        name=name,
        name_label="API key name",
    )
    row: Any = await cur.fetchone()
    record = ApiKeyOut(
        key_id=row["key_id"],
        name=name,
        role=role,
        prefix=security.api_key_display_prefix(key),
        created_at=row["created_at"],
        created_by=created_by,
    )
    return record, key


async def api_key_principal(conn: Conn, key: str) -> tuple[int, str, Role, bool] | None:
    """(key_id, name, role, chat_relay) of an active key; a chat relay key acts only for linked chat users."""
    cur = await conn.execute(
        "SELECT key_id, name, role, chat_relay FROM atlas_meta.api_keys "
        "WHERE key_hash = %s AND revoked_at IS NULL",
        (security.api_key_hash(key),),
    )
    row: Any = await cur.fetchone()
    return (row["key_id"], row["name"], Role(row["role"]), row["chat_relay"]) if row else None


async def list_api_keys(conn: Conn) -> list[ApiKeyOut]:
    cur = await conn.execute(
        "SELECT key_id, name, role, prefix, created_at, created_by, "
        "revoked_at FROM atlas_meta.api_keys ORDER BY key_id"
    )
    return [
        ApiKeyOut(
            key_id=r["key_id"],
            name=r["name"],
            role=Role(r["role"]),
            prefix=r["prefix"],
            created_at=r["created_at"],
            created_by=r["created_by"],
            revoked_at=r["revoked_at"],
        )
        for r in await cur.fetchall()
    ]


async def revoke_api_key(conn: Conn, key_id: int) -> bool:
    cur = await conn.execute(
        "UPDATE atlas_meta.api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL",
        (key_id,),
    )
    return cur.rowcount == 1


def _clean(value: Any) -> Any:
    """Audit text comes partly from requests (paths, names): drop what PostgreSQL text cannot store."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:2000]
    if isinstance(value, dict):
        return {_clean(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


async def audit(
    conn: Conn,
    action: str,
    outcome: str,
    *,
    principal: str | None = None,
    role: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
    client: str | None = None,
) -> None:
    """One row in ``atlas_meta.audit``. Callers never pass tokens, passwords or data values in ``detail``."""
    try:
        await conn.execute(
            "INSERT INTO atlas_meta.audit (action, outcome, "
            "principal, role, target, detail, request_id, client) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                action,
                outcome,
                _clean(principal),
                role,
                _clean(target),
                Jsonb(_clean(detail or {})),
                request_id,
                client,
            ),
        )
    except psycopg.Error as exc:
        raise AtlasError(f"could not write the audit record for {action}: {type(exc).__name__}") from exc
