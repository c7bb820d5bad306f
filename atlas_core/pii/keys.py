"""PII keys: one active key (used to hash, pseudonymise and encrypt) plus retired keys kept to decrypt.

Every key has an id. Purpose-specific subkeys are derived with HKDF-SHA256, so the HMAC used for
hashes never shares key material with the AES-GCM key used for encryption. Encrypted tokens carry
the id of the key that produced them; rotating means: make a new key active and move the old one
to the retired list (``ATLAS_PII_KEYS``), which still decrypts old tokens.

In development a fixed, public key is used when none is configured; in production it is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from atlas_core.errors import AtlasError

if TYPE_CHECKING:
    from atlas_core.settings import AtlasSettings

DEV_KEY_ID = "dev"
DEV_KEY = "atlas-development-only-pii-key-never-use-in-production"
MIN_SECRET_BYTES = 16
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

PURPOSE_HASH = b"atlas/pii/hmac-sha256"
PURPOSE_PSEUDONYM = b"atlas/pii/pseudonym"
PURPOSE_AEAD = b"atlas/pii/aes-256-gcm"
PURPOSE_NONCE = b"atlas/pii/deterministic-nonce"
PURPOSE_ERASURE = b"atlas/pii/erasure"


class PiiKeyError(AtlasError):
    """Missing, malformed or forbidden PII key configuration."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"atlas-pii-v1", info=purpose).derive(secret)


@dataclass(frozen=True)
class PiiKey:
    key_id: str
    secret: bytes = field(repr=False)

    def subkey(self, purpose: bytes) -> bytes:
        return _derive(self.secret, purpose)


@dataclass(frozen=True)
class KeyRing:
    """The active key and the retired ones, by id."""

    active: PiiKey
    retired: tuple[PiiKey, ...] = ()

    def __post_init__(self) -> None:
        ids = [self.active.key_id, *(k.key_id for k in self.retired)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise PiiKeyError(f"PII key id(s) configured twice: {', '.join(duplicates)}")

    @property
    def key_ids(self) -> list[str]:
        return [self.active.key_id, *(k.key_id for k in self.retired)]

    def get(self, key_id: str) -> PiiKey:
        for key in (self.active, *self.retired):
            if key.key_id == key_id:
                return key
        raise PiiKeyError(f"unknown PII key id {key_id!r} (configured: {', '.join(self.key_ids)})")

    @cached_property
    def hash_key(self) -> bytes:
        return self.active.subkey(PURPOSE_HASH)

    @cached_property
    def pseudonym_key(self) -> bytes:
        return self.active.subkey(PURPOSE_PSEUDONYM)

    def hmac_hex(self, value: str) -> str:
        return hmac.new(self.hash_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def erasure_digest(self, dataset: str, key: str, key_id: str | None = None) -> str:
        """Keyed digest identifying one data subject in the erasure list (the key itself is never stored)."""
        pii_key = self.get(key_id) if key_id else self.active
        message = f"{dataset}\x1f{key}".encode()
        return hmac.new(pii_key.subkey(PURPOSE_ERASURE), message, hashlib.sha256).hexdigest()

    @property
    def is_development(self) -> bool:
        return self.active.key_id == DEV_KEY_ID


def _secret(text: str, where: str) -> bytes:
    raw = text.strip().encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise PiiKeyError(f"{where}: a PII key needs at least {MIN_SECRET_BYTES} bytes")
    return raw


def _key_id(key_id: str, where: str) -> str:
    if not KEY_ID_RE.match(key_id):
        raise PiiKeyError(f"{where}: invalid key id {key_id!r} (letters, digits, '._-', at most 32)")
    return key_id


def parse_retired(text: str | None) -> tuple[PiiKey, ...]:
    """``id:secret,id:secret`` (the format of ATLAS_PII_KEYS)."""
    if not text or not text.strip():
        return ()
    keys = []
    for i, item in enumerate(text.split(",")):
        if ":" not in item:
            raise PiiKeyError(f"ATLAS_PII_KEYS entry {i + 1}: expected 'key_id:secret'")
        key_id, secret = item.split(":", 1)
        where = f"ATLAS_PII_KEYS entry {i + 1}"
        keys.append(PiiKey(_key_id(key_id.strip(), where), _secret(secret, where)))
    return tuple(keys)


def build_keyring(key: str | None, key_id: str, retired: str | None, *, environment: str) -> KeyRing:
    """The key ring from configuration values; the development key only outside production."""
    production = environment == "production"
    if key is None or not key.strip():
        if production:
            raise PiiKeyError("ATLAS_PII_KEY is required when ATLAS_ENVIRONMENT=production")
        return KeyRing(PiiKey(DEV_KEY_ID, DEV_KEY.encode()), parse_retired(retired))
    if production and (key.strip() == DEV_KEY or key_id == DEV_KEY_ID):
        raise PiiKeyError(
            "the development PII key (or key id 'dev') is refused when ATLAS_ENVIRONMENT=production"
        )
    return KeyRing(
        PiiKey(_key_id(key_id, "ATLAS_PII_KEY_ID"), _secret(key, "ATLAS_PII_KEY")), parse_retired(retired)
    )


def keyring_from_settings(settings: AtlasSettings) -> KeyRing:
    return build_keyring(
        settings.pii_key.get_secret_value() if settings.pii_key else None,
        settings.pii_key_id,
        settings.pii_keys.get_secret_value() if settings.pii_keys else None,
        environment=settings.environment,
    )
