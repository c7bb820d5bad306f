"""Validate OpenLineage events against the official 2-0-2 JSON Schemas (no network).

The schemas are vendored unmodified in ``tests/resources/openlineage-spec`` (Apache-2.0, see its SOURCE.txt),
copied from the shared spec directory so a bare clone can run the tests.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SPEC_DIR = Path(
    os.environ.get(
        "ATLAS_OPENLINEAGE_SPEC", Path(__file__).resolve().parents[1] / "resources" / "openlineage-spec"
    )
)


@cache
def _registry() -> tuple[Registry, dict[str, dict], dict]:
    documents = [
        json.loads(p.read_text())
        for p in [SPEC_DIR / "OpenLineage.json", *sorted((SPEC_DIR / "facets").glob("*.json"))]
    ]
    registry = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in documents)
    facets = {d["$id"].rsplit("/", 1)[1].removesuffix(".json"): d for d in documents[1:]}
    return registry, facets, documents[0]


def validate_event(event: dict) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``event`` is a valid RunEvent and each facet is valid
    against its own facet schema (resolved locally)."""
    registry, facets, core = _registry()
    run_event = {"$ref": core["$id"] + "#/$defs/RunEvent"}
    Draft202012Validator(
        run_event, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    ).validate(event)
    for facet in _facets(event):
        url = facet["_schemaURL"]
        document_id, _, pointer = url.partition("#")
        name = document_id.rsplit("/", 1)[1].removesuffix(".json")
        if name not in facets:
            raise AssertionError(f"facet schema {name} is not in the official spec directory")
        if facets[name]["$id"] != document_id:
            raise AssertionError(f"facet {name}: emitted {document_id}, the spec has {facets[name]['$id']}")
        Draft202012Validator({"$ref": url}, registry=registry).validate(facet)


def _facets(event: dict) -> list[dict]:
    found = list((event.get("run", {}).get("facets") or {}).values())
    found += list((event.get("job", {}).get("facets") or {}).values())
    for dataset in [*(event.get("inputs") or []), *(event.get("outputs") or [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            found += list((dataset.get(key) or {}).values())
    return found


def spec_available() -> bool:
    return (SPEC_DIR / "OpenLineage.json").is_file()
