"""A threaded HTTP server of a test on 127.0.0.1: its URL and a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


@dataclass
class LoopbackServer:
    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean; ``owner`` is the test server it records into."""

    owner: Any

    def log_message(self, format: str, *args: object) -> None:
        return


S = TypeVar("S", bound=LoopbackServer)


def start_loopback(
    make: Callable[[ThreadingHTTPServer, threading.Thread], S], handler: type[QuietHandler]
) -> S:
    """Serve ``handler`` (a class of its own per server: its ``owner`` is set here) on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    owner = make(server, thread)
    handler.owner = owner
    thread.start()
    return owner
