"""Command-line parameters several ``atlas`` commands share, declared once so their help reads the same."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOutput = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
DatasetName = Annotated[str, typer.Argument(help="Dataset name")]
