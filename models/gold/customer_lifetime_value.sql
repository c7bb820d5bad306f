/* ---
description: Customer lifetime value (net of cancellations and returns), one row per customer with orders, with segment and discount policy.
primary_key: [customer_sk]
materialization: table
owners: [crm-analytics]
tests:
  - unique: [customer_sk]
  - not_null: [customer_sk, customer_id, lifetime_value, segment]
  - relationships: {customer_sk: gold.dim_customer.customer_sk}
  - accepted_values: {segment: [platinum, gold, silver, bronze]}
  - row_count: {min: 1}
rules:
  - name: segment
    kind: derivation
    expression: >-
      CASE WHEN lifetime_value >= 10000 THEN 'platinum'
           WHEN lifetime_value >= 6000 THEN 'gold'
           WHEN lifetime_value >= 3000 THEN 'silver'
           ELSE 'bronze' END
    description: Customer segment by lifetime value (net revenue).
    owner: crm
  - name: at_risk
    kind: flag
    expression: segment IN ('platinum', 'gold') AND last_order_date < max(last_order_date) OVER () - 7
    description: Valuable customers without an order in the last week of data, for win-back campaigns.
    owner: crm
--- */
SELECT
    c.customer_sk,
    c.customer_id,
    min(f.order_date) AS first_order_date,
    max(f.order_date) AS last_order_date,
    count(*) FILTER (WHERE NOT f.is_cancelled) AS orders,
    count(*) FILTER (WHERE f.is_cancelled) AS cancelled_orders,
    round(coalesce(sum(f.total) FILTER (WHERE NOT f.is_cancelled), 0)::numeric, 2) AS lifetime_value,
    round(coalesce(avg(f.total) FILTER (WHERE NOT f.is_cancelled), 0)::numeric, 2) AS avg_order_value
FROM atlas_gold.fact_orders AS f
JOIN atlas_gold.dim_customer AS c ON c.customer_sk = f.customer_sk
GROUP BY c.customer_sk, c.customer_id
