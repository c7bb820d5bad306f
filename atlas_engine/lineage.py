"""Send OpenLineage events: HTTP (Marquez, ``OPENLINEAGE_URL``), JSON lines (``ATLAS_LINEAGE_FILE``), or
console.

Emission is bounded (per-event timeout, a total time budget per batch) and never raises: failures
are counted and logged, the pipeline goes on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde

from atlas_core.errors import one_line
from atlas_core.logs import get_logger

log = get_logger("atlas.lineage")
_file_lock = threading.Lock()


class Transport(Protocol):
    name: str

    def send(self, event: RunEvent) -> None: ...


class HttpEventTransport:
    """POST ``<url>/api/v1/lineage`` with the openlineage-python HTTP transport (few, fast retries)."""

    name = "http"

    def __init__(self, url: str, timeout: float) -> None:
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        retry = {
            "total": 2,
            "read": 1,
            "connect": 2,
            "backoff_factor": 0.2,
            "status_forcelist": [500, 502, 503, 504],
            "allowed_methods": ["POST"],
        }
        self._transport = HttpTransport(HttpConfig(url=url, timeout=timeout, retry=retry))

    def send(self, event: RunEvent) -> None:
        self._transport.emit(event)


class JsonLinesTransport:
    """Append one JSON document per line (safe for concurrent writers of one process)."""

    name = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, event: RunEvent) -> None:
        line = Serde.to_json(event)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line.replace("\n", " ") + "\n")


class ConsoleEventTransport:
    """openlineage-python's console transport: each event logged at INFO on
    ``openlineage.client.transport.console``."""

    name = "console"

    def __init__(self) -> None:
        from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

        self._transport = ConsoleTransport(ConsoleConfig())

    def send(self, event: RunEvent) -> None:
        self._transport.emit(event)


@dataclass
class EmissionStats:
    emitted: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: EmissionStats) -> None:
        self.emitted += other.emitted
        self.failed += other.failed
        self.skipped += other.skipped


class LineageEmitter:
    def __init__(self, transports: list[Transport], *, budget_seconds: float = 30.0) -> None:
        self.transports = transports
        self.budget_seconds = budget_seconds

    @classmethod
    def configured(
        cls, url: str | None, file: str | Path | None, *, timeout: float = 5.0, budget_seconds: float = 30.0
    ) -> LineageEmitter:
        transports: list[Transport] = []
        if url:
            transports.append(HttpEventTransport(url, timeout))
        if file:
            transports.append(JsonLinesTransport(Path(file)))
        if not transports:
            transports.append(ConsoleEventTransport())
        return cls(transports, budget_seconds=budget_seconds)

    def emit(self, events: Iterable[RunEvent]) -> EmissionStats:
        stats = EmissionStats()
        deadline = time.monotonic() + self.budget_seconds
        for event in events:
            if time.monotonic() > deadline:
                stats.skipped += 1
                continue
            ok = True
            for transport in self.transports:
                try:
                    transport.send(event)
                except Exception as exc:  # never fail the pipeline for lineage
                    ok = False
                    log.warning(
                        "lineage_emit_failed",
                        transport=transport.name,
                        job=event.job.name,
                        event_type=str(event.eventType.value if event.eventType else ""),
                        error=one_line(exc),
                    )
            if ok:
                stats.emitted += 1
            else:
                stats.failed += 1
        if stats.failed or stats.skipped:
            log.warning(
                "lineage_incomplete", emitted=stats.emitted, failed=stats.failed, skipped=stats.skipped
            )
        return stats


def event_json(event: RunEvent) -> dict:
    return json.loads(Serde.to_json(event))
