-- table_fingerprint hashes each row's values with PostgreSQL's own hash functions (two seeds, 2 x 64
-- bits, summed: still order-independent) instead of md5 over each row's text: formatting every value
-- as text cost ~7x more (840,000 fact rows: 1.34 s -> 0.2 s). Equal values hash equal whatever their
-- text form (1.0 and 1.00). A table with a column type that has no hash function (json, point, ...)
-- falls back to the text form. Fingerprints change once with this migration: the next feature-set
-- materialization records a new version even if its upstream content did not change.
CREATE OR REPLACE FUNCTION atlas_meta.table_fingerprint(tbl regclass)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    columns_sig text;
    content text;
BEGIN
    SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
      INTO columns_sig
      FROM pg_attribute WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped;
    BEGIN
        EXECUTE format(
            'SELECT ''h:'' || count(*)::text || '':'' '
            '|| coalesce(sum(hash_record_extended(t, 0)::numeric), 0)::text || '':'' '
            '|| coalesce(sum(hash_record_extended(t, 1)::numeric), 0)::text '
            'FROM %s AS t', tbl)
          INTO content;
    EXCEPTION WHEN undefined_function THEN  -- "could not identify a hash function for type ..."
        EXECUTE format(
            'SELECT count(*)::text || '':'' '
            '|| coalesce(sum((''x'' || substr(h, 1, 15))::bit(60)::bigint::numeric), 0)::text || '':'' '
            '|| coalesce(sum((''x'' || substr(h, 16, 15))::bit(60)::bigint::numeric), 0)::text '
            'FROM (SELECT md5(t::text) AS h FROM %s AS t) AS s', tbl)
          INTO content;
    END;
    RETURN md5(columns_sig || '|' || content);
END
$$;
