"""Fixtures for the REST API: a migrated warehouse per module, apps on it, users of every role,
and (for the Dagster-backed module) a whole Atlas stack started with ``atlas up``."""

from __future__ import annotations

import asyncio
import io
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from atlas_api import crud
from atlas_api.core.config import ApiSettings, get_api_settings
from atlas_api.main import create_app
from atlas_core.roles import Role
from tests.support import postgres as pg
from tests.support.processes import (
    ATLAS,
    AtlasStack,
    stack_env,
    start_atlas_up,
    stop_atlas_up,
    wait_http_ok,
)
from tests.support.seaweed import free_port as seaweed_free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-" + "x" * 40
REDIS_URL = "redis://127.0.0.1:6379/5"


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range (``tests.support.seaweed.free_port``)."""
    return seaweed_free_port()


def require_redis() -> str:
    """Redis on 127.0.0.1:6379 (the shared cache and rate limiter): a required test service."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return REDIS_URL
    except OSError:
        pytest.fail(
            "no Redis answers on 127.0.0.1:6379: the API's shared cache and rate limiter are tested on it"
        )


def make_settings(postgres_url: str, **overrides: object) -> ApiSettings:
    values: dict[str, object] = {
        "postgres_url": postgres_url,
        # nothing listens: Dagster-free tests never call it
        "dagster_graphql_url": "http://127.0.0.1:9/graphql",
        "jwt_secret": TEST_SECRET,
        "project_dir": PROJECT_DIR,
        "redis_url": None,
        "environment": "development",
    }
    values.update(overrides)
    return get_api_settings(**values)


def create_users(postgres_url: str, prefix: str) -> dict[Role, str]:
    """One user per role (``<prefix>_<role>``); returns role → username."""

    async def create() -> dict[Role, str]:
        names = {}
        async with await psycopg.AsyncConnection.connect(
            postgres_url, autocommit=True, row_factory=dict_row
        ) as conn:
            for role in Role:
                name = f"{prefix}_{role.value}"
                await crud.create_user(conn, name, PASSWORD, role)
                names[role] = name
        return names

    return asyncio.run(create())


def login(client: TestClient | httpx.Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def audit_rows(url: str, action: str) -> list[dict[str, Any]]:
    """The audit rows of ``action``, oldest first, as dicts of ``atlas_meta.audit``'s columns."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT * FROM atlas_meta.audit WHERE action = %s ORDER BY audit_id", (action,)
        ).fetchall()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_db(pg_server: str) -> Iterator[str]:
    """A migrated warehouse database shared by one test module."""
    url = pg.create_database(pg_server, "atlas_api")
    yield url
    pg.drop_database(url)


@pytest.fixture(scope="module")
def log_stream() -> io.StringIO:
    from atlas_core.logs import configure_logging

    stream = io.StringIO()
    configure_logging(stream=stream)
    return stream


@pytest.fixture(scope="module")
def app_client(api_db: str, log_stream: io.StringIO) -> Iterator[TestClient]:
    settings = make_settings(api_db, api_trigger_rate_limit=5, api_cors_origins="https://bi.example.com")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def users(api_db: str) -> dict[Role, str]:
    return create_users(api_db, "u")


# -- the Dagster-backed stack ----------------------------------------------------------------------------


@dataclass
class Stack(AtlasStack):
    """``atlas demo`` then ``atlas up`` (Dagster webserver + daemon + API) in an isolated environment."""

    env: dict[str, str]
    home: Path
    warehouse_url: str
    dagster_url: str
    webserver_port: int
    api_port: int
    process: subprocess.Popen[bytes] | None = None
    launched: dict[str, str] = field(default_factory=dict)

    @property
    def graphql(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}/graphql"


@pytest.fixture(scope="module")
def stack(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("api-stack")
    with pg.atlas_databases(pg_server, "apis") as (warehouse, dagster_db):
        webserver_port, api_port = free_port(), free_port()
        env = stack_env(home, warehouse, dagster_db, webserver_port, api_port, TEST_SECRET)
        env["ATLAS_API_CACHE_CHECK_SECONDS"] = "0.5"
        env["ATLAS_LINEAGE_FILE"] = str(
            home / "lineage.jsonl"
        )  # live OpenLineage of the demo and the daemon's runs
        env["ATLAS_LINEAGE_INTERVAL_SECONDS"] = "1"
        env["ATLAS_REDIS_URL"] = require_redis()
        s = Stack(env, home, warehouse, dagster_db, webserver_port, api_port)
        demo = s.atlas("demo", "--quiet", timeout=300)
        if demo.returncode != 0:
            pytest.fail(f"atlas demo failed: {demo.stderr[-2000:]}")
        s.process = start_atlas_up(ATLAS, env, home)
        try:
            wait_http_ok(
                f"http://127.0.0.1:{webserver_port}/server_info", s.process, 240, home / "up.log"
            )  # 2 shared cores: slow
            wait_http_ok(f"{s.api}/ready", s.process, 60, home / "up.log")
            yield s
        finally:
            stop_atlas_up(s.process)
