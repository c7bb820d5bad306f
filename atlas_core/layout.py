"""Where each layer lives: schema and bucket names, bookkeeping columns, lake key conventions."""

from __future__ import annotations

from enum import StrEnum


class Layer(StrEnum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    AI_READY = "ai_ready"

    @property
    def schema(self) -> str:
        return f"atlas_{self.value}"

    @property
    def bucket(self) -> str:
        return "atlas-" + self.value.replace("_", "-")


LAYERS = list(Layer)
META_SCHEMA = "atlas_meta"
QUARANTINE_SCHEMA = "atlas_quarantine"
STAGING_SCHEMA = "atlas_staging"

# Bookkeeping columns carried from bronze to silver and quarantine.
INGESTION_ID = "_atlas_ingestion_id"
ROW_NUMBER = "_atlas_row_number"
PARTITION = "_atlas_partition"
RAW_LINE = "_atlas_raw_line"
INGESTED_AT = "_atlas_ingested_at"
RULE_IDS = "_atlas_rule_ids"
DIMENSIONS = "_atlas_dimensions"
RUN_ID = "_atlas_run_id"
QUARANTINED_AT = "_atlas_quarantined_at"
CAST_ERRORS = "_atlas_cast_errors"  # staging only: the columns of a row whose value did not cast

UNPARTITIONED = ""
"""``_atlas_partition`` of rows of an unpartitioned dataset (NULL means: no partition could be derived)."""


def raw_key(dataset: str, sha256: str, filename: str) -> str:
    return f"raw/{dataset}/{sha256}/{filename}"


def rejected_key(dataset: str, sha256: str, filename: str) -> str:
    return f"rejected/{dataset}/{sha256}/{filename}"


def upload_key(dataset: str, upload_id: str, filename: str) -> str:
    """Where an uploaded file (API or ``atlas ingest``) waits in the landing area for the run that ingests it.

    A hidden folder of the dataset's landing prefix: the landing sensor skips hidden names, so only the
    run launched for the upload picks it up.
    """
    return f"landing/{dataset}/.uploads/{upload_id}/{filename}"


def processed_key(dataset: str, sha256: str, filename: str) -> str:
    """The raw copy of a file ingested from the landing area."""
    return f"processed/{dataset}/{sha256}/{filename}"


def parquet_key(dataset: str, partition: str | None) -> str:
    if partition:
        return f"{dataset}/partition={partition}/data.parquet"
    return f"{dataset}/data.parquet"
