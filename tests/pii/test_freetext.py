"""Free text: detected PII is replaced span by span, in place; the rest of each sentence is kept."""

from __future__ import annotations

import pyarrow as pa

from atlas_core.pii.analysis import Span
from atlas_core.pii.classify import ColumnDecision
from atlas_core.pii.freetext import anonymize_text, known_value_spans, merge_spans
from atlas_core.pii.policy import PiiPolicy
from atlas_core.pii.strategies import Anonymizer
from atlas_core.pii.transform import PiiTransform


def test_overlapping_spans_merge_so_no_fragment_survives() -> None:
    spans = [
        Span(12, 20, "PHONE_NUMBER", 0.4),
        Span(6, 20, "PHONE_NUMBER", 0.5),
        Span(30, 35, "PERSON", 0.85),
    ]
    assert merge_spans(spans) == [Span(6, 20, "PHONE_NUMBER", 0.5), Span(30, 35, "PERSON", 0.85)]
    text = "call (239) 085-3922 now"
    assert (
        anonymize_text(
            text,
            [Span(11, 19, "PHONE_NUMBER", 0.4), Span(5, 19, "PHONE_NUMBER", 0.5)],
            lambda s, _: f"<{s.entity}>",
        )
        == "call <PHONE_NUMBER> now"
    )


def test_known_values_of_the_row_are_found_on_word_boundaries() -> None:
    spans = known_value_spans(
        "Spoke with Casey; Caseys and casey too", [("PERSON", "Casey"), ("PERSON", "Al")]
    )
    assert [(s.start, s.end) for s in spans] == [(11, 16), (29, 34)]


def _notes_transform(engine, keys, pseudonym: bool = False, strategies: dict | None = None) -> PiiTransform:
    policy = PiiPolicy(
        {
            "first_name": ColumnDecision(
                "first_name", "PERSON", 1.0, "replace", pseudonym=True, source="contract"
            ),
            "email": ColumnDecision("email", "EMAIL_ADDRESS", 1.0, "hash", source="contract"),
            "notes": ColumnDecision(
                "notes",
                "PERSON",
                1.0,
                "replace",
                free_text=True,
                source="contract",
                pseudonym=pseudonym,
                entity_strategies=strategies or {},
            ),
            "city": ColumnDecision("city", None, 1.0, None),
        }
    )
    return PiiTransform(policy, Anonymizer(keys), engine)


def test_free_text_is_anonymized_in_place(presidio_engine, keys) -> None:
    batch = pa.record_batch(
        {
            "first_name": ["Colton", "Casey", "Maria", "Ann", None],
            "email": ["colton.clark7@hotmail.com", "casey.stokes2@gmail.com", "m@x.io", "ann@x.io", None],
            "notes": [
                "Called from (580) 255-0650 about a late delivery; "
                "asked to be emailed at colton.clark7@hotmail.com.",
                "Casey Stokes requested a copy of the last invoice.",
                "VIP customer, handle with care.",
                "Spoke with Ann on the phone; follow up next week.",
                None,
            ],
            "city": ["Berlin", "Carrland", "Oslo", "Rome", None],
        }
    )
    transform = _notes_transform(presidio_engine, keys)
    out = transform(batch)
    notes = out.column("notes").to_pylist()
    assert (
        notes[0]
        == "Called from <PHONE_NUMBER> about a late delivery; asked to be emailed at <EMAIL_ADDRESS>."
    )
    assert notes[1] == "<PERSON> requested a copy of the last invoice."
    assert notes[2] == "VIP customer, handle with care."  # no PII: byte for byte
    assert notes[3] == "Spoke with <PERSON> on the phone; follow up next week."  # via the row's first_name
    assert notes[4] is None
    # non-PII columns pass through untouched: the very same Arrow buffers, not a copy
    assert [b.address for b in out.column("city").buffers() if b] == [
        b.address for b in batch.column("city").buffers() if b
    ]
    assert transform.policy.decisions["notes"].cells_changed == 3
    assert out.schema.field("notes").type == pa.string()


def test_free_text_pseudonyms_and_per_entity_strategies(presidio_engine, keys) -> None:
    batch = pa.record_batch(
        {
            "first_name": ["Zed", "Zed"],
            "email": ["a@b.io", "a@b.io"],
            "notes": [
                "Write to jacob.robertson@example.com or call 415-555-0199.",
                "Again jacob.robertson@example.com wrote.",
            ],
            "city": ["X", "Y"],
        }
    )
    out = _notes_transform(
        presidio_engine, keys, pseudonym=True, strategies={"PHONE_NUMBER": "mask", "EMAIL_ADDRESS": "replace"}
    )(batch)
    first, second = out.column("notes").to_pylist()
    assert "jacob.robertson" not in first + second and "555-0199" not in first.replace("*", "x")[:-6]
    pseudonym = first.split()[2]
    assert pseudonym.startswith("<EMAIL_ADDRESS_") and pseudonym in second  # consistent across rows
    assert first.endswith("or call ********0199.")
