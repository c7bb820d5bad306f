"""Everything that runs the graph, added to the asset Definitions in one place.

Automation conditions and freshness policies (``atlas_assets.automation``), the daily schedule,
sensors (landing, failure and quality alerts, lineage), the retention job and its schedule, the erasure
job (``atlas_pii_forget``), and the
executor: Dagster's default, or ``dagster_celery`` workers when ``ATLAS_EXECUTOR=celery``.
"""

import dagster as dg

from atlas_assets.anomaly_alerts import anomaly_alerts_sensor
from atlas_assets.automation import build_daily_schedule, with_automation
from atlas_assets.lineage import build_lineage_sensor
from atlas_assets.pii_forget import build_forget_definitions
from atlas_assets.policies import PIPELINE_QUEUE
from atlas_assets.retention import build_retention_definitions
from atlas_assets.sensors import sensor_definitions
from atlas_core.contracts import Contract
from atlas_core.features.spec import FeatureSetSpec
from atlas_core.layout import Layer
from atlas_core.settings import AtlasSettings
from atlas_core.sql_models import SqlModel


def celery_executor_for(settings: AtlasSettings) -> dg.ExecutorDefinition:
    """``dagster_celery.celery_executor`` on Redis; steps go to the queue in their ``dagster-celery/queue``
    tag."""
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            # The URLs may carry passwords: read from the environment when set there (never shown in the UI).
            "broker": {"env": "ATLAS_CELERY_BROKER_URL"}
            if settings.model_fields_set & {"celery_broker_url"}
            else settings.celery_broker_url,
            "backend": {"env": "ATLAS_CELERY_BACKEND_URL"}
            if settings.model_fields_set & {"celery_backend_url"}
            else settings.celery_backend_url,
            "config_source": {
                "task_default_queue": PIPELINE_QUEUE,
                "worker_prefetch_multiplier": 1,
                "broker_connection_retry_on_startup": True,
            },
        },
        name="atlas_celery",
    )


def retention_days(settings: AtlasSettings) -> dict[Layer, int]:
    return {
        Layer.BRONZE: settings.retention_bronze_days,
        Layer.SILVER: settings.retention_silver_days,
        Layer.GOLD: settings.retention_gold_days,
        Layer.AI_READY: settings.retention_ai_ready_days,
    }


def with_orchestration(
    defs: dg.Definitions,
    contracts: list[Contract],
    models: list[SqlModel],
    settings: AtlasSettings,
    feature_sets: list[FeatureSetSpec] | None = None,
) -> dg.Definitions:
    automated = with_automation(defs, contracts)
    gold_tables = [
        (m.name, m.header.partition_column) for m in models if m.incremental and m.header.partition_column
    ]
    parts = [
        automated,
        dg.Definitions(schedules=[build_daily_schedule(automated, settings.schedule_cron)]),
        sensor_definitions(
            contracts,
            settings.landing_interval_seconds,
            settings.landing_max_files_per_tick,
            settings.sensor_interval_seconds,
        ),
        dg.Definitions(sensors=[anomaly_alerts_sensor(settings.sensor_interval_seconds)]),
        dg.Definitions(
            sensors=[
                build_lineage_sensor(contracts, models, feature_sets or [], settings.lineage_interval_seconds)
            ]
        ),
        build_retention_definitions(
            contracts, gold_tables, retention_days(settings), settings.retention_cron
        ),
        build_forget_definitions(contracts),
    ]
    if settings.executor == "celery":
        parts.append(dg.Definitions(executor=celery_executor_for(settings)))
    return dg.Definitions.merge(*parts)
