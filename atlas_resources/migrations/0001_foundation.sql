-- Layer schemas and the ingestion ledger.
CREATE SCHEMA IF NOT EXISTS atlas_bronze;
CREATE SCHEMA IF NOT EXISTS atlas_silver;
CREATE SCHEMA IF NOT EXISTS atlas_gold;
CREATE SCHEMA IF NOT EXISTS atlas_ai_ready;
CREATE SCHEMA IF NOT EXISTS atlas_quarantine;
CREATE SCHEMA IF NOT EXISTS atlas_meta;
-- Scratch tables of running loads (raw values: same protection as bronze).
CREATE SCHEMA IF NOT EXISTS atlas_staging;

-- One row per file Atlas looked at. A file is identified by its sha256: a second accepted
-- ingestion of the same content into the same dataset is impossible (the unique index below).
CREATE TABLE IF NOT EXISTS atlas_meta.ingestions (
    ingestion_id     bigserial PRIMARY KEY,
    dataset          text        NOT NULL,
    source_system    text        NOT NULL,
    source_file      text        NOT NULL,
    sha256           text        NOT NULL,
    partition_keys   text[]      NOT NULL DEFAULT '{}',
    schema_version   text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('accepted', 'rejected', 'duplicate')),
    reason           text,
    record_count     bigint      NOT NULL DEFAULT 0,
    rows_bronze      bigint      NOT NULL DEFAULT 0,
    rows_silver      bigint,
    rows_quarantined bigint,
    lake_uri         text,
    run_id           text,
    ingested_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ingestions_accepted_once
    ON atlas_meta.ingestions (dataset, sha256) WHERE status = 'accepted';
CREATE INDEX IF NOT EXISTS ingestions_by_dataset ON atlas_meta.ingestions (dataset, ingested_at);

-- Stable surrogate keys for the star schema: a 60-bit slice of md5 over the natural key.
CREATE OR REPLACE FUNCTION atlas_meta.surrogate_key(VARIADIC parts text[])
RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || substr(md5(array_to_string(parts, '|', '<null>')), 1, 15))::bit(60)::bigint
$$;
