"""Turn every failure into one ``error: ...`` line and an exit code; tracebacks go to the log file only."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from atlas_core.errors import AtlasError

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    first = " ".join(str(message).split())
    print(f"error: {first}", file=sys.stderr)
    return typer.Exit(code)


def crash_log_path() -> Path:
    from atlas_core.settings import get_settings

    return get_settings().resolved_home() / "logs" / "crash.log"


def one_line_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from atlas_cli.telemetry import command_scope

        with command_scope(fn.__name__):
            return _run(fn, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; every failure becomes one ``error:`` line and an exit code."""
    try:
        return fn(*args, **kwargs)
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except AtlasError as exc:
        raise fail(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    except Exception as exc:  # the last line of defence: never show a traceback
        where = ""
        try:
            path = crash_log_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(traceback.format_exc() + "\n")
            where = f" (details in {path})"
        except OSError:
            pass
        raise fail(f"unexpected {type(exc).__name__}{where}") from None
