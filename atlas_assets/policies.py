"""Execution policies shared by every asset of a layer, defined in one place.

Each asset factory splats ``**layer_policies(layer)`` into its ``@dg.asset`` decorator, so retries,
concurrency pools and executor routing (e.g. Celery queues) change here and nowhere else.
"""

from typing import Any

from atlas_core.layout import Layer

POOLS = {
    Layer.BRONZE: "atlas_ingest",
    Layer.SILVER: "atlas_warehouse",
    Layer.GOLD: "atlas_warehouse",
    Layer.AI_READY: "atlas_warehouse",
}


def layer_policies(layer: Layer) -> dict[str, Any]:
    """Keyword arguments for ``@dg.asset`` common to all assets of ``layer``."""
    return {"pool": POOLS[layer]}
