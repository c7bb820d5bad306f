"""Cities, regions and countries in free text, from the offline gazetteers (``gazetteers.py``).

A run of 1-4 words matches when its folded form is a gazetteer name and the words are written like
a name: capitalized (``Poznań``, ``New Zealand``, ``Villafranca del Cid``) or in capitals
(``ESPOO``) inside text that is not all capitals. Lower-case matches count only for countries and
only in text written without capitals at all (``... belfast, south africa.``). A single word that
is only a city or a small region needs a preposition before it or a line of its own. After a place
cue ("flew to", "grew up in", "I'm in") 1-3 capitalized words are a place even outside the lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from atlas_core.pii.analysis import Span
from atlas_core.pii.gazetteers import Gazetteers, fold

LOCATION = "LOCATION"
WORD = re.compile(r"[^\W\d_](?:[\w'’-]*[^\W_])?")
# Lower-case words allowed inside a multi-word place name ("Villafranca del Cid", "Stratford-upon-Avon").
CONNECTORS = frozenset(
    {
        "de",
        "del",
        "la",
        "le",
        "les",
        "di",
        "da",
        "do",
        "dos",
        "das",
        "du",
        "van",
        "von",
        "der",
        "den",
        "nad",
        "pod",
        "am",
        "an",
        "im",
        "sur",
        "sous",
        "en",
        "y",
        "i",
        "of",
        "upon",
        "on",
    }
)
SCORE = 0.5


def words(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]


def find_places(text: str, gaz: Gazetteers, toks: Sequence[tuple[int, int, str]] | None = None) -> list[Span]:
    toks = words(text) if toks is None else toks
    letters = [c for c in text if c.isalpha()]
    all_caps = bool(letters) and all(c.isupper() for c in letters)
    no_caps = bool(letters) and not any(c.isupper() for c in letters)
    caps_share = sum(c.isupper() for c in letters) / max(1, len(letters))
    spans: list[Span] = []
    i = 0
    while i < len(toks):
        start, _, first = toks[i]
        if not (first[0].isupper() or no_caps):
            i += 1
            continue
        matched = 0
        for n in range(min(gaz.max_place_words, len(toks) - i), 0, -1):
            group = toks[i : i + n]
            if not _adjacent(text, group):
                continue
            last = group[-1][2]
            if not (last[0].isupper() or no_caps):
                continue
            if any(not (w[0].isupper() or w.lower() in CONNECTORS or no_caps) for _, _, w in group):
                continue
            key = fold(" ".join(w for _, _, w in group))
            if no_caps:
                if key in gaz.countries:
                    matched = n
                    break
                continue
            if key in gaz.places and (not all_caps or key in gaz.countries):
                if n == 1 and not _single_word_ok(text, start, first, key, gaz, caps_share):
                    continue
                matched = n
                break
        if matched:
            spans.append(Span(start, toks[i + matched - 1][1], LOCATION, SCORE))
            i += matched
        else:
            i += 1
    return spans


PREPOSITION = re.compile(
    r"(?:\b(?:in|at|from|to|near|of|visit|visited|visiting|around|outside|towards|into|via|between|across|"
    r"nach|aus|en|à|a|de|desde|para|em|w|z|do|ve|na|v|i)|,)\s*$",
    re.IGNORECASE,
)


# "flew to RYSSBY", "grew up in Riverlea", "I'm in ΠΑΦΟΣ": a place cue, then 1-3 capitalized words.
PLACE_CUE = re.compile(
    r"\b(?:flew|flying|fly|moved|moving|travel(?:l)?ed|travel(?:l)?ing|went|drove|arrived|arriving|lives?|lived|"
    r"living|grew\s+up|born|based|stay(?:ed|ing)?|visit(?:ed|ing)?|i'm|i\s+am|we're|we\s+are|located|relocated|"
    r"headed|heading|trip|vacation|holiday)\s+(?:(?:back\s+)?(?:to|in|at|from|near|into|around)\s+)?"
    r"([^\W\d_][\w'’-]+(?:[ -][^\W\d_][\w'’-]+){0,3})",
    re.IGNORECASE,
)


def find_cued_places(text: str, stop: frozenset[str]) -> list[Span]:
    spans = []
    for m in PLACE_CUE.finditer(text):
        words: list[str] = []
        for word in m.group(1).split(" "):
            if not (word[0].isupper() or word in CONNECTORS) or fold(word) in stop and word not in CONNECTORS:
                break
            words.append(word)
        while words and (fold(words[-1]) in stop or words[-1] in CONNECTORS):
            words.pop()
        if words and fold(words[0]) not in stop and words[0][0].isupper():
            spans.append(Span(m.start(1), m.start(1) + len(" ".join(words)), LOCATION, SCORE))
    return spans


def _single_word_ok(text: str, start: int, word: str, key: str, gaz: Gazetteers, caps_share: float) -> bool:
    """One word alone: a country or US state as written; a city or other region only after a preposition or on
    its own line (many small regions are everyday words: Slovenia's municipality ``Store``)."""
    if len(word) < 4 and not word.isupper() or word.isupper() and (len(word) < 4 or caps_share > 0.5):
        return False
    if key in gaz.countries or key in gaz.us_states:
        return True
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line = text[line_start : len(text) if line_end < 0 else line_end].strip(" \t>?*|•-")
    if "\n" in text.strip() and line == word:
        return True  # a line of its own in a multi-line text (an address block)
    return bool(PREPOSITION.search(text[max(0, start - 16) : start]))


def _adjacent(text: str, group: Sequence[tuple[int, int, str]]) -> bool:
    """Words of one name are separated by a single space or hyphen, never by a line break or comma."""
    return all(text[a[1] : b[0]] in (" ", "-") for a, b in zip(group, group[1:], strict=False))
