/* ---
description: Revenue metrics per day (gross, net of cancellations and returns), pre-computed for dashboards.
primary_key: [order_date]
materialization: incremental
partition_column: order_date
owners: [finance-analytics]
tests:
  - unique: [order_date]
  - not_null: [order_date, orders, gross_revenue]
  - row_count: {min: 1, max: 1}
    severity: warn
--- */
SELECT
    f.order_date,
    count(*) AS orders,
    count(DISTINCT f.customer_sk) AS customers,
    sum(f.quantity) AS units,
    round(sum(f.total)::numeric, 2) AS gross_revenue,
    round(coalesce(sum(f.total) FILTER (WHERE NOT f.is_cancelled), 0)::numeric, 2) AS net_revenue,
    round(avg(f.total)::numeric, 2) AS avg_order_value,
    count(*) FILTER (WHERE f.needs_review) AS orders_for_review
FROM atlas_gold.fact_orders AS f
WHERE f.order_date >= :partition_start AND f.order_date < :partition_end
GROUP BY f.order_date
