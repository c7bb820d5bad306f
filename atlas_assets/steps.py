"""Step failures: transient ones are retried (RetryPolicy), everything else fails at once.

Decorate an asset's compute function with :func:`atlas_step` (below ``@dg.asset``). Messages that
reach Dagster's event log are one line; quoted values in driver messages are redacted, since a
database error can quote a data value.
"""

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import dagster as dg

from atlas_assets.observability import observed_step
from atlas_core.errors import AtlasError, one_line
from atlas_core.transient import is_transient

F = TypeVar("F", bound=Callable[..., Any])
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def safe_message(exc: BaseException) -> str:
    """One line; Atlas' own messages verbatim (they never carry data values), quoted values redacted
    elsewhere."""
    if isinstance(exc, AtlasError):
        return one_line(exc)
    return f"{type(exc).__name__}: {_QUOTED.sub('<redacted>', one_line(exc))}"


def is_retryable(error: BaseException) -> bool:
    return (
        bool(getattr(error, "allow_retries", True)) if isinstance(error, dg.Failure) else is_transient(error)
    )


def atlas_step(fn: F) -> F:
    """Re-raise transient errors (Dagster retries them); turn others into a non-retryable ``dg.Failure``.

    Each call is also observed (logs, span, ``atlas_meta.step_metrics``): see ``atlas_assets.observability``.
    """

    def failed(step: Any, exc: Exception) -> NoReturn:
        """Record the failure on the step and raise: ``exc`` itself when Dagster may retry it, else a
        non-retryable ``dg.Failure`` carrying only the safe message."""
        error = (
            exc
            if isinstance(exc, dg.Failure) or is_transient(exc)
            else dg.Failure(description=safe_message(exc), allow_retries=False)
        )
        step.fail(exc, safe_message(exc), retryable=is_retryable(error))
        if error is exc:
            raise exc
        raise error from None

    if inspect.isgeneratorfunction(fn):  # assets that yield results and check results

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with observed_step(args, kwargs) as step:
                try:
                    for item in fn(*args, **kwargs):
                        yield step.saw(item)
                except Exception as exc:
                    failed(step, exc)

        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with observed_step(args, kwargs) as step:
            try:
                return step.saw(fn(*args, **kwargs))
            except Exception as exc:
                failed(step, exc)

    return wrapper  # type: ignore[return-value]
