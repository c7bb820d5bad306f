"""A real HTTP server on 127.0.0.1 for tests: records requests, answers from a script of responses."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import LoopbackServer, QuietHandler, start_loopback


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver(LoopbackServer):
    """``script``: status codes answered first (e.g. [503, 503]), then ``pages`` by path, then 200 ``{}``."""

    received: list[Received] = field(default_factory=list)
    script: deque = field(default_factory=deque)
    pages: dict[str, Any] = field(default_factory=dict)

    def posts(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and (path is None or r.path == path)]


def start_receiver() -> HttpReceiver:
    class Handler(QuietHandler):
        owner: HttpReceiver

        def _answer(self, body: bytes) -> None:
            receiver = self.owner
            receiver.received.append(Received(self.command, self.path, dict(self.headers), body))
            status, payload = 200, b"{}"
            if receiver.script:
                status = receiver.script.popleft()
                payload = json.dumps({"error": status}).encode()
            elif self.command == "GET" and self.path in receiver.pages:
                payload = json.dumps(receiver.pages[self.path]).encode()
            elif self.command == "GET":
                status, payload = 404, b'{"error": "not found"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(self.rfile.read(length))

    return start_loopback(HttpReceiver, Handler)
