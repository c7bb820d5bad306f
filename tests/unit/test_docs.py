"""The README keeps its promises: it opens with the two set-up commands and documents every setting."""

from __future__ import annotations

import re
from pathlib import Path

from atlas_core.settings import AtlasSettings

PROJECT_DIR = Path(__file__).resolve().parents[2]
README = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_make_demo_and_make_test() -> None:
    lines = README.lstrip().splitlines()
    assert lines[0].startswith("```")
    end = lines.index("```", 1)
    assert lines[1:end] == ["make demo", "make test"]


def test_readme_documents_every_setting() -> None:
    missing = [
        f"ATLAS_{name.upper()}"
        for name in AtlasSettings.model_fields
        if f"`ATLAS_{name.upper()}`" not in README
    ]
    assert missing == [], f"add these to the README configuration table: {missing}"


def test_readme_links_point_at_existing_files() -> None:
    targets = {m.split("#")[0] for m in re.findall(r"\]\(([^)]+)\)", README) if not m.startswith("http")}
    assert {"docs/architecture.md", "docs/configuration.md"} <= targets
    for target in targets:
        assert (PROJECT_DIR / target).exists(), target
