"""Deterministic sample data (Faker + numpy, fixed seeds) for the demo, tests and benchmarks.

``customers`` carries the PII (names, emails, phones, SSNs, addresses, birth dates, free-text
notes); ``orders`` spans 30 consecutive days. A small, fixed share of rows is deliberately dirty
(invalid emails, duplicate keys, typos breaking zip -> city, totals that do not add up, unknown
customers) so the quality and quarantine paths have something to catch.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

SEED = 20261001
ORDERS_START = date(2026, 10, 1)
ORDERS_DAYS = 30
# Every date the generator draws is relative to this day, never to the clock: the same seed gives the
# same bytes on any day. It is the day the shipped samples in data/samples/ were generated.
REFERENCE_DATE = date(2026, 11, 26)
DEFAULT_ROWS = {"customers": 2000, "products": 200, "orders": 20000}
STATES = [
    "al",
    "ak",
    "az",
    "ca",
    "co",
    "fl",
    "ga",
    "il",
    "ma",
    "mi",
    "ny",
    "nc",
    "oh",
    "or",
    "pa",
    "tx",
    "wa",
]
CATEGORIES = ["books", "electronics", "garden", "grocery", "home", "sports", "toys", "beauty"]
STATUSES = ["placed", "shipped", "delivered", "cancelled", "returned"]
CHANNELS = ["web", "mobile", "store"]


def _faker(seed: int):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


def date_of_birth(fake, min_age: int, max_age: int) -> date:
    """Faker's ``date_of_birth`` with ``REFERENCE_DATE`` in place of today (same draws, same range)."""
    start = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - (max_age + 1))
    end = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - min_age)
    dob = fake.date_time_ad(start_datetime=start, end_datetime=end).date()
    return dob if dob != start else dob + timedelta(days=1)


def year(fake) -> str:
    """A year between 1970 and ``REFERENCE_DATE`` (Faker's ``year()`` ends at today)."""
    return fake.date_time(end_datetime=datetime.combine(REFERENCE_DATE, datetime.min.time())).strftime("%Y")


def _locations(fake, n: int, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    seen: set[str] = set()
    out: list[tuple[str, str, str]] = []
    while len(out) < n:
        zip_code = fake.zipcode()
        if zip_code in seen:
            continue
        seen.add(zip_code)
        out.append((zip_code, fake.city(), STATES[int(rng.integers(len(STATES)))]))
    return out


def _note(fake, rng: np.random.Generator, first: str, last: str, email: str, phone: str) -> str:
    kind = int(rng.integers(8))
    if kind == 0:
        return f"Called from {phone} about a late delivery; asked to be emailed at {email}."
    if kind == 1:
        return f"{first} {last} requested a copy of the last invoice."
    if kind == 2:
        return f"Prefers contact by email ({email}). Loyal since {year(fake)}."
    if kind == 3:
        return "VIP customer, handle with care."
    if kind == 4:
        return f"Spoke with {first} on the phone; follow up next week."
    return ""


def generate_customers(rows: int = DEFAULT_ROWS["customers"], seed: int = SEED) -> pa.Table:
    fake = _faker(seed)
    rng = np.random.default_rng(seed)
    locations = _locations(fake, max(10, rows // 7), rng)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    records: dict[str, list[str]] = {
        k: []
        for k in (
            "customer_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "ssn",
            "date_of_birth",
            "street_address",
            "city",
            "state",
            "zip",
            "signup_ts",
            "updated_at",
            "marketing_consent",
            "notes",
        )
    }
    for i in range(1, rows + 1):
        first, last = fake.first_name(), fake.last_name()
        email = f"{first}.{last}{i}@{fake.free_email_domain()}".lower()
        phone = fake.numerify("(###) ###-####") if i % 3 else fake.numerify("###-###-####")
        zip_code, city, state = locations[int(rng.integers(len(locations)))]
        signup = base + timedelta(seconds=int(rng.integers(0, 640 * 86400)))
        updated = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(seconds=int(rng.integers(0, 30 * 86400)))
        dob = date_of_birth(fake, 18, 90)
        values = {
            "customer_id": str(i),
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": phone,
            "ssn": fake.ssn(),
            "date_of_birth": dob.isoformat(),
            "street_address": fake.street_address(),
            "city": city,
            "state": state,
            "zip": zip_code,
            "signup_ts": signup.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "marketing_consent": "true" if rng.random() < 0.85 else "false",
            "notes": _note(fake, rng, first, last, email, phone),
        }
        # Deliberate defects, about 1% of rows, at fixed positions.
        if i % 211 == 0:
            values["email"] = values["email"].replace("@", "_at_")
        if i % 307 == 0:
            values["city"] = values["city"].upper() + "X"
        if i % 401 == 0:
            values["email"] = ""
        for key, value in values.items():
            records[key].append(value)
    table = pa.table({k: pa.array(v, pa.string()) for k, v in records.items()})
    # A few exact duplicates of earlier rows (re-sent records): uniqueness catches them.
    dup_idx = pa.array([i for i in range(0, rows, max(1, rows // 5))][:5])
    return pa.concat_tables([table, table.take(dup_idx)])


def generate_products(rows: int = DEFAULT_ROWS["products"], seed: int = SEED) -> pa.Table:
    fake = _faker(seed + 1)
    rng = np.random.default_rng(seed + 1)
    data: dict[str, list[str]] = {
        k: [] for k in ("product_id", "sku", "name", "category", "unit_price", "active")
    }
    for i in range(1, rows + 1):
        data["product_id"].append(str(i))
        data["sku"].append(f"SKU-{i:05d}")
        data["name"].append(
            f"{fake.color_name()} {fake.word()} {CATEGORIES[i % len(CATEGORIES)].rstrip('s')}".title()
        )
        data["category"].append(CATEGORIES[int(rng.integers(len(CATEGORIES)))])
        data["unit_price"].append(f"{float(rng.uniform(2, 500)):.2f}")
        data["active"].append("true" if rng.random() < 0.92 else "false")
    return pa.table({k: pa.array(v, pa.string()) for k, v in data.items()})


def product_prices(rows: int = DEFAULT_ROWS["products"], seed: int = SEED) -> np.ndarray:
    table = generate_products(rows, seed)
    return np.asarray([float(v) for v in table.column("unit_price").to_pylist()])


def iter_orders(
    rows: int = DEFAULT_ROWS["orders"],
    seed: int = SEED,
    *,
    customers: int = DEFAULT_ROWS["customers"],
    products: int = DEFAULT_ROWS["products"],
    start: date = ORDERS_START,
    days: int = ORDERS_DAYS,
    batch_size: int = 200_000,
) -> Iterator[pa.RecordBatch]:
    """Orders as string batches, vectorised so millions of rows generate in seconds."""
    prices = np.round(product_prices(products, seed), 2)
    start_epoch = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    produced = 0
    chunk = 0
    while produced < rows:
        n = min(batch_size, rows - produced)
        rng = np.random.default_rng([seed, chunk])
        order_id = np.arange(produced + 1, produced + n + 1)
        customer_id = rng.integers(1, customers + 1, n)
        product_id = rng.integers(1, products + 1, n)
        seconds = (
            np.sort(rng.integers(0, days * 86400, n))
            if rows <= batch_size
            else rng.integers(0, days * 86400, n)
        )
        ts = (start_epoch + seconds).astype("datetime64[s]")
        quantity = rng.integers(1, 6, n)
        unit_price = prices[product_id - 1]
        total = np.round(quantity * unit_price, 2)
        status = np.asarray(STATUSES)[rng.choice(len(STATUSES), n, p=[0.2, 0.25, 0.45, 0.06, 0.04])]
        channel = np.asarray(CHANNELS)[rng.integers(0, len(CHANNELS), n)]
        ts_text = np.char.add(np.datetime_as_string(ts, unit="s"), "Z")
        total_text = np.char.mod("%.2f", total)
        qty_text = quantity.astype(str)
        cust_text = customer_id.astype(str)
        # Deliberate defects at fixed positions (about 0.5%).
        gid = order_id
        total_text = np.where(gid % 331 == 0, np.char.mod("%.2f", total + 10), total_text)
        cust_text = np.where(gid % 997 == 0, (customers + 1000 + gid % 50).astype(str), cust_text)
        qty_text = np.where(gid % 1009 == 0, "-1", qty_text)
        ts_text = np.where(gid % 4999 == 0, "not-a-timestamp", ts_text)
        yield pa.record_batch(
            {
                "order_id": pa.array(order_id.astype(str)),
                "customer_id": pa.array(cust_text),
                "product_id": pa.array(product_id.astype(str)),
                "order_ts": pa.array(ts_text),
                "quantity": pa.array(qty_text),
                "unit_price": pa.array(np.char.mod("%.2f", unit_price)),
                "total": pa.array(total_text),
                "status": pa.array(status),
                "channel": pa.array(channel),
            }
        )
        produced += n
        chunk += 1


def write_csv(path: Path, batches: Iterator[pa.RecordBatch] | pa.Table) -> int:
    """Write string batches as CSV with a header; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    items = batches.to_batches() if isinstance(batches, pa.Table) else batches
    writer = None
    try:
        for batch in items:
            if writer is None:
                writer = pacsv.CSVWriter(str(path), batch.schema, write_options=options)
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def generate(dataset: str, rows: int | None, out: Path, seed: int = SEED) -> int:
    n = rows if rows is not None else DEFAULT_ROWS[dataset]
    if dataset == "customers":
        return write_csv(out, generate_customers(n, seed))
    if dataset == "products":
        return write_csv(out, generate_products(n, seed))
    if dataset == "orders":
        return write_csv(out, iter_orders(n, seed))
    raise ValueError(f"unknown sample dataset {dataset!r}; choose customers, products or orders")
