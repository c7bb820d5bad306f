"""Security sweep over a real, production-configured Atlas: no raw PII and no secret in what leaves it.

One stack for the module: ``ATLAS_ENVIRONMENT=production`` with every secret set (JWT secret, active
and retired PII keys, the S3 secret key of a real SeaweedFS lake, a password inside the PostgreSQL
URLs, an alert webhook carrying a token), ``atlas demo``, then ``atlas up`` (Dagster webserver, daemon
and the REST API as separate processes). An admin logs in, rotates its refresh token, creates an API
key and calls every read endpoint (every page of the customer tables). Then the places that leave
the silver boundary are searched: API responses, the log files (CLI and API access logs), the output
of ``atlas up``, the Dagster database (event log, runs), the files of the Atlas home (compute logs,
lineage) and what the Dagster UI shows (resource config, environment variables, instance config).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import jwt
import pytest
from psycopg import sql

from tests.malformed.runner import ATLAS, run_atlas
from tests.pii.test_pii_pipeline import RawPii
from tests.support import postgres as pg
from tests.support.expected import PII_COLUMNS
from tests.support.processes import run_atlas as run_command
from tests.support.processes import start_atlas_up, stop_atlas_up, wait_http_ok
from tests.support.seaweed import SeaweedS3, free_port

pytestmark = pytest.mark.slow

PROJECT_DIR = Path(__file__).resolve().parents[2]
ADMIN = "sec_admin"
GRAPHQL_RESOURCES = """
query Sweep($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
  utilizedEnvVarsOrError(repositorySelector: $selector) {
    __typename
    ... on EnvVarWithConsumersList { results { envVarName } }
  }
  instance { info }
}
"""


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{quote(parts.username or 'postgres')}:{quote(password)}@{host}")
    )


@dataclass
class Sweep:
    env: dict[str, str]
    home: Path
    warehouse: str
    dagster: str
    secrets: dict[str, str]
    api: str = ""
    graphql: str = ""
    responses: dict[str, str] = field(default_factory=dict)  # "GET /path" -> body
    statuses: dict[str, int] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)
    up_output: str = ""
    demo_output: str = ""

    def rows(self, url: str, query: str | sql.SQL | sql.Composed, params: tuple = ()) -> list[tuple]:
        return pg.rows(url, query, params)


def _home_files(home: Path) -> str:
    """Every file of the Atlas home except PostgreSQL's data directory (searched through SQL instead)."""
    parts = []
    for path in sorted(home.rglob("*")):
        if path.is_file() and not path.relative_to(home).as_posix().startswith("postgres/"):
            parts.append(f"--- {path}\n" + path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def _path_values(sweep: Sweep, http: httpx.Client, headers: dict[str, str]) -> dict[str, list[str]]:
    """Values for every path parameter of the read endpoints, from the running system itself."""
    runs = http.get("/api/v1/runs", params={"limit": 50}, headers=headers).json()
    assets = http.get("/api/v1/assets", headers=headers).json()["items"]
    tables: dict[str, list[str]] = {}
    for asset in assets:
        layer, _, name = asset["key"].partition("/")
        tables.setdefault(layer, []).append(name)
    return {
        "dataset": sorted(tables["bronze"]),  # datasets with a contract (PII reports, quality, lineage)
        "dataset@lineage": sorted({a["dataset"] for a in assets if a.get("dataset")}),  # models too
        "run_id": [r["run_id"] for r in runs["items"]][:10],
        **{f"table@{layer}": sorted(names) for layer, names in tables.items()},
    }


def _read_everything(sweep: Sweep, http: httpx.Client, headers: dict[str, str]) -> None:
    spec = http.get("/openapi.json").json()
    values = _path_values(sweep, http, headers)
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        names = [p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "path"]
        if not names:
            targets = [path]
        elif names == ["table"]:
            layer = path.split("/")[4]
            targets = [path.replace("{table}", t) for t in values.get(f"table@{layer}", [])]
        elif names[0] in values:
            options = (
                values.get(f"{names[0]}@lineage", values[names[0]])
                if "/lineage/" in path
                else values[names[0]]
            )
            targets = [path.replace(f"{{{names[0]}}}", quote(v, safe="")) for v in options]
        else:  # e.g. a backfill id: the demo launched none; a made-up id must answer 404 without leaking
            targets = [path.replace(f"{{{names[0]}}}", "does-not-exist")]
        for target in targets:
            offset = 0
            while True:
                params = {"limit": 1000, "offset": offset} if "/data/" in target else None
                response = http.get(target, params=params, headers=headers)
                key = f"GET {target}" + (f"?offset={offset}" if offset else "")
                sweep.responses[key], sweep.statuses[key] = response.text, response.status_code
                rows = (
                    response.json().get("rows")
                    if response.headers.get("content-type", "").startswith("application/json")
                    and "/data/" in target
                    else None
                )
                if not rows or len(rows) < 1000 or offset >= 4000:
                    break
                offset += 1000
    dashboard = http.get("/")  # the dashboard page (not in the OpenAPI schema)
    sweep.responses["GET /"], sweep.statuses["GET /"] = dashboard.text, dashboard.status_code


@pytest.fixture(scope="module")
def sweep(pg_server: str, seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    from atlas_resources.lake import BUCKETS, S3Lake

    lake = S3Lake(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    lake.ensure_buckets()
    for bucket in BUCKETS:
        lake.delete_prefix(bucket, "")
    home = tmp_path_factory.mktemp("security-home")
    warehouse = pg.create_database(pg_server, "atlas_sec", migrate=False)
    dagster_db = pg.create_database(pg_server, "dagster_sec", migrate=False)
    # The server's own password when it has one; else one it ignores (trust auth) but Atlas must still keep
    # secret.
    pg_password = urlsplit(pg_server).password or "pgpw" + secrets.token_hex(12)
    with_password = {u: _with_password(u, pg_password) for u in (warehouse, dagster_db)}
    values = {
        "ATLAS_JWT_SECRET": "jwt-" + secrets.token_hex(24),
        "ATLAS_PII_KEY": "piikey-" + secrets.token_hex(20),
        "retired PII key": "oldpii-" + secrets.token_hex(20),
        "ATLAS_S3_SECRET_KEY": seaweed.secret_key,
        "PostgreSQL password": pg_password,
        "webhook token": "hook" + secrets.token_hex(16),
        "admin password": "pw-" + secrets.token_hex(12),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_", "OPENLINEAGE"))}
    env.update(
        {
            "ATLAS_ENVIRONMENT": "production",
            "ATLAS_HOME": str(home),
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
            "ATLAS_POSTGRES_URL": with_password[warehouse],
            "ATLAS_DAGSTER_POSTGRES_URL": with_password[dagster_db],
            "ATLAS_S3_ENDPOINT": seaweed.endpoint,
            "ATLAS_S3_ACCESS_KEY": seaweed.access_key,
            "ATLAS_S3_SECRET_KEY": seaweed.secret_key,
            "ATLAS_JWT_SECRET": values["ATLAS_JWT_SECRET"],
            "ATLAS_PII_KEY": values["ATLAS_PII_KEY"],
            "ATLAS_PII_KEY_ID": "k7",
            "ATLAS_PII_KEYS": f"k6:{values['retired PII key']}",
            "ATLAS_ALERT_WEBHOOK": f"http://127.0.0.1:9/hooks/{values['webhook token']}",
            "ATLAS_LINEAGE_FILE": str(home / "lineage" / "events.jsonl"),
            "ATLAS_WEBSERVER_PORT": str(free_port()),
            "ATLAS_API_PORT": str(free_port()),
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        }
    )
    sweep = Sweep(env, home, warehouse, dagster_db, values)
    process: subprocess.Popen[bytes] | None = None
    try:
        demo = run_atlas(["demo", "--quiet"], env, home, 300)
        sweep.demo_output = demo.output
        assert demo.returncode == 0, demo.output[-3000:]
        created = run_command(
            ATLAS,
            ("users", "create", "--username", ADMIN, "--role", "admin", "--password-stdin"),
            env,
            home,
            values["admin password"] + "\n",
            120,
        )
        assert created.returncode == 0, created.stderr
        log = home / "up.log"
        process = start_atlas_up(ATLAS, env, home)
        sweep.api = f"http://127.0.0.1:{env['ATLAS_API_PORT']}"
        sweep.graphql = f"http://127.0.0.1:{env['ATLAS_WEBSERVER_PORT']}/graphql"
        wait_http_ok(sweep.graphql.replace("/graphql", "/server_info"), process, 180, log)
        wait_http_ok(f"{sweep.api}/ready", process, 90, log)
        with httpx.Client(base_url=sweep.api, timeout=60) as http:
            login = http.post(
                "/api/v1/auth/token", json={"username": ADMIN, "password": values["admin password"]}
            )
            assert login.status_code == 200, login.text
            first = login.json()
            rotated = http.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
            assert rotated.status_code == 200, rotated.text
            tokens = rotated.json()
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            key = http.post("/api/v1/api-keys", json={"name": "sweep-bot", "role": "admin"}, headers=bearer)
            assert key.status_code == 201, key.text
            sweep.secrets.update(
                {
                    "first access token": first["access_token"],
                    "first refresh token": first["refresh_token"],
                    "access token": tokens["access_token"],
                    "refresh token": tokens["refresh_token"],
                    "API key": key.json()["api_key"],
                }
            )
            _read_everything(sweep, http, bearer)
            me = http.get("/api/v1/me", headers={"X-API-Key": key.json()["api_key"]})
            sweep.responses["GET /api/v1/me (API key)"], sweep.statuses["GET /api/v1/me (API key)"] = (
                me.text,
                me.status_code,
            )
            # A wrong password and a forged token are logged as failures: their text must not be.
            http.post(
                "/api/v1/auth/token", json={"username": ADMIN, "password": values["admin password"] + "x"}
            )
            http.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}x"})
        selector = {"repositoryLocationName": "atlas", "repositoryName": "__repository__"}
        answer = httpx.post(
            sweep.graphql, json={"query": GRAPHQL_RESOURCES, "variables": {"selector": selector}}, timeout=60
        )
        sweep.ui = answer.json()
    finally:
        if process is not None:
            stop_atlas_up(process)
            sweep.up_output = (home / "up.log").read_text(errors="replace")
    try:
        yield sweep
    finally:
        for url in (warehouse, dagster_db):
            pg.drop_database(url)


def _places(sweep: Sweep) -> dict[str, str]:
    return {
        "API responses (every GET as admin)": "\n".join(f"{k}\n{v}" for k, v in sweep.responses.items()),
        "log files (CLI, API access and errors), lineage, compute logs, home files": _home_files(sweep.home),
        "output of atlas up (webserver, daemon, API)": sweep.up_output,
        "output of atlas demo": sweep.demo_output,
        "Dagster database (event log, runs, schedules, ...)": pg.dump_schemas(sweep.dagster, ["public"]),
        "warehouse metadata (audit, ingestions, reports, users, api keys)": pg.dump_schemas(
            sweep.warehouse, ["atlas_meta"]
        ),
        "Dagster UI (resources, env vars, instance config)": json.dumps(sweep.ui),
    }


def test_the_sweep_exercised_a_live_production_stack(sweep: Sweep) -> None:
    # Every secret was in use: a failure of the searches below would be a real leak, not a dead setting.
    claims = jwt.decode(
        sweep.secrets["access token"], sweep.secrets["ATLAS_JWT_SECRET"], algorithms=["HS256"]
    )
    assert claims["sub"]
    tokens = sweep.rows(
        sweep.warehouse, "SELECT ssn FROM atlas_silver.customers WHERE ssn IS NOT NULL LIMIT 5"
    )
    assert tokens and all(t[0].startswith("enc1:k7:") for t in tokens)  # encrypted with ATLAS_PII_KEY (id k7)
    from atlas_resources.lake import S3Lake

    lake = S3Lake(
        sweep.env["ATLAS_S3_ENDPOINT"], sweep.env["ATLAS_S3_ACCESS_KEY"], sweep.env["ATLAS_S3_SECRET_KEY"]
    )
    assert lake.list("atlas-silver", "customers/")  # the lake is the S3 one, reached with the secret key
    reads = {k: s for k, s in sweep.statuses.items() if k.startswith("GET /api/v1/")}
    assert len(reads) >= 20
    assert {k: s for k, s in reads.items() if s != 200 and "does-not-exist" not in k} == {}
    assert any("/data/bronze/customers?offset=1000" in k for k in reads)  # every page of the PII tables
    assert any(k.startswith("GET /api/v1/runs/") for k in reads)
    logs = (sweep.home / "logs" / "atlas.log").read_text()
    assert '"/api/v1/data/silver/{table}"' in logs and '"request_id"' in logs  # access log lines exist


def test_no_raw_pii_in_api_responses_or_logs(sweep: Sweep) -> None:
    raw = RawPii(sweep.rows(sweep.warehouse, f"SELECT {', '.join(PII_COLUMNS)} FROM atlas_bronze.customers"))  # noqa: S608
    control = raw.hits(pg.dump_schemas(sweep.warehouse, ["atlas_bronze"]))
    assert len(control["email"]) > 1900 and len(control["ssn"]) > 1900  # the search does find raw values
    silver = json.loads(sweep.responses["GET /api/v1/data/silver/customers"])
    assert len(silver["rows"]) == 1000 and "email" in [
        c["name"] for c in silver["columns"]
    ]  # served, anonymized
    assert all(row["email"] and "@" not in row["email"] for row in silver["rows"])
    places = _places(sweep)
    del places[
        "warehouse metadata (audit, ingestions, reports, users, api keys)"
    ]  # searched by the PII suite
    leaks = {where: raw.hits(text) for where, text in places.items()}
    assert {where: found for where, found in leaks.items() if found} == {}


def test_no_secret_in_logs_events_responses_or_the_dagster_ui(sweep: Sweep) -> None:
    places = _places(sweep)
    assert all(len(text) > 100 for text in places.values()), {k: len(v) for k, v in places.items()}
    found = {
        (name, where)
        for name, value in sweep.secrets.items()
        for where, text in places.items()
        if value in text
    }
    # The login and refresh responses carry tokens by design; they are POSTs, not in the searched GETs.
    assert found == set()


def test_the_dagster_ui_shows_env_var_names_for_secret_resource_fields(sweep: Sweep) -> None:
    data = sweep.ui["data"]
    resources = {
        r["name"]: {v["key"]: (v["type"], v["value"]) for v in r["configuredValues"]}
        for r in data["allTopLevelResourceDetailsOrError"]["results"]
    }
    expected = {
        ("warehouse", "postgres_url"): "ATLAS_POSTGRES_URL",
        ("lake", "access_key"): "ATLAS_S3_ACCESS_KEY",
        ("lake", "secret_key"): "ATLAS_S3_SECRET_KEY",
        ("pii", "key"): "ATLAS_PII_KEY",
        ("pii", "retired_keys"): "ATLAS_PII_KEYS",
        ("alerts", "webhook"): "ATLAS_ALERT_WEBHOOK",
    }
    for (resource, key), variable in expected.items():
        assert resources[resource][key] == ("ENV_VAR", variable), (
            resource,
            key,
            resources[resource].get(key),
        )
    used = {r["envVarName"] for r in data["utilizedEnvVarsOrError"]["results"]}
    assert set(expected.values()) <= used
    info = data["instance"]["info"]  # the UI's instance config was searched; it names the URL's variable
    assert "class: AtlasEventLogStorage" in info and "env: DAGSTER_PG_URL" in info
