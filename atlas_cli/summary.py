"""Row counts per layer, straight from PostgreSQL, for ``atlas demo`` and ``atlas status``."""

from __future__ import annotations

import dagster as dg

from atlas_core.layout import Layer
from atlas_resources.warehouse import Warehouse


def layer_tables(defs: dg.Definitions) -> dict[str, list[str]]:
    """``{layer: [table, ...]}`` for every asset whose key is ``[layer, table]``."""
    layers: dict[str, list[str]] = {layer.value: [] for layer in Layer}
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        if len(key.path) == 2 and key.path[0] in layers:
            layers[key.path[0]].append(key.path[1])
    return {layer: sorted(tables) for layer, tables in layers.items()}


def layer_counts(wh: Warehouse, defs: dg.Definitions) -> dict[str, dict[str, int]]:
    return {
        layer: {table: wh.count_rows((Layer(layer).schema, table)) for table in tables}
        for layer, tables in layer_tables(defs).items()
    }


def quarantine_counts(wh: Warehouse, datasets: list[str]) -> dict[str, int]:
    return {d: wh.count_rows(("atlas_quarantine", d)) for d in datasets}
