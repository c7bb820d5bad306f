"""OpenLineage for in-process runs (``atlas demo``, ``materialize``, ``backfill``, ``ingest``), right after they end."""

from __future__ import annotations

import os

import dagster as dg

from atlas_core.errors import one_line
from atlas_core.logs import get_logger

log = get_logger("atlas.lineage")


def emit_lineage_after_run(instance: dg.DagsterInstance, defs: dg.Definitions, run_id: str) -> int:
    """Emit the run's events with the configured transports; returns how many were delivered. Never raises."""
    try:
        from atlas_assets.lineage import DatasetNaming, LineageConfig, emit_run_lineage
        from atlas_core.contracts import load_contracts
        from atlas_core.settings import get_settings
        from atlas_resources.lake import Lake, LocalLake, S3Lake

        settings = get_settings()
        postgres_url = settings.postgres_url or os.environ.get("ATLAS_POSTGRES_URL", "")
        lake: Lake
        if settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key:
            lake = S3Lake(settings.s3_endpoint, settings.s3_access_key.get_secret_value(),
                          settings.s3_secret_key.get_secret_value(), secure=settings.s3_secure)
        else:
            lake = LocalLake(os.environ.get("ATLAS_LAKE_ROOT") or settings.lake_root)
        naming = DatasetNaming.create(postgres_url, lake, str(settings.project_dir))
        contracts = {c.dataset: c for c in load_contracts(settings.resolved_contracts_dir())}
        config = LineageConfig(
            settings.lineage_namespace, settings.openlineage_url,
            str(settings.lineage_file) if settings.lineage_file else None, settings.lineage_timeout_seconds,
            settings.lineage_budget_seconds, settings.lineage_running_after_seconds,
        )
        stats = emit_run_lineage(instance, defs.resolve_asset_graph(), run_id, naming, contracts, config)
        return stats.emitted
    except Exception as exc:
        log.warning("lineage_after_run_failed", run_id=run_id, error=one_line(exc))
        return 0
