"""Model files beyond parsing: tests become named checks, rules (header + sidecar) drive the code
version, dependency order and cycles between models."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_core.errors import ContractError
from atlas_core.model_checks import check_query
from atlas_core.model_rules import model_select
from atlas_core.sql_models import lineage_code_versions, load_model, load_models, topological_order

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def write(directory: Path, name: str, body: str, header: str = "") -> Path:
    gold = directory / "gold"
    gold.mkdir(parents=True, exist_ok=True)
    path = gold / f"{name}.sql"
    path.write_text(f"/* ---\ndescription: {name}\n{header}--- */\n{body}\n")
    return path


RULES = """rules:
  - name: big
    kind: flag
    expression: total >= 100
    description: Big orders
    owner: risk
  - name: tier
    expression: CASE WHEN big THEN 'a' ELSE 'b' END
    description: Tier from the flag above
    owner: sales
"""


def test_tests_expand_to_named_checks_with_severities(tmp_path: Path) -> None:
    header = """primary_key: [order_id]
tests:
  - unique: [order_id]
  - not_null: [order_id, total]
  - accepted_values: {status: [open, closed, true]}
    severity: warn
  - relationships: {customer_id: silver.customers.customer_id}
  - row_count: {min: 1, max: 10}
"""
    model = load_model(write(tmp_path, "orders_x", "SELECT * FROM atlas_silver.orders", header))
    checks = {c.name: c for c in model.checks()}
    assert list(checks) == [
        "unique_order_id",
        "not_null_order_id",
        "not_null_total",
        "accepted_values_status",
        "relationships_customer_id",
        "row_count",
    ]
    assert checks["accepted_values_status"].values == ("open", "closed", "true")
    assert not checks["accepted_values_status"].blocking and checks["unique_order_id"].blocking
    assert checks["relationships_customer_id"].parent == ("silver", "customers", "customer_id")
    assert model.test_refs == [("silver", "customers")]
    assert ("silver", "customers") in model.all_refs
    query = check_query(checks["row_count"], ("atlas_gold", "orders_x"), model_name="orders_x").as_string(
        None
    )
    assert '"atlas_gold"."orders_x"' in query and "n < 1" in query and "n > 10" in query


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("tests:\n  - {unique: [a], not_null: [a]}\n", "exactly one of unique"),
        ("tests:\n  - relationships: {a: customers.id}\n", "must be silver|gold.<table>.<column>"),
        ("tests:\n  - not_null: [a]\n  - not_null: [a]\n", "check 'not_null_a' is declared twice"),
        ("tests:\n  - severity: fatal\n    unique: [a]\n", "tests.0.severity"),
        ("rules:\n  - {name: Bad-Name, expression: '1', description: d, owner: o}\n", "invalid rule name"),
        (
            "rules:\n  - {name: r, expression: '1; DROP TABLE x', description: d, owner: o}\n",
            "one SQL expression",
        ),
        ("rules:\n  - {name: r, expression: '1'}\n", "rules.0.description: Field required"),
        (
            "rules:\n  - {name: r, expression: '1', description: d, owner: o}\n"
            "  - {name: r, expression: '2', description: d, owner: o}\n",
            "rule 'r' is defined twice",
        ),
    ],
)
def test_bad_tests_and_rules_are_one_line_errors(tmp_path: Path, header: str, expected: str) -> None:
    path = write(tmp_path, "m", "SELECT 1 AS a FROM atlas_silver.orders", header)
    with pytest.raises(ContractError) as excinfo:
        load_model(path)
    assert expected in str(excinfo.value) and "\n" not in str(excinfo.value)
    assert str(excinfo.value).startswith(str(path))


def test_rules_nest_so_later_rules_use_earlier_ones(tmp_path: Path) -> None:
    model = load_model(write(tmp_path, "orders_r", "SELECT * FROM atlas_silver.orders", RULES))
    text = model_select(model).as_string(None)
    # The outer layer computes `tier` FROM the layer that computed `big`.
    assert text.startswith('SELECT "_rule1".*, (CASE WHEN big')
    inner = text[text.index(" FROM (") :]
    assert '(coalesce((total >= 100), FALSE)::boolean) AS "big"' in inner
    assert "(SELECT * FROM atlas_silver.orders)" in inner


def test_sidecar_rules_merge_and_change_the_code_version(tmp_path: Path) -> None:
    path = write(tmp_path, "clv", "SELECT * FROM atlas_silver.orders", RULES)
    before = load_model(path).code_version
    sidecar = path.with_name("clv.rules.yml")
    sidecar.write_text(
        "rules:\n  - {name: discount, expression: \"CASE tier WHEN 'a' THEN 10 ELSE 0 END\", "
        "description: Discount policy, owner: pricing}\n"
    )
    with_sidecar = load_model(path)
    assert [r.name for r in with_sidecar.rules] == ["big", "tier", "discount"]
    assert with_sidecar.code_version != before
    sidecar.write_text(sidecar.read_text().replace("THEN 10", "THEN 15"))
    changed = load_model(path).code_version
    assert changed not in (before, with_sidecar.code_version)
    sidecar.write_text(sidecar.read_text().replace("THEN 15", "THEN 10"))
    assert load_model(path).code_version == with_sidecar.code_version  # content-derived, nothing else
    sidecar.write_text("rules: {name: x}\n")
    with pytest.raises(ContractError, match="clv.rules.yml: a rules file holds one key"):
        load_model(path)


def test_orphan_sidecar_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a", "SELECT 1 AS x FROM atlas_silver.orders")
    (tmp_path / "gold" / "b.rules.yml").write_text("rules: []\n")
    with pytest.raises(ContractError, match="no model b.sql for these rules"):
        load_models(tmp_path)


def test_dependency_order_and_cycles(tmp_path: Path) -> None:
    write(tmp_path, "c_top", "SELECT * FROM atlas_gold.b_mid JOIN atlas_gold.a_base USING (x)")
    write(tmp_path, "b_mid", "SELECT * FROM atlas_gold.a_base")
    write(tmp_path, "a_base", "SELECT 1 AS x FROM atlas_silver.orders")
    assert [m.name for m in load_models(tmp_path)] == ["a_base", "b_mid", "c_top"]
    # A relationship test is an edge too: a_base testing against c_top closes a cycle.
    write(
        tmp_path,
        "a_base",
        "SELECT 1 AS x FROM atlas_silver.orders",
        "tests:\n  - relationships: {x: gold.c_top.x}\n",
    )
    with pytest.raises(ContractError) as excinfo:
        load_models(tmp_path)
    message = str(excinfo.value)
    assert "dependency cycle a_base -> c_top -> " in message and message.endswith("-> a_base")
    assert "\n" not in message


def test_two_model_cycle_names_both(tmp_path: Path) -> None:
    write(tmp_path, "x1", "SELECT * FROM atlas_gold.x2")
    write(tmp_path, "x2", "SELECT * FROM atlas_gold.x1")
    with pytest.raises(ContractError, match=r"dependency cycle x1 -> x2 -> x1"):
        topological_order(
            [load_model(tmp_path / "gold" / "x1.sql"), load_model(tmp_path / "gold" / "x2.sql")]
        )


def test_table_models_refuse_partition_placeholders(tmp_path: Path) -> None:
    path = write(tmp_path, "t", "SELECT * FROM atlas_silver.orders WHERE order_ts >= :partition_start")
    with pytest.raises(ContractError, match="for incremental models only"):
        load_model(path)


def test_shipped_models_have_rules_and_tests() -> None:
    models = {m.name: m for m in load_models(MODELS_DIR)}
    clv = models["customer_lifetime_value"]
    assert {r.name for r in clv.rules} == {"segment", "at_risk", "discount_pct"}  # discount_pct: sidecar
    assert all(r.owner and r.description for r in clv.rules)
    assert [r.name for r in models["fact_orders"].rules] == ["needs_review"]
    assert ("gold", "fact_orders") in clv.refs and ("gold", "dim_customer") in clv.refs
    assert all(m.checks() for m in models.values())


def test_lineage_code_versions_follow_data_changes_only(tmp_path: Path) -> None:
    write(tmp_path, "a_base", "SELECT total FROM atlas_silver.orders", RULES)
    write(tmp_path, "b_child", "SELECT count(*) FILTER (WHERE big) AS n FROM atlas_gold.a_base")
    write(tmp_path, "c_other", "SELECT 1 AS one FROM atlas_silver.customers")
    before = lineage_code_versions(load_models(tmp_path))
    # Documentation and tests do not change rows: no version changes.
    write(
        tmp_path,
        "a_base",
        "SELECT total FROM atlas_silver.orders",
        RULES.replace("Big orders", "Orders to review") + "owners: [risk]\ntests:\n  - not_null: [total]\n",
    )
    assert lineage_code_versions(load_models(tmp_path)) == before
    # A rule's expression does: the model and everything downstream get new versions, the rest not.
    write(tmp_path, "a_base", "SELECT total FROM atlas_silver.orders", RULES.replace(">= 100", ">= 90"))
    after = lineage_code_versions(load_models(tmp_path))
    assert after["a_base"] != before["a_base"] and after["b_child"] != before["b_child"]
    assert after["c_other"] == before["c_other"]
