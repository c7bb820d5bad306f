"""Anonymization strategies on single values and, vectorised, on whole Arrow columns.

- ``replace``: a typed placeholder ``<EMAIL_ADDRESS>``, or with ``pseudonym`` a consistent one such
  as ``<PERSON_40917>`` (keyed HMAC: the same value gives the same pseudonym in every row and run).
- ``redact``: the value is removed (NULL in a structured column, cut out of free text).
- ``mask``: every character but the last four becomes ``*``.
- ``hash``: HMAC-SHA256 under the active key, hex (never a plain, dictionary-attackable SHA).
- ``encrypt``: AES-256-GCM, token ``enc1:<key id>:<base64url(nonce | ciphertext | tag)>``; random
  nonces by default, ``deterministic`` derives the nonce from the value (equal values, equal tokens:
  joins work, equality is visible). Decrypting is :meth:`Anonymizer.decrypt`, used only by the
  audited path in ``atlas_engine.pii``.
- ``keep``: unchanged (an explicit, reviewed decision in a contract).

Columns are processed per distinct value (dictionary encoding), never per cell, except random-nonce
encryption which must produce a fresh nonce for every cell.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from atlas_core.errors import AtlasError
from atlas_core.pii.entities import Strategy
from atlas_core.pii.keys import PURPOSE_AEAD, PURPOSE_NONCE, KeyRing

TOKEN_PREFIX = "enc1"
MASK_CHAR = "*"
KEEP_LAST = 4
PSEUDONYM_BITS = 40


class DecryptionError(AtlasError):
    """A token is malformed, was made with an unknown key, or fails authentication."""


@dataclass(frozen=True)
class Rule:
    """How one entity is anonymized in one column."""

    entity: str
    strategy: Strategy
    pseudonym: bool = False
    deterministic: bool = False
    key_id: str | None = None

    @property
    def output_is_text(self) -> bool:
        return self.strategy in ("replace", "mask", "hash", "encrypt")


class Anonymizer:
    """Applies :class:`Rule` s with the keys of a :class:`KeyRing`."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys
        self._aead: dict[str, AESGCM] = {}
        self._nonce_keys: dict[str, bytes] = {}

    # -- single values --------------------------------------------------------------------------------
    @staticmethod
    def placeholder(entity: str) -> str:
        return f"<{entity}>"

    def pseudonym(self, entity: str, value: str) -> str:
        digest = hmac.new(self.keys.pseudonym_key, f"{entity}\x1f{value}".encode(), hashlib.sha256).digest()
        number = int.from_bytes(digest[:8], "big") >> (64 - PSEUDONYM_BITS)
        return f"<{entity}_{number}>"

    @staticmethod
    def mask(value: str) -> str:
        if len(value) <= KEEP_LAST:
            return MASK_CHAR * len(value)
        return MASK_CHAR * (len(value) - KEEP_LAST) + value[-KEEP_LAST:]

    def hash(self, value: str) -> str:
        return self.keys.hmac_hex(value)

    def _cipher(self, key_id: str) -> AESGCM:
        if key_id not in self._aead:
            self._aead[key_id] = AESGCM(self.keys.get(key_id).subkey(PURPOSE_AEAD))
        return self._aead[key_id]

    def _nonce_key(self, key_id: str) -> bytes:
        if key_id not in self._nonce_keys:
            self._nonce_keys[key_id] = self.keys.get(key_id).subkey(PURPOSE_NONCE)
        return self._nonce_keys[key_id]

    def encrypt(self, value: str, *, deterministic: bool = False, key_id: str | None = None) -> str:
        kid = key_id or self.keys.active.key_id
        data = value.encode("utf-8")
        if deterministic:
            nonce = hmac.new(self._nonce_key(kid), data, hashlib.sha256).digest()[:12]
        else:
            nonce = os.urandom(12)
        sealed = self._cipher(kid).encrypt(nonce, data, f"{TOKEN_PREFIX}:{kid}".encode())
        return f"{TOKEN_PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"

    def decrypt(self, token: str) -> str:
        parts = token.strip().split(":")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise DecryptionError(
                f"not an Atlas encryption token (expected '{TOKEN_PREFIX}:<key id>:<data>')"
            )
        _, kid, body = parts
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError:
            raise DecryptionError("token data is not base64url") from None
        if len(raw) < 12 + 16:
            raise DecryptionError("token data is too short")
        try:
            plain = self._cipher(kid).decrypt(raw[:12], raw[12:], f"{TOKEN_PREFIX}:{kid}".encode())
        except InvalidTag:
            raise DecryptionError(f"token does not authenticate under key {kid!r}") from None
        return plain.decode("utf-8")

    def apply(self, value: str, rule: Rule) -> str | None:
        """One value under ``rule`` (``None`` for redact in structured columns)."""
        strategy = rule.strategy
        if strategy == "keep":
            return value
        if strategy == "redact":
            return None
        if strategy == "replace":
            return self.pseudonym(rule.entity, value) if rule.pseudonym else self.placeholder(rule.entity)
        if strategy == "mask":
            return self.mask(value)
        if strategy == "hash":
            return self.hash(value)
        if strategy == "encrypt":
            return self.encrypt(value, deterministic=rule.deterministic, key_id=rule.key_id)
        raise ValueError(f"unknown strategy {strategy!r}")

    # -- whole columns --------------------------------------------------------------------------------
    def apply_column(self, values: pa.Array | pa.ChunkedArray, rule: Rule) -> tuple[pa.Array, int]:
        """Anonymize a column; returns the new column and how many cells changed."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if rule.strategy == "keep":
            return values, 0
        if rule.strategy == "redact":
            return pa.nulls(len(values), values.type), len(values) - values.null_count
        text = values if pa.types.is_string(values.type) else _as_text(values)
        if rule.strategy == "encrypt" and not rule.deterministic:
            return self._per_cell(text, lambda v: self.encrypt(v, key_id=rule.key_id))
        return self._per_distinct(text, lambda v: self.apply(v, rule) or "")

    @staticmethod
    def _per_distinct(text: pa.Array, fn: Callable[[str], str]) -> tuple[pa.Array, int]:
        encoded = pc.dictionary_encode(text)
        distinct = encoded.dictionary.to_pylist()
        replaced = [v if not v.strip() else fn(v) for v in distinct]
        changed = pa.array([a != b for a, b in zip(distinct, replaced, strict=True)], pa.bool_())
        out = pc.take(pa.array(replaced, pa.string()), encoded.indices)
        changed_cells = pc.sum(pc.take(changed, encoded.indices)).as_py() or 0
        return out, int(changed_cells)

    @staticmethod
    def _per_cell(text: pa.Array, fn: Callable[[str], str]) -> tuple[pa.Array, int]:
        out: list[str | None] = []
        changed = 0
        for value in text.to_pylist():
            if value is None or not value.strip():
                out.append(value)
                continue
            out.append(fn(value))
            changed += 1
        return pa.array(out, pa.string()), changed


def _as_text(values: pa.Array) -> pa.Array:
    """Non-string columns (dates, numbers) as their canonical text before hashing or masking."""
    if pa.types.is_timestamp(values.type):
        return pc.strftime(values, format="%Y-%m-%dT%H:%M:%S")
    return pc.cast(values, pa.string())
