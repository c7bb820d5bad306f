"""Person names the small NER model misses, from first-name lists, capitalization and context.

- a title (``Mr.``, ``Mrs``, ``Dr.``, ``Prof.`` ...) followed by up to three name words;
- a cue ("my name is", "call me", "name:", "signed", a closing like "Regards," or "Thanks," on its
  own line) followed by up to three name words;
- a capitalized run of words whose first word is a census first name (``Silvia J Křenová``,
  ``Abby Holloway``); a lone first name that is also an everyday word (``Will``, ``Grace``) needs
  another name word next to it;
- in text written without capitals at all, a census first name (optionally followed by an initial
  and a census surname): ``codey m ross``, ``caleb``;
- first name + initial + last name, two capitalized words before ``'s``, a line of 2-3 capitalized
  words in a multi-line text (signature, address block), a chat speaker (``Zuzana: "..."``);
- names the NER model found are grown over the capitalized words and initials right next to them;
- then every other mention of a name word already found (``... everyone calls me Aantje``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from spacy.lang.en.stop_words import STOP_WORDS

from atlas_core.pii.analysis import Span
from atlas_core.pii.gazetteers import AMBIGUOUS_FIRST_NAMES, Gazetteers, fold

PERSON = "PERSON"
SCORE = 0.55
CONTEXT_SCORE = 0.7
_NAME_WORD = r"(?:[^\W\d_][\w'’-]*[^\W\d_]|[^\W\d_]\.?)"
TITLE = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Madam|Mme|Mlle|Herr|Frau|Sr|Sra|Srta|Signor|Signora)\b\.?\s+",
    re.IGNORECASE,
)
CUE = re.compile(
    r"(?:\bname\s+is|\bname\s*:|\bcall\s+me|\bcalls\s+me|\bsigned(?:\s+by)?|\bcontact\s+person\s*:?|"
    r"\bi\s+am|\bi'm|\bthis\s+is|\bfrom\s*:|\bto\s*:|\battn\.?:?|\bc/o|"
    # followed by capitalized words only
    r"\b(?:was|were|is|be|been|being)\s+called|\bnamed|\bsaid|\bsays|\basked|\btold|\bdear|\bhi|\bhello|\bhey|"
    r"\bmy\s+(?:son|daughter|kid|child|wife|husband|mother|mom|mum|father|dad|brother|sister|friend|boss|colleague|"
    r"partner|grandfather|grandmother|uncle|aunt|cousin|neighbou?r|doctor|lawyer)|\bdirected\s+by|\bstarring|"
    r"\bwritten\s+by|\bmarried|\bmeet|\bmet|\bassistant\s+to|\bspoke\s+(?:with|to)|\btalked\s+(?:with|to)|"
    r"\bask\s+for|\bcontact)\s+",
    re.IGNORECASE,
)
STRONG_CUES = ("name", "call", "calls", "signed", "contact", "attn", "c/o")
CLOSING = re.compile(
    r"^\s*(?:best(?:\s+regards)?|kind\s+regards|regards|sincerely|yours(?:\s+truly|\s+sincerely)?|thanks|"
    r"thank\s+you|cheers|warmly|respectfully|best\s+wishes)\s*,?\s*\n+\s*",
    re.IGNORECASE | re.MULTILINE,
)
WORD = re.compile(r"[^\W\d_][\w'’-]*\.?")
_CAPW = r"[^\W\d_a-zß-ÿ][^\W\d_]*(?:[-'’][^\W\d_]+)?"
# "Juliusz A Kwiatkowski", "Silvia J. Křenová": first name, middle initial, last name.
WITH_INITIAL = re.compile(rf"\b{_CAPW} [^\W\d_a-zß-ÿ]\.? {_CAPW}(?![\w])")
# "Wisława Szczepańska's": two capitalized words before a possessive.
POSSESSIVE = re.compile(rf"\b{_CAPW} {_CAPW}(?=['’]s\b)")
# A line holding only 2-3 capitalized words (a signature or the first line of an address block).
_PARTICLE = r"(?:van|von|de|der|den|ten|ter|te|da|di|do|dos|du|del|della|la|le|bin|ibn|al|el)"
NAME_LINE = re.compile(
    rf"^[ \t>?*|•-]*({_CAPW}(?: (?:{_PARTICLE} ){{0,2}}(?:{_CAPW}|[^\W\d_a-zß-ÿ]\.?)){{1,2}})[ \t]*$",
    re.MULTILINE,
)
PARTICLES = frozenset(_PARTICLE[3:-1].split("|"))
# "Zuzana: ..." a speaker at the start of a line.
SPEAKER = re.compile(rf"^[ \t>-]*({_CAPW}):[ \t]*[^\W\d_\"'“]", re.MULTILINE)
FIELD_LABELS = frozenset(
    """
    address addr answer attn bcc cc city comment comments country date dear description email fax from
    hint id important name note notes phone question re reason ref regarding subject summary tel text
    time title to update warning zip q a tip edit source update ps p.s step example total price status
    mobile desk office work home cell fax web website when where who what why how location job role position
    company organisation organization department dept occupation birthday born age gender sex
    """.split()
)
STOP = (
    frozenset(
        """
    a an and are as at be but by for from has have he her here his i if in is it its me my no not of on or our
    she so that the their them then there they this to up was we were what when where which who will with you
    your yes ok okay hi hello dear thanks thank please sir madam team all everyone customer customers
    apt apartment suite unit street st ave avenue road rd po box lane drive
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight
    """.split()
    )
    | STOP_WORDS
)


def find_persons(text: str, gaz: Gazetteers, ner: Sequence[Span] = ()) -> list[Span]:
    no_caps = not any(c.isupper() for c in text)
    spans: list[Span] = []
    for m in TITLE.finditer(text):
        end = _name_words(text, m.end(), 3, capitalized=not no_caps and m.group()[0].isupper(), gaz=gaz)
        if end > m.end():
            spans.append(Span(m.end(), end, PERSON, CONTEXT_SCORE))
    for m in CUE.finditer(text):
        first = m.group().split()[0].lower().rstrip(":")
        strong = first in STRONG_CUES or (first == "my" and "name" in m.group().lower())
        end = _name_words(text, m.end(), 3, capitalized=not strong, gaz=gaz)
        if end > m.end():
            spans.append(Span(m.end(), end, PERSON, CONTEXT_SCORE if strong else SCORE))
    for m in CLOSING.finditer(text):
        end = _name_words(text, m.end(), 3, capitalized=True, gaz=gaz)
        if end > m.end():
            spans.append(Span(m.end(), end, PERSON, SCORE))
    spans.extend(_first_name_runs(text, gaz, no_caps))
    if not no_caps:
        for pattern in (WITH_INITIAL, POSSESSIVE):
            spans.extend(Span(m.start(), m.end(), PERSON, SCORE) for m in pattern.finditer(text))
        if "\n" in text.strip():
            for m in NAME_LINE.finditer(text):
                name = m.group(1)
                if not any(fold(w.rstrip(".")) in STOP or fold(w) in gaz.places for w in name.split()):
                    spans.append(Span(m.start(1), m.end(1), PERSON, SCORE))
        for m in SPEAKER.finditer(text):
            if fold(m.group(1)) not in FIELD_LABELS and fold(m.group(1)) not in STOP:
                spans.append(Span(m.start(1), m.end(1), PERSON, SCORE))
    spans.extend(_grow(text, s) for s in ner if s.entity == PERSON)
    return spans + _repeated(text, spans)


def _repeated(text: str, spans: Sequence[Span]) -> list[Span]:
    """Every other mention of a name word already found ("Aantje Mourik ... calls me Aantje")."""
    known = set()
    for s in spans:
        for m in WORD.finditer(text, s.start, s.end):
            word = m.group().rstrip(".")
            if len(word) >= 3 and word[0].isupper() and fold(word) not in STOP:
                known.add(word)
    if not known:
        return []
    pattern = re.compile(
        r"(?<![\w])(?:" + "|".join(re.escape(w) for w in sorted(known, key=len, reverse=True)) + r")(?![\w])"
    )
    return [Span(m.start(), m.end(), PERSON, SCORE) for m in pattern.finditer(text)]


def _name_words(text: str, at: int, limit: int, *, capitalized: bool, gaz: Gazetteers) -> int:
    """End of up to ``limit`` name words from ``at`` (separated by single spaces)."""
    end = at
    pos = at
    for _ in range(limit):
        m = WORD.match(text, pos)
        if not m:
            break
        word = m.group().rstrip(".")
        if fold(word) in STOP or (capitalized and not word[0].isupper()):
            break
        if not capitalized and not word[0].isupper() and len(word) > 1 and end > at:
            key = fold(word)
            if key not in gaz.surnames and key not in gaz.first_names:
                break
        end = m.end() if len(word) == 1 or not m.group().endswith(".") else m.end() - 1
        if text[m.end() : m.end() + 1] != " ":
            break
        pos = m.end() + 1
    return end


def _first_name_runs(text: str, gaz: Gazetteers, no_caps: bool) -> list[Span]:
    spans = []
    words = [
        (m.start(), m.end() - m.group().endswith("."), m.group().rstrip(".")) for m in WORD.finditer(text)
    ]
    i = 0
    while i < len(words):
        start, end, word = words[i]
        key = fold(word)
        if key not in gaz.first_names or key in STOP or len(word) < 2:
            i += 1
            continue
        if no_caps:
            if key in AMBIGUOUS_FIRST_NAMES:
                i += 1
                continue
            j = i + 1
            while j < len(words) and j < i + 3 and _gap_ok(text, words[j - 1][1], words[j][0]):
                nxt = fold(words[j][2])
                after_initial = len(words[j - 1][2]) == 1
                if len(nxt) == 1 or nxt not in STOP and (nxt in gaz.surnames or after_initial):
                    j += 1
                else:
                    break
            spans.append(Span(start, words[j - 1][1], PERSON, SCORE))
            i = j
            continue
        if not word[0].isupper() or word.isupper() and len(word) > 3:
            i += 1
            continue
        j = i + 1
        while j < len(words) and j < i + 5 and _gap_ok(text, words[j - 1][1], words[j][0]):
            nxt = words[j][2]
            if nxt[:1].isupper() and fold(nxt) not in STOP:
                j += 1
            elif (
                nxt in PARTICLES
                and j + 1 < len(words)
                and words[j + 1][2][:1].isupper()
                and _gap_ok(text, words[j][1], words[j + 1][0])
            ):
                j += 2
            else:
                break
        if j == i + 1 and key in AMBIGUOUS_FIRST_NAMES:
            i += 1
            continue
        spans.append(Span(start, words[j - 1][1], PERSON, SCORE))
        i = j
    return spans


def _gap_ok(text: str, a: int, b: int) -> bool:
    return text[a:b] in (" ", ". ")


_GROW = re.compile(r"(?:[ ](?:[^\W\d_a-zß-ÿ][\w'’-]*|[^\W\d_a-zß-ÿ]\.?)(?!\w))+")


def _grow(text: str, span: Span) -> Span:
    m = _GROW.match(text, span.end)
    end = span.end
    if m:
        parts = [p for p in m.group().split(" ")[1:3]]
        kept = []
        for part in parts:
            if fold(part.rstrip(".")) in STOP:
                break
            kept.append(part)
        end = span.end + sum(len(p) + 1 for p in kept)
    return Span(span.start, end, PERSON, span.score)
