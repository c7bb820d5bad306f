"""The real ``.venv/bin/atlas`` in subprocesses, with an isolated home and its own databases."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from atlas_cli.main import app
from tests.support import postgres as pg
from tests.support.processes import atlas_process_env

PROJECT_DIR = Path(__file__).resolve().parents[2]
ATLAS = Path(sys.executable).parent / "atlas"


def command_paths() -> list[list[str]]:
    """Every command and sub-command of the CLI, as argument lists (``[]`` is ``atlas`` itself)."""
    paths: list[list[str]] = []

    def walk(command: Any, prefix: list[str]) -> None:  # typer vendors click: no public Group type to test
        paths.append(prefix)
        if hasattr(command, "commands"):
            for name, sub in sorted(command.commands.items()):
                if not sub.hidden:
                    walk(sub, [*prefix, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.fixture(scope="module")
def cli_env(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of an isolated Atlas: own home, warehouse and Dagster databases (dropped afterwards)."""
    with pg.atlas_databases(pg_server, "cli") as (warehouse, dagster_db):
        yield atlas_process_env(tmp_path_factory.mktemp("cli-home"), warehouse, dagster_db, COLUMNS="200")


def atlas(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ATLAS), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=env["ATLAS_HOME"]
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_every_command_has_help(cli_env: dict[str, str]) -> None:
    paths = command_paths()
    assert {"demo", "up", "materialize", "status", "generate"} <= {p[0] for p in paths if p}
    assert ["contract", "validate"] in paths and ["db", "migrate"] in paths
    running = [
        (
            path,
            subprocess.Popen(
                [str(ATLAS), *path, "--help"],
                env=cli_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for path in paths
    ]
    for path, process in running:
        out, err = process.communicate(timeout=60)
        shown = " ".join(["atlas", *path])
        assert process.returncode == 0, f"{shown} --help: {err}"
        assert "Usage:" in out and f"{shown} " in " ".join(out.split()), shown
        assert "Traceback" not in out + err


def test_invalid_contract_file_is_one_line_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "dataset: orders\nsource: {kind: file, path: x.csv}\ncolumns:\n  - {name: id, type: decimal}\n"
    )
    result = atlas(cli_env, "contract", "validate", str(bad))
    assert_one_line_error(result, str(bad), "columns.0.type")
    good = atlas(cli_env, "contract", "validate", str(PROJECT_DIR / "contracts" / "orders.yml"))
    assert good.returncode == 0 and "ok (orders" in good.stdout


def test_unknown_dataset_for_generate_is_one_line_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = atlas(cli_env, "generate", "--dataset", "suppliers", "--out", str(tmp_path / "x.csv"))
    assert_one_line_error(result, "unknown dataset 'suppliers'")


def test_generate_writes_the_requested_rows(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    result = atlas(cli_env, "generate", "--dataset", "orders", "--rows", "1000", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1000
    assert [int(r["order_id"]) for r in rows] == list(range(1, 1001))
    assert "wrote 1000 orders rows" in result.stdout


@pytest.mark.slow
def test_bad_selection_and_unknown_partition_are_one_line_exit_2(cli_env: dict[str, str]) -> None:
    assert_one_line_error(
        atlas(cli_env, "materialize", "--select", "key:nowhere/nothing"), "matches no asset"
    )
    assert_one_line_error(atlas(cli_env, "materialize", "--select", "silver/orders(("), "invalid selection")
    assert_one_line_error(
        atlas(cli_env, "materialize", "--select", "silver/orders", "--partition", "2020-01-01"),
        "unknown partition '2020-01-01'",
    )


@pytest.mark.slow
def test_status_json_after_materializing_bronze_products(cli_env: dict[str, str]) -> None:
    run = atlas(cli_env, "materialize", "--select", "key:bronze/products")
    assert run.returncode == 0, run.stderr
    assert "SUCCESS" in run.stdout
    result = atlas(cli_env, "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) >= {"assets", "schedules", "sensors"}
    assert isinstance(report["schedules"], list) and isinstance(report["sensors"], list)
    assets = {a["key"]: a for a in report["assets"]}
    for asset in assets.values():
        assert set(asset) >= {
            "key",
            "layer",
            "partitioned",
            "partitions_total",
            "partitions_materialized",
            "last_materialization",
            "rows",
        }
    products = assets["bronze/products"]
    assert products["layer"] == "bronze" and products["partitioned"] is False
    assert products["rows"] == 200
    assert products["last_materialization"] is not None
    orders = assets["silver/orders"]
    assert orders["partitioned"] is True and orders["partitions_total"] == 30
    assert orders["partitions_materialized"] == 0 and orders["last_materialization"] is None
    assert {"bronze", "silver", "gold", "ai_ready"} <= {a["layer"] for a in assets.values()}
