"""Loading Presidio ahead of the step that needs it: once per process, and only for free-text runs."""

from __future__ import annotations

import dagster as dg

from atlas_assets.definitions import build_definitions
from atlas_assets.pii import FREE_TEXT
from atlas_core.settings import PROJECT_DIR, AtlasSettings
from atlas_resources.presidio import engines_loaded, preload, shared_engine

RECOGNIZERS = str((PROJECT_DIR / "pii" / "recognizers.yml").resolve())


def test_a_caller_arriving_during_the_preload_waits_for_it_instead_of_loading_again() -> None:
    before = engines_loaded()
    thread = preload(RECOGNIZERS, 1, 5)  # batch size 5: a configuration no other test loaded
    engine = shared_engine(RECOGNIZERS, 1, 5)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert engines_loaded() == before + 1
    assert shared_engine(RECOGNIZERS, 1, 5) is engine
    text = "Please call Maria Gonzalez tomorrow."
    spans = engine.analyze_texts([text], ["PERSON"])[0]
    assert {s.entity for s in spans} == {"PERSON"}
    assert "Maria Gonzalez" in {text[s.start : s.end] for s in spans}


def test_only_silver_assets_with_free_text_pii_columns_ask_for_the_preload(
    isolated_env: dict[str, str],
) -> None:
    defs = build_definitions(AtlasSettings(project_dir=PROJECT_DIR))
    flagged = {
        key.to_user_string()
        for assets_def in defs.resolve_asset_graph().assets_defs
        for key, metadata in assets_def.metadata_by_key.items()
        if metadata.get(FREE_TEXT)
    }
    assert flagged == {"silver/customers"}  # contracts/customers.yml: notes is free text
    pii = (defs.resources or {})["pii"]
    assert (
        pii.recognizers_file
        and dg.AssetKey(["silver", "orders"]) in defs.resolve_asset_graph().get_all_asset_keys()
    )
