"""Street addresses in free text: find a part that can only be an address, then grow it to the whole.

Anchors (any one is enough):

- house number + street words + street type: ``431 Marietta St NW``, ``1668 Glyn St``;
- street word with a street ending + number: ``Strickstrasse 61``, ``Skoanveien 226``, ``Ringvej 144``;
- street marker + words + number, or number + marker + words: ``Rua Cidade de Maracajá 468``,
  ``ul. Narewska 94``, ``C/ Señores Curas 88``, ``63 Rue de Kairouan``;
- number + capitalized words + number (building and house number): ``87331 Dunajska 56``;
- unit (``Apt. 478``, ``Suite 292``, ``Unit 4B``, ``Fl. 3``) and PO boxes (``P.O. Box 123``);
- what follows "address:", "lives at", "ship to" ... when it holds a number.

Growing: a number right before the anchor (``772 ul. Narewska 94``), then, across spaces, commas and
line breaks (also quoted-mail prefixes like ``>``), every following piece that continues an address:
another unit, a postal code (digits, ``B0J 2H0``, ``SW1A 1AA``, ``90010-170``), a region code
(``CO``), a city, region or country from the gazetteers, or - right after a comma or line break -
a capitalized place name. Adjacent anchors merge, so a multi-line address becomes one span.
"""

from __future__ import annotations

import re

from atlas_core.pii.analysis import Span
from atlas_core.pii.gazetteers import Gazetteers, fold

LOCATION = "LOCATION"
SCORE = 0.6

_W = r"[^\W\d_][\w'’.-]*"  # a word starting with a letter
_CAP = r"[^\W\d_a-zß-ÿ][\w'’.-]*"  # a capitalized word
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_UNIT = (
    r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Fl|Floor|Room|Rm|Bldg|Piso|Puerta|Interno|"
    r"Wohnung|Lgh|Whg)\.?\s?#?\s?\d{1,5}[A-Za-z]?"
)
_SUFFIX = (
    r"(?:Alley|Aly|Avenue|Ave|Av|Bend|Blvd|Boulevard|Bypass|Byp|Causeway|Circle|Cir|Close|Court|Ct|Cove|Crescent|"
    r"Cres|Crest|Crossing|Drive|Dr|Expressway|Expy|Freeway|Fwy|Gardens|Gdns|Grove|Gr|Heights|Hts|Highway|Hwy|"
    r"Lane|Ln|Loop|Mall|Manor|Mews|Parade|Park|Parkway|Pkwy|Pass|Path|Pike|Place|Pl|Plaza|Plz|Point|Pt|Port|"
    r"Ridge|Road|Rd|Route|Rte|Row|Run|Square|Sq|Street|St|Str|Terrace|Ter|Trace|Trail|Trl|Turnpike|Tpke|View|"
    r"Walk|Way|Wy|Wharf|Circuit|Esplanade|Quay|Rise|Vale|Green|Hill|Hills|Common|Commons|Landing|Meadows|Estates|"
    r"Junction|Jct|Station|Track|Spur|Summit|Viaduct|Vista|Creek|Center|Ctr|Bridge|Brook|Canyon|Cliffs|Falls|"
    r"Forest|Fork|Garden|Harbor|Haven|Island|Knoll|Lake|Lakes|Meadow|Mill|Mills|Orchard|Ranch|Shore|Shores|"
    r"Springs|Stream|Valley|Village|Ville|Stravenue|Overpass|Underpass|Broadway|Overlook|Gate|Bvd|Pkway|Cv|Cove)"
)
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?"
# Street words in many languages end like this (lower-case ending of one word).
_ENDING = (
    r"(?:straße|strasse|str\.|gasse|weg|platz|allee|ring|damm|ufer|chaussee|stræde|strædet|vej|vejen|gade|gaden|"
    r"gatan|gata|vägen|väg|gränd|veien|vegen|veg|katu|tie|kuja|polku|plein|laan|straat|gracht|kade|singel|dreef|"
    r"braut|stígur|vegur|utca|út|tér|körút|ulica|cesta|ská|cká|ní|ova|eva|ová|ska|ego|iego|straat|street|road|"
    r"avenue|lane|drive)"
)
_MARKER = (
    r"(?:Calle|C/|Avenida|Avda\.|Av\.|Paseo|Pasaje|Plaza|Camino|Carrer|Carretera|Ctra\.|Cuesta|Rambla|Ronda|"
    r"Travesía|Rua|Rúa|Travessa|Praça|Largo|Alameda|Estrada|Rodovia|Rue|Avenue|Boulevard|Bd|Bld|Chemin|Allée|"
    r"Impasse|Quai|Place|Route|Via|Viale|Piazza|Piazzale|Corso|Vicolo|Strada|Contrada|Borgo|ul\.|ulica|al\.|"
    r"pl\.|os\.|Aleja|Sokak|Sok\.|Caddesi|Cad\.|Bulvarı|Mahallesi|Odos|Leoforos|Straße|Strasse|Str\.|"
    r"Avinguda|Passeig|Jalan|Jl\.|Calea|Strada|Bulevardul|Ulitsa|Prospekt|Pereulok)"
)
_FLAGS = re.IGNORECASE
_ORD = r"\d{1,3}(?:st|nd|rd|th|ST|ND|RD|TH)"
_STATES = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|"
    r"NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR)"
)
_US_STREET = (
    rf"\b{_NUM}\s+(?:{_DIRECTION}\s+)?(?:(?:{_W}|{_ORD})\s+){{0,4}}{_SUFFIX}\b\.?(?:\s+\d{{1,4}}\b)?"
    rf"(?:\s+{_DIRECTION}(?![\w]))?"
)
# Text written all in capitals or all in lower case: street types and state codes in any case.
US_STREET_ANY_CASE = re.compile(_US_STREET, _FLAGS)
STATE_ZIP_ANY_CASE = re.compile(rf"\b{_STATES}\.?,?\s+\d{{5}}(?:-\d{{4}})?\b", _FLAGS)
ANCHORS = [
    # 431 Marietta St NW / 1234 West U.S. Hwy 50 / 12 Main Street / 270 S 21st Street Ct
    re.compile(_US_STREET),
    # Strickstrasse 61 / Magrethevej 298 / Erzsébet tér 19.
    re.compile(rf"\b(?:{_CAP}\s+){{0,2}}[^\W\d_][\w'’-]*{_ENDING}\.?\s?,?\s?{_NUM}\b"),
    # Rua Cidade de Maracajá 468 / ul. Narewska 94 / Via Franscini 71
    re.compile(rf"(?<![\w/]){_MARKER}(?!\w)\s?(?:{_W}\s+){{0,5}}?{_W}\s?,?\s?{_NUM}\b", _FLAGS),
    # 63 Rue de Kairouan / 36 rue de pologne
    re.compile(rf"\b{_NUM},?\s+{_MARKER}(?!\w)\s?(?:{_W})(?:\s+{_W}){{0,4}}", _FLAGS),
    # 87331 Dunajska 56 (building number, street, house number)
    re.compile(rf"\b\d{{1,6}}\s+{_CAP}(?:\s+{_CAP}){{0,3}}\s+{_NUM}\b"),
    # units and PO boxes
    re.compile(rf"\b{_UNIT}\b", _FLAGS),
    re.compile(
        r"\b(?:P\.?\s?O\.?\s?B(?:o)?x|(?:RR|HC)\s?\d{1,3}\s+Box|Post(?:al)?\s+Office\s+Box|Postfach|Apartado(?:\s+de\s+Correos)?|"
        r"Caixa\s+Postal|Casilla)\s*#?\s*\d{1,7}\b",
        _FLAGS,
    ),
    # Piroska u. 97 / Luite tee 87 (street type after the name, as a word of its own)
    re.compile(
        rf"\b{_CAP}(?:\s{_CAP}){{0,2}}\s(?:u\.|utca|út|útja|tér|körút|tee|tänav|iela|gatve|sokak|sk\.|"
        rf"caddesi|cd\.|street|st\.|road|rd\.|avenue|ave\.)\s?{_NUM}\b"
    ),
    # the corner of Kuusiku 7 and Alexander Flat
    re.compile(
        rf"\b(?:the\s+)?corner\s+of\s+(?:[\w.'’-]+\s+){{1,4}}(?:and|&)\s+(?:{_W})(?:\s+{_W}){{0,3}}", _FLAGS
    ),
    # military addresses: PSC 0272, Box 1651 / APO AA 94530
    re.compile(r"\b(?:PSC|Unit|CMR)\s+\d{3,5},?\s+Box\s+\d{1,5}|\b(?:APO|FPO|DPO)\s+A[AEP]\s+\d{5}\b"),
    # Highway 34 East / 1100 Hwy 1807 / Route 9 (numbered roads)
    re.compile(
        rf"\b(?:{_NUM}\s+)?(?:Highway|Hwy|State\s+Route|Route|Rte|County\s+Road|Farm\s+to\s+Market|FM|"
        rf"Interstate)\s+\d{{1,4}}\b(?:\s+{_DIRECTION}(?!\w))?"
    ),
    # 1705 N. Rutherford / 212 W. Washington (number, direction, street name)
    re.compile(rf"\b{_NUM}\s+{_DIRECTION}\s+(?:{_CAP}|{_ORD})\b"),
    # Chicago, IL 60707 / Sioux Falls, South Dakota 57104
    re.compile(
        rf"(?:\b{_CAP}(?:\s{_CAP}){{0,2}},?\s+)?\b(?:{_STATES}|[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)\.?,?\s+\d{{5}}(?:-\d{{4}})?\b"
    ),
]
# "address: ...", "lives at ...": the rest of the line / sentence, when it holds a number.
CUE = re.compile(
    r"\b(?:address(?:\s*[:\-]|\s+is\b)|addr\.?\s*:|lives\s+(?:at|on)|live\s+(?:at|on)|living\s+(?:at|on)|located\s+at|"
    r"resides?\s+at|residing\s+at|ship(?:ped)?\s+to|deliver(?:ed)?\s+to|mail(?:ed)?\s+to|send\s+it\s+to|"
    r"moved\s+to|based\s+at)\s+",
    _FLAGS,
)
_DATE = re.compile(
    r"\d{1,4}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?,?\s+\d{1,4}", re.IGNORECASE
)
_TRAILING_WORDS = re.compile(r"(?:\s+[a-z]+)+\s*$")
_CUE_TAIL = re.compile(r"[^\n.!?;]{3,90}")
_SEP = re.compile(r"(?:[ \t]*(?:[,;\n]|\r\n)[ \t]*(?:[>?*|•·–-]+[ \t]*)*)+|[ \t]+")
POSTAL = re.compile(
    r"(?:[A-Z]{1,2}-?)?\d{3,6}(?:-\d{3,4})?(?!\w)|\d{2}-\d{3}(?!\w)|\d{3}\s\d{2}(?!\w)|"
    r"[A-Z]\d[A-Z]\s?\d[A-Z]\d(?!\w)|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}(?!\w)"
)
REGION_CODE = re.compile(r"[A-Z]{2,3}\.?(?![\w])")
REGION_CODE_ANY_CASE = re.compile(r"[A-Za-z]{2}\.?(?![\w])")
_CAP_RUN = re.compile(rf"{_CAP}(?:[ -](?:{_CAP}|de|del|la|le|di|da|do|du|nad|van|von|der|sur))*")
_ANY_RUN = re.compile(
    r"[^\W\d_][\w'’-]*(?: [^\W\d_][\w'’-]*){0,2}(?=\s*(?:,|\n|$|[A-Za-z]{2}\.?\s+\d{5}|\d{5}\b))"
)
# Pieces that continue an address but would be too loose alone: "# 228", "16th Floor", "Unit B", "lockbox
# 9351".
_MORE_UNIT = re.compile(
    r"#\s?\d{1,6}[A-Za-z]?\b|(?:\d{1,3}(?:st|nd|rd|th)|first|second|third|fourth|fifth|ground|lower|upper)\s+(?:floor|level)\b|"
    r"(?:unit|apt|suite|ste)\.?\s+[A-Z]\b|(?:lock\s?box|box)\s*#?\s*\d{1,7}\b|\(?(?:mc|ms|mail\s+stop)\s+\d{1,6}\)?|"
    r"(?:room|rm|floor|fl)\.?\s+\d{1,4}\b",
    re.IGNORECASE,
)
_LEADING_NUM = re.compile(rf"(?:{_UNIT}\s+)?{_NUM}\s+$", _FLAGS)
MAX_PIECES = 6


def find_addresses(text: str, gaz: Gazetteers) -> list[Span]:
    found: list[tuple[int, int]] = []
    letters = [c for c in text if c.isalpha()]
    one_case = bool(letters) and (all(c.isupper() for c in letters) or not any(c.isupper() for c in letters))
    for pattern in (*ANCHORS, US_STREET_ANY_CASE, STATE_ZIP_ANY_CASE) if one_case else ANCHORS:
        found.extend((m.start(), m.end()) for m in pattern.finditer(text))
    for cue in CUE.finditer(text):
        tail = _CUE_TAIL.match(text, cue.end())
        if tail and re.search(r"\d", tail.group()):
            trailing = _TRAILING_WORDS.search(tail.group())
            found.append((cue.end(), tail.start() + trailing.start() if trailing else tail.end()))
    if not found:
        return []
    found = [(s, e) for s, e in found if not _DATE.fullmatch(text[s:e])]
    spans = []
    for start, end in _merge(found):
        start = _grow_left(text, start)
        end = _grow_right(text, end, gaz, one_case)
        spans.append((start, end))
    return [Span(s, e, LOCATION, SCORE) for s, e in _merge(spans)]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _grow_left(text: str, start: int) -> int:
    m = _LEADING_NUM.search(text, max(0, start - 24), start)
    return m.start() if m and m.end() == start else start


def _grow_right(text: str, end: int, gaz: Gazetteers, one_case: bool) -> int:
    for _ in range(MAX_PIECES):
        sep = _SEP.match(text, end)
        if sep is None or sep.end() >= len(text):
            break
        at = sep.end()
        after_break = any(c in sep.group() for c in ",;\n")
        piece = _piece(text, at, gaz, after_break, one_case)
        if not piece:
            break
        end = piece
    return end


def _piece(text: str, at: int, gaz: Gazetteers, after_break: bool, one_case: bool) -> int | None:
    """End of an address piece starting at ``at``, or None."""
    if one_case:
        m = STATE_ZIP_ANY_CASE.match(text, at) or US_STREET_ANY_CASE.match(text, at)
        if m:
            return m.end()
    for pattern in (ANCHORS[5], ANCHORS[6], _MORE_UNIT):
        m = pattern.match(text, at)
        if m:
            return m.end()
    place = _place_at(text, at, gaz)
    if place:
        return place
    m = POSTAL.match(text, at)
    if m and re.search(r"\d", m.group()):
        return m.end()
    m = (REGION_CODE_ANY_CASE if one_case else REGION_CODE).match(text, at)
    if m and (after_break or _followed_by_postal(text, m.end())):
        return m.end()
    if after_break or one_case:
        m = (_ANY_RUN if one_case else _CAP_RUN).match(text, at)
        if m and len(m.group().split()) <= 4:
            return m.end()
    return None


def _followed_by_postal(text: str, at: int) -> bool:
    m = POSTAL.match(text, at + 1) if text[at : at + 1] == " " else None
    return bool(m)


def _place_at(text: str, at: int, gaz: Gazetteers) -> int | None:
    m = re.match(r"[^\W\d_][\w'’-]*(?:[ -][^\W\d_][\w'’-]*){0,3}", text[at : at + 80])
    if not m:
        return None
    parts = m.group().split(" ")
    for n in range(len(parts), 0, -1):
        candidate = " ".join(parts[:n])
        if fold(candidate) in gaz.places and (candidate[0].isupper() or not any(c.isupper() for c in text)):
            return at + len(candidate)
    return None
