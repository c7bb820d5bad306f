/* ---
description: Customer dimension, one row per consenting customer, keyed by a stable surrogate key (names pseudonymised, e-mail hashed in silver).
primary_key: [customer_sk]
materialization: table
owners: [data-platform]
tests:
  - unique: [customer_sk]
  - not_null: [customer_sk, customer_id]
--- */
SELECT
    atlas_meta.surrogate_key('customer', c.customer_id::text) AS customer_sk,
    c.customer_id,
    c.first_name,
    c.last_name,
    c.email,
    c.city,
    c.state,
    c.zip,
    c.signup_ts::date AS signup_date,
    c.marketing_consent
FROM atlas_silver.customers AS c
-- consent (docs/pii.md): customers without marketing consent never reach gold or ai_ready
WHERE c.marketing_consent IS TRUE
