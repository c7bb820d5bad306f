"""Default and development credentials are refused outside development, by every entry point.

Unit-level refusals of the JWT secret and the PII key live with their modules (tests/api/test_api_auth.py,
tests/pii/test_strategies.py); compose's required variables in tests/integration/test_compose.py. Here:
the well-known service credentials (atlas_core.credentials), and the real CLI in production refusing each
kind of default with one ``error:`` line that names the variable, never its value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_api.core.config import DEVELOPMENT_JWT_SECRET
from atlas_core.credentials import WELL_KNOWN_SECRETS, default_credentials, refuse_default_credentials
from atlas_core.errors import AtlasError
from atlas_core.pii.keys import DEV_KEY
from atlas_core.settings import AtlasSettings
from tests.malformed.runner import run_atlas
from tests.support import postgres as pg

PROJECT_DIR = Path(__file__).resolve().parents[2]
STRONG = "k" + "3f9a" * 10


def settings(**values: object) -> AtlasSettings:
    return AtlasSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "found"),
    [
        ({"s3_access_key": "minioadmin", "s3_secret_key": "minioadmin"}, ["ATLAS_S3_SECRET_KEY"]),
        (
            {"s3_access_key": "atlas-lake", "s3_secret_key": "atlas-lake"},
            ["ATLAS_S3_SECRET_KEY"],
        ),  # key = its id
        ({"s3_access_key": "atlas-lake", "s3_secret_key": "ChangeMe"}, ["ATLAS_S3_SECRET_KEY"]),
        ({"postgres_url": "postgresql://postgres:postgres@db:5432/atlas"}, ["ATLAS_POSTGRES_URL"]),
        (
            {
                "postgres_url": "postgresql://atlas:atlas@db/atlas",
                "dagster_postgres_url": "postgresql://d:password@db/d",
            },
            ["ATLAS_POSTGRES_URL", "ATLAS_DAGSTER_POSTGRES_URL"],
        ),
        (
            {"postgres_url": "postgresql://atlas:p%61ssword@db/atlas"},
            ["ATLAS_POSTGRES_URL"],
        ),  # percent-encoded
        (
            {
                "s3_access_key": "atlas-lake",
                "s3_secret_key": STRONG,
                "postgres_url": f"postgresql://atlas:{STRONG}@db/a",
            },
            [],
        ),
        (
            {"postgres_url": "postgresql://atlas@/atlas?host=/run/postgresql"},
            [],
        ),  # peer/trust auth: no password
    ],
)
def test_well_known_service_credentials_are_found(values: dict[str, str], found: list[str]) -> None:
    assert default_credentials(settings(**values)) == found
    refuse_default_credentials(settings(**values))  # development: allowed
    if found:
        with pytest.raises(AtlasError) as excinfo:
            refuse_default_credentials(settings(environment="production", **values))
        message = str(excinfo.value)
        assert message.startswith(", ".join(found)) and "\n" not in message
        assert not any(v in message for v in values.values() if v not in found)  # names, never values
    else:
        refuse_default_credentials(settings(environment="production", **values))


def test_the_list_holds_the_defaults_of_the_bundled_services() -> None:
    assert {"minioadmin", "postgres", "password", "changeme"} <= WELL_KNOWN_SECRETS


@pytest.fixture(scope="module")
def production(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    warehouse = pg.create_database(pg_server, "atlas_cred", migrate=False)
    dagster_db = pg.create_database(pg_server, "dagster_cred", migrate=False)
    home = tmp_path_factory.mktemp("cred-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    env.update(
        {
            "ATLAS_ENVIRONMENT": "production",
            "ATLAS_HOME": str(home),
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
            "ATLAS_POSTGRES_URL": warehouse,
            "ATLAS_DAGSTER_POSTGRES_URL": dagster_db,
            "ATLAS_PII_KEY": STRONG,
            "ATLAS_JWT_SECRET": STRONG,
            "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        }
    )
    yield env
    for url in (warehouse, dagster_db):
        pg.drop_database(url)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "overrides", "expected"),
    [
        (
            ["db", "migrate"],
            {
                "ATLAS_S3_ENDPOINT": "127.0.0.1:9",
                "ATLAS_S3_ACCESS_KEY": "minioadmin",
                "ATLAS_S3_SECRET_KEY": "minioadmin",
            },
            "ATLAS_S3_SECRET_KEY: a well-known default credential",
        ),
        (["status"], {"ATLAS_PII_KEY": None}, "ATLAS_PII_KEY is required when ATLAS_ENVIRONMENT=production"),
        (["status"], {"ATLAS_PII_KEY": DEV_KEY}, "the development PII key (or key id 'dev') is refused"),
        (
            ["api", "--port", "9"],
            {"ATLAS_JWT_SECRET": DEVELOPMENT_JWT_SECRET},
            "ATLAS_JWT_SECRET must be set to a random",
        ),
        (["api", "--port", "9"], {"ATLAS_JWT_SECRET": None}, "ATLAS_JWT_SECRET must be set to a random"),
    ],
    ids=["s3-minioadmin", "pii-key-missing", "pii-dev-key", "jwt-dev-secret", "jwt-secret-missing"],
)
def test_the_cli_refuses_defaults_in_production(
    production: dict[str, str], command: list[str], overrides: dict[str, str | None], expected: str
) -> None:
    env = dict(production)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    run = run_atlas(command, env, Path(env["ATLAS_HOME"]), 120)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), run.output
    assert expected in lines[0]
    assert "Traceback" not in run.output
    for value in (v for v in overrides.values() if v):
        assert value not in run.output  # the offending value is never echoed
