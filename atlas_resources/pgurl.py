"""Small helpers for PostgreSQL connection URIs (TCP or Unix socket)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at ``database`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def for_sqlalchemy(url: str) -> str:
    """Make the driver explicit for SQLAlchemy (2.0 treats bare ``postgresql://`` as psycopg2)."""
    scheme, _, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg2://" + rest
    return url


def for_psycopg(url: str) -> str:
    """Strip a SQLAlchemy driver suffix so libpq accepts the URI."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("postgresql+") or scheme == "postgres":
        return "postgresql://" + rest
    return url


def redact(url: str) -> str:
    """The URI without its password, safe to log."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def describe_host(url: str) -> str:
    """``host:port`` (or the socket directory) for lineage namespaces and messages."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    port = parts.port or 5432
    return f"{host}:{port}"
