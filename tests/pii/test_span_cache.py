"""The span cache of contract-enumerated values, with the real Presidio engine and spaCy model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from atlas_assets.pii import enumerated_values
from atlas_core.contracts import load_contract
from atlas_core.settings import PROJECT_DIR
from atlas_resources.presidio import LazyPresidioEngine, engines_loaded
from atlas_resources.span_cache import SpanCache, analyzer_fingerprint

RECOGNIZERS = str((PROJECT_DIR / "pii" / "recognizers.yml").resolve())
# Contract text that the analyzer does find entities in (a place, a person), and plain words.
PUBLIC = ["Texas", "Jacob Robertson", "placed", "shipped", "web"]


def test_enumerated_values_are_the_string_allowed_values_of_a_contract() -> None:
    orders = load_contract(PROJECT_DIR / "contracts" / "orders.yml")
    assert enumerated_values(orders) == {
        "placed",
        "shipped",
        "delivered",
        "cancelled",
        "returned",
        "web",
        "mobile",
        "store",
    }


def test_cached_spans_equal_the_analyzer_and_need_no_engine(presidio_engine, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "pii-spans.json"
    entities = presidio_engine.entities
    texts = [*PUBLIC, "", "Texas"]
    expected = presidio_engine.analyze_texts(texts, entities)
    assert any(expected[0]) and any(expected[1])  # the control: real spans are cached, not only empties

    first = LazyPresidioEngine(RECOGNIZERS, 1, 256, cache_file=str(cache), public_texts=PUBLIC)
    assert first.analyze_texts(texts, entities) == expected
    assert cache.is_file()

    # Another configuration would build a second engine (seconds): the cache answers instead.
    misses = engines_loaded()
    second = LazyPresidioEngine(RECOGNIZERS, 1, 7, cache_file=str(cache), public_texts=PUBLIC)
    assert second.analyze_texts(texts, entities) == expected
    assert engines_loaded() == misses
    # the requested entities are part of the key: a narrower request is not answered from it
    assert SpanCache(cache, analyzer_fingerprint(RECOGNIZERS), PUBLIC).lookup(texts, entities[:3]) is None


def test_values_outside_the_contract_are_analyzed_and_never_stored(presidio_engine, tmp_path: Path) -> None:
    cache = tmp_path / "pii-spans.json"
    entities = presidio_engine.entities
    private = "jane.doe@example.com"
    texts = ["Texas", private, "web"]
    engine = LazyPresidioEngine(RECOGNIZERS, cache_file=str(cache), public_texts=PUBLIC)
    spans = engine.analyze_texts(texts, entities)
    assert spans == presidio_engine.analyze_texts(texts, entities)
    assert {s.entity for s in spans[1]} >= {"EMAIL_ADDRESS"}
    stored = cache.read_text()
    assert private not in stored and "jane" not in stored
    assert set(next(iter(json.loads(stored)["spans"].values()))) == {"Texas", "web"}
    # a load with a value outside the contract is not answered from the cache
    lookup = SpanCache(cache, analyzer_fingerprint(RECOGNIZERS), PUBLIC)
    assert lookup.lookup(texts, entities) is None
    assert lookup.lookup(["web", "Texas"], entities) == [spans[2], spans[0]]


def test_a_changed_analyzer_ignores_the_cache(presidio_engine, tmp_path: Path) -> None:
    cache = tmp_path / "pii-spans.json"
    entities = presidio_engine.entities
    LazyPresidioEngine(RECOGNIZERS, cache_file=str(cache), public_texts=PUBLIC).analyze_texts(
        PUBLIC, entities
    )
    assert SpanCache(cache, analyzer_fingerprint(RECOGNIZERS), PUBLIC).lookup(PUBLIC, entities) is not None

    edited = tmp_path / "recognizers.yml"  # custom recognizers changed: every cached span is suspect
    shutil.copyfile(RECOGNIZERS, edited)
    edited.write_text(edited.read_text() + "\n# edited\n")
    assert analyzer_fingerprint(str(edited)) != analyzer_fingerprint(RECOGNIZERS)
    assert SpanCache(cache, analyzer_fingerprint(str(edited)), PUBLIC).lookup(PUBLIC, entities) is None


def test_an_unwritable_cache_only_costs_the_analysis(presidio_engine, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    engine = LazyPresidioEngine(RECOGNIZERS, cache_file=str(blocker / "pii-spans.json"), public_texts=PUBLIC)
    assert engine.analyze_texts(PUBLIC, presidio_engine.entities) == presidio_engine.analyze_texts(
        PUBLIC, presidio_engine.entities
    )
