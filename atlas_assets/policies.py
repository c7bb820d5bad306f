"""Execution policies shared by every asset of a layer, defined in one place.

Each asset factory splats ``**layer_policies(layer)`` into its ``@dg.asset`` decorator (and check
factories ``**check_policies()``), so retries, concurrency pools and executor routing change here
and nowhere else:

- ``retry_policy``: up to 3 retries with exponential backoff and jitter: before retry n Dagster waits
  2 s * (2**n - 1), +-2 s (about 2, 6 and 14 s). Dagster
  retries any exception except ``dg.Failure(allow_retries=False)``; :func:`atlas_assets.steps.atlas_step`
  turns every non-transient error (rejected input, failed gate, bad contract, bug) into exactly that,
  so only transient failures (connection refused/reset, S3 5xx/SlowDown, serialization failures,
  an open circuit breaker) are retried.
- ``op_tags``: the Celery queue a step runs on with ``ATLAS_EXECUTOR=celery`` (``pipeline`` for
  ingestion and SQL models, ``pii`` for silver, which runs the PII transform, ``quality`` for checks).
- ``pool``: concurrency pools (limits in ``dagster.yaml``).
"""

from typing import Any

import dagster as dg

from atlas_assets.partitions import backfill_policy_for
from atlas_core.contracts import Contract
from atlas_core.layout import Layer

POOLS = {
    Layer.BRONZE: "atlas_ingest",
    Layer.SILVER: "atlas_warehouse",
    Layer.GOLD: "atlas_warehouse",
    Layer.AI_READY: "atlas_warehouse",
}
CELERY_QUEUE_TAG = "dagster-celery/queue"
PIPELINE_QUEUE, PII_QUEUE, QUALITY_QUEUE = "pipeline", "pii", "quality"
QUEUES = {
    Layer.BRONZE: PIPELINE_QUEUE,
    Layer.SILVER: PII_QUEUE,
    Layer.GOLD: PIPELINE_QUEUE,
    Layer.AI_READY: PIPELINE_QUEUE,
}
ALL_QUEUES = (PIPELINE_QUEUE, PII_QUEUE, QUALITY_QUEUE)
RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def layer_policies(layer: Layer) -> dict[str, Any]:
    """Keyword arguments for ``@dg.asset`` common to all assets of ``layer``."""
    return {"pool": POOLS[layer], "retry_policy": RETRY_POLICY, "op_tags": {CELERY_QUEUE_TAG: QUEUES[layer]}}


def contract_asset_options(
    contract: Contract, partitions: dg.PartitionsDefinition | None, layer: Layer
) -> dict[str, Any]:
    """Keyword arguments for ``@dg.asset`` common to a contract's bronze and silver assets: partitioned like
    the contract, versioned by its fingerprint, stored in Postgres and Parquet, with the ``layer``'s
    policies."""
    return {
        "partitions_def": partitions,
        "backfill_policy": backfill_policy_for(partitions),
        "code_version": contract.fingerprint,
        "kinds": {"postgres", "parquet"},
        **layer_policies(layer),
    }


def check_policies() -> dict[str, Any]:
    """Keyword arguments for ``@dg.asset_check`` / ``@dg.multi_asset_check`` (separate check steps)."""
    return {
        "pool": POOLS[Layer.SILVER],
        "retry_policy": RETRY_POLICY,
        "op_tags": {CELERY_QUEUE_TAG: QUALITY_QUEUE},
    }
