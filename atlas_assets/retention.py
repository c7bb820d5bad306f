"""The retention job (``atlas_retention``) and its daily schedule (``ATLAS_RETENTION_CRON``)."""

from datetime import date

import dagster as dg

from atlas_core.contracts import Contract
from atlas_core.layout import Layer
from atlas_engine.retention import as_of, policy_from, run_retention
from atlas_resources.resources import LakeResource, WarehouseResource


class RetentionConfig(dg.Config):
    dry_run: bool = False
    as_of: str | None = None  # YYYY-MM-DD; default today (UTC)


def build_retention_definitions(
    contracts: list[Contract], gold_tables: list[tuple[str, str]], days: dict[Layer, int], cron: str
) -> dg.Definitions:
    policy = policy_from(days, contracts)

    @dg.op(
        name="apply_retention",
        description="Delete partitions and lake objects older than their layer's window.",
    )
    def apply_retention(
        context: dg.OpExecutionContext,
        config: RetentionConfig,
        warehouse: WarehouseResource,
        lake: LakeResource,
    ) -> None:
        now = as_of(date.fromisoformat(config.as_of) if config.as_of else None)
        report = run_retention(
            warehouse.client(), lake.client(), contracts, gold_tables, policy, now=now, dry_run=config.dry_run
        )
        for action in report.actions:
            verb = "would delete" if config.dry_run else "deleted"
            context.log.info(
                f"{verb} {action.layer} {action.target} {action.partition_key or ''}: "
                f"{action.rows} rows, {action.objects} objects (cutoff {action.cutoff})"
            )
        context.log.info(f"retention: {report.rows} rows, {report.objects} objects, dry_run={config.dry_run}")

    @dg.job(
        name="atlas_retention",
        description="Retention per layer (docs/orchestration.md#retention).",
        tags={"atlas/trigger": "retention"},
    )
    def retention_job() -> None:
        apply_retention()

    schedule = dg.ScheduleDefinition(
        name="atlas_retention_daily",
        cron_schedule=cron,
        execution_timezone="UTC",
        job=retention_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(jobs=[retention_job], schedules=[schedule])
