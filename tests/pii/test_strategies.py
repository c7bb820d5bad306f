"""Anonymization strategies and keys (pure: no Presidio, no database)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pyarrow as pa
import pytest

from atlas_core.pii.keys import DEV_KEY, DEV_KEY_ID, PURPOSE_HASH, KeyRing, PiiKeyError, build_keyring
from atlas_core.pii.strategies import Anonymizer, DecryptionError, Rule


def test_replace_gives_typed_placeholders_or_stable_keyed_pseudonyms(keys: KeyRing) -> None:
    a = Anonymizer(keys)
    assert a.apply("Casey", Rule("PERSON", "replace")) == "<PERSON>"
    first = a.apply("Casey", Rule("PERSON", "replace", pseudonym=True))
    assert first is not None and first.startswith("<PERSON_") and first.endswith(">")
    # stable across rows, anonymizer instances (runs) and columns; different values differ
    again = Anonymizer(build_keyring("test-secret-0123456789abcdef", "t1", None, environment="development"))
    assert again.apply("Casey", Rule("PERSON", "replace", pseudonym=True)) == first
    assert a.apply("Caseyx", Rule("PERSON", "replace", pseudonym=True)) != first
    # keyed: another key gives another pseudonym (no dictionary attack without the key)
    other = Anonymizer(build_keyring("another-secret-0123456789", "t2", None, environment="development"))
    assert other.apply("Casey", Rule("PERSON", "replace", pseudonym=True)) != first


def test_pseudonyms_are_consistent_within_a_column(keys: KeyRing) -> None:
    names = pa.array(["Ann", "Bob", "Ann", None, "", "Bob"])
    out, changed = Anonymizer(keys).apply_column(names, Rule("PERSON", "replace", pseudonym=True))
    values = out.to_pylist()
    assert values[0] == values[2] and values[1] == values[5] and values[0] != values[1]
    assert values[3] is None and values[4] == ""  # nulls and empty cells stay as they are
    assert changed == 4


def test_redact_removes_values_and_keeps_the_column_type(keys: KeyRing) -> None:
    births = pa.array([date(1960, 11, 18), None, date(1992, 8, 15)], pa.date32())
    out, changed = Anonymizer(keys).apply_column(births, Rule("DATE_TIME", "redact"))
    assert out.type == pa.date32() and out.null_count == 3
    assert changed == 2


def test_mask_keeps_the_last_four_characters(keys: KeyRing) -> None:
    a = Anonymizer(keys)
    assert a.apply("(239) 085-3922", Rule("PHONE_NUMBER", "mask")) == "**********3922"
    assert a.apply("4111 1111 1111 1111", Rule("CREDIT_CARD", "mask")) == "***************1111"
    assert a.apply("123", Rule("PHONE_NUMBER", "mask")) == "***"
    out, _ = a.apply_column(pa.array([date(1960, 11, 18)], pa.date32()), Rule("DATE_TIME", "mask"))
    assert out.type == pa.string() and out.to_pylist() == ["******1-18"]


def test_hash_is_keyed_hmac_sha256_never_plain_sha(keys: KeyRing) -> None:
    value = "jacob.robertson1@gmail.com"
    digest = Anonymizer(keys).apply(value, Rule("EMAIL_ADDRESS", "hash"))
    expected = hmac.new(keys.active.subkey(PURPOSE_HASH), value.encode(), hashlib.sha256).hexdigest()
    assert digest == expected
    assert digest != hashlib.sha256(value.encode()).hexdigest()
    other = build_keyring("another-secret-0123456789", "t2", None, environment="development")
    assert Anonymizer(other).apply(value, Rule("EMAIL_ADDRESS", "hash")) != digest


def test_encrypt_round_trip_random_and_deterministic(keys: KeyRing) -> None:
    a = Anonymizer(keys)
    t1, t2 = a.encrypt("307-54-8295"), a.encrypt("307-54-8295")
    assert t1 != t2 and t1.startswith("enc1:t1:")  # random nonces, key id in the token
    assert a.decrypt(t1) == a.decrypt(t2) == "307-54-8295"
    d1, d2 = a.encrypt("307-54-8295", deterministic=True), a.encrypt("307-54-8295", deterministic=True)
    assert d1 == d2 and a.decrypt(d1) == "307-54-8295"  # joinable
    assert a.encrypt("307-54-8296", deterministic=True) != d1
    column, changed = a.apply_column(pa.array(["x1", "x1", None]), Rule("US_SSN", "encrypt"))
    tokens = column.to_pylist()
    assert tokens[0] != tokens[1] and tokens[2] is None and changed == 2
    assert [a.decrypt(t) for t in tokens[:2]] == ["x1", "x1"]


def test_tampered_or_foreign_tokens_are_refused(keys: KeyRing) -> None:
    a = Anonymizer(keys)
    token = a.encrypt("secret value")
    body = token.split(":")[2]
    tampered = token[: -len(body)] + ("A" if body[0] != "A" else "B") + body[1:]
    with pytest.raises(DecryptionError, match="does not authenticate"):
        a.decrypt(tampered)
    with pytest.raises(DecryptionError, match="not an Atlas encryption token"):
        a.decrypt("307-54-8295")
    forged = token.replace("enc1:t1:", "enc1:zz:")
    with pytest.raises(PiiKeyError, match="unknown PII key id 'zz'"):
        a.decrypt(forged)


def test_key_rotation_by_key_id() -> None:
    old = build_keyring("first-secret-0123456789abcdef", "k1", None, environment="production")
    token_old = Anonymizer(old).encrypt("123-45-6789")
    rotated = build_keyring(
        "second-secret-0123456789abcdef", "k2", "k1:first-secret-0123456789abcdef", environment="production"
    )
    a = Anonymizer(rotated)
    token_new = a.encrypt("123-45-6789")
    assert token_new.startswith("enc1:k2:")
    assert a.decrypt(token_old) == a.decrypt(token_new) == "123-45-6789"
    # after the old key is dropped, old tokens can no longer be read (crypto-shredding by key id)
    dropped = build_keyring("second-secret-0123456789abcdef", "k2", None, environment="production")
    with pytest.raises(PiiKeyError, match="unknown PII key id 'k1'"):
        Anonymizer(dropped).decrypt(token_old)


def test_keyring_refuses_missing_or_development_keys_in_production() -> None:
    with pytest.raises(PiiKeyError, match="ATLAS_PII_KEY is required"):
        build_keyring(None, "k1", None, environment="production")
    with pytest.raises(PiiKeyError, match="refused"):
        build_keyring(DEV_KEY, "k1", None, environment="production")
    dev = build_keyring(None, "k1", None, environment="development")
    assert dev.active.key_id == DEV_KEY_ID and dev.is_development
    with pytest.raises(PiiKeyError, match="at least 16 bytes"):
        build_keyring("short", "k1", None, environment="development")
    with pytest.raises(PiiKeyError, match="ATLAS_PII_KEYS entry 1: expected 'key_id:secret'"):
        build_keyring("long-enough-secret-123", "k2", "no-colon-here", environment="development")
    with pytest.raises(PiiKeyError, match="configured twice"):
        build_keyring("long-enough-secret-123", "k1", "k1:another-long-secret-1", environment="development")


def test_settings_carry_the_keys_as_secrets() -> None:
    from atlas_core.pii.keys import keyring_from_settings
    from atlas_core.settings import AtlasSettings

    settings = AtlasSettings(
        pii_key="settings-secret-0123456789",
        pii_key_id="s1",  # type: ignore[arg-type]
        pii_keys="s0:old-settings-secret-012345",
    )  # type: ignore[arg-type]
    assert "settings-secret" not in repr(settings)
    ring = keyring_from_settings(settings)
    assert ring.key_ids == ["s1", "s0"]
    with pytest.raises(PiiKeyError):
        keyring_from_settings(AtlasSettings(environment="production"))


def test_definitions_refuse_to_load_in_production_without_a_pii_key() -> None:
    from atlas_assets.definitions import build_definitions
    from atlas_core.settings import AtlasSettings

    with pytest.raises(PiiKeyError, match="ATLAS_PII_KEY is required when ATLAS_ENVIRONMENT=production"):
        build_definitions(AtlasSettings(environment="production"))
