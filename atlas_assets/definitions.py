"""The root of Atlas' Dagster code: every layer's Definitions merged, with resources bound once.

Loaded lazily by Dagster (``@dg.definitions``): contracts and models are read, and the lake
implementation chosen, when a code location loads, never at import.
"""

from dataclasses import asdict

import dagster as dg

from atlas_assets.ai_ready import ai_ready_definitions
from atlas_assets.bronze import bronze_definitions
from atlas_assets.gold import gold_definitions
from atlas_assets.orchestration import with_orchestration
from atlas_assets.pii import pii_definitions
from atlas_assets.quality_checks import check_references
from atlas_assets.silver import silver_definitions
from atlas_core.contracts import load_contracts
from atlas_core.credentials import refuse_default_credentials
from atlas_core.features.spec import load_feature_sets
from atlas_core.pii.keys import keyring_from_settings
from atlas_core.settings import AtlasSettings, get_settings
from atlas_core.sql_models import load_models
from atlas_resources import breakers
from atlas_resources.resources import (
    AlertsResource,
    LakeResource,
    LineageResource,
    LocalLakeResource,
    PiiResource,
    ProjectResource,
    S3LakeResource,
    WarehouseResource,
)

PII_SPAN_CACHE = "pii-spans.json"  # under $ATLAS_HOME/cache (atlas_resources.span_cache)
GAZETTEER_CACHE = "gazetteers.json"  # under $ATLAS_HOME/cache (atlas_resources.gazetteer_cache)


def lake_resource(use_s3: bool, secure: bool = False) -> LakeResource:
    if use_s3:
        return S3LakeResource(
            endpoint=dg.EnvVar("ATLAS_S3_ENDPOINT"),
            access_key=dg.EnvVar("ATLAS_S3_ACCESS_KEY"),
            secret_key=dg.EnvVar("ATLAS_S3_SECRET_KEY"),
            secure=secure,
        )
    return LocalLakeResource(root=dg.EnvVar("ATLAS_LAKE_ROOT"))


def resource_definitions(settings: AtlasSettings) -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(
                postgres_url=dg.EnvVar("ATLAS_POSTGRES_URL"),
                batch_size=settings.batch_size,
                work_mem=settings.warehouse_work_mem,
            ),
            "lake": lake_resource(bool(settings.s3_endpoint), settings.s3_secure),
            "project": ProjectResource(project_dir=str(settings.project_dir), batch_size=settings.batch_size),
            "pii": pii_resource(settings),
            **orchestration_resources(settings),
        }
    )


def orchestration_resources(settings: AtlasSettings) -> dict[str, dg.ConfigurableResource]:
    """Alert webhook (a secret: EnvVar) and OpenLineage targets."""
    return {
        "alerts": AlertsResource(
            webhook=dg.EnvVar("ATLAS_ALERT_WEBHOOK") if settings.alert_webhook else "",
            timeout_seconds=settings.alert_timeout_seconds,
            **asdict(settings.anomaly_thresholds()),
        ),
        "lineage": LineageResource(
            url=settings.openlineage_url or "",
            file=str(settings.lineage_file or ""),
            namespace=settings.lineage_namespace,
            timeout_seconds=settings.lineage_timeout_seconds,
            budget_seconds=settings.lineage_budget_seconds,
            running_after_seconds=settings.lineage_running_after_seconds,
        ),
    }


def pii_resource(settings: AtlasSettings) -> PiiResource:
    """Keys through EnvVar, and only when configured (development falls back to the public dev key)."""
    keyring_from_settings(settings)  # refuses a missing or development key in production, at load time
    return PiiResource(
        key=dg.EnvVar("ATLAS_PII_KEY") if settings.pii_key else None,
        key_id=settings.pii_key_id,
        retired_keys=dg.EnvVar("ATLAS_PII_KEYS") if settings.pii_keys else None,
        environment=settings.environment,
        recognizers_file=str(settings.resolved_pii_recognizers()),
        sample_size=settings.pii_sample_size if "pii_sample_size" in settings.model_fields_set else None,
        n_process=settings.pii_n_process,
        batch_size=settings.pii_batch_size,
        analyzer_processes=settings.pii_analyzer_processes,
        span_cache_file=str(settings.resolved_home() / "cache" / PII_SPAN_CACHE),
        gazetteer_cache_file=str(settings.resolved_home() / "cache" / GAZETTEER_CACHE),
    )


def build_definitions(settings: AtlasSettings) -> dg.Definitions:
    breakers.configure(settings.breaker_fail_max, settings.breaker_reset_seconds)  # this process's breakers
    refuse_default_credentials(
        settings
    )  # production: no minioadmin / "postgres" passwords (docs/security.md)
    contracts = load_contracts(settings.resolved_contracts_dir())
    check_references(contracts)
    models = load_models(settings.resolved_models_dir())
    feature_sets = load_feature_sets(settings.resolved_models_dir())
    assets = dg.Definitions.merge(
        bronze_definitions(contracts),
        silver_definitions(contracts, settings.quality_trend_loads),
        pii_definitions(contracts, models),
        gold_definitions(models, contracts),
        ai_ready_definitions(feature_sets, models, contracts),
        resource_definitions(settings),
    )
    return with_orchestration(assets, contracts, models, settings, feature_sets)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(get_settings())
