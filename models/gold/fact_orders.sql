/* ---
description: Order fact at order-line grain, with surrogate keys into the customer and product dimensions.
primary_key: [order_id]
materialization: incremental
partition_column: order_date
owners: [data-platform]
tests:
  - unique: [order_id]
  - not_null: [order_id, customer_sk, product_sk, order_date]
  - relationships: {customer_sk: gold.dim_customer.customer_sk, product_sk: gold.dim_product.product_sk}
  - accepted_values: {status: [placed, shipped, delivered, cancelled, returned]}
  - accepted_values: {channel: [web, mobile, store]}
    severity: warn
rules:
  - name: needs_review
    kind: flag
    expression: total >= 2000
    description: Orders of 2,000 or more are reviewed by the fraud team before shipping.
    owner: risk
--- */
SELECT
    o.order_id,
    c.customer_sk,
    p.product_sk,
    o.order_ts,
    (o.order_ts AT TIME ZONE 'UTC')::date AS order_date,
    o.quantity,
    o.unit_price,
    o.total,
    o.status,
    o.channel,
    o.status IN ('cancelled', 'returned') AS is_cancelled
FROM atlas_silver.orders AS o
JOIN atlas_gold.dim_customer AS c ON c.customer_id = o.customer_id
JOIN atlas_gold.dim_product AS p ON p.product_id = o.product_id
WHERE o.order_ts >= :partition_start AND o.order_ts < :partition_end
