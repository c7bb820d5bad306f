-- Quality history: one row per (run, dataset, partition, dimension). The REST API reads this table:
-- keep the column names and types.
CREATE TABLE IF NOT EXISTS atlas_meta.quality_results (
    result_id      bigserial PRIMARY KEY,
    run_id         text             NOT NULL,
    dataset        text             NOT NULL,
    partition_key  text             NOT NULL DEFAULT '',
    dimension      text             NOT NULL CHECK (dimension IN
                       ('completeness', 'validity', 'consistency', 'accuracy', 'timeliness', 'uniqueness')),
    score          double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    threshold      double precision NOT NULL,
    passed         boolean          NOT NULL,
    blocking       boolean          NOT NULL,
    rows_evaluated bigint           NOT NULL,
    failed_rows    bigint           NOT NULL,
    evaluated_at   timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quality_results_latest
    ON atlas_meta.quality_results (dataset, partition_key, dimension, evaluated_at DESC);
CREATE INDEX IF NOT EXISTS quality_results_by_run ON atlas_meta.quality_results (run_id);

-- What the dimension scores are made of: each Atlas row rule and each Soda check of a load.
-- Only counts and metric numbers are stored here, never row values.
CREATE TABLE IF NOT EXISTS atlas_meta.quality_check_results (
    check_result_id bigserial PRIMARY KEY,
    run_id          text        NOT NULL,
    dataset         text        NOT NULL,
    partition_keys  text[]      NOT NULL DEFAULT '{}',
    engine          text        NOT NULL CHECK (engine IN ('atlas', 'soda')),
    check_id        text        NOT NULL,
    check_type      text        NOT NULL,
    dimension       text        NOT NULL,
    columns         text[]      NOT NULL DEFAULT '{}',
    on_fail         text,
    outcome         text        NOT NULL CHECK (outcome IN ('passed', 'failed', 'warned', 'not_evaluated')),
    failed_rows     bigint,
    metrics         jsonb       NOT NULL DEFAULT '{}',
    evaluated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quality_check_results_by_run ON atlas_meta.quality_check_results (run_id, dataset);
