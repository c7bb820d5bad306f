"""Authentication, tokens, API keys, users, errors and cross-cutting behaviour of the API (real Postgres,
real Redis, real HTTP through the ASGI app; nothing here needs Dagster)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from atlas_api.core import security
from atlas_api.core.cache import ResponseCache
from atlas_api.core.config import DEVELOPMENT_JWT_SECRET, get_api_settings
from atlas_api.core.ratelimit import RateLimiter
from atlas_core.errors import AtlasError
from atlas_core.roles import Role
from tests.api.conftest import PASSWORD, REDIS_URL, TEST_SECRET, audit_rows, bearer, login, require_redis

PROBLEM = "application/problem+json"


def away_from_window_edge() -> None:
    """Rate limits count per clock minute: start a burst well inside one."""
    if time.time() % 60 > 55:
        time.sleep(61 - time.time() % 60)


def assert_401(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401 and body["detail"] and body["request_id"]


# -- settings ------------------------------------------------------------------------------------------


def test_settings_refuse_the_development_secret_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_ENVIRONMENT", "production")
    monkeypatch.delenv("ATLAS_JWT_SECRET", raising=False)
    with pytest.raises(AtlasError, match="ATLAS_JWT_SECRET must be set"):
        get_api_settings()
    monkeypatch.setenv("ATLAS_JWT_SECRET", "too-short")
    with pytest.raises(AtlasError, match="at least 32"):
        get_api_settings()
    monkeypatch.setenv("ATLAS_JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("ATLAS_API_PORT", "8123")
    monkeypatch.setenv("ATLAS_API_CORS_ORIGINS", "https://a.example, https://b.example")
    settings = get_api_settings()
    assert settings.api_port == 8123
    assert settings.api_cors_origins == ["https://a.example", "https://b.example"]
    monkeypatch.setenv("ATLAS_ENVIRONMENT", "development")
    monkeypatch.delenv("ATLAS_JWT_SECRET")
    assert get_api_settings().jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET


# -- login, refresh, logout ------------------------------------------------------------------------------


def test_login_returns_a_bearer_pair_and_wrong_passwords_are_401_and_audited(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    pair = login(app_client, users[Role.VIEWER])
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 3600
    claims = jwt.decode(pair["access_token"], TEST_SECRET, algorithms=["HS256"], issuer="atlas")
    assert {"exp", "iat", "jti", "role", "sub"} <= set(claims) and claims["role"] == "viewer"
    assert claims["exp"] - claims["iat"] == 3600
    refresh_claims = jwt.decode(pair["refresh_token"], TEST_SECRET, algorithms=["HS256"], issuer="atlas")
    assert refresh_claims["exp"] - refresh_claims["iat"] == 7 * 24 * 3600
    me = app_client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200 and me.json() == {
        "kind": "user",
        "name": users[Role.VIEWER],
        "role": "viewer",
    }

    before = len(audit_rows(api_db, "auth.failure"))
    for username, password in ((users[Role.VIEWER], "wrong password"), ("nobody", PASSWORD)):
        response = app_client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert_401(response)
        assert response.json()["detail"] == "wrong username or password"
    failures = audit_rows(api_db, "auth.failure")
    assert len(failures) == before + 2
    assert all(
        PASSWORD not in json.dumps(r["detail"]) and "wrong password" not in json.dumps(r["detail"])
        for r in failures
    )


def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    first = login(app_client, users[Role.DATA_ANALYST])
    second = app_client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200, second.text
    pair2 = second.json()
    assert pair2["refresh_token"] != first["refresh_token"]
    assert app_client.get("/api/v1/me", headers=bearer(pair2["access_token"])).status_code == 200

    # The old refresh token is dead; presenting it again is treated as theft: the family is revoked.
    reused = app_client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_401(reused)
    assert "reused" in reused.json()["detail"]
    assert_401(app_client.get("/api/v1/me", headers=bearer(pair2["access_token"])))
    assert_401(app_client.get("/api/v1/me", headers=bearer(first["access_token"])))
    assert_401(app_client.post("/api/v1/auth/refresh", json={"refresh_token": pair2["refresh_token"]}))
    with psycopg.connect(api_db) as conn:
        reason = conn.execute(
            "SELECT revoked_reason FROM atlas_meta.token_families f JOIN atlas_meta.users u USING (user_id) "
            "WHERE u.username = %s AND revoked_at IS NOT NULL",
            (users[Role.DATA_ANALYST],),
        ).fetchall()
    assert reason == [("refresh token reuse",)]
    assert any("reused" in r["detail"]["reason"] for r in audit_rows(api_db, "auth.failure"))

    # A fresh login starts a new, healthy family.
    again = login(app_client, users[Role.DATA_ANALYST])
    assert app_client.get("/api/v1/me", headers=bearer(again["access_token"])).status_code == 200


def test_logout_revokes_refresh_and_access_tokens(app_client: TestClient, users: dict[Role, str]) -> None:
    pair = login(app_client, users[Role.ML_ENGINEER])
    response = app_client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 204 and response.content == b""
    assert_401(app_client.get("/api/v1/me", headers=bearer(pair["access_token"])))
    assert_401(app_client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}))


def _forge(payload: dict, header: dict) -> str:
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(payload)}."


def test_token_attacks_are_401(app_client: TestClient, users: dict[Role, str]) -> None:
    pair = login(app_client, users[Role.VIEWER])
    good = pair["access_token"]
    claims = jwt.decode(good, TEST_SECRET, algorithms=["HS256"], issuer="atlas")
    assert app_client.get("/api/v1/me", headers=bearer(good)).status_code == 200

    header, payload, signature = good.split(".")
    tampered_sig = (
        f"{header}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"
    )
    elevated = (
        base64.urlsafe_b64encode(json.dumps({**claims, "role": "admin"}).encode()).rstrip(b"=").decode()
    )
    tampered_payload = f"{header}.{elevated}.{signature}"
    alg_none = _forge({**claims, "role": "admin"}, {"alg": "none", "typ": "JWT"})
    wrong_key = jwt.encode({**claims}, "another-secret-" + "y" * 40, algorithm="HS256")
    past = datetime.now(UTC) - timedelta(hours=3)
    expired, _ = security.encode_token(
        TEST_SECRET,
        subject=users[Role.VIEWER],
        role=Role.VIEWER,
        token_type="access",
        family=claims["fam"],
        lifetime=timedelta(minutes=60),
        now=past,
    )
    # Signed with the real secret (defence in depth): a role the user does not have, or no such role at all.
    wrong_role = jwt.encode({**claims, "role": "admin"}, TEST_SECRET, algorithm="HS256")
    unknown_role = jwt.encode({**claims, "role": "superuser"}, TEST_SECRET, algorithm="HS256")
    refresh_as_access = pair["refresh_token"]
    with warnings.catch_warnings():  # PyJWT warns that the test secret is short for SHA-512
        warnings.simplefilter("ignore")
        hs512 = jwt.encode({**claims}, TEST_SECRET, algorithm="HS512")  # right secret, algorithm not allowed
    for name, token in {
        "tampered signature": tampered_sig,
        "tampered payload": tampered_payload,
        "alg none": alg_none,
        "wrong key": wrong_key,
        "expired": expired,
        "wrong role claim": wrong_role,
        "unknown role": unknown_role,
        "refresh token as access token": refresh_as_access,
        "HS512": hs512,
        "garbage": "not.a.jwt",
    }.items():
        response = app_client.get("/api/v1/assets", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert response.headers["www-authenticate"] == "Bearer", name
    assert "expired" in app_client.get("/api/v1/me", headers=bearer(expired)).json()["detail"]
    assert_401(app_client.get("/api/v1/assets"))
    assert_401(app_client.get("/api/v1/assets", headers={"X-API-Key": "atlas_not-a-real-key"}))
    # A tampered role never reaches the role check: 401, not 403 or 200.
    assert (
        app_client.post(
            "/api/v1/users",
            json={"username": "mallory", "password": "x" * 12, "role": "admin"},
            headers=bearer(alg_none),
        ).status_code
        == 401
    )


# -- users and API keys ------------------------------------------------------------------------------------


def test_admins_create_users_others_get_403(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    admin = login(app_client, users[Role.ADMIN])["access_token"]
    body = {"username": "carol", "password": "s3cret-password", "role": "data_engineer"}
    created = app_client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "carol" and created.json()["role"] == "data_engineer"
    assert "password" not in created.text
    again = app_client.post("/api/v1/users", json=body, headers=bearer(admin))
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert login(app_client, "carol", "s3cret-password")["token_type"] == "bearer"
    with psycopg.connect(api_db) as conn:
        stored = conn.execute(
            "SELECT password_hash FROM atlas_meta.users WHERE username = 'carol'"
        ).fetchone()[0]
    assert stored.startswith("$argon2id$") and "s3cret" not in stored

    short = app_client.post(
        "/api/v1/users", json={**body, "username": "dave", "password": "pw7Zq"}, headers=bearer(admin)
    )
    assert short.status_code == 422 and short.headers["content-type"].startswith(PROBLEM)
    assert "pw7Zq" not in short.text  # the submitted password is not echoed
    for role in (Role.DATA_ENGINEER, Role.DATA_ANALYST, Role.ML_ENGINEER, Role.VIEWER):
        token = login(app_client, users[role])["access_token"]
        forbidden = app_client.post(
            "/api/v1/users", json={**body, "username": f"x{role.value}"}, headers=bearer(token)
        )
        assert forbidden.status_code == 403 and forbidden.headers["content-type"].startswith(PROBLEM), role


def test_api_keys_are_created_once_listed_without_secret_and_revoked(
    app_client: TestClient, users: dict[Role, str], api_db: str
) -> None:
    admin = bearer(login(app_client, users[Role.ADMIN])["access_token"])
    created = app_client.post(
        "/api/v1/api-keys", json={"name": "etl-bot", "role": "data_engineer"}, headers=admin
    )
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    key_id = created.json()["key_id"]
    assert key.startswith("atlas_") and len(key) > 40
    me = app_client.get("/api/v1/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json() == {
        "kind": "api_key",
        "name": "etl-bot",
        "role": "data_engineer",
    }

    listed = app_client.get("/api/v1/api-keys", headers=admin)
    assert listed.status_code == 200 and key not in listed.text
    assert [k["name"] for k in listed.json()] == ["etl-bot"] and listed.json()[0]["prefix"] == key[:12]
    with psycopg.connect(api_db) as conn:
        stored = conn.execute(
            "SELECT key_hash FROM atlas_meta.api_keys WHERE key_id = %s", (key_id,)
        ).fetchone()[0]
    assert stored == security.api_key_hash(key) and key not in stored
    assert (
        app_client.post(
            "/api/v1/api-keys", json={"name": "etl-bot", "role": "viewer"}, headers=admin
        ).status_code
        == 409
    )
    # The key's own role (data_engineer) may not manage keys.
    assert app_client.get("/api/v1/api-keys", headers={"X-API-Key": key}).status_code == 403

    assert app_client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).status_code == 204
    assert_401(app_client.get("/api/v1/me", headers={"X-API-Key": key}))
    assert app_client.delete(f"/api/v1/api-keys/{key_id}", headers=admin).status_code == 404
    assert [r["outcome"] for r in audit_rows(api_db, "api_key.revoke")] == ["ok"]


# -- cross-cutting -------------------------------------------------------------------------------------


def test_trigger_rate_limit_is_429_with_retry_after(app_client: TestClient, users: dict[Role, str]) -> None:
    token = bearer(login(app_client, users[Role.DATA_ENGINEER])["access_token"])
    other = bearer(login(app_client, users[Role.ADMIN])["access_token"])
    # The app under test allows 5 triggers per minute per principal; an empty selection is refused (422)
    # by validation, which runs after the limiter, so no run is launched anywhere.
    away_from_window_edge()
    statuses = [
        app_client.post("/api/v1/runs", json={"assets": []}, headers=token).status_code for _ in range(5)
    ]
    assert statuses == [422] * 5
    limited = app_client.post("/api/v1/runs", json={"assets": []}, headers=token)
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["content-type"].startswith(PROBLEM)
    assert app_client.post("/api/v1/backfills", json={"assets": []}, headers=token).status_code == 429
    # Per principal: another user is not affected.
    assert app_client.post("/api/v1/runs", json={"assets": []}, headers=other).status_code == 422


def test_request_ids_cors_health_and_readiness(app_client: TestClient) -> None:
    given = app_client.get("/health", headers={"X-Request-ID": "trace-123"})
    assert given.status_code == 200 and given.json() == {"status": "ok"}
    assert given.headers["x-request-id"] == "trace-123"
    generated = app_client.get("/health", headers={"X-Request-ID": "bad id\twith tabs"})
    assert len(generated.headers["x-request-id"]) == 32
    problem = app_client.get("/api/v1/assets", headers={"X-Request-ID": "trace-456"})
    assert problem.json()["request_id"] == "trace-456"

    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = app_client.options("/api/v1/assets", headers={"Origin": "https://bi.example.com", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://bi.example.com"
    denied = app_client.options("/api/v1/assets", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in denied.headers

    # Readiness needs Postgres and Dagster: this app's Dagster URL has nothing listening.
    ready = app_client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["postgres"] == "ok" and ready.json()["dagster"].startswith("unavailable")
    docs = app_client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = app_client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/assets",
        "/api/v1/runs",
        "/api/v1/backfills",
        "/api/v1/pii/decrypt",
        "/api/v1/data/gold/{table}",
        "/api/v1/datasets/{dataset}/files",
    } <= set(paths)


def test_websocket_needs_credentials(app_client: TestClient, users: dict[Role, str], api_db: str) -> None:
    run_id = str(uuid.uuid4())
    for url, first in (
        (f"/api/v1/runs/{run_id}/events?token=forged.token.here", None),
        (f"/api/v1/runs/{run_id}/events", {"token": "nope"}),
        (f"/api/v1/runs/{run_id}/events", "not json"),
    ):
        with app_client.websocket_connect(url) as ws:
            if first is not None:
                ws.send_text(json.dumps(first) if isinstance(first, dict) else first)
            message = ws.receive_json()
            assert message["type"] == "error" and message["status"] == 401
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
    assert any(r["target"] == "websocket:run_events" for r in audit_rows(api_db, "auth.failure"))


def test_access_logs_are_json_without_tokens_or_passwords(
    app_client: TestClient, users: dict[Role, str], log_stream: io.StringIO
) -> None:
    pair = login(app_client, users[Role.VIEWER])
    app_client.get("/api/v1/me", headers=bearer(pair["access_token"]))
    with app_client.websocket_connect(
        f"/api/v1/runs/{uuid.uuid4()}/events?token=secret-token-in-query"
    ) as ws:
        ws.receive_json()
    text = log_stream.getvalue()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    requests = [e for e in entries if e.get("event") == "http_request"]
    assert requests and all(
        {"request_id", "route", "status", "duration_ms", "method"} <= set(e) for e in requests
    )
    assert any(
        e["route"] == "/api/v1/me" and e["principal"] == f"user:{users[Role.VIEWER]}" for e in requests
    )
    assert any(e.get("event") == "websocket" for e in entries)
    for secret in (pair["access_token"], pair["refresh_token"], PASSWORD, "secret-token-in-query"):
        assert secret not in text


def test_metrics_count_requests_and_auth_failures(app_client: TestClient) -> None:
    app_client.get("/api/v1/assets", headers=bearer("x.y.z"))
    metrics = app_client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'atlas_api_requests_total{method="GET",route="/api/v1/assets",status="401"}' in metrics.text
    assert "atlas_api_auth_failures_total" in metrics.text


# -- cache and limiter on real Redis ----------------------------------------------------------------------


def test_cache_in_process_and_in_redis_invalidated_by_a_new_watermark() -> None:
    require_redis()

    async def scenario() -> None:
        marks = {"value": "mat-1"}
        computed: list[int] = []

        async def watermark() -> str:
            return marks["value"]

        async def compute() -> dict:
            computed.append(1)
            return {"n": len(computed)}

        namespace = f"atlas:test:{uuid.uuid4().hex[:8]}"
        first = ResponseCache(
            ttl=30, check_seconds=0, namespace=namespace, redis_url=REDIS_URL, watermark=watermark
        )
        second = ResponseCache(
            ttl=30, check_seconds=0, namespace=namespace, redis_url=REDIS_URL, watermark=watermark
        )
        local_only = ResponseCache(
            ttl=30, check_seconds=0, namespace=namespace, redis_url=None, watermark=watermark
        )
        try:
            assert await first.get_or_compute("assets", {}, compute) == ({"n": 1}, "miss")
            assert await first.get_or_compute("assets", {}, compute) == ({"n": 1}, "memory")
            assert await second.get_or_compute("assets", {}, compute) == (
                {"n": 1},
                "redis",
            )  # another process
            assert await local_only.get_or_compute("assets", {}, compute) == ({"n": 2}, "miss")
            assert await local_only.get_or_compute("assets", {}, compute) == ({"n": 2}, "memory")
            marks["value"] = "mat-2"  # a new materialization landed
            assert await second.get_or_compute("assets", {}, compute) == ({"n": 3}, "miss")
            assert await first.get_or_compute("assets", {}, compute) == ({"n": 3}, "redis")
            assert await local_only.get_or_compute("assets", {}, compute) == ({"n": 4}, "miss")
            await first.invalidate()  # an upload: shared generation bumped in Redis
            assert await second.get_or_compute("assets", {}, compute) == ({"n": 5}, "miss")
        finally:
            for cache in (first, second, local_only):
                await cache.aclose()

    asyncio.run(scenario())


def test_rate_limiter_shares_counts_through_redis() -> None:
    require_redis()

    async def scenario() -> None:
        namespace = f"atlas:test:{uuid.uuid4().hex[:8]}"
        a = RateLimiter(3, namespace, REDIS_URL)
        b = RateLimiter(3, namespace, REDIS_URL)
        try:
            away_from_window_edge()
            results = [
                await a.hit("triggers", "user:x"),
                await b.hit("triggers", "user:x"),
                await a.hit("triggers", "user:x"),
                await b.hit("triggers", "user:x"),
            ]
            assert results[:3] == [None, None, None]
            assert results[3] is not None and 1 <= results[3] <= 60
            assert await a.hit("triggers", "user:y") is None
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(scenario())


def test_unstorable_text_is_refused_not_a_server_error(
    app_client: TestClient, users: dict[Role, str]
) -> None:
    # Found by schemathesis: NUL and lone surrogates cannot be stored by PostgreSQL / encoded as UTF-8.
    for body in ({"username": "a\u0000b", "password": "x"}, {"username": "alice", "password": "\ud800"}):
        response = app_client.post(
            "/api/v1/auth/token", content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
    admin = bearer(login(app_client, users[Role.ADMIN])["access_token"])
    decrypt = {"dataset": "customers", "column": "ssn", "values": ["x"], "reason": "why\u0000not"}
    assert app_client.post("/api/v1/pii/decrypt", json=decrypt, headers=admin).status_code == 422
    # An anonymous request whose path holds a NUL is audited (sanitised) and answered 401.
    assert app_client.get("/api/v1/quality/a%00b").status_code == 401
