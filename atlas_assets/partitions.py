"""Partitions definitions derived from contracts."""

from functools import cache

import dagster as dg

from atlas_core.contracts import Contract


@cache
def _daily(start: str, end: str | None) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start, end_date=end, timezone="UTC")


def partitions_for(contract: Contract) -> dg.DailyPartitionsDefinition | None:
    p = contract.partitioning
    if p is None:
        return None
    return _daily(p.start.isoformat(), p.end.isoformat() if p.end else None)


def backfill_policy_for(partitions: dg.PartitionsDefinition | None) -> dg.BackfillPolicy | None:
    """Backfills of a partitioned asset run as one run over the whole range (assets handle ranges)."""
    return dg.BackfillPolicy.single_run() if partitions is not None else None


def selected_partition_keys(context: dg.AssetExecutionContext) -> list[str] | None:
    # A run over a partition range also executes unpartitioned assets: they must ignore the range.
    if context.assets_def.partitions_def is None:
        return None
    return list(context.partition_keys)
