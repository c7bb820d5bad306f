"""Every contract ``source:`` kind brought to the same bronze path (:func:`atlas_engine.bronze.ingest_file`).

``file``: paths or globs in the project; ``landing``: objects in ``atlas-bronze/landing/<dataset>/``
(picked up by a sensor); whatever the kind, a run may name landing objects (uploads) or local files
(``atlas ingest``) instead, and then only those are ingested; ``postgres``: a table or query in another
database, incremental by a watermark column; ``http``: a paginated JSON API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from atlas_core.contracts import Contract
from atlas_core.contracts.sources import FileSource, HttpSource, LandingSource, PostgresSource
from atlas_core.errors import InputRejected
from atlas_engine.bronze import IngestionRecord, ingest_file, source_files
from atlas_resources.lake import Lake
from atlas_resources.warehouse import Warehouse


@dataclass
class PullResult:
    """What one bronze refresh did: records of accepted/duplicate files, and rejection reasons."""

    records: list[IngestionRecord] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def touched_partitions(self) -> list[str]:
        return sorted({k for r in self.records if r.status == "accepted" for k in r.partition_keys})

    def collect(self, ingest: Callable[[], IngestionRecord], *, stop_on_rejection: bool = False) -> None:
        """Keep the record ``ingest`` returns, or its rejection reason (re-raised with
        ``stop_on_rejection``)."""
        try:
            self.records.append(ingest())
        except InputRejected as exc:
            if stop_on_rejection:
                raise
            self.rejected.append(str(exc))


def pull_source(
    wh: Warehouse,
    lake: Lake,
    contract: Contract,
    *,
    project_dir: Path,
    run_id: str | None = None,
    batch_rows: int = 50_000,
    landing_keys: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    stop_on_rejection: bool = True,
    files: list[Path] | None = None,
    source_system: str | None = None,
) -> PullResult:
    """Bring the contract's source into bronze. File sources raise on the first rejected file
    (``stop_on_rejection``); landing objects are independent, their rejections are collected.

    ``landing_keys`` / ``files`` (uploads, ``atlas ingest``): ingest exactly these landing objects / local
    files, whatever the source kind; duplicates get their own ledger row, rejections are collected."""
    from atlas_engine.sources.landing import BUCKET, ingest_landing_object, pending_objects
    from atlas_engine.sources.snapshot import pull_snapshot

    source = contract.source
    result = PullResult()

    def landing(keys: list[str] | None) -> None:
        """The given landing objects (default: every pending one; named ones work for any source kind)."""
        for key in keys if keys is not None else pending_objects(lake, contract):
            if not lake.exists(BUCKET, key):
                continue  # already processed by an earlier attempt of this run
            result.collect(
                partial(
                    ingest_landing_object,
                    wh,
                    lake,
                    contract,
                    key,
                    run_id=run_id,
                    batch_rows=batch_rows,
                    source_system=source_system or "landing",
                )
            )

    if files is not None or (landing_keys is not None and not isinstance(source, LandingSource)):
        if landing_keys:
            landing(landing_keys)
        for path in files or []:
            result.collect(
                partial(
                    ingest_file,
                    wh,
                    lake,
                    contract,
                    path,
                    run_id=run_id,
                    batch_rows=batch_rows,
                    source_system=source_system or "file",
                    record_duplicate=True,
                )
            )
    elif isinstance(source, FileSource):
        files = source_files(contract, project_dir)
        if not files:
            raise InputRejected(f"{contract.dataset}: no source file matches {source.path}")
        for path in files:
            result.collect(
                partial(ingest_file, wh, lake, contract, path, run_id=run_id, batch_rows=batch_rows),
                stop_on_rejection=stop_on_rejection,
            )
    elif isinstance(source, LandingSource):
        landing(landing_keys)
    elif isinstance(source, PostgresSource | HttpSource):
        record = pull_snapshot(wh, lake, contract, run_id=run_id, batch_rows=batch_rows, env=env)
        result.records = [record] if record is not None else []
    return result
