"""Pure quality logic: the expression guard, contract errors, rule compilation and the Soda contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from atlas_core.contracts import load_contract, load_contracts
from atlas_core.contracts.expressions import ExpressionError, check_expression, expression_columns
from atlas_core.contracts.fields import Dimension
from atlas_core.contracts.loader import parse_contract
from atlas_core.errors import ContractError
from atlas_core.quality.relations import ReferenceTarget
from atlas_core.quality.rules import compile_rules
from atlas_core.quality.soda_contract import soda_contract

PROJECT = Path(__file__).resolve().parents[2]
COLUMNS = {"total", "quantity", "unit_price", "status", "order_ts", "channel", "email"}


@pytest.mark.parametrize(
    "text",
    [
        "total = quantity * unit_price",
        "abs(total - quantity * unit_price) < 0.01",
        "status IN ('placed', 'shipped')",
        "coalesce(channel, 'web') <> 'fax'",
        "order_ts::date >= '2026-10-01'",
        "extract(year FROM order_ts) > 2000",
        "channel IS DISTINCT FROM status",
        "CASE WHEN quantity > 0 THEN total >= 0 ELSE true END",
        "lower(email) LIKE '%@%' AND email NOT LIKE '% %'",
        "order_ts < now() + interval '1 day'",
        "CAST(total AS double precision) >= 0",
    ],
)
def test_allowed_expressions(text: str) -> None:
    check_expression(text, COLUMNS)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("total > 0; DROP TABLE atlas_silver.orders", "semicolons"),
        ("total > (SELECT max(total) FROM orders)", "'SELECT' is not allowed"),
        ("total > (select max(total) from atlas_silver.orders)", "character '.'"),
        ("email = 'a;b'", "semicolons"),
        ("pg_sleep(10) IS NULL", "function 'pg_sleep'"),
        ("current_setting('is_superuser') = 'on'", "function 'current_setting'"),
        ("total > 0 -- trailing comment", "comments"),
        ("total > 0 /* hidden */", "comments"),
        ("$$x$$ = 'x'", "dollar quoting"),
        ("secret_column > 1", "unknown column"),
        ("total @> quantity", "'@'"),
        ("(total > 0", "unbalanced"),
        ("total > 0 UNION select 1", "'UNION' is not allowed"),
        ("", "empty"),
    ],
)
def test_rejected_expressions(text: str, why: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(text, COLUMNS)
    assert why.lower() in str(info.value).lower()


def test_expression_columns_in_order_of_use() -> None:
    assert expression_columns("abs(total - quantity * unit_price) < 0.01", COLUMNS) == [
        "total",
        "quantity",
        "unit_price",
    ]


def _contract(**extra: object) -> dict:
    base: dict = {
        "dataset": "items",
        "source": {"kind": "file", "path": "items.csv"},
        "primary_key": ["id"],
        "columns": [
            {"name": "id", "type": "integer"},
            {"name": "price", "type": "float"},
            {"name": "qty", "type": "integer"},
            {"name": "total", "type": "float"},
        ],
    }
    base.update(extra)
    return base


def test_bad_expression_is_a_one_line_contract_error_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "items.yml"
    path.write_text(
        yaml.safe_dump(
            _contract(
                rules={
                    "expressions": [
                        {"name": "total_ok", "sql": "total = qty * price; DELETE FROM atlas_silver.items"}
                    ]
                }
            )
        )
    )
    with pytest.raises(ContractError) as info:
        load_contract(path)
    message = str(info.value)
    assert "\n" not in message
    assert "rules.expressions.0.sql" in message and "'total_ok'" in message and "semicolons" in message

    path.write_text(
        yaml.safe_dump(_contract(rules={"expressions": [{"name": "total_ok", "sql": "totl = qty * price"}]}))
    )
    with pytest.raises(
        ContractError, match=r"rules\.expressions\.0 \(total_ok\): unknown column or keyword 'totl'"
    ):
        load_contract(path)


def test_passthrough_soda_checks_are_validated() -> None:
    with pytest.raises(ContractError, match=r"quality\.soda\.0: unknown Soda dataset check 'drop_table'"):
        parse_contract(_contract(quality={"soda": [{"drop_table": {}}]}), "items.yml")
    with pytest.raises(ContractError, match=r"attributes\.dimension: 'speed' is not a quality dimension"):
        parse_contract(
            _contract(quality={"soda": [{"row_count": {"attributes": {"dimension": "speed"}}}]}), "items.yml"
        )


def test_compile_rules_covers_every_kind_and_skips_unresolvable_references() -> None:
    contract = parse_contract(
        _contract(
            columns=[
                {"name": "id", "type": "integer", "required": True},
                {"name": "zip"},
                {"name": "city"},
                {"name": "parent_id", "type": "integer"},
                {"name": "updated_at", "type": "timestamp", "freshness": "2h"},
                {"name": "total", "type": "float"},
            ],
            rules={
                "functional_dependencies": [{"determinant": ["zip"], "dependent": ["city"]}],
                "references": [{"columns": ["parent_id"], "dataset": "parents", "ref_columns": ["id"]}],
                "expressions": [
                    {"name": "positive", "sql": "total > 0", "dimension": "accuracy", "on_fail": "warn"}
                ],
            },
        ),
        "items.yml",
    )
    plan = compile_rules(contract)
    kinds = {r.id: (r.kind, r.dimension, r.on_fail) for r in plan.rules}
    assert kinds["fd.zip->city"] == ("functional_dependency", Dimension.CONSISTENCY, "quarantine")
    assert kinds["ref.parent_id->parents"] == ("reference", Dimension.CONSISTENCY, "quarantine")
    assert kinds["expr.positive"] == ("expression", Dimension.ACCURACY, "warn")
    assert kinds["updated_at.freshness"] == ("freshness", Dimension.TIMELINESS, "warn")
    assert kinds["primary_key.unique"][1] == Dimension.UNIQUENESS
    assert plan.key_columns == ["id"]

    skipped = compile_rules(
        contract, resolve_reference=lambda ref: ReferenceTarget(None, skip_reason="no table")
    )
    assert "ref.parent_id->parents" not in skipped.by_id()
    assert [(s.id, s.reason) for s in skipped.skipped] == [("ref.parent_id->parents", "no table")]


def test_pii_primary_keys_are_not_used_as_sample_keys() -> None:
    contract = parse_contract(
        _contract(
            primary_key=["email"],
            columns=[{"name": "email", "pii": {"entity": "EMAIL_ADDRESS", "strategy": "hash"}}],
        ),
        "items.yml",
    )
    assert compile_rules(contract).key_columns == []


def test_generated_soda_contract_tags_every_check_with_a_dimension() -> None:
    dimensions = {d.value for d in Dimension}
    for contract in load_contracts(PROJECT / "contracts"):
        document = soda_contract(contract, f"atlas/db/atlas_staging/{contract.dataset}")
        json.dumps(document)  # plain data; Soda itself validates it in the integration tests
        checks = [c for c in document["checks"]] + [
            c for col in document["columns"] for c in col.get("checks", [])
        ]
        assert checks
        for check in checks:
            (body,) = check.values()
            assert body["attributes"]["dimension"] in dimensions
            assert body["attributes"]["atlas_check"]
    orders = next(c for c in load_contracts(PROJECT / "contracts") if c.dataset == "orders")
    document = soda_contract(orders, "atlas/db/s/t")
    types = [next(iter(c)) for c in document["checks"]]
    assert {"row_count", "schema", "freshness", "failed_rows"} <= set(types)
    freshness = next(c["freshness"] for c in document["checks"] if "freshness" in c)
    assert freshness["now_variable"] == "ATLAS_WINDOW_END" and document["variables"] == {
        "ATLAS_WINDOW_END": None
    }
    accuracy = next(
        c["failed_rows"]
        for c in document["checks"]
        if c.get("failed_rows", {}).get("name") == "total_matches"
    )
    assert accuracy["attributes"]["dimension"] == "accuracy"
    assert accuracy["expression"] == "NOT (abs(total - quantity * unit_price) < 0.01)"
    passthrough = [
        c["row_count"] for c in document["checks"] if "row_count" in c and c["row_count"].get("qualifier")
    ]
    assert passthrough and passthrough[0]["attributes"]["dimension"] == "completeness"
