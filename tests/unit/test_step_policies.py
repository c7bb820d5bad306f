"""Retry, pool and queue of every step the shipped project builds, per step kind (bronze, silver, gold,
ai_ready assets and separate check steps), read from the real Definitions."""

from __future__ import annotations

import dagster as dg

from atlas_assets.definitions import build_definitions
from atlas_core.settings import AtlasSettings
from tests.conftest import PROJECT_DIR

RETRY = (3, 2, dg.Backoff.EXPONENTIAL, dg.Jitter.PLUS_MINUS)  # max_retries, delay (s), backoff, jitter
EXPECTED = {  # step kind -> (retry policy, concurrency pool, Celery queue)
    "bronze": (RETRY, "atlas_ingest", "pipeline"),
    "silver": (RETRY, "atlas_warehouse", "pii"),
    "gold": (RETRY, "atlas_warehouse", "pipeline"),
    "ai_ready": (RETRY, "atlas_warehouse", "pipeline"),
    "check": (RETRY, "atlas_warehouse", "quality"),
}


def _kind(assets_def: dg.AssetsDefinition) -> str:
    if not assets_def.keys:  # a step of checks only (e.g. pii_drift)
        return "check"
    (layer,) = {key.path[0] for key in assets_def.keys}
    return layer


def test_every_step_kind_has_its_pinned_retry_policy_pool_and_queue(isolated_env: dict[str, str]) -> None:
    defs = build_definitions(AtlasSettings(project_dir=PROJECT_DIR))
    seen: dict[str, set[tuple]] = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if not assets_def.is_executable:
            continue
        policy = assets_def.op.retry_policy
        assert policy is not None, assets_def.node_def.name
        seen.setdefault(_kind(assets_def), set()).add(
            (
                (policy.max_retries, policy.delay, policy.backoff, policy.jitter),
                assets_def.op.pool,
                assets_def.op.tags.get("dagster-celery/queue"),
            )
        )
    assert seen == {kind: {expected} for kind, expected in EXPECTED.items()}
