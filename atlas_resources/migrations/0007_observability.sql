-- Observability: one row per asset step attempt, written by atlas_assets.failures.atlas_step from
-- whichever process ran the step (CLI, Dagster run worker, Celery worker). The API's /metrics reads
-- the aggregates (docs/observability.md), so counters survive restarts and add up across processes.
-- Names and counts only: never data values.
CREATE TABLE IF NOT EXISTS atlas_meta.step_metrics (
    id               bigserial        PRIMARY KEY,
    run_id           text             NOT NULL,
    step_key         text             NOT NULL,
    asset_key        text             NOT NULL,
    layer            text             NOT NULL,
    dataset          text             NOT NULL,
    partition_start  text,
    partition_end    text,
    partition_count  integer          NOT NULL DEFAULT 0,
    attempt          integer          NOT NULL DEFAULT 0,
    status           text             NOT NULL CHECK (status IN ('success', 'failure')),
    retryable        boolean          NOT NULL DEFAULT false,
    error_type       text,
    rows_processed   bigint,
    rows_written     bigint,
    rows_quarantined bigint,
    duration_seconds double precision NOT NULL CHECK (duration_seconds >= 0),
    trace_id         text,
    started_at       timestamptz      NOT NULL,
    finished_at      timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS step_metrics_by_run ON atlas_meta.step_metrics (run_id);
CREATE INDEX IF NOT EXISTS step_metrics_by_asset ON atlas_meta.step_metrics (layer, dataset, finished_at);
