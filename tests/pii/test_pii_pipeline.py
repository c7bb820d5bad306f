"""PII end to end: the demo through a real Dagster instance, then the leak search, consent, audited
decryption and the right to erasure (a later re-ingest does not bring the subject back).

One demo run serves every test of this module (tests run in file order; ``forget`` comes last
because it changes the data).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from rich.console import Console
from typer.testing import CliRunner

from atlas_cli.demo import run_demo
from atlas_cli.main import app
from atlas_core.layout import Layer
from tests.support import postgres as pg
from tests.support.expected import PII_COLUMNS

pytestmark = pytest.mark.slow
PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """An isolated Atlas (own home, warehouse and Dagster databases) after one ``atlas demo``."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith(("ATLAS_", "DAGSTER_"))]:
        del os.environ[key]
    home = tmp_path_factory.mktemp("pii-home")
    warehouse = pg.create_database(pg_server, migrate=False)
    dagster_db = pg.create_database(pg_server, "dagster_t", migrate=False)
    os.environ.update(
        {
            "ATLAS_HOME": str(home),
            "ATLAS_POSTGRES_URL": warehouse,
            "ATLAS_DAGSTER_POSTGRES_URL": dagster_db,
            "ATLAS_PROJECT_DIR": str(PROJECT_DIR),
            "ATLAS_LINEAGE_FILE": str(home / "lineage" / "events.jsonl"),
        }
    )
    try:
        summary = run_demo(show_progress=False, console=Console(quiet=True))
        yield {"summary": summary, "home": home, "warehouse": warehouse, "dagster": dagster_db}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        for url in (warehouse, dagster_db):
            pg.drop_database(url)


def _find(data: object, key: str) -> object:
    """The first value of ``key`` anywhere in a nested JSON document (Dagster's serialized events)."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            found = _find(item, key)
            if found is not None:
                return found
    return None


def _files(home: Path) -> str:
    """Every file of the home outside the boundary's inside (Postgres data files, raw bronze), Parquet
    decoded."""
    parts = []
    for path in sorted(home.rglob("*")):
        rel = path.relative_to(home).as_posix()
        if not path.is_file() or rel.startswith(("postgres/", "lake/atlas-bronze/")):
            continue
        if path.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str))
        else:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


class RawPii:
    """The raw PII values of bronze and a fast search for them in large texts."""

    EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
    PHONE = re.compile(r"\(\d{3}\) \d{3}-\d{4}|(?<!\d)\d{3}-\d{3}-\d{4}(?!\d)")
    SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
    DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
    # "Jacob Robertson" in text, "Jacob","Robertson" in CSV, | Jacob | Robertson | in markdown, JSON lists...
    NAME_PAIR = re.compile(r"(?=\b([A-Z][A-Za-z'-]+)[^A-Za-z0-9<>]{1,6}([A-Z][A-Za-z'-]+)\b)")
    STREET_ANCHOR = re.compile(r"(?=\b(\d{1,6} [A-Z][a-z]+)\b)")
    SPOKE_WITH = re.compile(r"Spoke with ([A-Z][a-z]+) on the phone")

    def __init__(self, rows: list[tuple]) -> None:
        self.values: dict[str, set[str]] = {
            k: set() for k in ("email", "phone", "ssn", "date_of_birth", "name", "street")
        }
        self.spoke_with: set[str] = set()
        self.odd: set[str] = (
            set()
        )  # values the extractors cannot see (e.g. defective e-mails): searched as is
        for first, last, email, phone, ssn, dob, street, notes in rows:
            for kind, value, pattern in (
                ("email", email, self.EMAIL),
                ("phone", phone, self.PHONE),
                ("ssn", ssn, self.SSN),
                ("date_of_birth", dob, self.DATE),
            ):
                if value:
                    (self.values[kind] if pattern.fullmatch(value) else self.odd).add(value)
            if first and last:
                self.values["name"].add(f"{first} {last}")
            if street:
                self.values["street"].add(street)
            if notes and notes.startswith(f"Spoke with {first} "):
                self.spoke_with.add(first)
        self.anchors: dict[str, set[str]] = {}
        for street in self.values["street"]:
            self.anchors.setdefault(" ".join(street.split()[:2]), set()).add(street)

    def hits(self, text: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}

        def add(kind: str, values: set[str]) -> None:
            if values:
                found.setdefault(kind, set()).update(values)

        add("email", set(self.EMAIL.findall(text)) & self.values["email"])
        add("phone", set(self.PHONE.findall(text)) & self.values["phone"])
        add("ssn", set(self.SSN.findall(text)) & self.values["ssn"])
        add("date_of_birth", set(self.DATE.findall(text)) & self.values["date_of_birth"])
        add("name", {f"{a} {b}" for a, b in self.NAME_PAIR.findall(text)} & self.values["name"])
        add(
            "street",
            {
                s
                for a in set(self.STREET_ANCHOR.findall(text)) & set(self.anchors)
                for s in self.anchors[a]
                if s in text
            },
        )
        add("notes", set(self.SPOKE_WITH.findall(text)) & self.spoke_with)
        add("odd", {v for v in self.odd if v in text})
        return found


@pytest.fixture(scope="module")
def raw_pii(demo) -> RawPii:
    rows = pg.rows(str(demo["warehouse"]), f"SELECT {', '.join(PII_COLUMNS)} FROM atlas_bronze.customers")  # noqa: S608
    return RawPii(rows)


def test_demo_reports_pii_per_dataset(demo) -> None:
    summary = demo["summary"]
    assert summary["success"]
    assert summary["pii"]["customers"] == {
        "first_name": "PERSON",
        "last_name": "PERSON",
        "email": "EMAIL_ADDRESS",
        "phone": "PHONE_NUMBER",
        "ssn": "US_SSN",
        "date_of_birth": "DATE_TIME",
        "street_address": "LOCATION",
        "notes": "PERSON",
        "city": "LOCATION",  # declared with strategy keep: listed, not anonymized
    }
    assert summary["pii"]["orders"] == {} and summary["pii"]["products"] == {}
    reports = pg.rows(
        str(demo["warehouse"]), "SELECT dataset, partition_key, run_id, columns FROM atlas_meta.pii_reports"
    )
    by_dataset = {r[0]: r for r in reports}
    assert set(by_dataset) == {"customers", "orders", "products"}
    assert by_dataset["orders"][1] == "2026-10-01..2026-10-30"
    customers = by_dataset["customers"][3]
    assert customers["notes"]["free_text"] and customers["notes"]["cells_changed"] > 500
    assert customers["email"]["strategy"] == "hash" and customers["signup_ts"]["entity"] is None
    # the drift check ran next to each silver asset and passed (every detected PII column is declared)
    checks = pg.rows(
        str(demo["dagster"]),
        "SELECT asset_key, execution_status, evaluation_event FROM asset_check_executions "
        "WHERE check_name = 'pii_drift'",
    )
    assert len(checks) == 3
    for _, status, event in checks:
        assert status == "SUCCEEDED" and _find(json.loads(event), "success") is True
        assert json.loads(event)["user_message"].endswith("passed.")
    result = CliRunner().invoke(app, ["pii", "report", "customers", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["columns"] == customers


def test_no_raw_pii_value_crosses_the_silver_boundary(demo, raw_pii: RawPii) -> None:
    # positive control: the search does find the values where they are allowed to be (bronze)
    bronze = raw_pii.hits(pg.dump_schemas(str(demo["warehouse"]), [Layer.BRONZE.schema]))
    assert len(bronze["email"]) > 1900 and len(bronze["ssn"]) > 1900 and len(bronze["name"]) > 1900
    assert len(bronze["street"]) > 1900 and len(bronze["date_of_birth"]) > 1500 and bronze["notes"]
    places = {
        "dagster database (event log, runs, checks, ...)": pg.dump_schemas(str(demo["dagster"]), ["public"]),
        "silver/gold/ai_ready/meta tables": pg.dump_schemas(
            str(demo["warehouse"]),
            [Layer.SILVER.schema, Layer.GOLD.schema, Layer.AI_READY.schema, "atlas_meta"],
        ),
        "files: compute logs, atlas logs, lineage, summary, silver/gold/ai_ready Parquet": _files(
            demo["home"]
        ),  # type: ignore[arg-type]
    }
    assert (Path(demo["home"]) / "dagster" / "compute_logs").is_dir()  # type: ignore[arg-type]
    lineage = Path(demo["home"]) / "lineage" / "events.jsonl"  # type: ignore[arg-type]
    assert (
        lineage.is_file() and lineage.stat().st_size > 0
    )  # OpenLineage events were emitted and are searched
    assert any((Path(demo["home"]) / "logs").iterdir())  # type: ignore[arg-type]
    leaks = {where: raw_pii.hits(text) for where, text in places.items()}
    assert {where: found for where, found in leaks.items() if found} == {}


def test_rows_without_consent_never_reach_gold_or_ai_ready(demo) -> None:
    url = str(demo["warehouse"])
    silver = dict(
        pg.rows(url, "SELECT marketing_consent IS TRUE, count(*) FROM atlas_silver.customers GROUP BY 1")
    )
    assert silver[False] > 100 and silver[True] > 1000  # silver keeps everyone, flagged
    assert pg.rows(url, "SELECT count(*) FROM atlas_gold.dim_customer")[0][0] == silver[True]
    for table in ("atlas_gold.dim_customer", "atlas_ai_ready.customer_features"):
        leaked = pg.rows(
            url,
            f"SELECT count(*) FROM {table} t JOIN atlas_silver.customers s USING (customer_id) "  # noqa: S608
            "WHERE s.marketing_consent IS NOT TRUE",
        )[0][0]
        assert leaked == 0, table


def test_a_gold_model_without_the_consent_filter_is_refused(tmp_path: Path) -> None:
    from atlas_assets.pii import check_consent_filters
    from atlas_core.contracts import load_contracts
    from atlas_core.errors import ContractError
    from atlas_core.sql_models import load_models

    gold = tmp_path / "gold"
    gold.mkdir()
    source = (PROJECT_DIR / "models" / "gold" / "dim_customer.sql").read_text()
    (gold / "dim_customer.sql").write_text(source.replace("WHERE c.marketing_consent IS TRUE", ""))
    contracts = load_contracts(PROJECT_DIR / "contracts")
    with pytest.raises(
        ContractError, match="dim_customer.sql: reads atlas_silver.customers, whose contract names a consent"
    ):
        check_consent_filters(contracts, load_models(tmp_path))
    check_consent_filters(contracts, load_models(PROJECT_DIR / "models"))


def test_decryption_is_audited(demo) -> None:
    from atlas_core.errors import InputRejected
    from atlas_core.settings import get_settings
    from atlas_engine.pii_decrypt import decrypt_values
    from atlas_resources.warehouse import Warehouse

    url = str(demo["warehouse"])
    rows = pg.rows(
        url,
        "SELECT s.ssn, b.ssn FROM atlas_silver.customers s JOIN atlas_bronze.customers b "
        "ON b._atlas_ingestion_id = s._atlas_ingestion_id AND b._atlas_row_number = s._atlas_row_number "
        "ORDER BY s.customer_id LIMIT 3",
    )
    tokens, plain = [r[0] for r in rows], [r[1] for r in rows]
    assert all(t.startswith("enc1:dev:") for t in tokens)
    wh = Warehouse(url)
    assert (
        decrypt_values(wh, get_settings(), "customers", "ssn", tokens, "auditor@example.com", reason="test")
        == plain
    )
    with pytest.raises(InputRejected, match="customers.email is not an encrypted column"):
        decrypt_values(wh, get_settings(), "customers", "email", tokens, "auditor@example.com")
    audit = pg.rows(url, "SELECT action, actor, dataset, detail FROM atlas_meta.pii_audit ORDER BY audit_id")
    assert [(a, b, c, d["outcome"]) for a, b, c, d in audit] == [
        ("decrypt", "auditor@example.com", "customers", "granted"),
        ("decrypt", "auditor@example.com", "customers", "refused"),
    ]
    assert (
        audit[0][3]["tokens"] == 3 and audit[0][3]["key_ids"] == ["dev"] and audit[0][3]["reason"] == "test"
    )
    text = json.dumps([r[3] for r in audit])
    assert not any(v in text for v in plain + tokens)
    # the CLI goes through the same audited path
    result = CliRunner().invoke(
        app, ["pii", "decrypt", "customers", "ssn", tokens[0], "--actor", "cli-auditor"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == plain[0]
    refused = CliRunner().invoke(
        app, ["pii", "decrypt", "customers", "ssn", "enc1:dev:AAAA", "--actor", "cli-auditor"]
    )
    assert refused.exit_code == 1 and refused.output.strip().splitlines() == [
        "error: token 1: token data is too short"
    ]
    assert [
        r[0]
        for r in pg.rows(
            url,
            "SELECT detail->>'outcome' FROM atlas_meta.pii_audit WHERE actor = 'cli-auditor' "
            "ORDER BY audit_id",
        )
    ] == ["granted", "refused"]


def test_a_daily_load_of_enumerated_values_is_classified_from_the_span_cache(demo) -> None:
    """orders' analyzed columns (status, channel) hold only contract values: the demo cached their spans,
    and a later daily load classifies from them exactly as the analyzer did."""
    cache = Path(demo["home"]) / "cache" / "pii-spans.json"  # type: ignore[arg-type]
    cached = next(iter(json.loads(cache.read_text())["spans"].values()))
    assert {"placed", "shipped", "web", "store"} <= set(cached)
    result = CliRunner().invoke(
        app, ["materialize", "--select", "silver/orders", "--partition", "2026-10-15"]
    )
    assert result.exit_code == 0, result.output
    reports = pg.rows(
        str(demo["warehouse"]),
        "SELECT partition_key, columns FROM atlas_meta.pii_reports "
        "WHERE dataset = 'orders' ORDER BY report_id",
    )
    (_, whole), (partition, daily) = reports[0], reports[-1]
    assert partition == "2026-10-15" and len(reports) == 2
    assert daily == whole and daily["status"]["entity"] is None and daily["channel"]["strategy"] is None


def test_forget_erases_a_subject_everywhere_and_keeps_it_erased(
    demo, raw_pii: RawPii, tmp_path: Path
) -> None:
    from atlas_cli.runs import execute, resolve_selection
    from atlas_cli.runtime import boot
    from atlas_core.contracts import load_contracts
    from atlas_engine.bronze import ingest_file

    url = str(demo["warehouse"])
    home = Path(demo["home"])  # type: ignore[arg-type]
    subject = pg.rows(
        url,
        "SELECT c.customer_id FROM atlas_gold.dim_customer c JOIN atlas_ai_ready.customer_features f "
        "USING (customer_id) JOIN atlas_bronze.customers b ON b.customer_id = c.customer_id::text "
        "WHERE b.notes LIKE 'Called from%%' ORDER BY 1 LIMIT 1",
    )[0][0]
    raw_row = pg.rows(
        url,
        f"SELECT {', '.join(PII_COLUMNS)} FROM atlas_bronze.customers WHERE customer_id = %s",  # noqa: S608
        (str(subject),),
    )[0]
    email, phone = raw_row[2], raw_row[3]
    raw_file = next((home / "lake" / "atlas-bronze" / "raw" / "customers").rglob("*.csv"))
    assert email in raw_file.read_text()

    result = CliRunner().invoke(
        app, ["pii", "forget", "customers", f" {subject} ", "--actor", "dpo@example.com"]
    )
    assert result.exit_code == 0, result.output
    assert "silver 1" in result.output and "gold.dim_customer 1" in result.output
    assert "ai_ready.customer_features 1" in result.output
    for table, column in [
        ("atlas_bronze.customers", "customer_id::bigint"),
        ("atlas_quarantine.customers", "customer_id::bigint"),
        ("atlas_silver.customers", "customer_id"),
        ("atlas_gold.dim_customer", "customer_id"),
        ("atlas_ai_ready.customer_features", "customer_id"),
    ]:
        assert pg.rows(url, f"SELECT count(*) FROM {table} WHERE {column} = %s", (subject,))[0][0] == 0, table  # noqa: S608
    lake_text = raw_file.read_text()
    assert email not in lake_text and phone not in lake_text and lake_text.count("\n") > 1900  # others kept
    for parquet in [
        *(home / "lake" / "atlas-silver" / "customers").rglob("*.parquet"),
        *(home / "lake" / "atlas-ai-ready").rglob("*.parquet"),
    ]:
        ids = pq.read_table(parquet, columns=["customer_id"]).column("customer_id").to_pylist()
        assert subject not in ids and len(ids) > 1000, parquet
    gold = [
        *(home / "lake" / "atlas-gold" / "dim_customer").rglob("*.parquet"),
        *(home / "lake" / "atlas-gold" / "customer_lifetime_value").rglob("*.parquet"),
    ]
    assert len(gold) == 2  # the gold exports of the models carrying customer_id are rewritten too
    for parquet in gold:
        ids = pq.read_table(parquet, columns=["customer_id"]).column("customer_id").to_pylist()
        assert subject not in ids and len(ids) > 100, parquet
    audit = pg.rows(url, "SELECT actor, detail FROM atlas_meta.pii_audit WHERE action = 'forget'")
    assert len(audit) == 1 and audit[0][0] == "dpo@example.com" and audit[0][1]["rows"]["silver"] == 1
    assert set(audit[0][1]) == {"key_digest", "key_id", "rows", "lake_objects_rewritten"}
    assert pg.rows(url, "SELECT count(*) FROM atlas_meta.pii_erasures WHERE dataset = 'customers'")[0][0] == 1
    from atlas_core.pii.keys import build_keyring

    dev = build_keyring(None, "k1", None, environment="development")  # the demo runs on the development key
    assert pg.rows(url, "SELECT key_id, key_digest FROM atlas_meta.pii_erasures") == [
        ("dev", dev.erasure_digest("customers", str(subject)))  # a keyed digest, never the key itself
    ]
    # The erasure is a run of the atlas_pii_forget job: digest in its tags, summary as its step's metadata,
    # the key itself neither in the tags nor in the run config (there it is an enc1: token).
    instance = boot().instance
    [run] = instance.get_runs(filters=dg.RunsFilter(job_name="atlas_pii_forget"))
    assert run.is_success and run.tags["atlas/subject_digest"] == dev.erasure_digest(
        "customers", str(subject)
    )
    config = run.run_config["ops"]["forget_subject"]["config"]
    assert str(subject) not in {*run.tags.values(), *config.values()}
    assert config["key_token"].startswith("enc1:") and str(subject) not in config["key_token"].split(":")[1:]
    outputs = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT).records
    metadata = outputs[0].event_log_entry.dagster_event.step_output_data.metadata  # type: ignore[union-attr]
    assert metadata["rows_deleted"].value["silver"] == 1 and metadata["rows_deleted_total"].value >= 4
    assert f"run {run.run_id}" in result.output

    # a subject whose row is quarantined (its e-mail is invalid) is erased from the quarantine too
    quarantined = pg.rows(
        url,
        "SELECT customer_id FROM atlas_quarantine.customers WHERE email LIKE '%%\\_at\\_%%' "
        "ORDER BY 1 LIMIT 1",
    )[0][0]
    result = CliRunner().invoke(app, ["pii", "forget", "customers", quarantined])
    assert result.exit_code == 0 and "quarantine 1" in result.output, result.output
    assert (
        pg.rows(
            url, "SELECT count(*) FROM atlas_quarantine.customers WHERE customer_id = %s", (quarantined,)
        )[0][0]
        == 0
    )
    assert f'"{quarantined}",' not in raw_file.read_text()

    # An old export that still holds the subject (plus one new customer) is ingested again later.
    old = tmp_path / f"customers_old_{uuid.uuid4().hex[:6]}.csv"
    header = raw_file.read_text().splitlines()[0]
    subject_line = next(
        line
        for line in (PROJECT_DIR / "data" / "samples" / "customers.csv").read_text().splitlines()
        if email in line
    )
    newcomer = subject_line.replace(f'"{subject}"', '"99999"', 1).replace(email, "new.person@example.org")
    old.write_text(f"{header}\n{subject_line}\n{newcomer}\n", encoding="utf-8")
    atlas = boot()
    contract = next(c for c in load_contracts(PROJECT_DIR / "contracts") if c.dataset == "customers")
    record = ingest_file(atlas.warehouse, atlas.lake, contract, old)
    assert record.status == "accepted" and record.rows_bronze == 2
    outcome = execute(
        atlas.instance,
        atlas.definitions,
        resolve_selection(atlas.definitions, "silver/customers"),
        show_progress=False,
    )
    assert outcome.success, outcome.failures
    assert (
        pg.rows(url, "SELECT count(*) FROM atlas_silver.customers WHERE customer_id = %s", (subject,))[0][0]
        == 0
    )
    assert pg.rows(url, "SELECT count(*) FROM atlas_silver.customers WHERE customer_id = 99999")[0][0] == 1
    assert (
        pg.rows(url, "SELECT count(*) FROM atlas_bronze.customers WHERE customer_id = %s", (str(subject),))[
            0
        ][0]
        == 0
    )
    assert (
        pg.rows(
            url, "SELECT count(*) FROM atlas_quarantine.customers WHERE customer_id = %s", (str(subject),)
        )[0][0]
        == 0
    )
    new_raw = [
        p for p in (home / "lake" / "atlas-bronze" / "raw" / "customers").rglob("*.csv") if p.name == old.name
    ]
    assert len(new_raw) == 1 and email not in new_raw[0].read_text() and "99999" in new_raw[0].read_text()
    report = pg.rows(
        url,
        "SELECT columns FROM atlas_meta.pii_reports WHERE dataset = 'customers' "
        "ORDER BY report_id DESC LIMIT 1",
    )[0][0]
    assert report["email"]["cells_changed"] >= 1900
