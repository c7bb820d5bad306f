"""Standardizers, majority repair and exact row accounting, through bronze -> silver on a real PostgreSQL.

Small fixtures written here (never the public benchmark data): a catalog with units, percents and null
tokens; multi-source records whose dependent values disagree; files with ragged rows.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from atlas_core.pii.keys import build_keyring
from atlas_engine.bronze import ingest_file
from atlas_engine.ingestions import list_ingestions
from atlas_engine.silver import build_silver
from atlas_resources.lake import LocalLake
from atlas_resources.warehouse import Warehouse
from tests.integration import quality_support as qs

CATALOG_COLUMNS = [
    {"name": "id", "type": "integer"},
    {"name": "name", "standardize": ["trim", "collapse_spaces"]},
    {"name": "ounces", "type": "float", "standardize": [{"strip_units": ["oz", "oz.", "ounce"]}]},
    {"name": "abv", "type": "float", "standardize": [{"strip_units": ["%"]}], "min": 0, "max": 1},
    {"name": "ibu", "type": "integer"},
    {
        "name": "price",
        "type": "float",
        "standardize": ["currency", {"number": {"decimal": ",", "thousands": "."}}],
    },
    {
        "name": "gender",
        "standardize": [{"map": {"M": "male", "Male": "male", "F": "female"}}],
        "allowed_values": ["male", "female"],
    },
    {"name": "opens", "type": "time"},
    {"name": "since", "type": "date", "formats": ["%Y-%m-%d", "%m/%d/%Y"]},
]


def test_standardizers_turn_noisy_values_into_typed_ones(wh: Warehouse, tmp_path: Path) -> None:
    name = qs.unique_name("catalog")
    path = qs.write_csv(
        tmp_path / "catalog.csv",
        [c["name"] for c in CATALOG_COLUMNS],
        [
            [1, "  Pub   Beer ", "12.0 oz", "0.05", "N/A", "€ 1.234,50", "M", "7:10 a.m.", "2011-12-01"],
            [2, "Devil's Cup", "12.0 OZ.", "0.066%", "60", "$3,5", "Male", "19:10", "12/1/2011"],
            [3, "Rise", "16 ounce", "0.071 %", "", "2", "f", "12:15 p.m.", "2/30/2011"],  # no Feb 30th
            [4, "Bad", "a pint", "0.05", "12", "1", "x", "25:00", "2011-01-01"],
        ],
    )
    contract = qs.contract_for(name, path, CATALOG_COLUMNS, primary_key=["id"], null_values=["", "N/A"])
    loaded = qs.load(wh, tmp_path, contract)

    rows = qs.silver_rows(wh, name, "id, name, ounces, abv, ibu, price, gender, opens")
    assert rows == [
        (1, "Pub Beer", 12.0, 0.05, None, 1234.5, "male", time(7, 10)),
        (2, "Devil's Cup", 12.0, 0.066, 60, 3.5, "male", time(19, 10)),
    ]
    assert qs.quarantined(wh, name) == {
        3: ["since.type"],
        4: ["ounces.type", "gender.allowed_values", "opens.type"],
    }
    assert loaded.silver.standardized["ounces"] == {"strip_units": 3}
    assert loaded.silver.standardized["name"] == {"trim": 1, "collapse_spaces": 1}
    assert loaded.silver.standardized["price"] == {"currency": 2, "number": 2}
    assert loaded.silver.rows_in == loaded.silver.rows_silver + loaded.silver.rows_quarantined
    recorded = dict(
        ((c, s), n)
        for c, s, n in wh.fetch_all(
            "SELECT column_name, step, changed_cells FROM atlas_meta.standardizations WHERE dataset = %s",
            (name,),
        )
    )
    assert recorded[("abv", "strip_units")] == 2 and recorded[("gender", "map")] == 3
    # bronze keeps the raw text
    raw = wh.fetch_all(f'SELECT ounces FROM atlas_bronze."{name}" ORDER BY _atlas_row_number')  # noqa: S608
    assert [r[0] for r in raw] == ["12.0 oz", "12.0 OZ.", "16 ounce", "a pint"]


def test_an_untypable_value_is_invalid_not_missing(wh: Warehouse, tmp_path: Path) -> None:
    name = qs.unique_name("amounts")
    path = qs.write_csv(tmp_path / "a.csv", ["id", "amount"], [[1, "12 oz"], [2, "3"], [3, ""], [4, "x"]])
    contract = qs.contract_for(
        name, path, [{"name": "id", "type": "integer"}, {"name": "amount", "type": "float", "required": True}]
    )
    loaded = qs.load(wh, tmp_path, contract)
    assert loaded.rule_failures() == {"amount.type": 2, "amount.required": 1}
    assert loaded.score("completeness") == pytest.approx(0.75)
    assert loaded.score("validity") == pytest.approx(0.5)


FLIGHT_COLUMNS = [
    {"name": "tuple_id", "type": "integer"},
    {"name": "src"},
    {"name": "flight"},
    {"name": "dep", "type": "time", "standardize": [{"extract": r"(\d{1,2}:\d{2}\s*[ap]\.?m\.?)"}]},
    {"name": "gate", "pattern": "^[A-Z][0-9]+$"},
    {"name": "pilot", "pii": {"entity": "PERSON", "strategy": "hash"}},
]


def _flights(tmp_path: Path) -> Path:
    return qs.write_csv(
        tmp_path / "flights.csv",
        [c["name"] for c in FLIGHT_COLUMNS],
        [
            [1, "aa", "AA-1", "7:10 a.m.", "A1", "Ann"],
            [2, "ua", "AA-1", "12/01/2011 7:10 a.m.", "A1", "Ann"],
            [3, "orb", "AA-1", "7:15 a.m.", "a1", "Bob"],  # wrong time, invalid gate: both repaired
            [4, "gt", "AA-1", "", "", "Ann"],  # missing values: repaired
            [5, "aa", "UA-2", "9:00 a.m.", "B2", "Cy"],  # tie on dep (9:00 vs 9:30): no repair, and the
            [6, "ua", "UA-2", "9:30 a.m.", "B2", "Cy"],  # rule keeps the first occurrence, as without repair
            [7, "aa", "DL-3", "bad", "zz", "Di"],  # no valid value: nothing to vote for
            [8, "ua", "DL-3", "", "", "Di"],
        ],
    )


def test_majority_repair_replaces_minority_and_missing_values(wh: Warehouse, tmp_path: Path) -> None:
    name = qs.unique_name("flights")
    contract = qs.contract_for(
        name,
        _flights(tmp_path),
        FLIGHT_COLUMNS,
        primary_key=["tuple_id"],
        rules={
            "functional_dependencies": [
                {
                    "name": "flight_facts",
                    "determinant": ["flight"],
                    "dependent": ["dep", "gate", "pilot"],
                    "on_fail": "repair",
                },
            ],
        },
    )
    loaded = qs.load(wh, tmp_path, contract, run_id="repair-run")
    assert qs.silver_rows(wh, name, "tuple_id, dep, gate") == [
        (1, time(7, 10), "A1"),
        (2, time(7, 10), "A1"),
        (3, time(7, 10), "A1"),
        (4, time(7, 10), "A1"),
        (5, time(9, 0), "B2"),
    ]
    assert qs.quarantined(wh, name) == {
        6: ["fd.flight_facts"],
        7: ["dep.type", "gate.pattern"],
        8: ["fd.flight_facts"],
    }
    assert loaded.silver.repaired_cells == {"fd.flight_facts": 5}  # 3: dep, gate, pilot; 4: dep, gate
    assert loaded.report is not None and loaded.report.repaired_cells == {"fd.flight_facts": 5}
    # repaired rows still count as inconsistent input
    assert loaded.rule_failures()["fd.flight_facts.repaired"] == 2
    assert loaded.score("consistency") == pytest.approx(1 - 4 / 8)  # rows 3, 4 (repaired), 6, 8
    repairs = wh.fetch_all(
        "SELECT row_key->>'tuple_id', column_name, old_value, "
        "new_value, values_hashed, rule_id, run_id, ingestion_id "
        "FROM atlas_meta.repairs WHERE dataset = %s ORDER BY 1, 2",
        (name,),
    )
    assert [(r[0], r[1], r[2], r[3]) for r in repairs if r[1] != "pilot"] == [
        ("3", "dep", "07:15:00", "07:10:00"),
        ("3", "gate", "a1", "A1"),
        ("4", "dep", "", "07:10:00"),
        ("4", "gate", "", "A1"),  # the raw text of a missing value
    ]
    assert all(r[5] == "fd.flight_facts" and r[6] == "repair-run" and r[7] is not None for r in repairs)
    pilot = [r for r in repairs if r[1] == "pilot"]
    assert (
        len(pilot) == 1 and pilot[0][4] is True and pilot[0][2] is None and pilot[0][3] is None
    )  # withheld, no key


def test_repair_votes_include_silver_rows_the_load_keeps_and_hashes_pii(
    wh: Warehouse, tmp_path: Path
) -> None:
    name = qs.unique_name("daily")
    columns = [
        {"name": "id", "type": "integer"},
        {"name": "ts", "type": "timestamp"},
        {"name": "sku"},
        {"name": "owner", "pii": {"entity": "PERSON", "strategy": "hash"}},
    ]
    rules = {
        "functional_dependencies": [{"determinant": ["sku"], "dependent": ["owner"], "on_fail": "repair"}]
    }
    day1 = qs.write_csv(
        tmp_path / "d1.csv",
        ["id", "ts", "sku", "owner"],
        [
            [1, "2026-01-01T01:00:00Z", "s1", "Ann"],
            [2, "2026-01-01T02:00:00Z", "s1", "Ann"],
        ],
    )
    day2 = qs.write_csv(
        tmp_path / "d2.csv",
        ["id", "ts", "sku", "owner"],
        [
            [3, "2026-01-02T01:00:00Z", "s1", "Bob"],  # alone, but the kept day-1 rows outvote it
        ],
    )
    extra = {"partitioning": {"column": "ts", "start": "2026-01-01"}, "rules": rules, "primary_key": ["id"]}
    c1 = qs.contract_for(name, day1, columns, **extra)
    lake = LocalLake(tmp_path / "lake")
    ingest_file(wh, lake, c1, day1)
    build_silver(wh, None, c1, ["2026-01-01"], run_id="r1")
    ingest_file(wh, lake, c1, day2)
    keyring = build_keyring(None, "k1", None, environment="development")
    result = build_silver(wh, None, c1, ["2026-01-02"], run_id="r2", digest=keyring.hmac_hex)
    assert result.repaired_cells == {"fd.sku->owner": 1}
    assert sorted(qs.silver_rows(wh, name, "id, owner")) == [(1, "Ann"), (2, "Ann"), (3, "Ann")]
    old, new, hashed = wh.fetch_all(
        "SELECT old_value, new_value, values_hashed FROM atlas_meta.repairs WHERE dataset = %s", (name,)
    )[0]
    assert hashed and old == keyring.hmac_hex("Bob") and new == keyring.hmac_hex("Ann")


def _ledger(wh: Warehouse, dataset: str) -> list[tuple[int, int | None, int | None]]:
    return [
        (r["rows_bronze"], r["rows_silver"], r["rows_quarantined"])  # type: ignore[misc]
        for r in list_ingestions(wh, dataset)
    ]


@pytest.mark.parametrize("partitioned", [False, True])
def test_ragged_rows_are_counted_in_quarantine(wh: Warehouse, tmp_path: Path, partitioned: bool) -> None:
    name = qs.unique_name("ragged")
    columns = [{"name": "id", "type": "integer"}, {"name": "ts", "type": "timestamp"}, {"name": "v"}]
    good = tmp_path / "good.csv"
    good.write_text(
        "id,ts,v\n"
        + "".join(f"{i},2026-01-01T00:00:00Z,x{i}\n" for i in range(1, 6))
        + "x,bad,row,extra\n9\n"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("id,ts,v\nx,bad,row,more\n1,2\n")
    extra = {"partitioning": {"column": "ts", "start": "2026-01-01"}} if partitioned else {}
    contract = qs.contract_for(name, good, columns, **extra)
    lake = LocalLake(tmp_path / "lake")
    keys = ["2026-01-01"] if partitioned else None
    ingest_file(wh, lake, contract, good)
    build_silver(wh, None, contract, keys, run_id="r1")
    ingest_file(wh, lake, contract, bad)
    build_silver(wh, None, contract, keys, run_id="r2")
    assert _ledger(wh, name) == [(7, 5, 2), (2, 0, 2)]
    counts = wh.fetch_all(
        f'SELECT (SELECT count(*) FROM atlas_bronze."{name}"), (SELECT count(*) FROM atlas_silver."{name}"), '  # noqa: S608
        f'(SELECT count(*) FROM atlas_quarantine."{name}")'
    )[0]
    assert counts == (9, 5, 4)
    reasons = wh.fetch_all(f'SELECT DISTINCT _atlas_rule_ids FROM atlas_quarantine."{name}"')  # noqa: S608
    assert reasons == [(["row.malformed"],)]
