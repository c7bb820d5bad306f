"""Gold SQL model files: header parsing, dependency references and partition placeholders."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from atlas_core.errors import ContractError
from atlas_core.sql_models import has_placeholders, load_model, load_models, parse_refs, render

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
HEADER = "/* ---\ndescription: test model\n{extra}--- */\n"


def write(directory: Path, name: str, body: str, extra: str = "") -> Path:
    gold = directory / "gold"
    gold.mkdir(parents=True, exist_ok=True)
    path = gold / f"{name}.sql"
    path.write_text(HEADER.format(extra=extra) + body)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ContractError) as excinfo:
        load_model(path)
    message = str(excinfo.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_shipped_models_load_with_their_dependencies() -> None:
    models = {m.name: m for m in load_models(MODELS_DIR)}
    assert {"dim_customer", "dim_product", "fact_orders", "daily_revenue"} <= set(models)
    assert ("silver", "customers") in models["dim_customer"].refs
    assert ("gold", "fact_orders") in models["daily_revenue"].refs
    assert (
        models["daily_revenue"].incremental
        and models["daily_revenue"].header.partition_column == "order_date"
    )
    assert not models["dim_product"].incremental
    assert all(len(m.code_version) == 16 for m in models.values())


def test_valid_model(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "revenue",
        "SELECT 1 AS one FROM atlas_silver.orders;\n",
        "primary_key: [one]\nowners: [finance]\ntests:\n  - unique: [one]\n",
    )
    model = load_model(path)
    assert model.name == "revenue"
    assert model.sql == "SELECT 1 AS one FROM atlas_silver.orders"
    assert model.header.primary_key == ["one"]
    assert model.header.tests[0].unique == ["one"]
    assert model.refs == [("silver", "orders")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT 1", "a model starts with a /* --- YAML header --- */ block"),
        ("-- comment\n/* ---\ndescription: x\n--- */\nSELECT 1", "YAML header"),
        ("/* ---\nowners: [a]\n--- */\nSELECT 1", "description: Field required"),
        ("/* ---\ndescription: x\ncolour: blue\n--- */\nSELECT 1", "colour: Extra inputs are not permitted"),
        (
            "/* ---\ndescription: x\nmaterialization: view\n--- */\nSELECT 1",
            "materialization: Input should be",
        ),
        ("/* ---\ndescription: [unclosed\n--- */\nSELECT 1", "while parsing a flow sequence"),
        (
            "/* ---\ndescription: x\nmaterialization: incremental\n--- */\nSELECT 1",
            "partition_column: required for incremental models",
        ),
        ("/* ---\ndescription: x\n--- */\nDELETE FROM atlas_silver.orders", "must be a single SELECT"),
        ("/* ---\ndescription: x\ntests:\n  - unique: id\n--- */\nSELECT 1", "tests.0.unique"),
    ],
)
def test_header_errors_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "model_x.sql"
    path.write_text(text)
    assert expected in error_of(path)


def test_bad_model_name(tmp_path: Path) -> None:
    path = write(tmp_path, "Revenue-2026", "SELECT 1")
    with pytest.raises(Exception, match="invalid model name 'Revenue-2026'"):
        load_model(path)


def test_refs_parsing() -> None:
    sql = """
        WITH x AS (SELECT * FROM atlas_silver.orders o JOIN ATLAS_SILVER.Customers c USING (customer_id))
        SELECT * FROM x
        JOIN atlas_gold . "dim_product" p ON true
        LEFT JOIN atlas_gold.dim_customer d ON true
        -- atlas_silver.commented_out
        /* atlas_gold.also_commented */
        WHERE 'atlas_bronze.orders' IS NOT NULL
    """
    assert parse_refs(sql) == [
        ("gold", "dim_customer"),
        ("gold", "dim_product"),
        ("silver", "customers"),
        ("silver", "orders"),
    ]


def test_models_reading_models(tmp_path: Path) -> None:
    write(tmp_path, "base", "SELECT customer_id FROM atlas_silver.customers")
    write(tmp_path, "derived", "SELECT * FROM atlas_gold.base")
    models = {m.name: m for m in load_models(tmp_path)}
    assert models["derived"].refs == [("gold", "base")]
    write(tmp_path, "orphan", "SELECT * FROM atlas_gold.missing_model")
    with pytest.raises(ContractError, match="reads atlas_gold.missing_model, which no model defines"):
        load_models(tmp_path)


def test_a_model_cannot_read_itself(tmp_path: Path) -> None:
    path = write(tmp_path, "loop", "SELECT * FROM atlas_gold.loop")
    assert "a model cannot read itself" in error_of(path)


def test_no_gold_directory_means_no_models(tmp_path: Path) -> None:
    assert load_models(tmp_path) == []


def test_placeholders_become_date_literals(tmp_path: Path) -> None:
    body = (
        "SELECT order_ts::date AS d, '50%' AS pct FROM atlas_silver.orders\n"
        "WHERE order_ts >= :partition_start AND order_ts < :partition_end AND x::text <> ':partition_startx'"
    )
    model = load_model(write(tmp_path, "daily", body, "materialization: incremental\npartition_column: d\n"))
    assert has_placeholders(model.sql)
    rendered = render(model.sql, (date(2026, 10, 1), date(2026, 10, 8))).as_string(None)
    assert "order_ts >= '2026-10-01'::date AND order_ts < '2026-10-08'::date" in rendered
    assert "order_ts::date AS d" in rendered and "x::text" in rendered
    assert "'50%' AS pct" in rendered
    assert "':partition_startx'" in rendered
    with pytest.raises(ContractError, match=":partition_start used outside an incremental model run"):
        render(model.sql)


def test_placeholders_in_comments_do_not_count() -> None:
    assert not has_placeholders("SELECT 1 -- WHERE d >= :partition_start")
    assert has_placeholders("SELECT 1 WHERE d < :partition_end")
