"""User-facing errors: one line, no traceback, never a raw data value from a PII column."""

from __future__ import annotations


class AtlasError(Exception):
    """An error whose message is shown to users as ``error: <message>``.

    ``exit_code`` 2 means "the input was rejected"; 1 means "Atlas could not do its job".
    """

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(" ".join(message.split()))
        if exit_code is not None:
            self.exit_code = exit_code


class InputRejected(AtlasError):
    """The input (file, contract, request) cannot be processed; nothing was published."""

    exit_code = 2


class AlreadyExists(InputRejected):
    """Something with that name (a user, an API key) exists already; the API answers 409."""


class ContractError(InputRejected):
    """A dataset contract is invalid; the message names the file and the key path."""


class ServiceUnavailable(AtlasError):
    """A dependency (Postgres, S3, Dagster) cannot be reached."""


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (never a traceback)."""
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    return message[:limit]
