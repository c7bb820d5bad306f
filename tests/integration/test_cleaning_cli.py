"""Standardize and repair through the ``atlas`` command (subprocesses) and a Dagster materialization.

Contracts without ``source:`` used with an explicit file; ``atlas quality check --out``; ragged rows in the
ledger of unpartitioned and partitioned datasets; bad contracts as one-line errors.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from tests.support import postgres as pg
from tests.support.processes import atlas_process_env

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).resolve().parents[2]
ATLAS = str(Path(sys.executable).parent / "atlas")

CATALOG = {
    "dataset": "beers_t",
    "primary_key": ["id"],
    "null_values": ["", "N/A"],
    "columns": [
        {"name": "id", "type": "integer"},
        {"name": "ounces", "type": "float", "standardize": [{"strip_units": ["oz", "oz.", "ounce"]}]},
        {"name": "abv", "type": "float", "standardize": [{"strip_units": ["%"]}]},
        {"name": "brewery_id", "type": "integer"},
        {"name": "state", "pattern": "^[A-Z]{2}$"},
    ],
    "rules": {
        "functional_dependencies": [
            {
                "name": "brewery_state",
                "determinant": ["brewery_id"],
                "dependent": ["state"],
                "on_fail": "repair",
            }
        ]
    },
}
CATALOG_CSV = (
    "id,ounces,abv,brewery_id,state\n"
    "1,12.0 oz,0.05,7,OR\n"
    "2,12.0 OZ.,0.066%,7,\n"  # state missing: repaired from brewery 7
    "3,16 ounce,N/A,7,OR\n"
    "4,a pint,0.05,8,IN\n"  # ounces untypable: quarantined
    "5,12 oz,0.05,8\n"  # ragged
)


@pytest.fixture
def env(pg_server: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    with pg.atlas_databases(pg_server, "cc") as (warehouse, dagster_db):
        yield atlas_process_env(tmp_path / "home", warehouse, dagster_db, COLUMNS="200")


def _atlas(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATLAS, *args], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT)


def _one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_quality_check_out_holds_the_rows_that_reach_silver(env: dict[str, str], tmp_path: Path) -> None:
    contract = tmp_path / "beers.yml"
    contract.write_text(yaml.safe_dump(CATALOG))  # no source: the file is given on the command line
    data = tmp_path / "beers.csv"
    data.write_text(CATALOG_CSV)
    report, quarantine, out = tmp_path / "r.json", tmp_path / "q.csv", tmp_path / "s.csv"
    done = _atlas(
        env,
        "quality",
        "check",
        str(data),
        "--contract",
        str(contract),
        "--report",
        str(report),
        "--quarantine",
        str(quarantine),
        "--out",
        str(out),
        "--no-soda",
    )
    assert done.returncode == 0, done.stderr
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["id", "ounces", "abv", "brewery_id", "state"],
        ["1", "12", "0.05", "7", "OR"],
        ["2", "12", "0.066", "7", "OR"],
        ["3", "16", "", "7", "OR"],
    ]
    result = json.loads(report.read_text())
    assert (result["rows"], result["passed_rows"], result["quarantined_rows"]) == (5, 3, 2)
    assert result["repaired_cells"] == {"fd.brewery_state": 1}
    assert result["standardized"] == {"abv": {"strip_units": 1}, "ounces": {"strip_units": 3}}
    assert result["dimensions"]["completeness"]["score"] == 1.0  # 'a pint' is present, only invalid
    with quarantine.open() as fh:
        reasons = [r["_atlas_reasons"] for r in csv.DictReader(fh)]
    assert reasons == ["ounces.type", "row.malformed"]
    assert "repaired cells: fd.brewery_state 1" in done.stdout


def test_bad_standardize_steps_are_one_line_errors(env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "beers.csv"
    data.write_text(CATALOG_CSV)
    cases = [
        (
            {"strip_units": ["oz"]},
            "string",
            "columns.1.standardize.0: step 'strip_units' does not apply to a string",
        ),
        ({"extract": "(?<=a)b"}, "float", "columns.1.standardize.0.extract: invalid regular expression"),
        ("squeeze", "float", "columns.1.standardize.0: unknown step 'squeeze'"),
    ]
    for step, column_type, message in cases:
        bad = json.loads(json.dumps(CATALOG))
        bad["columns"][1] = {"name": "ounces", "type": column_type, "standardize": [step]}
        contract = tmp_path / "bad.yml"
        contract.write_text(yaml.safe_dump(bad))
        _one_line_error(
            _atlas(env, "quality", "check", str(data), "--contract", str(contract)), "bad.yml", message
        )


def _ledger(env: dict[str, str]) -> list[tuple[str, int, int | None, int | None]]:
    done = _atlas(env, "ingestions", "--json")
    assert done.returncode == 0, done.stderr
    return [
        (r["file"], r["rows_bronze"], r["rows_silver"], r["rows_quarantined"])
        for r in json.loads(done.stdout)
    ]


@pytest.mark.parametrize("partitioned", [False, True])
def test_ingest_with_a_sourceless_contract_accounts_for_every_row(
    env: dict[str, str], tmp_path: Path, partitioned: bool
) -> None:
    spec = {
        "dataset": "events_t",
        "columns": [{"name": "id", "type": "integer"}, {"name": "ts", "type": "timestamp"}, {"name": "v"}],
    }
    if partitioned:
        spec["partitioning"] = {"column": "ts", "start": "2026-01-01"}
    contract = tmp_path / "events.yml"
    contract.write_text(yaml.safe_dump(spec))
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(
        "id,ts,v\n" + "".join(f"{i},2026-01-01T00:00:00Z,x{i}\n" for i in range(1, 5001)) + "x,bad,row\n"
    )
    bad.write_text("id,ts,v\nx,bad,row,1\n2,3\n")
    for path in (good, bad):
        done = _atlas(env, "ingest", "events_t", str(path), "--contract", str(contract))
        assert done.returncode == 0, done.stderr
    assert _ledger(env) == [("good.csv", 5001, 5000, 1), ("bad.csv", 2, 0, 2)]
    with psycopg.connect(env["ATLAS_POSTGRES_URL"]) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM atlas_bronze.events_t), (SELECT count(*) FROM "
            "atlas_silver.events_t), (SELECT count(*) FROM atlas_quarantine.events_t)"
        ).fetchone()
    assert counts == (5003, 5000, 3)


def test_dagster_materialization_reports_standardized_and_repaired_cells(
    atlas_env: dict[str, str], tmp_path: Path
) -> None:
    from atlas_cli.runs import execute
    from atlas_cli.runtime import boot

    contracts = tmp_path / "contracts"
    contracts.mkdir()
    data = tmp_path / "beers.csv"
    # an undeclared PII column (e-mail addresses, found by the PII classification), repaired like the state
    emails = [
        "sales@tenbarrel.example.com",
        "sales@tenbarrel.example.com",
        "orders@wrongbrewery.example.org",
        "hello@eighteenth.example.com",
        "hello@eighteenth.example.com",
    ]
    lines = CATALOG_CSV.splitlines()
    data.write_text(
        "\n".join(
            [lines[0] + ",contact"]
            + [f"{line},{email}" for line, email in zip(lines[1:5], emails, strict=False)]
            + [lines[5]]
        )
        + "\n"
    )
    spec = json.loads(json.dumps(CATALOG))
    spec["columns"].append({"name": "contact"})
    spec["rules"]["functional_dependencies"][0]["dependent"] = ["state", "contact"]
    (contracts / "beers_t.yml").write_text(
        yaml.safe_dump(
            {**spec, "source": {"kind": "file", "path": str(data)}, "quality": {"blocking": False}}
        )
    )
    (tmp_path / "models" / "gold").mkdir(parents=True)
    atlas_env.update({"ATLAS_CONTRACTS_DIR": str(contracts), "ATLAS_MODELS_DIR": str(tmp_path / "models")})
    atlas = boot()
    keys = [dg.AssetKey(["bronze", "beers_t"]), dg.AssetKey(["silver", "beers_t"])]
    outcome = execute(atlas.instance, atlas.definitions, keys, show_progress=False)
    assert outcome.success, outcome.failures
    event = atlas.instance.get_latest_materialization_event(dg.AssetKey(["silver", "beers_t"]))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["standardized_cells"].value == {"abv": {"strip_units": 1}, "ounces": {"strip_units": 3}}
    assert metadata["repaired_cells"].value == {"fd.brewery_state": 2}
    assert metadata["dagster/row_count"].value == 3
    assert "contact" in metadata["pii/columns"].value
    with psycopg.connect(atlas_env["ATLAS_POSTGRES_URL"]) as conn:
        repairs = conn.execute(
            "SELECT row_key, column_name, old_value, new_value, run_id FROM atlas_meta.repairs "
            "WHERE dataset = 'beers_t' AND column_name = 'state'"
        ).fetchall()
        contact = conn.execute(
            "SELECT old_value, new_value, values_hashed FROM atlas_meta.repairs "
            "WHERE dataset = 'beers_t' AND column_name = 'contact'"
        ).fetchall()
        steps = conn.execute(
            "SELECT column_name, step, changed_cells FROM atlas_meta.standardizations WHERE "
            "run_id = %s ORDER BY 1",
            (outcome.run_id,),
        ).fetchall()
    assert repairs == [({"id": "2"}, "state", "", "OR", outcome.run_id)]
    assert steps == [("abv", "strip_units", 1), ("ounces", "strip_units", 3)]
    assert len(contact) == 1 and contact[0][2] is True
    assert not {"orders@wrongbrewery.example.org", "sales@tenbarrel.example.com"} & {
        contact[0][0],
        contact[0][1],
    }
    assert len(contact[0][0]) == 64  # HMAC-SHA256 hex under the PII key
