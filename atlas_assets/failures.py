"""Step failures: transient ones are retried (RetryPolicy), everything else fails at once.

Decorate an asset's compute function with :func:`atlas_step` (below ``@dg.asset``). Messages that
reach Dagster's event log are one line; quoted values in driver messages are redacted, since a
database error can quote a data value.
"""

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from atlas_core.errors import AtlasError
from atlas_core.transient import is_transient, one_line

F = TypeVar("F", bound=Callable[..., Any])
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def safe_message(exc: BaseException) -> str:
    """One line; Atlas' own messages verbatim (they never carry data values), quoted values redacted elsewhere."""
    if isinstance(exc, AtlasError):
        return one_line(exc)
    return f"{type(exc).__name__}: {_QUOTED.sub('<redacted>', one_line(exc))}"


def atlas_step(fn: F) -> F:
    """Re-raise transient errors (Dagster retries them); turn others into a non-retryable ``dg.Failure``."""

    def classify(exc: Exception) -> BaseException:
        if isinstance(exc, dg.Failure) or is_transient(exc):
            return exc
        return dg.Failure(description=safe_message(exc), allow_retries=False)

    if inspect.isgeneratorfunction(fn):  # assets that yield results and check results

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                error = classify(exc)
                if error is exc:
                    raise
                raise error from None

        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            error = classify(exc)
            if error is exc:
                raise
            raise error from None

    return wrapper  # type: ignore[return-value]
