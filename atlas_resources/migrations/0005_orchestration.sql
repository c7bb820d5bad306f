-- Orchestration bookkeeping: source watermarks, retention and alert logs.

-- Incremental pulls (postgres / http sources): the last watermark committed with the bronze rows.
CREATE TABLE IF NOT EXISTS atlas_meta.source_watermarks (
    dataset     text        PRIMARY KEY,
    source_kind text        NOT NULL,
    watermark   text,
    rows_pulled bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per partition (or lake object group) the retention job deleted, or would delete (dry run).
CREATE TABLE IF NOT EXISTS atlas_meta.retention_log (
    id              bigserial   PRIMARY KEY,
    run_at          timestamptz NOT NULL DEFAULT now(),
    dry_run         boolean     NOT NULL,
    layer           text        NOT NULL,
    target          text        NOT NULL,
    partition_key   text,
    cutoff          date        NOT NULL,
    rows_deleted    bigint      NOT NULL DEFAULT 0,
    objects_deleted integer     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS retention_log_by_time ON atlas_meta.retention_log (run_at);

-- Every alert Atlas tried to deliver (payloads carry names and counts only, never data values).
CREATE TABLE IF NOT EXISTS atlas_meta.alerts (
    id          bigserial   PRIMARY KEY,
    kind        text        NOT NULL,
    title       text        NOT NULL,
    payload     jsonb       NOT NULL,
    delivered   boolean     NOT NULL,
    status_code integer,
    error       text,
    sent_at     timestamptz NOT NULL DEFAULT now()
);
