"""Jobs that other processes rebuild by name (``reconstructable``): Celery workers import this module."""

import dagster as dg

ALL_ASSETS_JOB = "atlas_all_assets"


def atlas_asset_job() -> dg.JobDefinition:
    """Every asset of the definitions the environment describes, run by their executor (e.g. Celery).

    A named job (the implicit ``__ASSET_JOB`` cannot be rebuilt by name); it needs one time
    partitioning across the partitioned assets, as any Dagster asset job does.
    """
    from atlas_assets.definitions import build_definitions
    from atlas_core.settings import get_settings

    defs = build_definitions(get_settings())
    with_job = dg.Definitions.merge(defs, dg.Definitions(jobs=[dg.define_asset_job(ALL_ASSETS_JOB)]))
    return with_job.resolve_job_def(ALL_ASSETS_JOB)
