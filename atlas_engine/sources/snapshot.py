"""``postgres`` and ``http`` sources: pulled into one CSV snapshot (written by
:func:`atlas_engine.sources.postgres.write_snapshot` / :func:`atlas_engine.sources.http.write_snapshot`),
which then takes the ordinary bronze path (raw copy, sha256 idempotency, partition mapping, quarantine).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from atlas_core.contracts import Contract
from atlas_core.contracts.sources import HttpSource, PostgresSource
from atlas_engine.bronze import BeforeCommit, IngestionRecord, ingest_file
from atlas_engine.sources import http, postgres
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Warehouse


def pull_snapshot(
    wh: Warehouse,
    lake: Lake,
    contract: Contract,
    *,
    run_id: str | None = None,
    batch_rows: int = 50_000,
    env: Mapping[str, str] | None = None,
    max_wait: float = 10.0,
) -> IngestionRecord | None:
    """Pull a ``postgres`` or ``http`` source into one CSV snapshot and ingest it; ``None`` when there is
    nothing new (no new rows, no records). ``max_wait``: the longest backoff between HTTP retries."""
    source = contract.source
    if not isinstance(source, PostgresSource | HttpSource):
        raise TypeError(f"{contract.dataset}: only postgres and http sources are pulled into a snapshot")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    with tempfile.TemporaryDirectory(prefix=f"atlas-{source.kind}-source-") as tmp:
        path = Path(tmp) / f"{contract.dataset}-{stamp}.csv"
        before_commit: BeforeCommit | None = None
        if isinstance(source, PostgresSource):
            rows, before_commit = postgres.write_snapshot(wh, contract, source, path, env)
        else:
            rows = http.write_snapshot(contract, source, path, env, max_wait)
        if rows == 0:
            return None
        return ingest_file(
            wh,
            lake,
            contract,
            path,
            source_system=source.kind,
            run_id=run_id,
            batch_rows=batch_rows,
            before_commit=before_commit,
        )
