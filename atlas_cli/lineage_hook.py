"""Live OpenLineage for in-process runs (``atlas demo``, ``materialize``, ``backfill``, ``ingest``): polled
while they run."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dagster as dg

from atlas_core.errors import one_line
from atlas_core.logs import get_logger

if TYPE_CHECKING:
    from atlas_assets.lineage import LiveLineage

log = get_logger("atlas.lineage")


def live_lineage(instance: dg.DagsterInstance, defs: dg.Definitions) -> LiveLineage | None:
    """A :class:`LiveLineage` with the configured transports, or None (logged) when it cannot be set up."""
    try:
        from atlas_assets.lineage import LineageConfig, LiveLineage
        from atlas_assets.lineage_facts import DatasetNaming, LineageCatalog
        from atlas_core.contracts import load_contracts
        from atlas_core.features.spec import load_feature_sets
        from atlas_core.settings import get_settings
        from atlas_core.sql_models import load_models
        from atlas_resources.lake import Lake, LocalLake, S3Lake

        settings = get_settings()
        postgres_url = settings.postgres_url or os.environ.get("ATLAS_POSTGRES_URL", "")
        lake: Lake
        if settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key:
            lake = S3Lake(
                settings.s3_endpoint,
                settings.s3_access_key.get_secret_value(),
                settings.s3_secret_key.get_secret_value(),
                secure=settings.s3_secure,
            )
        else:
            lake = LocalLake(os.environ.get("ATLAS_LAKE_ROOT") or settings.lake_root)
        naming = DatasetNaming.create(postgres_url, lake, str(settings.project_dir))
        catalog = LineageCatalog.of(
            load_contracts(settings.resolved_contracts_dir()),
            load_models(settings.resolved_models_dir()),
            load_feature_sets(settings.resolved_models_dir()),
        )
        config = LineageConfig(
            settings.lineage_namespace,
            settings.openlineage_url,
            str(settings.lineage_file) if settings.lineage_file else None,
            settings.lineage_timeout_seconds,
            settings.lineage_budget_seconds,
            settings.lineage_running_after_seconds,
        )
        return LiveLineage(instance, defs.resolve_asset_graph(), naming, catalog, config)
    except Exception as exc:
        log.warning("lineage_setup_failed", error=one_line(exc))
        return None
