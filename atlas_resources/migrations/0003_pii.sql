-- PII protection (docs/pii.md): reports per silver load, the audit trail, the erasure list.

-- One row per silver load of a dataset: how each column was classified and anonymized.
-- Column names, entities, strategies and counts only: never a value.
CREATE TABLE IF NOT EXISTS atlas_meta.pii_reports (
    report_id     bigserial   PRIMARY KEY,
    dataset       text        NOT NULL,
    partition_key text,
    run_id        text,
    columns       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pii_reports_by_dataset ON atlas_meta.pii_reports (dataset, created_at DESC);

-- Every decryption and erasure request (who, what, when). ``detail`` never holds a raw value.
CREATE TABLE IF NOT EXISTS atlas_meta.pii_audit (
    audit_id bigserial   PRIMARY KEY,
    action   text        NOT NULL,
    actor    text        NOT NULL,
    dataset  text,
    detail   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pii_audit_by_dataset ON atlas_meta.pii_audit (dataset, at);

-- Data subjects erased with ``atlas pii forget``: a keyed HMAC of (dataset, primary key) under
-- ``key_id``, so the list itself identifies nobody. Silver loads drop matching rows from then on.
CREATE TABLE IF NOT EXISTS atlas_meta.pii_erasures (
    erasure_id   bigserial   PRIMARY KEY,
    dataset      text        NOT NULL,
    key_id       text        NOT NULL,
    key_digest   text        NOT NULL,
    audit_id     bigint      REFERENCES atlas_meta.pii_audit (audit_id),
    requested_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset, key_id, key_digest)
);
