"""Start what the CLI needs: settings, services, logging, the Dagster instance and definitions."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import cached_property

import dagster as dg

from atlas_core.logs import configure_logging
from atlas_core.settings import AtlasSettings, get_settings
from atlas_resources.bootstrap import Runtime, prepare_runtime
from atlas_resources.dagster_pool import ping_pooled_connections
from atlas_resources.lake import Lake, lake_from_settings
from atlas_resources.warehouse import Warehouse

# Extra storage connections the CLI's threads (run, live lineage poll, progress) may hold at once.
POOL_OVERFLOW = 8


def quiet_warnings() -> None:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


@dataclass
class Atlas:
    """A booted Atlas: services up, environment exported, clients ready."""

    settings: AtlasSettings
    runtime: Runtime

    @cached_property
    def warehouse(self) -> Warehouse:
        return Warehouse(
            self.runtime.postgres_url,
            batch_size=self.settings.batch_size,
            work_mem=self.settings.warehouse_work_mem,
        )

    @cached_property
    def lake(self) -> Lake:
        return lake_from_settings(self.settings, self.runtime.lake_root)

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        instance = dg.DagsterInstance.get()
        # Dagster's Postgres storages open a new connection per query by default (one per stored event,
        # ~10 ms each); the CLI keeps them open as the webserver does (0: no statement timeout), and
        # pings each one as it is taken from the pool (dagster_pool).
        ping_pooled_connections()
        instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=POOL_OVERFLOW)
        return instance

    @cached_property
    def definitions(self) -> dg.Definitions:
        from atlas_assets.definitions import build_definitions

        return build_definitions(self.settings)


def boot() -> Atlas:
    quiet_warnings()
    settings = get_settings()
    configure_logging(file=settings.resolved_home() / "logs" / "atlas.log")
    runtime = prepare_runtime(settings)
    atlas = Atlas(settings, runtime)
    if settings.s3_endpoint:
        # S3 credentials reach Dagster processes through the environment, never through config files.
        assert settings.s3_access_key and settings.s3_secret_key
        os.environ["ATLAS_S3_ACCESS_KEY"] = settings.s3_access_key.get_secret_value()
        os.environ["ATLAS_S3_SECRET_KEY"] = settings.s3_secret_key.get_secret_value()
    atlas.lake.ensure_buckets()
    return atlas
