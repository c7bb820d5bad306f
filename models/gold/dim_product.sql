/* ---
description: Product dimension, one row per product, keyed by a stable surrogate key.
primary_key: [product_sk]
materialization: table
owners: [data-platform]
tests:
  - unique: [product_sk]
  - not_null: [product_sk, product_id, category]
--- */
SELECT
    atlas_meta.surrogate_key('product', p.product_id::text) AS product_sk,
    p.product_id,
    p.sku,
    p.name,
    p.category,
    p.unit_price AS list_price,
    p.active
FROM atlas_silver.products AS p
