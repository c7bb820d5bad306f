"""Well-known default credentials, refused when ``ATLAS_ENVIRONMENT=production`` (docs/security.md).

The development JWT secret and PII key have their own checks (``atlas_api.core.config``,
``atlas_core.pii.keys``); this covers the credentials Atlas is handed for its services: the lake's S3
keys (``minioadmin:minioadmin`` and friends) and passwords inside the PostgreSQL URLs.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from atlas_core.errors import AtlasError
from atlas_core.settings import AtlasSettings

WELL_KNOWN_SECRETS = frozenset(
    {
        "minioadmin",
        "minio123",
        "postgres",
        "password",
        "admin",
        "root",
        "secret",
        "changeme",
        "change-me",
        "atlas",
        "dagster",
        "test",
        "123456",
        "12345678",
        "password123",
        "letmein",
    }
)


def _is_default(secret: str, *others: str) -> bool:
    value = secret.strip().lower()
    return value in WELL_KNOWN_SECRETS or any(value == o.strip().lower() for o in others if o)


def default_credentials(settings: AtlasSettings) -> list[str]:
    """The settings (by variable name, never by value) that hold a well-known default credential."""
    found = []
    if settings.s3_secret_key is not None:
        access = settings.s3_access_key.get_secret_value() if settings.s3_access_key else ""
        if _is_default(settings.s3_secret_key.get_secret_value(), access):
            found.append("ATLAS_S3_SECRET_KEY")
    for name, url in (
        ("ATLAS_POSTGRES_URL", settings.postgres_url),
        ("ATLAS_DAGSTER_POSTGRES_URL", settings.dagster_postgres_url),
    ):
        parts = urlsplit(url or "")
        if parts.password is not None and _is_default(unquote(parts.password), unquote(parts.username or "")):
            found.append(name)
    return found


def refuse_default_credentials(settings: AtlasSettings) -> None:
    """Raise a one-line :class:`AtlasError` in production when a default credential is configured."""
    if settings.environment != "production":
        return
    found = default_credentials(settings)
    if found:
        raise AtlasError(
            f"{', '.join(found)}: a well-known default credential "
            "is refused when ATLAS_ENVIRONMENT=production; "
            f"set a random secret (openssl rand -hex 24)"
        )
