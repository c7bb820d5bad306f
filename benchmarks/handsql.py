"""A hand-written SQL medallion over the files of the Atlas end-to-end run: the baseline of ``handsql``.

What a data engineer would write without a platform, on the same PostgreSQL server, doing the same
layers and rules as ``contracts/*.yml``, ``models/gold/*.sql`` and ``models/ai_ready/customer_features.yml``:

- bronze: each file is read once in Python (sha256 with hashlib and a raw copy to the lake while
  reading) and its bytes COPYed into a table of text columns; ingestion id, source file and
  ingested_at come from column defaults, the row number from an identity column.
- silver: one set-based statement per dataset (data-modifying CTEs) types strictly
  (``pg_input_is_valid``, PostgreSQL >= 16, plus a character-class guard against forms PostgreSQL accepts
  and Atlas does not), evaluates the contract's rules (required, type,
  pattern, allowed values, ranges, primary key uniqueness - the first occurrence is kept -, the
  functional dependency, the expressions, both foreign keys), inserts passing rows into the typed
  silver table, the others with their failed rule ids into a quarantine table, and the failure count
  of every rule into a rule table. ``warn`` rules (customers' ``adult_at_signup``) are counted only.
  Then Parquet: one object per order day for orders, one per dataset otherwise.
- PII (silver/customers): Atlas runs Presidio there (detection in free text, pseudonyms, reversible
  encryption). This baseline uses plain SQL instead: a keyed sha256 for names, e-mail and SSN (the
  embedded server has no pgcrypto, so no ``hmac()``/``pgp_sym_encrypt``), the phone masked but for
  its last 4 digits, birth date and street redacted, and the free-text ``notes`` dropped (SQL cannot
  find names in free text). That is less work than Atlas's, so silver/customers is reported apart.
- gold: ``dim_customer``, ``dim_product``, ``fact_orders``, ``daily_revenue`` and
  ``customer_lifetime_value`` as in ``models/gold/*.sql`` (with their rules and tests as queries),
  each exported to Parquet (per day for the incremental models).
- ai_ready: the customer feature table (point-in-time aggregates, fills and transforms fitted on the
  train split, the deterministic sha256 split), exported to Parquet.

``run(..., with_adbc=True)`` reads the rows of every Parquet export with the ADBC driver, as Atlas does,
instead of psycopg's CSV COPY (``handsql`` reports the ratio against both).

The session sets ``work_mem = '64MB'`` (Atlas's warehouse sessions use ``ATLAS_WAREHOUSE_WORK_MEM``, 128 MB).
"""

# SQL text here is composed from this file's own constants (table names, rules), never from input.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import hashlib
import io
import secrets
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHUNK = 1 << 20
COLUMNS = {
    "orders": "order_id customer_id product_id order_ts quantity unit_price total status channel".split(),
    "customers": (
        "customer_id first_name last_name email phone ssn date_of_birth street_address city state zip "
        "signup_ts updated_at marketing_consent notes"
    ).split(),
    "products": "product_id sku name category unit_price active".split(),
}
# Characters outside these classes make a value invalid although PostgreSQL's input functions accept it
# (hex/octal/binary integers, "1_000", "NaN", "Infinity", "now", "epoch", named time zones). A full-value
# regex per column costs 1-5 us per row on this machine, more than the typing itself.
INT = "[^0-9+-]"
FLOAT = "[^0-9eE.+-]"
DATE = r"^\d{4}-\d{2}-\d{2}$"
TS = "[^0-9TZ:.+ -]"
BOOL = "('true','t','yes','y','1','on','false','f','no','n','0','off')"
TRUE = "('true','t','yes','y','1','on')"

SCHEMA = """
DROP SCHEMA IF EXISTS hb_bronze, hs_silver, hq_quarantine, hg_gold, ha_ai, hm_meta CASCADE;
CREATE SCHEMA hb_bronze; CREATE SCHEMA hs_silver; CREATE SCHEMA hq_quarantine;
CREATE SCHEMA hg_gold; CREATE SCHEMA ha_ai; CREATE SCHEMA hm_meta;
CREATE TABLE hm_meta.ingestions (ingestion_id uuid PRIMARY KEY, dataset text, source_file text,
    sha256 text, rows bigint, ingested_at timestamptz DEFAULT now());
CREATE TABLE hm_meta.rule_failures (dataset text, rule_id text, rows bigint);
CREATE FUNCTION hm_meta.surrogate_key(VARIADIC parts text[]) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
    $$ SELECT ('x' || substr(md5(array_to_string(parts, '|', '<null>')), 1, 15))::bit(60)::bigint $$;
CREATE TABLE hs_silver.products (product_id bigint PRIMARY KEY, sku text, name text, category text,
    unit_price float8, active boolean, _ingestion_id uuid, _row_number bigint);
CREATE TABLE hs_silver.customers (customer_id bigint PRIMARY KEY, first_name text, last_name text,
    email text, phone text, ssn text, date_of_birth date, street_address text, city text, state text,
    zip text, signup_ts timestamptz, updated_at timestamptz, marketing_consent boolean, notes text,
    _ingestion_id uuid, _row_number bigint);
CREATE TABLE hs_silver.orders (order_id bigint, customer_id bigint, product_id bigint,
    order_ts timestamptz, quantity bigint, unit_price float8, total float8, status text, channel text,
    order_date date, _ingestion_id uuid, _row_number bigint);
"""


def _bronze_and_quarantine(dataset: str) -> str:
    text = ", ".join(f"{c} text" for c in COLUMNS[dataset])
    return (
        f"CREATE TABLE hb_bronze.{dataset} ({text}, _ingestion_id uuid NOT NULL, _source_file text NOT NULL, "
        f"_ingested_at timestamptz NOT NULL DEFAULT now(), "
        f"_row_number bigint GENERATED ALWAYS AS IDENTITY);\n"
        f"CREATE TABLE hq_quarantine.{dataset} ({text}, _ingestion_id uuid, _row_number bigint, "
        f"rule_ids text[], quarantined_at timestamptz DEFAULT now());\n"
    )


# -- bronze ----------------------------------------------------------------------------------------------
def ingest(conn: psycopg.Connection, dataset: str, path: Path, lake: Path) -> tuple[uuid.UUID, int]:
    """COPY the file's bytes into bronze; sha256 and the raw lake copy are made from the same reads."""
    iid = uuid.uuid4()
    digest = hashlib.sha256()
    raw = lake / "raw" / dataset / f"{iid}{path.suffix}"
    raw.parent.mkdir(parents=True, exist_ok=True)
    table = f"hb_bronze.{dataset}"
    conn.execute(f"ALTER TABLE {table} ALTER _ingestion_id SET DEFAULT '{iid}'")
    conn.execute(f"ALTER TABLE {table} ALTER _source_file SET DEFAULT {_lit(str(path))}")
    with conn.cursor() as cur, open(path, "rb") as fh, open(raw, "wb") as out:
        cols = ", ".join(COLUMNS[dataset])
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                copy.write(chunk)
        rows = cur.rowcount
    conn.execute(
        "INSERT INTO hm_meta.ingestions (ingestion_id, dataset, source_file, sha256, rows) "
        "VALUES (%s, %s, %s, %s, %s)",
        (iid, dataset, str(path), digest.hexdigest(), rows),
    )
    return iid, rows


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- silver ----------------------------------------------------------------------------------------------
def _typed(column: str, kind: str) -> str:
    """The typed value of ``v_<column>`` (trimmed, null tokens removed), NULL when it does not type
    strictly."""
    v = f"v_{column}"
    guard = {
        "int": f"pg_input_is_valid({v}, 'bigint') AND {v} !~ '{INT}'",
        "float": f"pg_input_is_valid({v}, 'float8') AND {v} !~ '{FLOAT}'",
        "date": f"pg_input_is_valid({v}, 'date') AND {v} ~ '{DATE}'",
        "ts": (
            f"pg_input_is_valid({v}, 'timestamptz') AND substr({v}, 5, 1) = '-' AND substr({v}, 8, 1) = '-' "
            f"AND {v} !~ '{TS}'"
        ),
    }
    sql_type = {"int": "bigint", "float": "float8", "date": "date", "ts": "timestamptz"}
    if kind == "bool":
        return f"CASE WHEN lower({v}) IN {BOOL} THEN lower({v}) IN {TRUE} END AS {column}"
    if kind == "text":
        return f"{v} AS {column}"
    return f"CASE WHEN {guard[kind]} THEN {v}::{sql_type[kind]} END AS {column}"


def silver_statement(
    dataset: str,
    types: dict[str, str],
    nulls: list[str],
    rules: list[tuple[str, str]],
    joins: str,
    insert: tuple[str, str],
    *,
    warn: tuple[str, ...] = (),
) -> str:
    """One statement: type, evaluate ``rules`` [(rule id, failing predicate)], publish and quarantine."""
    cols = COLUMNS[dataset]
    null_list = ", ".join(_lit(n) for n in nulls)
    if nulls == [""]:
        values = ", ".join(f"NULLIF(btrim({c}), '') AS v_{c}" for c in cols)
    else:
        values = ", ".join(
            f"CASE WHEN btrim({c}) IN ({null_list}) THEN NULL ELSE btrim({c}) END AS v_{c}" for c in cols
        )
    missing = ", ".join(f"v_{c} IS NULL AS miss_{c}" for c in cols)
    typed = ", ".join(_typed(c, types.get(c, "text")) for c in cols)
    cases = ", ".join(f"CASE WHEN {pred} THEN '{rid}' END" for rid, pred in rules)
    key = cols[0]
    raw = ", ".join(cols)
    raw_b = ", ".join(f"b.{c}" for c in cols)
    target, select = insert
    blocking = "ARRAY[" + ", ".join(f"'{rid}'" for rid, _ in rules if rid not in warn) + "]::text[]"
    # t: typed once, narrow (materialized: the typed columns are read by many rules; a flag per column
    # keeps "missing" apart from "did not type"); f: the surviving occurrence
    # of each key, found on a narrow sort; quarantined rows take their raw text back from bronze.
    return f"""
WITH t AS MATERIALIZED (SELECT _ingestion_id, _row_number, {typed}, {missing}
           FROM (SELECT _ingestion_id, _row_number, {values}
           FROM hb_bronze.{dataset} WHERE _ingestion_id = %(iid)s) AS v),
f AS (SELECT DISTINCT ON ({key}) {key} AS first_key, _ingestion_id AS first_iid, _row_number AS first_rno
      FROM t WHERE {key} IS NOT NULL ORDER BY {key}, _ingestion_id DESC, _row_number),
r AS (SELECT t.*, first_key IS NOT NULL
             AND (first_iid, first_rno) IS DISTINCT FROM (t._ingestion_id, t._row_number) AS is_dup
      FROM t LEFT JOIN f ON first_key = t.{key}),
c AS (SELECT r.*, array_remove(ARRAY[{cases}]::text[], NULL) AS rule_ids FROM r {joins}),
published AS (INSERT INTO {target} SELECT {select} FROM c WHERE NOT (rule_ids && {blocking}) RETURNING 1),
counted AS (INSERT INTO hm_meta.rule_failures SELECT '{dataset}', rule_id, count(*)
            FROM c, unnest(rule_ids) AS rule_id GROUP BY rule_id RETURNING 1)
INSERT INTO hq_quarantine.{dataset} ({raw}, _ingestion_id, _row_number, rule_ids)
SELECT {raw_b}, c._ingestion_id, c._row_number, c.rule_ids FROM c JOIN hb_bronze.{dataset} AS b
    ON b._ingestion_id = c._ingestion_id AND b._row_number = c._row_number WHERE c.rule_ids && {blocking}
"""


def column_rules(
    column: str, *, kind: str = "text", required: bool = False, extra: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """required / type rules of a column, plus ``extra`` [(suffix, predicate on the typed value)]."""
    out = []
    if required:
        out.append((f"{column}.required", f"miss_{column}"))
    if kind != "text":
        out.append((f"{column}.type", f"NOT miss_{column} AND {column} IS NULL"))
    for suffix, pred in extra:
        out.append((f"{column}.{suffix}", pred))
    return out


def pattern(column: str, regex: str) -> tuple[str, str]:
    return ("pattern", f"{column} !~ '{regex}'")


def allowed(column: str, values: list[str]) -> tuple[str, str]:
    return ("allowed_values", f"NOT ({column} = ANY('{{{','.join(values)}}}'::text[]))")


PK = ("primary_key.unique", "is_dup")


def silver_products(conn: psycopg.Connection, iid: uuid.UUID) -> None:
    rules = [
        *column_rules("product_id", kind="int", required=True),
        *column_rules("sku", required=True, extra=[pattern("sku", r"^SKU-\d{5}$")]),
        *column_rules("name", required=True),
        *column_rules(
            "category",
            required=True,
            extra=[allowed("category", "books electronics garden grocery home sports toys beauty".split())],
        ),
        *column_rules("unit_price", kind="float", required=True, extra=[("range", "unit_price < 0")]),
        *column_rules("active", kind="bool"),
        PK,
    ]
    select = "product_id, sku, name, category, unit_price, active, _ingestion_id, _row_number"
    types = {"product_id": "int", "unit_price": "float", "active": "bool"}
    stmt = silver_statement("products", types, [""], rules, "", ("hs_silver.products", select))
    conn.execute(stmt, {"iid": iid})


def silver_customers(conn: psycopg.Connection, iid: uuid.UUID, key: str) -> None:
    states = "al ak az ca co fl ga il ma mi ny nc oh or pa tx wa".split()
    rules = [
        *column_rules("customer_id", kind="int", required=True),
        *column_rules("first_name", required=True),
        *column_rules("last_name", required=True),
        *column_rules("email", required=True, extra=[pattern("email", r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]),
        *column_rules("phone", extra=[pattern("phone", r"^(\(\d{3}\) |\d{3}-)\d{3}-\d{4}$")]),
        *column_rules("ssn", extra=[pattern("ssn", r"^\d{3}-\d{2}-\d{4}$")]),
        *column_rules("date_of_birth", kind="date"),
        *column_rules("city", required=True),
        *column_rules("state", extra=[allowed("state", states)]),
        *column_rules("zip", extra=[pattern("zip", r"^\d{5}$")]),
        *column_rules("signup_ts", kind="ts", required=True),
        *column_rules("updated_at", kind="ts"),
        *column_rules("marketing_consent", kind="bool"),
        PK,
        ("fd.zip_city_state", "fd_zip IS NOT NULL AND (city, state) IS DISTINCT FROM (fd_city, fd_state)"),
        ("expr.adult_at_signup", "(date_of_birth <= (signup_ts - interval '18 years')::date) IS FALSE"),
    ]
    # The plurality (city, state) of each zip, ties broken by first occurrence (as Atlas does).
    joins = """LEFT JOIN (SELECT DISTINCT ON (zip) zip AS fd_zip, city AS fd_city, state AS fd_state
        FROM (SELECT btrim(zip) AS zip,
        btrim(city) AS city, btrim(state) AS state, _ingestion_id, _row_number FROM hb_bronze.customers
        WHERE _ingestion_id = %(iid)s AND btrim(zip) NOT IN ('', 'NULL')) AS z
        GROUP BY zip, city, state ORDER BY zip, count(*) DESC, min(_row_number)) AS fd ON fd_zip = r.zip"""

    def keyed(col: str) -> str:
        return f"encode(sha256(convert_to(%(key)s || ':' || {col}, 'UTF8')), 'hex')"

    select = (
        f"customer_id, 'person_' || left({keyed('first_name')}, 12), "
        f"'person_' || left({keyed('last_name')}, 12), "
        f"{keyed('lower(email)')}, regexp_replace(left(phone, -4), '\\d', '*', 'g') || right(phone, 4), "
        f"{keyed('ssn')}, NULL::date, NULL, city, state, zip, "
        "signup_ts, updated_at, marketing_consent, NULL, "
        "_ingestion_id, _row_number"
    )
    types = {
        "customer_id": "int",
        "date_of_birth": "date",
        "signup_ts": "ts",
        "updated_at": "ts",
        "marketing_consent": "bool",
    }
    stmt = silver_statement(
        "customers",
        types,
        ["", "NULL"],
        rules,
        joins,
        ("hs_silver.customers", select),
        warn=("expr.adult_at_signup",),
    )
    conn.execute(stmt, {"iid": iid, "key": key})


def silver_orders(conn: psycopg.Connection, iid: uuid.UUID) -> None:
    rules = [
        *column_rules("order_id", kind="int", required=True),
        *column_rules("customer_id", kind="int", required=True),
        *column_rules("product_id", kind="int", required=True),
        *column_rules("order_ts", kind="ts", required=True),
        *column_rules(
            "quantity", kind="int", required=True, extra=[("range", "quantity < 1 OR quantity > 1000")]
        ),
        *column_rules("unit_price", kind="float", required=True, extra=[("range", "unit_price < 0")]),
        *column_rules("total", kind="float", required=True, extra=[("range", "total < 0")]),
        *column_rules(
            "status",
            required=True,
            extra=[allowed("status", "placed shipped delivered cancelled returned".split())],
        ),
        *column_rules("channel", extra=[allowed("channel", ["web", "mobile", "store"])]),
        PK,
        ("ref.customer_exists", "customer_id IS NOT NULL AND ref_customer_id IS NULL"),
        ("ref.product_exists", "product_id IS NOT NULL AND ref_product_id IS NULL"),
        ("expr.total_matches", "(abs(total - quantity * unit_price) < 0.01) IS FALSE"),
    ]
    joins = (
        "LEFT JOIN (SELECT customer_id AS ref_customer_id FROM hs_silver.customers) sc "
        "ON ref_customer_id = r.customer_id "
        "LEFT JOIN (SELECT product_id AS ref_product_id FROM hs_silver.products) sp "
        "ON ref_product_id = r.product_id"
    )
    select = (
        "order_id, customer_id, product_id, order_ts, quantity, unit_price, total, status, channel, "
        "(order_ts AT TIME ZONE 'UTC')::date, _ingestion_id, _row_number"
    )
    types = {c: "int" for c in ("order_id", "customer_id", "product_id", "quantity")}
    types |= {"order_ts": "ts", "unit_price": "float", "total": "float"}
    stmt = silver_statement("orders", types, [""], rules, joins, ("hs_silver.orders", select))
    conn.execute(stmt, {"iid": iid})


# -- Parquet ---------------------------------------------------------------------------------------------
def export(
    conn: psycopg.Connection,
    query: str,
    path: Path,
    *,
    by_day: str | None = None,
    reader: adbc.Connection | None = None,
) -> int:
    """Read ``query`` into an Arrow table, write Parquet: one file, or one ``partition=<day>/data.parquet``
    per value of the date column ``by_day``.

    The rows come as CSV (COPY TO STDOUT through psycopg, parsed by Arrow with the types of the result's
    columns), or, given ``reader`` (an ADBC connection of its own), as the ADBC PostgreSQL driver's binary
    COPY after a commit: how Atlas's ``Warehouse.stream`` reads."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM ({query}) AS q LIMIT 0")  # the result's column names and types
        names = [d.name for d in cur.description or []]
        types = {d.name: _ARROW.get(d.type_code, pa.string()) for d in cur.description or []}
    schema = pa.schema([(name, types[name]) for name in names])
    table = _read_adbc(conn, reader, query, schema) if reader else _read_csv(conn, query, schema)
    if by_day is None:
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path / "data.parquet")
        return 1
    days = table.column(by_day)
    written = 0
    for day in pc.unique(days).to_pylist():
        if day is None:
            continue
        part = path / f"partition={day.isoformat()}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pc.equal(days, pa.scalar(day, days.type))), part / "data.parquet")
        written += 1
    return written


def _read_csv(conn: psycopg.Connection, query: str, schema: pa.Schema) -> pa.Table:
    buf = io.BytesIO()
    with conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    return pacsv.read_csv(
        buf,
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    ).select(schema.names)


def _read_adbc(conn: psycopg.Connection, reader: adbc.Connection, query: str, schema: pa.Schema) -> pa.Table:
    conn.commit()  # the reading connection sees committed rows only
    with reader.cursor() as cur:
        cur.execute(query)
        table = cur.fetch_arrow_table()
    columns = zip(table.columns, schema, strict=True)
    return pa.table([_arrow_typed(column, field.type) for column, field in columns], schema.names)


def _arrow_typed(column: pa.ChunkedArray, wanted: pa.DataType) -> pa.ChunkedArray:
    """A uuid stays Arrow's uuid (Parquet's UUID); numeric arrives as text in an extension type."""
    if isinstance(column.type, pa.UuidType):
        return column
    if isinstance(column.type, pa.BaseExtensionType):
        column = column.cast(column.type.storage_type)
    return column.cast(wanted)


# PostgreSQL type oids -> Arrow types of the exported columns
_ARROW: dict[int, pa.DataType] = {
    20: pa.int64(),
    23: pa.int64(),
    701: pa.float64(),
    1700: pa.float64(),
    16: pa.bool_(),
    1082: pa.date32(),
    1184: pa.timestamp("us", tz="UTC"),
    2950: pa.string(),
}


# -- gold ------------------------------------------------------------------------------------------------
GOLD = {
    "dim_customer": """
CREATE TABLE hg_gold.dim_customer AS
SELECT hm_meta.surrogate_key('customer', c.customer_id::text) AS customer_sk, c.customer_id, c.first_name,
       c.last_name, c.email, c.city, c.state, c.zip, c.signup_ts::date AS signup_date, c.marketing_consent
FROM hs_silver.customers AS c WHERE c.marketing_consent IS TRUE""",
    "dim_product": """
CREATE TABLE hg_gold.dim_product AS
SELECT hm_meta.surrogate_key('product', p.product_id::text) AS product_sk, p.product_id, p.sku, p.name,
       p.category, p.unit_price AS list_price, p.active
FROM hs_silver.products AS p""",
    "fact_orders": """
CREATE TABLE hg_gold.fact_orders AS
SELECT o.order_id, c.customer_sk, p.product_sk, o.order_ts, o.order_date, o.quantity, o.unit_price,
       o.total, o.status, o.channel, o.status IN ('cancelled', 'returned') AS is_cancelled,
       o.total >= 2000 AS needs_review
FROM hs_silver.orders AS o
JOIN hg_gold.dim_customer AS c ON c.customer_id = o.customer_id
JOIN hg_gold.dim_product AS p ON p.product_id = o.product_id""",
    "daily_revenue": """
CREATE TABLE hg_gold.daily_revenue AS
SELECT f.order_date, count(*) AS orders, count(DISTINCT f.customer_sk) AS customers, sum(f.quantity) AS units,
       round(sum(f.total)::numeric, 2) AS gross_revenue,
       round(coalesce(sum(f.total) FILTER (WHERE NOT f.is_cancelled), 0)::numeric, 2) AS net_revenue,
       round(avg(f.total)::numeric, 2) AS avg_order_value,
       count(*) FILTER (WHERE f.needs_review) AS orders_for_review
FROM hg_gold.fact_orders AS f GROUP BY f.order_date""",
    "customer_lifetime_value": """
CREATE TABLE hg_gold.customer_lifetime_value AS
WITH base AS (
    SELECT c.customer_sk, c.customer_id, min(f.order_date) AS first_order_date,
           max(f.order_date) AS last_order_date,
           count(*) FILTER (WHERE NOT f.is_cancelled) AS orders,
           count(*) FILTER (WHERE f.is_cancelled) AS cancelled_orders,
           round(coalesce(sum(f.total) FILTER (WHERE NOT f.is_cancelled), 0)::numeric, 2) AS lifetime_value,
           round(coalesce(avg(f.total) FILTER (WHERE NOT f.is_cancelled), 0)::numeric, 2) AS avg_order_value
    FROM hg_gold.fact_orders AS f JOIN hg_gold.dim_customer AS c ON c.customer_sk = f.customer_sk
    GROUP BY c.customer_sk, c.customer_id),
seg AS (
    SELECT base.*, CASE WHEN lifetime_value >= 10000 THEN 'platinum' WHEN lifetime_value >= 6000 THEN 'gold'
                        WHEN lifetime_value >= 3000 THEN 'silver' ELSE 'bronze' END AS segment
    FROM base)
SELECT seg.*,
       segment IN ('platinum', 'gold') AND last_order_date < max(last_order_date) OVER () - 7 AS at_risk,
       CASE segment WHEN 'platinum' THEN 15 WHEN 'gold' THEN 10 WHEN 'silver' THEN 5 ELSE 0 END
           AS discount_pct
FROM seg""",
}
# The models' tests (unique, not_null, relationships, accepted_values, row_count): each query counts failures.
GOLD_TESTS = {
    "dim_customer": [
        "SELECT count(*) - count(DISTINCT customer_sk) FROM hg_gold.dim_customer",
        "SELECT count(*) FILTER (WHERE customer_sk IS NULL OR customer_id IS NULL) FROM hg_gold.dim_customer",
    ],
    "dim_product": [
        "SELECT count(*) - count(DISTINCT product_sk) FROM hg_gold.dim_product",
        "SELECT count(*) FILTER (WHERE product_sk IS NULL OR product_id IS NULL OR category IS NULL) "
        "FROM hg_gold.dim_product",
    ],
    "fact_orders": [
        "SELECT count(*) - count(DISTINCT order_id) FROM hg_gold.fact_orders",
        "SELECT count(*) FILTER (WHERE order_id IS NULL OR customer_sk IS NULL OR product_sk IS NULL "
        "OR order_date IS NULL) FROM hg_gold.fact_orders",
        "SELECT count(*) FROM hg_gold.fact_orders f WHERE NOT EXISTS (SELECT 1 FROM hg_gold.dim_customer c "
        "WHERE c.customer_sk = f.customer_sk) OR NOT EXISTS (SELECT 1 FROM hg_gold.dim_product p "
        "WHERE p.product_sk = f.product_sk)",
        "SELECT count(*) FILTER (WHERE status NOT IN ('placed', 'shipped', 'delivered', 'cancelled', "
        "'returned') OR channel NOT IN ('web', 'mobile', 'store')) FROM hg_gold.fact_orders",
    ],
    "daily_revenue": [
        "SELECT count(*) - count(DISTINCT order_date) FROM hg_gold.daily_revenue",
        "SELECT count(*) FILTER (WHERE order_date IS NULL OR orders IS NULL OR gross_revenue IS NULL) "
        "FROM hg_gold.daily_revenue",
    ],
    "customer_lifetime_value": [
        "SELECT count(*) - count(DISTINCT customer_sk) FROM hg_gold.customer_lifetime_value",
        "SELECT count(*) FILTER (WHERE customer_sk IS NULL OR customer_id IS NULL OR lifetime_value IS NULL "
        "OR segment IS NULL) FROM hg_gold.customer_lifetime_value",
        "SELECT count(*) FROM hg_gold.customer_lifetime_value v WHERE NOT EXISTS (SELECT 1 FROM "
        "hg_gold.dim_customer c WHERE c.customer_sk = v.customer_sk)",
        "SELECT count(*) FILTER (WHERE segment NOT IN ('platinum', 'gold', 'silver', 'bronze')) "
        "FROM hg_gold.customer_lifetime_value",
        "SELECT CASE WHEN count(*) >= 1 THEN 0 ELSE 1 END FROM hg_gold.customer_lifetime_value",
    ],
}
GOLD_BY_DAY = {"fact_orders": "order_date", "daily_revenue": "order_date"}


def gold_model(conn: psycopg.Connection, name: str, lake: Path, reader: adbc.Connection | None) -> int:
    """Build the model, run its tests (returns the failing rows), export it to Parquet."""
    conn.execute(GOLD[name])
    failing = sum(conn.execute(q).fetchone()[0] for q in GOLD_TESTS[name])  # type: ignore[index]
    export(
        conn,
        f"SELECT * FROM hg_gold.{name}",
        lake / "gold" / name,
        by_day=GOLD_BY_DAY.get(name),
        reader=reader,
    )
    return int(failing)


# -- ai_ready --------------------------------------------------------------------------------------------
SPLIT_BUCKET = (
    "('x' || encode(substring(sha256(convert_to('42:' || a.customer_id::text, 'UTF8')) FROM 1 FOR 7), 'hex'))"
    "::bit(56)::bigint"
)
FEATURES_RAW = f"""
CREATE TABLE ha_ai.customer_features_raw AS
WITH ref AS (SELECT ((max(order_date) + 1)::timestamp AT TIME ZONE 'UTC') AS as_of FROM hg_gold.fact_orders),
o AS (SELECT c.customer_id, f.order_ts, f.order_date, f.total, f.product_sk, f.is_cancelled, f.channel,
             p.category
      FROM hg_gold.fact_orders AS f JOIN hg_gold.dim_customer AS c ON c.customer_sk = f.customer_sk
      JOIN hg_gold.dim_product AS p ON p.product_sk = f.product_sk),
agg AS (SELECT o.customer_id, max(o.order_date) AS last_order_date,
               count(*) FILTER (WHERE NOT o.is_cancelled) AS frequency,
               sum(o.total) FILTER (WHERE NOT o.is_cancelled) AS monetary,
               count(DISTINCT o.product_sk) AS distinct_products,
               avg(o.is_cancelled::int) AS cancel_rate,
               count(*) FILTER (WHERE o.order_ts >= ref.as_of - interval '7 days') AS orders_last_7d,
               mode() WITHIN GROUP (ORDER BY o.channel) AS preferred_channel,
               mode() WITHIN GROUP (ORDER BY o.category) AS top_category
        FROM o CROSS JOIN ref WHERE o.order_ts < ref.as_of GROUP BY o.customer_id, ref.as_of)
SELECT a.customer_id, ref.as_of AS event_timestamp,
       ((ref.as_of AT TIME ZONE 'UTC')::date - a.last_order_date)::bigint AS recency_days,
       a.frequency, coalesce(a.monetary, 0) AS monetary,
       CASE WHEN a.frequency > 0 THEN round((coalesce(a.monetary, 0) / a.frequency)::numeric, 2)::float8
            ELSE 0 END AS avg_order_value,
       a.distinct_products,
       CASE WHEN d.signup_date::timestamp AT TIME ZONE 'UTC' < ref.as_of
            THEN ((ref.as_of AT TIME ZONE 'UTC')::date - d.signup_date)::bigint END AS tenure_days,
       coalesce(a.cancel_rate, 0)::float8 AS cancel_rate, a.orders_last_7d, a.preferred_channel,
       a.top_category,
       CASE WHEN {SPLIT_BUCKET} < 50440315826549555 THEN 'train'
            WHEN {SPLIT_BUCKET} < 61248954932238745 THEN 'validation' ELSE 'test' END AS split
FROM agg AS a CROSS JOIN ref JOIN hg_gold.dim_customer AS d ON d.customer_id = a.customer_id
"""
NUMERIC = [
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "distinct_products",
    "tenure_days",
    "cancel_rate",
    "orders_last_7d",
]


def customer_features(conn: psycopg.Connection, lake: Path, reader: adbc.Connection | None = None) -> int:
    """Raw features, fills and statistics fitted on the train split, the transformed table, Parquet."""
    conn.execute(FEATURES_RAW)
    raw = "ha_ai.customer_features_raw"
    tenure_fill = conn.execute(
        f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY tenure_days) FROM {raw} "
        "WHERE split = 'train' AND tenure_days IS NOT NULL"
    ).fetchone()[0]  # type: ignore[index]
    channel_fill = conn.execute(
        f"SELECT preferred_channel FROM {raw} WHERE split = 'train' AND preferred_channel IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()
    value = {c: c for c in NUMERIC} | {"tenure_days": f"coalesce(tenure_days, {tenure_fill or 0})"}
    stats_sql = ", ".join(
        f"avg(({value[c]})::numeric)::float8, stddev_pop(({value[c]})::numeric)::float8, "
        f"min(({value[c]})::float8), max(({value[c]})::float8)"
        for c in NUMERIC
    )
    row = conn.execute(f"SELECT {stats_sql} FROM {raw} WHERE split = 'train'").fetchone() or ()
    stats = {c: [v if v is not None else 0.0 for v in row[4 * i : 4 * i + 4]] for i, c in enumerate(NUMERIC)}
    channel = f"coalesce(preferred_channel, {_lit(channel_fill[0]) if channel_fill else 'NULL'})"
    top = {
        "preferred_channel": (channel, 3),
        "top_category": ("top_category", 5),
    }
    columns = ["customer_id", "event_timestamp"]
    for c in NUMERIC:
        mean, std, low, high = stats[c]
        columns.append(f"({value[c]}) AS {c}")
        columns.append(f"(({value[c]})::float8 - {mean}) / {std or 1.0} AS {c}_z")
    columns.append("ln(1.0 + greatest(monetary::float8, 0.0)) AS monetary_log")
    low, high = stats["distinct_products"][2:]
    span = (high - low) or None
    columns.append(
        f"(distinct_products::float8 - {low}) / {span} AS distinct_products_minmax"
        if span
        else "0.0::float8 AS distinct_products_minmax"
    )
    columns.append(
        f"width_bucket(({value['tenure_days']})::float8, ARRAY[90, 365, 730]::float8[])::bigint "
        "AS tenure_days_bucket"
    )
    for feature, (expr, k) in top.items():
        cats = [
            r[0]
            for r in conn.execute(
                f"SELECT {expr} FROM {raw} WHERE split = 'train' AND {expr} IS NOT NULL "
                f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {k}"
            ).fetchall()
        ]
        columns.append(f"{expr} AS {feature}")
        columns += [f"coalesce({expr} = {_lit(cat)}, FALSE)::int::bigint AS {feature}__{cat}" for cat in cats]
        listed = "ARRAY[" + ", ".join(_lit(cat) for cat in cats) + "]::text[]"
        columns.append(f"(NOT coalesce({expr} = ANY({listed}), FALSE))::int::bigint AS {feature}__other")
    columns.append("split")
    conn.execute(f"CREATE TABLE ha_ai.customer_features AS SELECT {', '.join(columns)} FROM {raw}")
    features = "SELECT * FROM ha_ai.customer_features"
    return export(conn, features, lake / "ai_ready" / "customer_features", reader=reader)


# -- the whole pipeline ----------------------------------------------------------------------------------
def run(url: str, files: dict[str, Path], lake: Path, *, with_adbc: bool = False) -> dict[str, float]:
    """Run every stage in order on ``url`` (a fresh database); returns seconds per stage. ``with_adbc``: the
    Parquet exports read their rows with the ADBC driver, on one connection for the run (see
    :func:`export`)."""
    seconds: dict[str, float] = {}
    key = secrets.token_hex(16)
    silver = lake / "silver"
    with (
        psycopg.connect(url) as conn,
        adbc.connect(url, autocommit=True) if with_adbc else contextlib.nullcontext() as reader,
    ):

        @contextmanager
        def stage(name: str) -> Iterator[None]:
            started = time.perf_counter()
            yield
            conn.commit()
            seconds[name] = round(time.perf_counter() - started, 3)

        conn.execute("SET TimeZone = 'UTC'")
        # A batch session's usual setting: sorts and the materialized CTE of 1M rows stay in memory.
        conn.execute("SET work_mem = '64MB'")
        conn.execute(SCHEMA + "".join(_bronze_and_quarantine(d) for d in COLUMNS))
        conn.commit()
        ids: dict[str, uuid.UUID] = {}
        for dataset in ("customers", "products", "orders"):
            with stage(f"bronze/{dataset}"):
                ids[dataset], _ = ingest(conn, dataset, files[dataset], lake)
        with stage("silver/products"):
            silver_products(conn, ids["products"])
            export(conn, "SELECT * FROM hs_silver.products", silver / "products", reader=reader)
        with stage("silver/customers"):
            silver_customers(conn, ids["customers"], key)
            export(conn, "SELECT * FROM hs_silver.customers", silver / "customers", reader=reader)
        with stage("silver/orders"):
            silver_orders(conn, ids["orders"])
        with stage("silver/orders parquet"):
            orders = "SELECT * FROM hs_silver.orders"
            export(conn, orders, silver / "orders", by_day="order_date", reader=reader)
        for model in GOLD:
            with stage(f"gold/{model}"):
                failing = gold_model(conn, model, lake, reader)
            assert failing == 0, (model, failing)
        with stage("ai_ready/customer_features"):
            customer_features(conn, lake, reader)
    return seconds


def counts(url: str) -> dict[str, object]:
    """Rows per layer and rule failures, to compare with Atlas's run (not timed)."""
    with psycopg.connect(url) as conn:
        tables = [
            "hb_bronze.orders",
            "hs_silver.orders",
            "hq_quarantine.orders",
            "hs_silver.customers",
            "hq_quarantine.customers",
            "hs_silver.products",
            "hg_gold.fact_orders",
            "hg_gold.daily_revenue",
            "hg_gold.customer_lifetime_value",
            "ha_ai.customer_features",
        ]
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]
        rules = conn.execute(
            "SELECT dataset || ':' || rule_id, rows FROM hm_meta.rule_failures ORDER BY 1"
        ).fetchall()
    return {"rows": rows, "rule_failures": dict(rules)}
