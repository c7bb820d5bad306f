-- Gold models and AI-ready feature sets: rule hit history, dataset versions, table fingerprints.

-- Hit counts of each business rule per model run (also shown as Dagster metadata).
CREATE TABLE IF NOT EXISTS atlas_meta.rule_hits (
    id              bigserial   PRIMARY KEY,
    model           text        NOT NULL,
    rule            text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('derivation', 'flag')),
    code_version    text        NOT NULL,
    partition_start date,
    partition_end   date,
    rows_evaluated  bigint      NOT NULL,
    hits            bigint      NOT NULL,
    value_counts    jsonb,
    run_id          text,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rule_hits_by_model ON atlas_meta.rule_hits (model, rule, recorded_at);

-- One row per (feature set, version): the same upstream data and spec give the same version,
-- so a re-materialization bumps materializations/last_materialized_at instead of adding a row.
CREATE TABLE IF NOT EXISTS atlas_meta.dataset_versions (
    dataset              text        NOT NULL,
    version              text        NOT NULL,
    content_hash         text        NOT NULL,
    spec_hash            text        NOT NULL,
    upstream             jsonb       NOT NULL,
    spec                 jsonb       NOT NULL,
    statistics           jsonb       NOT NULL,
    row_count            bigint      NOT NULL,
    split_counts         jsonb       NOT NULL,
    lake_prefix          text,
    formats              text[]      NOT NULL DEFAULT '{}',
    materializations     integer     NOT NULL DEFAULT 1,
    first_materialized_at timestamptz NOT NULL DEFAULT now(),
    last_materialized_at timestamptz NOT NULL DEFAULT now(),
    last_run_id          text,
    PRIMARY KEY (dataset, version)
);
CREATE INDEX IF NOT EXISTS dataset_versions_latest ON atlas_meta.dataset_versions (dataset, last_materialized_at DESC);

-- An order-independent fingerprint of a table's content and column signature: equal tables, equal
-- fingerprints, whatever their physical row order (a multiset hash over md5 of each row's text).
CREATE OR REPLACE FUNCTION atlas_meta.table_fingerprint(tbl regclass)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    columns_sig text;
    content text;
BEGIN
    SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
      INTO columns_sig
      FROM pg_attribute WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped;
    EXECUTE format(
        'SELECT count(*)::text || '':'' '
        '|| coalesce(sum((''x'' || substr(h, 1, 15))::bit(60)::bigint::numeric), 0)::text || '':'' '
        '|| coalesce(sum((''x'' || substr(h, 16, 15))::bit(60)::bigint::numeric), 0)::text '
        'FROM (SELECT md5(t::text) AS h FROM %s AS t) AS s', tbl)
      INTO content;
    RETURN md5(columns_sig || '|' || content);
END
$$;
