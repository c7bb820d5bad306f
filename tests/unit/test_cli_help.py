"""Every ``atlas`` help page reads cleanly: no type placeholders on flags, no reStructuredText markup."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import typer
from typer.testing import CliRunner

from atlas_cli.main import app


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(getattr(group, "commands", {}).items()):
        paths.extend(_command_paths(command, (*prefix, name)))
    return paths


def test_every_help_page_has_no_bool_placeholder_or_rst_markup() -> None:
    root = typer.main.get_command(app)
    paths = _command_paths(root)
    assert len(paths) > 20  # the whole tree, sub-apps included
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path
        assert "``" not in result.output, path


def test_a_command_prints_no_warning_without_xdg_runtime_dir() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root"}  # no XDG_RUNTIME_DIR, as in CI and containers
    result = subprocess.run(
        [sys.executable, "-m", "atlas_cli.main", "contract", "schema"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert result.stdout.lstrip().startswith("{")
