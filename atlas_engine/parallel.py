"""Run a load's independent per-partition statements and exports on a few connections at once.

One PostgreSQL statement runs on one core, and a Parquet export alternates between the server
(formatting rows) and Python (parsing, compressing): two at a time keep both busy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 2


def in_groups(items: Sequence[T], workers: int = WORKERS) -> list[list[T]]:
    """``items`` dealt round-robin into at most ``workers`` non-empty groups."""
    return [list(items[i::workers]) for i in range(min(workers, len(items)))]


def in_ranges(items: Sequence[T], workers: int = WORKERS) -> list[list[T]]:
    """``items`` cut into at most ``workers`` non-empty runs of consecutive items, in order."""
    size = -(-len(items) // workers) if items else 0
    return [list(items[i : i + size]) for i in range(0, len(items), size)] if size else []


def run_parallel(func: Callable[[T], R], items: Sequence[T], workers: int = WORKERS) -> list[R]:
    """``[func(x) for x in items]``, up to ``workers`` at a time (in this thread when there is one item).

    The first exception raised by a call is raised here, after the calls already started have ended."""
    if len(items) <= 1 or workers <= 1:
        return [func(x) for x in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="atlas-parallel") as pool:
        return list(pool.map(func, items))
