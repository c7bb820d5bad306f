"""Passwords (argon2id), JWTs (HS256 pinned) and API keys (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from atlas_core.roles import Role

ISSUER = "atlas"
ALGORITHM = "HS256"
API_KEY_PREFIX = "atlas_"
_hasher = PasswordHasher()
# Verified against when the username does not exist, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

TokenType = Literal["access", "refresh"]


class InvalidToken(Exception):
    """A JWT that is malformed, tampered, expired, of the wrong type or carrying a bad claim."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    role: Role
    token_type: TokenType
    jti: str
    family: str
    expires_at: datetime


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError, UnicodeError):
        return False


def encode_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    token_type: TokenType,
    family: str,
    lifetime: timedelta,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    issued = now or datetime.now(UTC)
    claims = TokenClaims(subject, role, token_type, str(uuid.uuid4()), family, issued + lifetime)
    payload = {
        "iss": ISSUER,
        "sub": subject,
        "role": role.value,
        "typ": token_type,
        "fam": family,
        "jti": claims.jti,
        "iat": int(issued.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode_token(secret: str, token: str, expected_type: TokenType) -> TokenClaims:
    """Verify signature (HS256 only: ``alg: none`` and others are refused), expiry, issuer and claims."""
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "jti", "sub", "role", "typ", "fam", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("invalid token") from None
    if payload.get("typ") != expected_type:
        raise InvalidToken(f"not an {expected_type} token")
    try:
        role = Role(payload["role"])
        family = str(uuid.UUID(str(payload["fam"])))
        jti = str(uuid.UUID(str(payload["jti"])))
    except ValueError:
        raise InvalidToken("invalid token claims") from None
    return TokenClaims(
        str(payload["sub"]),
        role,
        expected_type,
        jti,
        family,
        datetime.fromtimestamp(int(payload["exp"]), UTC),
    )


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(key: str) -> str:
    # API keys carry 256 random bits: a fast hash is enough (no dictionary to attack), and it is indexable.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_display_prefix(key: str) -> str:
    return key[: len(API_KEY_PREFIX) + 6]
