"""Shared fixtures. Every service here is real: PostgreSQL (embedded, or ATLAS_POSTGRES_URL), SeaweedFS S3,
a Dagster instance on PostgreSQL storage. Nothing is mocked."""

from __future__ import annotations

import os
import signal
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres as pg
from tests.support.seaweed import SeaweedS3, start_seaweed

PROJECT_DIR = Path(__file__).resolve().parent.parent
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def pytest_configure(config: pytest.Config) -> None:
    # Started in the background from a script, pytest inherits an ignored SIGINT. A Dagster execution on
    # the main thread maps SIGTERM to SIGINT's handler, so SIGTERM becomes ignored as well, and so does it
    # in every process started afterwards: Dagster's compute-log `tail`s then ignore its terminate() and
    # each step waits 30 s for them (seen: a CI run launched with nohup from a subshell).
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def presidio_engine():  # type: ignore[no-untyped-def]
    """One real Presidio engine (spaCy model loaded once per session): the same cached engine the
    pipeline's PiiResource uses (same recognizers file, n_process, batch size)."""
    from atlas_resources.presidio import shared_engine

    return shared_engine(str((PROJECT_DIR / "pii" / "recognizers.yml").resolve()), 1, 256)


@pytest.fixture
def keys():  # type: ignore[no-untyped-def]
    from atlas_core.pii.keys import build_keyring

    return build_keyring("test-secret-0123456789abcdef", "t1", None, environment="development")


@pytest.fixture(scope="session")
def scratch_dir() -> Iterator[Path]:
    # Short path: Unix socket paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="atlas-t-", dir="/tmp"))
    yield path


@pytest.fixture(scope="session")
def pg_server(scratch_dir: Path) -> str:
    """URI of the ``postgres`` database on the test server (embedded unless ATLAS_POSTGRES_URL is set)."""
    return pg.start_server(scratch_dir)


@pytest.fixture
def warehouse_url(pg_server: str) -> Iterator[str]:
    """A fresh, migrated warehouse database for one test."""
    url = pg.create_database(pg_server)
    yield url
    pg.drop_database(url)


@pytest.fixture(scope="session")
def machine_pg() -> str:
    """The machine's own PostgreSQL (127.0.0.1:5432, or ATLAS_TEST_MACHINE_PG_URL): a required test
    service."""
    url = pg.machine_server_url()
    if url is None:
        pytest.fail(
            "no PostgreSQL answers on 127.0.0.1:5432 (or ATLAS_TEST_MACHINE_PG_URL): "
            "the warehouse suite runs against it too"
        )
    return url


@pytest.fixture(scope="session")
def seaweed(scratch_dir: Path) -> Iterator[SeaweedS3]:
    server = start_seaweed(scratch_dir / "seaweed")
    yield server
    server.stop()


@pytest.fixture
def isolated_env() -> Iterator[dict[str, str]]:
    """Snapshot os.environ and restore it afterwards (``boot()`` exports variables for Dagster)."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(("ATLAS_", "DAGSTER_"))]:
        del os.environ[key]
    yield os.environ  # type: ignore[misc]
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def atlas_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tempfile.mkdtemp(prefix="home-", dir=str(tmp_path_factory.getbasetemp())))


@pytest.fixture
def atlas_env(isolated_env: dict[str, str], pg_server: str, atlas_home: Path) -> Iterator[dict[str, str]]:
    """Environment for a complete, isolated Atlas: own home, warehouse database and Dagster database."""
    warehouse = pg.create_database(pg_server, migrate=False)
    dagster_db = pg.create_database(pg_server, "dagster_t", migrate=False)
    isolated_env.update(
        {
            "ATLAS_HOME": str(atlas_home),
            "ATLAS_POSTGRES_URL": warehouse,
            "ATLAS_DAGSTER_POSTGRES_URL": dagster_db,
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
        }
    )
    yield isolated_env
    for url in (warehouse, dagster_db):
        pg.drop_database(url)


@pytest.fixture
def s3_env(atlas_env: dict[str, str], seaweed: SeaweedS3) -> dict[str, str]:
    """``atlas_env`` with the lake on SeaweedFS S3; the atlas-* buckets start empty for each test."""
    from atlas_resources.lake import BUCKETS, S3Lake

    lake = S3Lake(seaweed.endpoint, seaweed.access_key, seaweed.secret_key)
    lake.ensure_buckets()
    for bucket in BUCKETS:
        lake.delete_prefix(bucket, "")
    atlas_env.update(
        {
            "ATLAS_S3_ENDPOINT": seaweed.endpoint,
            "ATLAS_S3_ACCESS_KEY": seaweed.access_key,
            "ATLAS_S3_SECRET_KEY": seaweed.secret_key,
        }
    )
    return atlas_env


def unique(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
