"""``atlas pii forget`` through the Dagster instance: one ``atlas_pii_forget`` run per erasure."""

from __future__ import annotations

from typing import Any

from atlas_cli.runs import failure_reasons
from atlas_cli.runtime import Atlas
from atlas_core.contracts import Contract
from atlas_core.errors import AtlasError
from atlas_core.pii.keys import keyring_from_settings
from atlas_core.pii.strategies import Anonymizer
from atlas_engine.pii_erasure import normalize_key, subject_column

SILENT = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def forget_in_run(atlas: Atlas, contract: Contract, key: str, actor: str) -> dict[str, Any]:
    """Run the erasure job in-process; returns its summary (plus ``run_id``). Bad keys raise InputRejected
    first."""
    from atlas_assets.pii_forget import DATASET_TAG, DIGEST_TAG, FORGET_JOB, FORGET_OP

    subject_column(contract)
    normalized = normalize_key(contract, key)
    keys = keyring_from_settings(atlas.settings)
    run_config = {
        **SILENT,
        "ops": {
            FORGET_OP: {
                "config": {
                    "dataset": contract.dataset,
                    "key_token": Anonymizer(keys).encrypt(normalized),
                    "actor": actor,
                }
            }
        },
    }
    tags = {
        "atlas/trigger": "cli",
        DATASET_TAG: contract.dataset,
        DIGEST_TAG: keys.erasure_digest(contract.dataset, normalized),
    }
    job = atlas.definitions.resolve_job_def(FORGET_JOB)
    result = job.execute_in_process(
        instance=atlas.instance, run_config=run_config, tags=tags, raise_on_error=False
    )
    if not result.success:  # the key and the contract were checked above: this is not bad input
        raise AtlasError(
            f"erasure run {result.run_id} failed: {'; '.join(failure_reasons(result)) or 'see the run'}"
        )
    summary: dict[str, Any] = dict(result.output_for_node(FORGET_OP))
    summary["run_id"] = result.run_id
    return summary
