"""Fixtures several integration modules share: a migrated warehouse per module, a lake of each kind, and a
real HTTP receiver for alerts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_resources.lake import Lake, LocalLake, S3Lake
from atlas_resources.warehouse import Warehouse
from tests.support import postgres as pg
from tests.support.http_receiver import HttpReceiver, start_receiver
from tests.support.seaweed import SeaweedS3


@pytest.fixture(scope="module")
def wh(pg_server: str) -> Iterator[Warehouse]:
    """A migrated warehouse database of the module's own."""
    url = pg.create_database(pg_server)
    yield Warehouse(url)
    pg.drop_database(url)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lake]:
    """Each lake implementation in turn: a local directory, then the suite's SeaweedFS S3 server."""
    if request.param == "local":
        yield LocalLake(tmp_path / "lake")
    else:
        server: SeaweedS3 = request.getfixturevalue("seaweed")
        yield S3Lake(server.endpoint, server.access_key, server.secret_key)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """A real HTTP server recording what is posted to it (the alert webhook)."""
    server = start_receiver()
    yield server
    server.stop()
