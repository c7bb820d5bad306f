"""``atlas status``: what Dagster knows about each asset, plus the rows its table holds."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from atlas_cli.runtime import Atlas
from atlas_core.layout import Layer


def collect_status(atlas: Atlas) -> dict:
    defs = atlas.definitions
    graph = defs.resolve_asset_graph()
    instance = atlas.instance
    assets = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        pdef = node.partitions_def
        latest = instance.get_latest_materialization_event(key)
        layer = key.path[0] if key.path and key.path[0] in {layer.value for layer in Layer} else None
        rows = atlas.warehouse.count_rows((Layer(layer).schema, key.path[-1])) if layer else None
        assets.append(
            {
                "key": key.to_user_string(),
                "layer": layer,
                "partitioned": pdef is not None,
                "partitions_total": len(pdef.get_partition_keys()) if pdef is not None else None,
                "partitions_materialized": len(instance.get_materialized_partitions(key))
                if pdef is not None
                else None,
                "last_materialization": (
                    datetime.fromtimestamp(latest.timestamp, UTC).isoformat() if latest else None
                ),
                "rows": rows,
            }
        )
    schedules = [
        {"name": s.name, "cron": s.cron_schedule, "default_status": str(s.default_status.value)}
        for s in (defs.schedules or [])
        if isinstance(s, dg.ScheduleDefinition)
    ]
    sensors = [
        {"name": s.name, "default_status": str(s.default_status.value)}
        for s in (defs.sensors or [])
        if isinstance(s, dg.SensorDefinition)
    ]
    return {"assets": assets, "schedules": schedules, "sensors": sensors}
