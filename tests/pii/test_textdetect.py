"""Atlas' own free-text detectors on small hand-written sentences (behaviour, not accuracy claims:
accuracy is measured on public corpora by benchmarks/pii_public.py)."""

from __future__ import annotations

import pytest

from atlas_core.pii.addresses import find_addresses
from atlas_core.pii.gazetteers import fold, gazetteers
from atlas_core.pii.persons import find_persons
from atlas_core.pii.phones import find_phones
from atlas_core.pii.places import find_places
from atlas_core.pii.textdetect import detect

ALL = ["PERSON", "LOCATION", "PHONE_NUMBER", "CREDIT_CARD"]


def covered(text: str, spans, entity: str | None = None) -> set[str]:
    """The words of ``text`` inside some span (of ``entity``)."""
    marks = [False] * len(text)
    for s in spans:
        if entity is None or s.entity == entity:
            for i in range(s.start, s.end):
                marks[i] = True
    words, start = set(), None
    for i, ch in enumerate(text + " "):
        if ch.isalnum() and start is None:
            start = i
        elif not ch.isalnum() and start is not None:
            if all(marks[start:i]):
                words.add(text[start:i])
            start = None
    return words


def test_gazetteers_hold_places_and_census_names() -> None:
    gaz = gazetteers()
    assert {"poznan", "new zealand", "switzerland", "california"} <= gaz.places
    assert "switzerland" in gaz.countries and "california" in gaz.regions
    assert {"mary", "james", "caleb"} <= gaz.first_names
    assert "johnson" in gaz.surnames
    assert fold("POZNAŃ") == "poznan"


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Send it to 431 Marietta St NW, Atlanta, GA 30303 please.", "431 Marietta St NW, Atlanta, GA 30303"),
        (
            "Bill to: 12 Main Street Apt. 4\nSpringfield, IL 62704",
            "12 Main Street Apt. 4\nSpringfield, IL 62704",
        ),
        ("Our office: Hauptstrasse 5, 8001 Zürich, Switzerland", "Hauptstrasse 5, 8001 Zürich, Switzerland"),
        (
            "Ela mieszka przy ul. Długa 7\n> Apt. 3\n> Gdańsk\n> Poland 80-831",
            "ul. Długa 7\n> Apt. 3\n> Gdańsk\n> Poland 80-831",
        ),
        ("Write to P.O. Box 1234, Austin, TX 78701.", "P.O. Box 1234, Austin, TX 78701"),
        ("She lives at 63 Rue de la Paix, Paris", "63 Rue de la Paix, Paris"),
        ("1919 n. flager dr. west palm beach fl 33407", "1919 n. flager dr. west palm beach fl 33407"),
        (
            "Mail it to 250 Broadway, 16th Floor, New York, NY 10007",
            "250 Broadway, 16th Floor, New York, NY 10007",
        ),
        (
            "2711 n sepulveda blvd # 228 manhattan beach ca 90266",
            "2711 n sepulveda blvd # 228 manhattan beach ca 90266",
        ),
    ],
)
def test_addresses_grow_to_the_whole_address(text: str, address: str) -> None:
    spans = find_addresses(text, gazetteers())
    assert [text[s.start : s.end] for s in spans] == [address]
    assert all(s.entity == "LOCATION" for s in spans)


def test_text_without_an_address_has_none() -> None:
    for text in (
        "We shipped 12 boxes on Monday.",
        "Version 2 of the app has 3 new screens.",
        "Room for 4 people",
    ):
        assert find_addresses(text, gazetteers()) == []


@pytest.mark.parametrize(
    "phone",
    [
        "+41 (0)62 585 51 90",
        "0487 98 11 92",
        "(64) 3591-3246",
        "345-899-3560x4587",
        "+44 20 7946 0958",
        "07700 063 966",
    ],
)
def test_international_phone_numbers(phone: str) -> None:
    text = f"You can reach me on {phone} after six."
    assert [text[s.start : s.end] for s in find_phones(text)] == [phone]


def test_digits_that_are_not_phone_numbers() -> None:
    for text in (
        "Order 2021-05-06 shipped",
        "Server 192.168.10.20 is down",
        "It costs 1,250,000 dollars",
        "Logged at 2017 - 01 - 25 01 : 00",
    ):
        assert find_phones(text) == [], text


def test_places_need_capitals_and_a_plausible_position() -> None:
    gaz = gazetteers()
    text = "Anna flew from Reykjavik to New Zealand via Singapore."
    assert covered(text, find_places(text, gaz)) >= {"Reykjavik", "New", "Zealand", "Singapore"}
    # everyday words that are also towns somewhere are left alone
    text = "Justice was served and we will Save the day."
    assert find_places(text, gaz) == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Mr. Elliott flew home on Friday.", {"Elliott"}),
        ("my name is višeslav and I need help", {"višeslav"}),
        ("Thanks for the update.\n\nBest regards,\nKatarzyna Nowak", {"Katarzyna", "Nowak"}),
        ("Juliusz A Kwiatkowski called twice.", {"Juliusz", "A", "Kwiatkowski"}),
        ("they had 3 kids: caleb, kristina and adam.", {"caleb", "kristina", "adam"}),
        ("Please ask Jennifer Holloway about it.", {"Jennifer", "Holloway"}),
    ],
)
def test_person_names(text: str, names: set[str]) -> None:
    spans = find_persons(text, gazetteers())
    assert covered(text, spans, "PERSON") >= names
    assert not covered(text, spans, "PERSON") & {"Friday", "called", "about", "need", "help", "Thanks"}


def test_a_lone_first_name_that_is_an_everyday_word_is_not_a_name() -> None:
    text = "Will you grant me a favour? It may rain in June."
    assert find_persons(text, gazetteers()) == []


def test_cards_need_the_luhn_check() -> None:
    valid, invalid = "4111 1111 1111 1111", "4111 1111 1111 1112"
    assert covered(f"card {valid} expired", detect(f"card {valid} expired", ALL), "CREDIT_CARD") >= {
        "4111",
        "1111",
    }
    assert not [s for s in detect(f"card {invalid} expired", ALL) if s.entity == "CREDIT_CARD"]


def test_detect_only_returns_what_was_asked_for() -> None:
    text = "Mr. Elliott lives at 12 Main Street, call 0487 98 11 92."
    assert {s.entity for s in detect(text, ALL)} == {"PERSON", "LOCATION", "PHONE_NUMBER"}
    assert {s.entity for s in detect(text, ["PHONE_NUMBER"])} == {"PHONE_NUMBER"}
    assert detect(text, ["EMAIL_ADDRESS"]) == []
    assert detect("   ", ALL) == []


def test_street_markers_are_whole_words() -> None:
    text = "Called from 833-612-0735 about a late delivery."
    assert find_addresses(text, gazetteers()) == []
    assert [text[s.start : s.end] for s in find_phones(text)] == ["833-612-0735"]


def test_context_finds_names_and_places_outside_the_lists() -> None:
    text = "My name is Aantje Mourik but everyone calls me Aantje. Ms. Margarot flew to Loeches on Saturday."
    spans = detect(text, ALL)
    assert covered(text, spans, "PERSON") >= {"Aantje", "Mourik", "Margarot"}
    assert "Loeches" in covered(text, spans, "LOCATION")
    assert not covered(text, spans) & {"everyone", "Saturday", "flew"}


def test_dates_and_small_regions_are_not_places() -> None:
    gaz = gazetteers()
    assert find_addresses("RT @someone : 1 Jan 15", gaz) == []
    assert find_places("Store SQL database credentials in a webserver", gaz) == []
    assert find_places("Texas is large.", gaz) != []
