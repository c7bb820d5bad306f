"""The erasure job (``atlas_pii_forget``): one data subject removed from every layer, as a Dagster run.

An erasure is what an auditor looks for in the run history, so ``atlas pii forget`` runs this job.
The subject's key never reaches Dagster: the run config carries it encrypted under the PII key
(``enc1:`` token, as encrypted silver columns), the run's tags the keyed erasure digest of
(dataset, key) that ``atlas_meta.pii_erasures`` stores, and the summary (rows per layer, lake objects
rewritten, audit id) is the step's output metadata.
"""

import dagster as dg

from atlas_core.contracts import Contract
from atlas_core.errors import InputRejected
from atlas_core.pii.strategies import Anonymizer
from atlas_engine.pii_erasure import forget_subject
from atlas_resources.resources import LakeResource, PiiResource, WarehouseResource

FORGET_JOB = "atlas_pii_forget"
FORGET_OP = "forget_subject"
DIGEST_TAG = "atlas/subject_digest"
DATASET_TAG = "atlas/dataset"


class ForgetConfig(dg.Config):
    dataset: str
    key_token: str  # the subject's primary-key value, encrypted with the PII key (never the raw key)
    actor: str


def build_forget_definitions(contracts: list[Contract]) -> dg.Definitions:
    by_name = {c.dataset: c for c in contracts}

    @dg.op(
        name=FORGET_OP,
        description="Erase one data subject from bronze, quarantine, silver, gold, ai_ready "
        "and the lake, and keep it erased (docs/pii.md).",
    )
    def forget(
        context: dg.OpExecutionContext,
        config: ForgetConfig,
        warehouse: WarehouseResource,
        lake: LakeResource,
        pii: PiiResource,
    ) -> dg.Output[dict]:
        contract = by_name.get(config.dataset)
        if contract is None:
            raise dg.Failure(f"unknown dataset {config.dataset!r}", allow_retries=False)
        keys = pii.keyring()
        try:
            key = Anonymizer(keys).decrypt(config.key_token)
            result = forget_subject(
                warehouse.client(), lake.client(), contract, key, keys, actor=config.actor
            )
        except InputRejected as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        summary = {
            "dataset": result.dataset,
            "rows": result.rows,
            "lake_objects_rewritten": len(result.lake_objects),
            "audit_id": result.audit_id,
            "key_digest": result.key_digest,
        }
        context.log.info(f"erased subject {result.key_digest[:16]} from {result.dataset}: {result.rows}")
        return dg.Output(
            summary,
            metadata={
                "dataset": result.dataset,
                "rows_deleted": dg.MetadataValue.json(result.rows),
                "rows_deleted_total": sum(result.rows.values()),
                "lake_objects_rewritten": len(result.lake_objects),
                "audit_id": result.audit_id or 0,
                "subject_digest": result.key_digest,
            },
        )

    @dg.job(
        name=FORGET_JOB,
        tags={"atlas/trigger": "pii_forget"},
        description="Right to erasure for one data subject (atlas pii forget).",
    )
    def forget_job() -> None:
        forget()

    return dg.Definitions(jobs=[forget_job])
