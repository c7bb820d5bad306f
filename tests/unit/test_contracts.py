"""Contract model and loader: the shipped contracts load; bad ones fail with one line naming the key path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from atlas_core.contracts import ColumnType, Contract, load_contract, load_contracts
from atlas_core.contracts.fields import parse_duration
from atlas_core.errors import ContractError

CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "contracts"
ORDERS = yaml.safe_load((CONTRACTS_DIR / "orders.yml").read_text())


def test_every_shipped_contract_loads() -> None:
    contracts = {c.dataset: c for c in load_contracts(CONTRACTS_DIR)}
    files = sorted(p.stem for p in CONTRACTS_DIR.glob("*.y*ml"))
    assert sorted(contracts) == files
    assert {"customers", "products", "orders"} <= set(contracts)
    for contract in contracts.values():
        assert contract.primary_key and set(contract.primary_key) <= set(contract.column_names)
        assert contract.source.kind == "file"
        assert len(contract.fingerprint) == 16


def test_orders_contract_is_daily_partitioned_over_thirty_days() -> None:
    orders = load_contract(CONTRACTS_DIR / "orders.yml")
    assert orders.partitioning is not None
    assert orders.partitioning.column == "order_ts"
    assert orders.column("order_ts").type == ColumnType.TIMESTAMP
    assert orders.partitioning.start == date(2026, 10, 1)
    assert orders.partitioning.end is not None
    assert (orders.partitioning.end - orders.partitioning.start).days == 30
    assert orders.column("quantity").min == 1


def test_customers_contract_declares_pii_columns() -> None:
    customers = load_contract(CONTRACTS_DIR / "customers.yml")
    assert {"email", "phone", "ssn", "first_name", "last_name"} <= set(customers.declared_pii_columns)
    assert customers.null_values == ["", "NULL"]
    assert not customers.is_partitioned


def test_fingerprint_changes_with_content_only() -> None:
    a = Contract.model_validate(ORDERS)
    b = Contract.model_validate(copy.deepcopy(ORDERS))
    assert a.fingerprint == b.fingerprint
    changed = copy.deepcopy(ORDERS)
    changed["columns"][0]["description"] = "the order number"
    assert Contract.model_validate(changed).fingerprint != a.fingerprint


def mutated(change: Callable[[dict], None]) -> dict:
    data = copy.deepcopy(ORDERS)
    change(data)
    return data


def column(index: int, **changes: object) -> Callable[[dict], None]:
    """A change to the ``index``-th column of the contract."""
    return lambda d: d["columns"][index].update(changes)


def section(key: str, **changes: object) -> Callable[[dict], None]:
    """A change inside the mapping ``key`` of the contract."""
    return lambda d: d[key].update(changes)


def top(**changes: object) -> Callable[[dict], None]:
    """A change to top-level keys of the contract."""
    return lambda d: d.update(changes)


BAD_CONTRACTS = {
    "unknown_column_type": (column(1, type="decimal"), "columns.1.type: Input should be 'string'"),
    "pattern_not_a_regex": (column(7, pattern="[a-"), "columns.7.pattern: invalid regular expression"),
    "primary_key_unknown_column": (
        top(primary_key=["order_id", "nope"]),
        "primary_key names unknown column(s): nope",
    ),
    "duplicate_columns": (
        lambda d: d["columns"].append({"name": "status"}),
        "duplicate column names: status",
    ),
    "partitioning_not_timestamp": (
        section("partitioning", column="status"),
        "partitioning.column must be a timestamp or date column",
    ),
    "partitioning_unknown_column": (
        section("partitioning", column="shipped_ts"),
        "partitioning.column names unknown column(s): shipped_ts",
    ),
    "bad_duration": (
        column(3, freshness="1 fortnight"),
        "columns.3.freshness: invalid duration '1 fortnight'",
    ),
    "unknown_key": (top(owners=["x"]), "owners: Extra inputs are not permitted"),
    "bad_column_name": (column(0, name="Order-ID"), "columns.0.name: 'Order-ID' is not a valid name"),
    "reserved_column_name": (
        column(0, name="_atlas_row_number"),
        "columns.0.name: '_atlas_row_number' is not a valid name",
    ),
    "unknown_source_kind": (section("source", kind="ftp"), "source: Input tag 'ftp'"),
    "min_on_string": (column(7, min=1), "columns.7: min/max apply to integer or float"),
    "partition_end_before_start": (
        section("partitioning", end="2026-09-01"),
        "partitioning: end must be after start",
    ),
    "threshold_out_of_range": (
        top(quality={"thresholds": {"validity": 1.5}}),
        "quality.thresholds: threshold for validity must be between 0 and 1",
    ),
    "no_columns": (top(columns=[]), "columns: List should have at least 1 item"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTRACTS))
def test_bad_contract_gives_one_line_error_naming_the_key_path(case: str, tmp_path: Path) -> None:
    change, expected = BAD_CONTRACTS[case]
    path = tmp_path / f"{case}.yml"
    path.write_text(yaml.safe_dump(mutated(change), sort_keys=False))
    with pytest.raises(ContractError) as excinfo:
        load_contract(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert excinfo.value.exit_code == 2


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("dataset: orders\ncolumns:\n  - {name: order_id, type: integer\n  - {name: x}\n")
    with pytest.raises(ContractError) as excinfo:
        load_contract(path)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: YAML error at line ")
    line = int(message.split("at line ")[1].split(":")[0])
    assert line in (3, 4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "a contract must be a YAML mapping"), ("- a\n- b\n", "a contract must be a YAML mapping")],
)
def test_non_mapping_contract_is_rejected(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "list.yml"
    path.write_text(text)
    with pytest.raises(ContractError, match=expected):
        load_contract(path)


def test_missing_and_non_utf8_contract_files(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such contract file"):
        load_contract(tmp_path / "absent.yml")
    latin = tmp_path / "latin.yml"
    latin.write_bytes("dataset: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ContractError, match="not UTF-8"):
        load_contract(latin)


def test_two_contracts_for_one_dataset_are_refused(tmp_path: Path) -> None:
    for name in ("a.yml", "b.yml"):
        (tmp_path / name).write_text(yaml.safe_dump(ORDERS))
    with pytest.raises(ContractError, match="dataset 'orders' is already declared in a.yml"):
        load_contracts(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        (" 2h ", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("3w", timedelta(weeks=3)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "1", "d", "1.5d", "-1d", "1y", "1 day"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
