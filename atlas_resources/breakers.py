"""Circuit breakers (pybreaker) around PostgreSQL and S3: a dead dependency fails fast, with one clear line.

One breaker per dependency endpoint and process. Only transient failures (see
:mod:`atlas_core.transient`) count; after ``fail_max`` of them in a row the circuit opens and every
call fails at once with ``circuit open: ...`` until ``reset_seconds`` have passed, when one trial
call is let through (half-open).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pybreaker

from atlas_core.errors import ServiceUnavailable
from atlas_core.transient import is_transient

T = TypeVar("T")

_lock = threading.Lock()
_breakers: dict[tuple[str, str], pybreaker.CircuitBreaker] = {}
_config = {"fail_max": 5, "reset_seconds": 5.0}
_opened_at: dict[str, datetime] = {}


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """Remembers when each breaker opened, to tell callers how long to wait."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: object, new_state: object) -> None:
        if getattr(new_state, "name", None) == pybreaker.STATE_OPEN:
            _opened_at[cb.name or ""] = datetime.now(UTC)


def configure(fail_max: int, reset_seconds: float) -> None:
    """Set the thresholds (from settings) for existing and future breakers of this process."""
    with _lock:
        _config.update(fail_max=fail_max, reset_seconds=reset_seconds)
        for breaker in _breakers.values():
            breaker.fail_max = fail_max
            breaker.reset_timeout = reset_seconds


def reset() -> None:
    """Forget every breaker (closed again); used when settings change and by tests."""
    with _lock:
        _breakers.clear()


def breaker_for(kind: str, target: str) -> pybreaker.CircuitBreaker:
    with _lock:
        breaker = _breakers.get((kind, target))
        if breaker is None:
            breaker = pybreaker.CircuitBreaker(
                fail_max=int(_config["fail_max"]),
                reset_timeout=float(_config["reset_seconds"]),
                exclude=[lambda exc: not is_transient(exc)],
                name=f"{kind} at {target}",
                throw_new_error_on_trip=False,
                listeners=[_OpenedAt()],
            )
            _breakers[(kind, target)] = breaker
        return breaker


def guarded(kind: str, target: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Call ``fn`` through the breaker of ``kind`` at ``target``."""
    breaker = breaker_for(kind, target)
    try:
        return breaker.call(fn, *args, **kwargs)
    except pybreaker.CircuitBreakerError:
        opened = _opened_at.get(breaker.name or "")
        waited = (datetime.now(UTC) - opened).total_seconds() if opened else 0.0
        remaining = max(0.0, breaker.reset_timeout - waited)
        raise ServiceUnavailable(
            f"circuit open: {kind} at {target} failed {breaker.fail_max} times; retry after {remaining:.0f}s"
        ) from None
