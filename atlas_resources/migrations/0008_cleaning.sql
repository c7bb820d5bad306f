-- Cleaning audit trail (docs/quality.md#standardize-and-repair).
-- One row per cell changed by majority repair (rules.functional_dependencies[].on_fail: repair).
-- Values of PII columns are never stored raw: a keyed digest (HMAC-SHA256 of the PII key), or NULL.
CREATE TABLE IF NOT EXISTS atlas_meta.repairs (
    repair_id     bigserial   PRIMARY KEY,
    dataset       text        NOT NULL,
    ingestion_id  bigint      NOT NULL,
    row_number    bigint      NOT NULL,
    partition_key text,
    row_key       jsonb       NOT NULL,
    column_name   text        NOT NULL,
    old_value     text,
    new_value     text,
    values_hashed boolean     NOT NULL DEFAULT false,
    rule_id       text        NOT NULL,
    run_id        text        NOT NULL,
    repaired_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS repairs_by_dataset ON atlas_meta.repairs (dataset, repaired_at);
CREATE INDEX IF NOT EXISTS repairs_by_run ON atlas_meta.repairs (run_id);

-- Cells changed per column and standardization step of each silver load (counts only, never values).
CREATE TABLE IF NOT EXISTS atlas_meta.standardizations (
    standardization_id bigserial   PRIMARY KEY,
    run_id             text        NOT NULL,
    dataset            text        NOT NULL,
    partition_keys     text[]      NOT NULL DEFAULT '{}',
    column_name        text        NOT NULL,
    step               text        NOT NULL,
    changed_cells      bigint      NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS standardizations_by_run ON atlas_meta.standardizations (run_id, dataset);
