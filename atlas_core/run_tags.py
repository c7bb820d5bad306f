"""Run tags Atlas reads or writes in more than one place (Dagster's own, and Atlas's ``atlas/*`` tags)."""

PARTITION = "dagster/partition"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
"""A run over a partition range (single-run backfills): its first and last key."""
LINEAGE = "atlas/lineage"
LIVE = "live"
"""``atlas/lineage=live``: the launching process emits the run's lineage events (the sensor leaves it
alone)."""
