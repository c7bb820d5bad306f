"""Where the benchmark scripts put their measurements: one JSON file each under ``benchmarks/results/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_result(path: Path, result: Any) -> None:
    """Write ``result`` as indented JSON (the folder created when missing) and say where it went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {path}")
