"""Chat relay keys and linked chat identities (what ``atlas bot`` relies on): the API applies the linked
user's role, refuses everything else, and audits every relayed request with the chat identity.
Real Postgres, the ASGI app over real HTTP semantics; no Dagster needed."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from atlas_api import chat_links
from atlas_core.errors import InputRejected
from atlas_core.roles import Role
from tests.api.conftest import audit_rows, bearer, login

CHAT = "X-Atlas-Chat-User"


def run(url: str, job):
    async def go():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await job(conn)

    return asyncio.run(go())


def relay_key(url: str, name: str = "bot-test") -> str:
    return run(url, lambda conn: chat_links.create_relay_key(conn, name, "test"))[1]


def link(url: str, chat_user: str, username: str) -> chat_links.ChatLink:
    return run(url, lambda conn: chat_links.link(conn, chat_user, username, "test"))


def audit(url: str, action: str) -> list[tuple[str, str, str, str]]:
    return [(r["outcome"], r["principal"], r["role"] or "", r["target"]) for r in audit_rows(url, action)]


def test_relay_key_acts_only_for_linked_identities_with_their_role(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    key = relay_key(api_db)
    headers = {"X-API-Key": key}
    alone = app_client.get("/api/v1/me", headers=headers)
    assert (
        alone.status_code == 401
        and alone.json()["detail"] == "a chat relay key needs the X-Atlas-Chat-User header"
    )
    unlinked = app_client.get("/api/v1/ingestions", headers={**headers, CHAT: "websocket:mallory"})
    assert unlinked.status_code == 401
    assert unlinked.json()["detail"] == "chat user 'websocket:mallory' is not linked to an Atlas user"
    assert "items" not in unlinked.json()

    made = link(api_db, "websocket:vera", users[Role.VIEWER])
    assert made.role is Role.VIEWER
    me = app_client.get("/api/v1/me", headers={**headers, CHAT: "websocket:vera"})
    assert me.json() == {
        "kind": "user",
        "name": users[Role.VIEWER],
        "role": "viewer",
        "chat_user": "websocket:vera",
    }
    read = app_client.get("/api/v1/ingestions", headers={**headers, CHAT: "websocket:vera"})
    assert read.status_code == 200 and read.json() == {"items": []}
    refused = app_client.post(
        "/api/v1/users",
        json={"username": "x_chat", "password": "p" * 12, "role": "viewer"},
        headers={**headers, CHAT: "websocket:vera"},
    )
    assert refused.status_code == 403 and refused.json()["detail"] == "role 'viewer' may not do this"
    principal = f"user:{users[Role.VIEWER]} chat:websocket:vera"
    assert audit(api_db, "chat.request") == [
        ("ok", principal, "viewer", "GET /api/v1/ingestions"),
        ("denied", principal, "viewer", "POST /api/v1/users"),
    ]
    failures = [row for row in audit(api_db, "auth.failure") if "websocket:mallory" in str(row)]
    assert failures == []  # the reason (with the identity) is in detail, not the principal column
    with psycopg.connect(api_db) as conn:
        reasons = [
            r[0]
            for r in conn.execute(
                "SELECT detail->>'reason' FROM atlas_meta.audit WHERE action = "
                "'auth.failure' ORDER BY audit_id"
            ).fetchall()
        ]
    assert "chat user 'websocket:mallory' is not linked to an Atlas user" in reasons

    # Re-linking takes effect on the next request: the linked user's role, never the key's.
    link(api_db, "websocket:vera", users[Role.ADMIN])
    created = app_client.post(
        "/api/v1/users",
        json={"username": "x_chat", "password": "p" * 12, "role": "viewer"},
        headers={**headers, CHAT: "websocket:vera"},
    )
    assert created.status_code == 201, created.text
    with psycopg.connect(api_db) as conn:
        conn.execute(
            "UPDATE atlas_meta.users SET disabled_at = now() WHERE username = %s", (users[Role.ADMIN],)
        )
    try:
        disabled = app_client.get("/api/v1/me", headers={**headers, CHAT: "websocket:vera"})
        assert disabled.status_code == 401
    finally:
        with psycopg.connect(api_db) as conn:
            conn.execute(
                "UPDATE atlas_meta.users SET disabled_at = NULL WHERE username = %s", (users[Role.ADMIN],)
            )
    assert run(api_db, lambda conn: chat_links.unlink(conn, "websocket:vera")) is True
    assert app_client.get("/api/v1/me", headers={**headers, CHAT: "websocket:vera"}).status_code == 401


def test_the_chat_header_needs_a_relay_key_and_rotation_revokes_the_old_one(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    link(api_db, "websocket:erin", users[Role.DATA_ENGINEER])
    token = login(app_client, users[Role.ADMIN])["access_token"]
    with_jwt = app_client.get("/api/v1/me", headers={**bearer(token), CHAT: "websocket:erin"})
    assert with_jwt.status_code == 401 and "only with a chat relay key" in with_jwt.json()["detail"]
    plain = app_client.post(
        "/api/v1/api-keys", json={"name": "plain-key", "role": "admin"}, headers=bearer(token)
    )
    with_plain_key = app_client.get(
        "/api/v1/me", headers={"X-API-Key": plain.json()["api_key"], CHAT: "websocket:erin"}
    )
    assert with_plain_key.status_code == 401

    old = relay_key(api_db, "bot-rotate")
    assert (
        app_client.get("/api/v1/me", headers={"X-API-Key": old, CHAT: "websocket:erin"}).json()["role"]
        == "data_engineer"
    )
    new = relay_key(api_db, "bot-rotate")
    assert app_client.get("/api/v1/me", headers={"X-API-Key": old, CHAT: "websocket:erin"}).status_code == 401
    assert app_client.get("/api/v1/me", headers={"X-API-Key": new, CHAT: "websocket:erin"}).status_code == 200


def test_links_need_an_enabled_user_and_a_connector_qualified_identity(
    users: dict[Role, str], api_db: str
) -> None:
    with pytest.raises(InputRejected, match="no enabled Atlas user 'ghost'"):
        link(api_db, "websocket:ghost", "ghost")
    for bad in ("alice", "Slack:U1", "websocket:", "websocket:two words", "x" * 40 + ":a"):
        with pytest.raises(InputRejected, match="invalid chat user"):
            link(api_db, bad, users[Role.VIEWER])
    assert run(api_db, lambda conn: chat_links.linked_user(conn, "alice")) is None


def test_ingestions_are_listed_newest_first_and_filtered_by_dataset(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    with psycopg.connect(api_db) as conn:
        for i, (dataset, status, reason) in enumerate(
            [
                ("orders", "accepted", None),
                ("customers", "rejected", "c.csv: file is empty"),
                ("orders", "duplicate", None),
            ]
        ):
            conn.execute(
                "INSERT INTO atlas_meta.ingestions (dataset, "
                "source_system, source_file, sha256, schema_version, "
                "status, reason, rows_bronze, ingested_at) VALUES (%s, 'test', %s, %s, '1', %s, %s, %s, "
                "now() + %s * interval '1 second')",
                (dataset, f"f{i}.csv", f"{i:064d}", status, reason, 10 * i, i),
            )
    headers = bearer(login(app_client, users[Role.VIEWER])["access_token"])
    items = app_client.get("/api/v1/ingestions", headers=headers).json()["items"]
    assert [(i["file"], i["status"]) for i in items] == [
        ("f2.csv", "duplicate"),
        ("f1.csv", "rejected"),
        ("f0.csv", "accepted"),
    ]
    assert items[1]["reason"] == "c.csv: file is empty" and items[1]["rows_bronze"] == 10
    only = app_client.get(
        "/api/v1/ingestions", params={"dataset": "orders", "limit": 1}, headers=headers
    ).json()
    assert [i["file"] for i in only["items"]] == ["f2.csv"]
    assert (
        app_client.get("/api/v1/ingestions", params={"dataset": "Bad-Name"}, headers=headers).status_code
        == 422
    )
    assert app_client.get("/api/v1/ingestions").status_code == 401
