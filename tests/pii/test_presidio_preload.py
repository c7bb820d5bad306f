"""Loading Presidio ahead of the step that needs it: in analyzer processes, and only for free-text runs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from atlas_assets.definitions import build_definitions
from atlas_assets.pii import FREE_TEXT
from atlas_core.settings import PROJECT_DIR, AtlasSettings
from atlas_resources import analyzer_process
from atlas_resources.analyzer_process import AnalyzerPool, AnalyzerUnavailable, EngineConfig
from atlas_resources.presidio import LazyPresidioEngine, engines_loaded, preload

RECOGNIZERS = str((PROJECT_DIR / "pii" / "recognizers.yml").resolve())
TEXTS = [
    "Please call Maria Gonzalez tomorrow.",
    "Ship to 221B Baker Street, London NW1 6XE; phone +44 20 7946 0958.",
    "",
    "Card 4111 1111 1111 1111 was declined, email jane.doe@example.com",
    "Please call Maria Gonzalez tomorrow.",
    "no personal data here",
    "Contact Ahmed Khan in Lagos on 0803 123 4567",
]


def _children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[16])


def _wait_gone(pids: list[int], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def test_the_analyzer_processes_answer_what_this_process_would_without_loading_here(
    presidio_engine,  # type: ignore[no-untyped-def]
) -> None:
    before = engines_loaded()
    pool = preload(RECOGNIZERS, 1, 5, processes=2)  # batch size 5: a configuration no other test loads
    engine = LazyPresidioEngine(RECOGNIZERS, 1, 5)
    spans = engine.analyze_texts(TEXTS, engine.entities)
    assert engines_loaded() == before  # nothing loaded in this process
    assert spans == presidio_engine.analyze_texts(TEXTS, engine.entities)
    assert {"PERSON", "LOCATION", "PHONE_NUMBER", "CREDIT_CARD", "EMAIL_ADDRESS"} <= {
        s.entity for row in spans for s in row
    }
    assert spans[2] == [] and spans[0] == spans[4]
    # A larger call is cut into chunks that the two analyzers take in turn: same spans, same order.
    many = [f"{text} (ticket {i})" for i in range(40) for text in TEXTS if text]
    assert analyzer_process._chunk_count(len(set(many)), 2) > 2
    assert engine.analyze_texts(many, engine.entities) == presidio_engine.analyze_texts(many, engine.entities)
    # One process loaded the engine and forked the second analyzer: both answered.
    twins = _children_of(pool.pid)
    assert len(twins) == 1
    assert _nice(pool.pid) == _nice(twins[0]) == min(19, _nice(os.getpid()) + 10)  # below the run
    assert preload(RECOGNIZERS, 1, 5, processes=2) is pool  # one pool per configuration
    pool.stop()
    assert _wait_gone([pool.pid, *twins])
    assert analyzer_process.started(pool.config) is None


def test_a_dead_analyzer_makes_the_caller_analyze_in_its_own_process(
    presidio_engine,  # type: ignore[no-untyped-def]
) -> None:
    pool = preload(RECOGNIZERS, 1, 6, processes=2)
    engine = LazyPresidioEngine(RECOGNIZERS, 1, 6)
    assert engine.analyze_texts(TEXTS[:1], ["PERSON"])  # loaded and answering
    twins = _children_of(pool.pid)
    os.kill(pool.pid, signal.SIGKILL)
    before = engines_loaded()
    spans = engine.analyze_texts(TEXTS, engine.entities)
    assert spans == presidio_engine.analyze_texts(TEXTS, engine.entities)
    assert engines_loaded() == before + 1  # this process loaded its own engine
    assert analyzer_process.started(pool.config) is None
    assert _wait_gone(twins)  # the surviving analyzer saw its socket close and exited


def test_an_analyzer_that_cannot_load_says_only_what_failed(tmp_path: Path) -> None:
    broken = tmp_path / "recognizers.yml"
    broken.write_text(
        "recognizers:\n  - {name: x, entity: FOO, patterns: [{name: p, regex: '([', score: 0.5}]}\n"
    )
    pool = AnalyzerPool(EngineConfig(str(broken), 1, 7), 2)
    secret = "Maria Gonzalez 555-0100"
    with pytest.raises(AnalyzerUnavailable) as raised:
        pool.analyze_texts([secret, "other text"], ["PERSON"])
    assert "RecognizerConfigError" in str(raised.value)
    assert "Maria" not in str(raised.value) and str(broken) not in str(raised.value)
    assert not pool.usable()
    with pytest.raises(AnalyzerUnavailable):
        pool.analyze_texts([secret], ["PERSON"])
    assert _wait_gone([pool.pid])


def test_starting_analyzers_for_another_configuration_stops_the_previous_ones() -> None:
    first = preload(RECOGNIZERS, 1, 8, processes=1)
    second = preload(RECOGNIZERS, 1, 9, processes=1)
    assert first is not second
    assert _wait_gone([first.pid])
    assert analyzer_process.started(first.config) is None
    assert analyzer_process.started(second.config) is second
    second.stop()
    assert _wait_gone([second.pid])


def test_a_call_split_between_analyzers_keeps_every_text_in_its_place() -> None:
    texts = [f"text number {i} " + "x" * (i % 13) for i in range(50)] + ["", "text number 3 xxx"]
    parts = analyzer_process._split(list(dict.fromkeys(texts)), 3)
    assert len(parts) == 3 and [t for part in parts for t in part] == list(dict.fromkeys(texts))
    assert analyzer_process._split(["only one"], 2) == [["only one"]]
    assert analyzer_process._split([], 2) == []


def test_a_call_is_cut_into_several_chunks_per_analyzer_but_not_into_tiny_ones() -> None:
    assert analyzer_process._chunk_count(875, 1) == 1
    assert analyzer_process._chunk_count(875, 2) == 2 * analyzer_process.CHUNKS_PER_ANALYZER
    assert analyzer_process._chunk_count(100, 2) == 100 // analyzer_process.MIN_CHUNK_TEXTS
    assert analyzer_process._chunk_count(10, 2) == 1


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
