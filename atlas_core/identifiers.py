"""Validation of names that end up as SQL identifiers or lake keys (dataset, table, column names)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from atlas_core.errors import InputRejected

IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_PREFIX = "_atlas_"


def repeated(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted (a declaration's duplicates)."""
    return sorted(n for n, count in Counter(names).items() if count > 1)


def is_identifier(name: str) -> bool:
    return bool(IDENTIFIER_RE.match(name)) and not name.startswith(RESERVED_PREFIX)


def check_identifier(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe lower-case SQL identifier, else raise a one-line error."""
    if not is_identifier(name):
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise InputRejected(
            f"invalid {what} {shown!r}: use lower-case letters, digits and underscores "
            f"(at most 63, not starting with a digit or '{RESERVED_PREFIX}')"
        )
    return name
